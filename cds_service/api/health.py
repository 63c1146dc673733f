"""``GET /readyz``: whether this process can serve now, for a load balancer or Kubernetes.

``/healthz`` says the process is alive (liveness: restart it if not); ``/readyz`` says whether it
should be sent traffic (readiness: leave it out of the rotation while not). Everything that
outlives a request is in the store, so an instance that cannot reach the store cannot honour a
card's link, a SMART session or the replay record: ready means one read of the store answered,
within the store's own deadline. Not ready is a 503 with the store's error, counted
(``vte_cds_readiness_failures_total``); nothing is written.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, jsonify

from cds_service.errors import StoreUnavailable
from cds_service.instruments import READINESS_FAILURES
from cds_service.state import components

bp = Blueprint("health", __name__)

NOT_READY = "not ready: the store cannot answer"
PROBE_KIND = "readyz"


@bp.get("/readyz")
def readyz() -> Response:
    try:
        store = components().shared.expiring(NOT_READY)
        store.get(PROBE_KIND, "probe", now=time.time(), failure=NOT_READY)
    except StoreUnavailable:
        READINESS_FAILURES.inc()
        raise
    return jsonify({"status": "ready"})
