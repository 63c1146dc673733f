"""``GET /openapi.json``: the OpenAPI 3.0 description of every route of this service.

The document is ``openapi.json`` in this package (kept by hand next to ``routes.py``; the
reliability tests run schemathesis against it, so a route or a response that drifts from it
fails there).
It is read once per process and served as is: it holds no setting and no request data.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

DOCUMENT = "openapi.json"


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, parsed once."""
    text = (resources.files("cds_service.api") / DOCUMENT).read_text("utf-8")
    loaded = json.loads(text)
    if not isinstance(loaded, dict) or not str(loaded.get("openapi", "")).startswith("3.0"):
        raise ValueError(f"cds_service/{DOCUMENT} is not an OpenAPI 3.0 document")
    return loaded


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
