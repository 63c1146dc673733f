"""``GET /metrics``: the service's metrics in the Prometheus text format, and the timing of every
request behind them.

Each request the application answers is counted (method, route rule, status), a hook call is also
timed per service, and requests in progress are a gauge; in JSON log mode each request ends with
its log line (``cds_service.logs``). A scrape of ``/metrics`` is neither counted nor logged as
work: it would move the figures it reads. The families are listed in ``cds_service.instruments``.

Who may read it: no patient data is in it, but it shows how much the service is used, by which
services, and why calls are refused. With ``VTE_CDS_AUTH=off`` (the demo, on loopback) it is
open; with authentication on it answers only ``Authorization: Bearer <VTE_CDS_METRICS_TOKEN>``,
and is off (403) while no token is set. Prometheus sends the token with ``authorization:
{credentials_file: ...}`` in its scrape configuration.

Under ``vte-cds serve`` the answer adds up every gunicorn worker's values (prometheus-client's
multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``); otherwise it shows this process's.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from cds_service import config, instruments, logs
from cds_service.errors import Forbidden, Unauthorized
from hooks.base import card_kind
from hooks.registry import SERVICES

bp = Blueprint("metrics", __name__)

HOOK_ENDPOINT = "cds.call"
_OWN_ENDPOINT = "metrics.metrics"
_STARTED = "vte_cds_started"


def cards_returned(service_id: str, cards: Iterable[Mapping[str, Any]]) -> None:
    """Count the cards a hook call answers with, by kind (from the card's uuid) and indicator."""
    for card in cards:
        instruments.CARDS.labels(service_id, card_kind(str(card.get("uuid"))),
                                 _indicator(card.get("indicator"))).inc()


def _indicator(value: Any) -> str:
    return value if value in ("info", "warning", "critical") else "other"


@bp.before_app_request
def _start() -> None:
    if request.endpoint == _OWN_ENDPOINT:
        return
    g.setdefault(_STARTED, time.perf_counter())
    instruments.IN_PROGRESS.inc()


@bp.after_app_request
def _finish(response: Response) -> Response:
    started = g.get(_STARTED)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    status = response.status_code
    route = request.url_rule.rule if request.url_rule else "unmatched"
    instruments.HTTP_REQUESTS.labels(logs.method_label(request.method), route, str(status)).inc()
    if request.endpoint == HOOK_ENDPOINT:
        service_id = (request.view_args or {}).get("service_id")
        if service_id in SERVICES:  # an unknown id is not a label: it could be anything
            instruments.HOOK_SECONDS.labels(service_id, str(status)).observe(seconds)
    if current_app.config["LOG_FORMAT"] == "json":
        logs.request_done(status, seconds * 1000)
    return response


@bp.teardown_app_request
def _end(_: BaseException | None) -> None:
    if g.pop(_STARTED, None) is not None:
        instruments.IN_PROGRESS.dec()


def _check_access() -> None:
    """AUTH off: open. AUTH on: the configured bearer token, or 403 when none is configured."""
    if not config.auth_on(current_app.config):
        return
    token = str(current_app.config["METRICS_TOKEN"])
    if not token:
        raise Forbidden("metrics are off: the service runs with VTE_CDS_AUTH=on and no "
                        "VTE_CDS_METRICS_TOKEN is set")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthorized("metrics need Authorization: Bearer <VTE_CDS_METRICS_TOKEN>")


def _registry() -> CollectorRegistry:
    if instruments.MULTIPROCESS_DIR is not None:
        every_worker = CollectorRegistry()
        MultiProcessCollector(  # type: ignore[no-untyped-call]
            every_worker, path=instruments.MULTIPROCESS_DIR)
        return every_worker
    return instruments.REGISTRY


@bp.get("/metrics")
def metrics() -> Response:
    _check_access()
    # the text format, or OpenMetrics when the scraper asks for it
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encode(_registry()), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response
