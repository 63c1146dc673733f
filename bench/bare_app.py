"""The baseline for bench/http_load.py: the thinnest Flask endpoint that does the same I/O.

``POST /cds-services/<service_id>`` reads the body, parses it with ``json.loads`` (as the service's
``_body()`` does) and answers a fixed small JSON. ``GET /healthz`` answers 200. bench/http_load.py
serves it with gunicorn exactly as ``vte-cds serve`` serves the real service (same workers,
threads, access log), so the throughput ratio isolates what the service does per request.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
_ANSWER = {"cards": []}


@app.post("/cds-services/<service_id>")
def call(service_id: str) -> Response | tuple[Response, int]:
    body: Any = json.loads(request.get_data(cache=False) or b"null")
    if not isinstance(body, dict) or not service_id:
        return jsonify({"error": "bad_request"}), 400
    return jsonify(_ANSWER)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})
