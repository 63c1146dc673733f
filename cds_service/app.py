"""The Flask application factory and the objects one process shares.

``create_app(test_config=None)``: embedded defaults, then ``VTE_CDS_*`` environment variables
(``app.config.from_prefixed_env("VTE_CDS")``), then ``test_config``. The settings and the clinical
tables are checked here, so a bad setting or table stops the service at start-up, not at the first
call; ``check_settings`` runs the same checks without building anything (``vte-cds serve`` calls
it before gunicorn starts its workers). A ``test_config`` may also give ``CLOCK``, the function
token checks read the time from (tests replaying captured tokens fix it there).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping
from typing import Any

import requests
from flask import Config, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_service import config
from cds_service.api import health, metrics, openapi, routes
from cds_service.config import ConfigError
from cds_service.errors import CdsError, PayloadTooLarge
from cds_service.fhir.client import FhirClient
from cds_service.security.issuers import Issuer, issuers_from_config
from cds_service.security.tokens import Authenticator
from cds_service.state import Components
from cds_service.storage.links import AssessmentLinks
from cds_service.storage.replays import StoreReplays
from cds_service.storage.sessions import SmartSessions
from cds_service.storage.shared import SharedStore
from cds_service.storage.snoozes import Snoozes
from cds_service.web import feedback_view, smart, ui
from vte_rules.startup import check_all

log = logging.getLogger("vte_cds")


def _listing(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


def trusted_issuers(cfg: Mapping[str, Any], *, none: tuple[str, str] = (
        "names no issuer, and authentication is on (VTE_CDS_AUTH=on, the default)",
        config.NO_ISSUER_HELP)) -> tuple[Issuer, ...]:
    """The issuers ``TRUSTED_ISSUERS`` names; ConfigError when it is wrong, or names none
    (``none``: what is wrong then, and the way out)."""
    try:
        return issuers_from_config(cfg["TRUSTED_ISSUERS"])
    except ValueError as exc:
        if str(exc) == "names no issuer":
            raise ConfigError("TRUSTED_ISSUERS", *none) from None
        problem = str(exc) if str(exc).startswith(("is ", "must ")) else f"is wrong: {exc}"
        raise ConfigError("TRUSTED_ISSUERS", problem, config.ISSUERS_HELP) from None


def check_settings(test_config: Mapping[str, Any] | None = None) -> None:
    """Raise ConfigError for any setting ``create_app`` would refuse, building nothing."""
    cfg = Config(".")
    config.load(cfg, test_config)
    config.check(cfg)
    if config.auth_on(cfg):
        trusted_issuers(cfg)


def _build(app: Flask) -> Components:
    session = requests.Session()
    cfg = app.config
    fhir = FhirClient(session, _listing(cfg["FHIR_ALLOWLIST"]), float(cfg["FHIR_TIMEOUT"]),
                      int(cfg["FHIR_MAX_PAGES"]), int(cfg["FHIR_MAX_BYTES"]))
    shared = SharedStore(str(cfg["DATABASE_URL"]), str(cfg["STORE_KEY"]))
    authenticator = None
    if config.auth_on(cfg):
        clock = cfg.get("CLOCK")
        authenticator = Authenticator(trusted_issuers(cfg), session,
                                      clock=clock if callable(clock) else time.time,
                                      replays=StoreReplays(shared))
    else:
        log.warning("AUTHENTICATION IS OFF (VTE_CDS_AUTH=off): any caller can use this "
                    "service. Never run it like this with real patient data.")
    return Components(fhir, authenticator, shared, AssessmentLinks(shared),
                      SmartSessions(shared), Snoozes(shared))


#: Allocations between two collections of the youngest generation (CPython's default: 700).
COLLECT_EVERY = 10_000


def tune_collector() -> None:
    """The garbage collector as a serving process wants it; call once the app is built.

    What is alive by then (tables, code maps, the FHIR models, Flask) lives as long as the
    process: frozen, later collections do not walk it again. A hook call allocates hundreds of
    thousands of objects for a long chart, nearly all freed by reference counting; collecting
    every 700 allocations walked them over and over (a 20,000-resource request spent a third
    of its time there)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(COLLECT_EVERY, *gc.get_threshold()[1:])


def _error_response(error: CdsError) -> tuple[Response, int]:
    response = jsonify(error.body())
    challenge = error.www_authenticate()
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response, error.status


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="web/templates")
    config.load(app.config, test_config)
    config.check(app.config)
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    check_all()
    app.extensions["vte_cds"] = _build(app)

    app.register_blueprint(routes.bp)
    app.register_blueprint(ui.bp)
    app.register_blueprint(smart.bp)
    app.register_blueprint(feedback_view.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)

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
