"""The demo page for integrators, served at ``/`` (see docs/ui.md).

GET /               the page (static/index.html), with a strict Content-Security-Policy
GET /ui/static/...  its script, styles and Markdown renderer (no CDN, no build step)
GET /ui/config      what the page needs to know: the demo FHIR server, whether AUTH is on
GET /ui/patients    Patient resources of the configured demo FHIR server (id, name, sex, birth)

The page calls the service's own endpoints (``/cds-services``, ``/cds-services/<id>``,
``/assessments/view/<token>``) from the browser like any CDS client. The only server-side
outbound call is the patient list, and it goes to ``UI_FHIR_URL`` from the configuration, never
to a URL the browser sends. With AUTH on the patient list is refused: the page is a demo for a
service running with ``VTE_CDS_AUTH=off``, and hooks need an EHR's token otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from flask import Blueprint, Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState

from cds_service.errors import Forbidden, NotFound, UpstreamError
from cds_service.fhir.client import normalise_base
from cds_service.web.pages import static_page

bp = Blueprint("ui", __name__, static_folder="static", static_url_path="/ui/static")

PATIENT_QUERY = "Patient?_count=50"
PATIENT_LIMIT = 50
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_TEXT_LIMIT = 80
# Only this origin's own files, scripts and calls; no inline script or style; not framable.


@bp.record_once
def _defaults(state: BlueprintSetupState) -> None:
    # VTE_CDS_UI_FHIR_URL arrives through from_prefixed_env; empty means no demo FHIR server.
    state.app.config.setdefault("UI_FHIR_URL", "")


def _fhir_url() -> str:
    return normalise_base(str(current_app.config.get("UI_FHIR_URL") or ""))


def _auth_on() -> bool:
    return str(current_app.config.get("AUTH", "on")).lower() != "off"


def _allow_listed(url: str) -> bool:
    raw = current_app.config.get("FHIR_ALLOWLIST") or ""
    listed = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return normalise_base(url) in {normalise_base(str(u)) for u in listed if str(u).strip()}


@bp.get("/")
def index() -> Response:
    return static_page(bp, "index.html")


@bp.get("/ui/config")
def ui_config() -> Response:
    url = _fhir_url()
    return jsonify({"fhirServer": url or None,
                    "allowListed": bool(url) and _allow_listed(url),
                    "auth": _auth_on()})


def _text(value: Any) -> str:
    return value[:_TEXT_LIMIT] if isinstance(value, str) else ""


def _name(patient: Mapping[str, Any]) -> str:
    names = patient.get("name")
    if not isinstance(names, list):
        return ""
    for name in names:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return _text(name["text"].strip())
        given = name.get("given")
        words = [*(given if isinstance(given, list) else []), name.get("family")]
        parts = [p for p in words if isinstance(p, str) and p.strip()]
        if parts:
            return _text(" ".join(parts))
    return ""


def patient_rows(bundle: Any) -> list[dict[str, str]]:
    """id, name, gender and birthDate of each Patient in a searchset Bundle (others ignored)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise UpstreamError("the demo FHIR server did not answer with a Bundle")
    rows: list[dict[str, str]] = []
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            continue
        pid = resource.get("id")
        if not isinstance(pid, str) or not _ID.match(pid):
            continue
        born = resource.get("birthDate")
        rows.append({"id": pid, "name": _name(resource),
                     "gender": _text(resource.get("gender")),
                     "birthDate": born if isinstance(born, str) and _DATE.match(born) else ""})
        if len(rows) >= PATIENT_LIMIT:
            break
    return rows


@bp.get("/ui/patients")
def patients() -> Response:
    if _auth_on():
        raise Forbidden("the demo page lists patients only when the service runs with "
                        "VTE_CDS_AUTH=off; hook calls need an EHR's token otherwise")
    url = _fhir_url()
    if not url:
        raise NotFound("no FHIR server configured for the demo page (VTE_CDS_UI_FHIR_URL)")
    timeout = float(current_app.config.get("FHIR_TIMEOUT", 5.0))
    try:
        with requests.Session() as session:
            session.trust_env = False  # only the configured server, never through a proxy
            answer = session.get(f"{url}/{PATIENT_QUERY}", timeout=timeout,
                                 headers={"Accept": "application/fhir+json"},
                                 allow_redirects=False)
    except requests.Timeout as exc:
        raise UpstreamError("the demo FHIR server timed out") from exc
    except requests.RequestException as exc:
        raise UpstreamError("the demo FHIR server is unreachable") from exc
    if answer.status_code != 200:
        raise UpstreamError(f"the demo FHIR server answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError as exc:
        raise UpstreamError("the demo FHIR server sent no JSON") from exc
    return jsonify({"fhirServer": url, "patients": patient_rows(body)})
