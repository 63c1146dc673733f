"""The feedback view for the clinical governance team (see docs/smart-app.md).

GET /feedback-view        the page (static/feedback/index.html): acceptance and override rates per
                          card kind and override reason, as an inline SVG bar chart drawn by its
                          own script (no library, no CDN)
GET /feedback-view/data   the same figures as JSON, from ``FeedbackStore.report()``

The page itself holds no data. The data answers only when the service runs with
``VTE_CDS_AUTH=off``, or to ``Authorization: Bearer <VTE_CDS_FEEDBACK_VIEW_TOKEN>``; with AUTH on
and no token configured the view is off (403). Only counts leave the store: feedback holds no
patient data (see cds_service/storage/feedback.py).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from cds_service.errors import Forbidden, Unauthorized
from cds_service.state import components
from cds_service.storage import feedback as store_module
from cds_service.web.pages import static_page
from hooks.cards import override_reasons

bp = Blueprint("feedback_view", __name__, static_folder="static/feedback",
               static_url_path="/feedback-view/static")



@bp.record_once
def _defaults(state: BlueprintSetupState) -> None:
    # VTE_CDS_FEEDBACK_VIEW_TOKEN arrives through from_prefixed_env; empty means no token.
    state.app.config.setdefault("FEEDBACK_VIEW_TOKEN", "")


def _auth_on() -> bool:
    return str(current_app.config.get("AUTH", "on")).lower() != "off"


def _check_access() -> None:
    """AUTH off: open. AUTH on: the configured bearer token, or 403 when none is configured."""
    if not _auth_on():
        return
    token = str(current_app.config.get("FEEDBACK_VIEW_TOKEN") or "")
    if not token:
        raise Forbidden("the feedback view is off: the service runs with VTE_CDS_AUTH=on and no "
                        "VTE_CDS_FEEDBACK_VIEW_TOKEN is set")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthorized("the feedback view needs Authorization: Bearer "
                           "<VTE_CDS_FEEDBACK_VIEW_TOKEN>")


def _rate(part: int, total: int) -> float:
    return part / total if total else 0.0


def report_data(rows: list[store_module.ReportRow]) -> dict[str, Any]:
    """The report as the page draws it: one entry per (service, card kind), with rates."""
    labels = {f"{r['system']}|{r['code']}": {"en": r["display"]}
              for r in override_reasons("en")}
    for r in override_reasons("zh"):
        labels.setdefault(f"{r['system']}|{r['code']}", {})["zh"] = r["display"]
    kinds = []
    accepted = overridden = 0
    for row in rows:
        total = row.accepted + row.overridden
        accepted += row.accepted
        overridden += row.overridden
        reasons = [{"reason": key, "system": key.split("|", 1)[0],
                    "code": key.split("|", 1)[1] if "|" in key else key,
                    "label": labels.get(key), "count": count,
                    "rate": _rate(count, row.overridden)}
                   for key, count in sorted(row.override_reasons.items(),
                                            key=lambda kv: (-kv[1], kv[0]))]
        uncoded = row.overridden - sum(row.override_reasons.values())
        kinds.append({"service_id": row.service_id, "card_type": row.card_type or "unknown",
                      "accepted": row.accepted, "overridden": row.overridden, "total": total,
                      "acceptance_rate": _rate(row.accepted, total),
                      "override_rate": _rate(row.overridden, total),
                      "override_reasons": reasons, "overrides_without_reason": max(0, uncoded)})
    total = accepted + overridden
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "totals": {"accepted": accepted, "overridden": overridden, "total": total,
                       "acceptance_rate": _rate(accepted, total),
                       "override_rate": _rate(overridden, total)},
            "card_kinds": kinds}


@bp.get("/feedback-view")
def page() -> Response:
    return static_page(bp, "index.html")


@bp.get("/feedback-view/data")
def data() -> Response:
    _check_access()
    parts = components()
    with parts.store_lock:
        if parts.store is None:
            parts.store = store_module.open_store(str(current_app.config["DATABASE_URL"]))
    response = jsonify(report_data(parts.store.report()))
    response.headers["Cache-Control"] = "no-store"
    return response
