"""The Flask application factory and the objects one process shares.

``create_app(test_config=None)``: embedded defaults, then ``VTE_CDS_*`` environment variables
(``app.config.from_prefixed_env("VTE_CDS")``), then ``test_config``. The clinical tables are
loaded and checked here, so a bad table stops the service at start-up, not at the first call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_service import auth, config, feedback_view, openapi, routes, smart, ui
from cds_service.errors import CdsError, PayloadTooLarge
from cds_service.fhir_client import FhirClient
from cds_service.state import Components
from vte_rules.startup import check_all

log = logging.getLogger("vte_cds")


def _listing(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


def _issuers(value: Any) -> tuple[auth.Issuer, ...]:
    raw = json.loads(value) if isinstance(value, str) else value
    return auth.issuers_from_config(raw or {})


def _build(app: Flask) -> Components:
    session = requests.Session()
    cfg = app.config
    fhir = FhirClient(session, _listing(cfg["FHIR_ALLOWLIST"]), float(cfg["FHIR_TIMEOUT"]),
                      int(cfg["FHIR_MAX_PAGES"]))
    authenticator = None
    if str(cfg["AUTH"]).lower() != "off":
        authenticator = auth.Authenticator(_issuers(cfg["TRUSTED_ISSUERS"]), session)
    else:
        log.warning("AUTHENTICATION IS OFF (VTE_CDS_AUTH=off): any caller can use this "
                    "service. Never run it like this with real patient data.")
    return Components(fhir, authenticator)


def _error_response(error: CdsError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    app.config.from_prefixed_env("VTE_CDS")
    if test_config:
        app.config.from_mapping(test_config)
    for key in config.DEFAULTS:
        app.config[key] = config.coerce(key, app.config[key])
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    check_all()
    app.extensions["vte_cds"] = _build(app)

    app.register_blueprint(routes.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(smart.bp)
    app.register_blueprint(feedback_view.bp)
    app.register_blueprint(openapi.bp)

    @app.errorhandler(CdsError)
    def _cds_error(error: CdsError) -> tuple[Response, int]:
        return _error_response(error)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_: RequestEntityTooLarge) -> tuple[Response, int]:
        return _error_response(PayloadTooLarge(
            f"request body over {app.config['MAX_BODY_BYTES']} bytes"))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        return jsonify({"error": error.name.lower().replace(" ", "_"),
                        "message": error.description or error.name}), status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[Response, int]:
        rule = request.url_rule.rule if request.url_rule else "unknown route"
        # the route rule, not the path: a path can carry an assessment link's token
        log.error("unhandled %s on %s %s", type(error).__name__, request.method, rule)
        return _error_response(CdsError())

    @app.after_request
    def _route_header(response: Response) -> Response:
        """The matched route (``/assessments/view/<token>``), for the access log."""
        response.headers["X-Vte-Route"] = request.url_rule.rule if request.url_rule else "-"
        return response

    @app.after_request
    def _cors(response: Response) -> Response:
        origins = _listing(app.config["CORS_ORIGINS"])
        origin = request.headers.get("Origin")
        if origin and ("*" in origins or origin in origins):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
            if "*" not in origins:
                response.headers["Vary"] = "Origin"
        return response

    return app
