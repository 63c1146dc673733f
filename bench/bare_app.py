"""The baseline for bench/http_load.py: the thinnest Flask endpoint that does the same I/O.

``POST /cds-services/<service_id>`` reads the body, parses it with ``json.loads`` (as the service's
``_body()`` does) and answers a fixed small JSON. ``GET /healthz`` answers 200. bench/http_load.py
serves it with the gunicorn command line ``vte-cds serve`` runs (``cds_service.cli.gunicorn_argv``:
the same worker class, workers, threads and worker connections, no access log), so the ratios
isolate what the service does per request.
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
