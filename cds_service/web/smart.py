"""The SMART on FHIR app: the full VTE assessment of one patient, with the items the chart could
not establish filled in by the clinician (see docs/smart-app.md).

GET  /smart/launch?iss=...&launch=...   EHR launch (``launch`` absent: standalone launch)
GET  /smart/callback                    the authorization server's redirect: code -> token
GET  /smart/app[?patient=<id>]          the app page (static/smart/app.html)
GET  /smart/api/context                 what the page may show: the launch's patient, or demo mode
POST /smart/api/assess                  {patient, overrides} -> assess_all() of chart + overrides

The SMART App Launch runs on the server with ``fhirclient``: the authorize and token endpoints
come from ``{iss}/.well-known/smart-configuration`` (fetched only for an ``iss`` in
``VTE_CDS_FHIR_ALLOWLIST``), fhirclient builds the authorize URL (state, PKCE S256) and exchanges
the code. The access token stays on the server, in the store (``cds_service.storage.sessions``,
sealed), so that any worker of any instance can take the next step of a launch: the Flask session
cookie (path ``/smart``) carries a random session id only, never the token, and the page never
sees it. The cookie is signed with ``SECRET_KEY`` (``VTE_CDS_SMART_SECRET_KEY``) when one is set,
otherwise with a key kept in the store, the same for every worker and instance. The chart is read
with the service's own FHIR fetch (the prefetch queries of ``hooks.prefetch.PATIENT_DATA``) and
mapped with ``fhir_mappers.map_chart``; the mapped chart is kept briefly per session and patient,
in the memory of the process that read it (a cache: another worker reads the chart again).

Without a launch, ``/smart/app?patient=<id>`` reads the demo FHIR server (``UI_FHIR_URL``), only
when the service runs with ``VTE_CDS_AUTH=off``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from fhirclient.client import FHIRClient  # type: ignore[import-untyped]
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    jsonify,
    request,
    send_from_directory,
    session,
)
from flask.blueprints import BlueprintSetupState
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from cds_service.api.body import json_object
from cds_service.errors import BadRequest, Forbidden, NotFound, StoreUnavailable, UpstreamError
from cds_service.fhir.client import normalise_base
from cds_service.state import components
from cds_service.web.ui import patient_rows
from fhir_mappers.chart import map_chart
from fhir_mappers.model import MappedChart
from hooks import words
from hooks.chart import document as assessment_document
from hooks.prefetch import PATIENT_DATA, resource_type
from vte_rules.derive import derive
from vte_rules.facts import Fact, Value
from vte_rules.report import assess_all, to_data
from vte_rules.tables import FactorSpec, load_factor_catalogue, load_table

log = logging.getLogger("vte_cds")

bp = Blueprint("smart", __name__, static_folder="static/smart",
               static_url_path="/smart/static")

EVIDENCE = "entered by the clinician in the SMART app"
SESSION_KEY = "vte_cds_smart"
SCORE_TABLES = {"mm_vte": "mm_vte", "bleeding": "bleeding", "wells_dvt": "wells_dvt",
                "wells_pe": "wells_pe"}
MAX_OVERRIDES = 100
MAX_NUMBER = 1_000_000.0
CHART_TTL_S = 120           # a mapped chart is reused this long per session and patient
LAUNCH_TTL_S = 600          # from /smart/launch to /smart/callback
SESSION_TTL_S = 3600        # a launch without expires_in in the token answer
SESSION_MAX_S = 8 * 3600    # never longer than this, whatever the token says
STORE_SIZE = 1000
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_FACTOR = re.compile(r"^[a-z0-9_]{1,64}$")
_OAUTH_ERROR = re.compile(r"^[a-z_]{1,40}$")
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")


@bp.record_once
def _defaults(state: BlueprintSetupState) -> None:
    config = state.app.config
    # VTE_CDS_SMART_* arrive through from_prefixed_env; these are the embedded defaults.
    config.setdefault("SMART_CLIENT_ID", "vte-cds")
    config.setdefault("SMART_CLIENT_SECRET", "")
    config.setdefault("SMART_SCOPE", "patient/*.read")
    config.setdefault("SMART_SECRET_KEY", "")
    config.setdefault("SMART_FRAME_ANCESTORS", "")
    config.setdefault("UI_FHIR_URL", "")
    if not config.get("SECRET_KEY") and config["SMART_SECRET_KEY"]:
        config["SECRET_KEY"] = str(config["SMART_SECRET_KEY"])
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if config.get("SESSION_COOKIE_PATH") is None:
        config["SESSION_COOKIE_PATH"] = "/smart"
    cast(Flask, state.app).session_interface = SharedKeySessions()
    state.app.extensions["vte_cds_smart"] = SmartStore()


class _Unreadable(SecureCookieSession):
    """A session cookie that could not be checked: the store that keeps its key did not answer."""


class SharedKeySessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, signed with the configured ``SECRET_KEY`` or else with the
    key kept in the store, so that every worker and instance reads every other's cookies."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if app.secret_key:
            return super().get_signing_serializer(app)
        parts: Any = app.extensions["vte_cds"]
        return URLSafeTimedSerializer(
            parts.sessions.signing_key(), salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation,
                           "digest_method": self.digest_method})

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # nothing to check, so no key to read
        try:
            return super().open_session(app, request)
        except StoreUnavailable:
            return _Unreadable()

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if not isinstance(session, _Unreadable):
            super().save_session(app, session, response)


# --- the server-side store ----------------------------------------------------------------


@dataclass
class Launch:
    """One SMART session, server side only: fhirclient's state holds the access token.
    ``expires``: seconds since the epoch."""

    client_state: dict[str, Any]
    iss: str
    expires: float
    patient: str | None = None

    @property
    def token(self) -> str | None:
        auth = (self.client_state.get("server") or {}).get("auth") or {}
        token = auth.get("access_token")
        return token if isinstance(token, str) and token else None

    def to_data(self) -> dict[str, Any]:
        """As kept in the store: without the client secret, which stays in the settings, and
        without a refresh token, which the app never uses."""
        state = json.loads(json.dumps(self.client_state))
        state.pop("app_secret", None)
        auth = (state.get("server") or {}).get("auth") or {}
        auth.pop("app_secret", None)
        auth.pop("refresh_token", None)
        return {"client_state": state, "iss": self.iss, "expires": self.expires,
                "patient": self.patient}

    @classmethod
    def from_data(cls, data: Mapping[str, Any], client_secret: str) -> Launch:
        state = dict(data["client_state"])
        if client_secret:
            state["app_secret"] = client_secret
            auth = (state.get("server") or {}).get("auth")
            if isinstance(auth, dict):
                auth["app_secret"] = client_secret
        return cls(state, str(data["iss"]), float(data["expires"]), data.get("patient"))


@dataclass(frozen=True)
class Chart:
    """A mapped chart, the assessment without overrides, and who the patient is."""

    chart: MappedChart
    baseline: dict[str, Any]
    patient: dict[str, str]


class _Expiring:
    """A small thread-safe map whose entries expire; the oldest go first when it is full."""

    def __init__(self, size: int = STORE_SIZE) -> None:
        self.size = size
        self.items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def put(self, key: Any, value: Any, ttl: float) -> None:
        with self.lock:
            self.items[key] = (time.monotonic() + ttl, value)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def get(self, key: Any) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is None or found[0] < time.monotonic():
                self.items.pop(key, None)
                return None
            return found[1]

    def pop(self, key: Any) -> None:
        with self.lock:
            self.items.pop(key, None)


class SmartStore:
    """Mapped charts, in this process's memory only (sessions are in the store)."""

    def __init__(self) -> None:
        self.charts = _Expiring()


def _store() -> SmartStore:
    found: SmartStore = current_app.extensions["vte_cds_smart"]
    return found


def _save(sid: str, launch: Launch) -> None:
    components().sessions.save(sid, launch.to_data(), launch.expires)


def _current() -> tuple[str, Launch] | None:
    """This browser's launch; StoreUnavailable when the store cannot say."""
    if isinstance(session, _Unreadable):
        raise StoreUnavailable("the store is unavailable: the SMART session could not be "
                               "read; launch the app again in a moment")
    sid = session.get(SESSION_KEY)
    if not isinstance(sid, str):
        return None
    found = components().sessions.load(sid)
    if found is None:
        return None
    return sid, Launch.from_data(found, str(current_app.config["SMART_CLIENT_SECRET"] or ""))


# --- helpers ------------------------------------------------------------------------------


def _auth_on() -> bool:
    return str(current_app.config.get("AUTH", "on")).lower() != "off"


def _today() -> dt.date:
    fixed = str(current_app.config.get("TODAY") or "")
    return dt.date.fromisoformat(fixed) if fixed else dt.date.today()


def _timeout() -> float:
    return float(current_app.config.get("FHIR_TIMEOUT", 5.0))


def _public(path: str) -> str:
    base = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return f"{base}{path}" if base else request.host_url.rstrip("/") + path


def _csp() -> str:
    ancestors = str(current_app.config.get("SMART_FRAME_ANCESTORS") or "").strip()
    return _CSP.format(ancestors=ancestors or "'none'")


def _secure(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _csp()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(status: int, title: str, message: str) -> Response:
    """A small HTML page for the browser-facing launch steps (never echoes tokens)."""
    body = ("<!doctype html><html lang='en'><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>"
            "<link rel='stylesheet' href='/smart/static/app.css'>"
            f"<main class='message'><h1>{html.escape(title)}</h1>"
            f"<p id='message'>{html.escape(message)}</p></main></html>")
    return _secure(Response(body, status=status, mimetype="text/html"))


class _TimeoutSession(requests.Session):
    """fhirclient's HTTP session: every request with the service's timeout, no redirects."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str, url: str,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, **kwargs)


def _client(state: dict[str, Any], launch: Launch | None = None) -> Any:
    def save(new_state: dict[str, Any]) -> None:
        if launch is not None:
            launch.client_state = new_state

    client = FHIRClient(state=state, save_func=save)
    client.server.session = _TimeoutSession(_timeout())
    return client


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _discover(iss: str) -> tuple[str, str]:
    """The authorize and token endpoints from ``{iss}/.well-known/smart-configuration``."""
    url = f"{iss}/.well-known/smart-configuration"
    try:
        with _TimeoutSession(_timeout()) as http:
            answer = http.get(url, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise UpstreamError("the FHIR server's SMART configuration could not be read") from exc
    if answer.status_code != 200:
        raise UpstreamError("the FHIR server's .well-known/smart-configuration answered "
                            f"{answer.status_code}")
    try:
        config = answer.json()
    except ValueError as exc:
        raise UpstreamError("the FHIR server's SMART configuration is not JSON") from exc
    if not isinstance(config, dict):
        raise UpstreamError("the FHIR server's SMART configuration is not a JSON object")
    authorize = _http_url(config.get("authorization_endpoint"))
    token = _http_url(config.get("token_endpoint"))
    if authorize is None or token is None:
        raise UpstreamError("the FHIR server's SMART configuration lacks an "
                            "authorization_endpoint or a token_endpoint")
    return authorize, token


def _initial_state(iss: str, launch_token: str | None, authorize: str,
                   token: str) -> dict[str, Any]:
    """fhirclient's state for a new launch: the OAuth2 endpoints discovered above."""
    cfg = current_app.config
    client_id = str(cfg["SMART_CLIENT_ID"])
    secret = str(cfg["SMART_CLIENT_SECRET"] or "") or None
    redirect_uri = _public("/smart/callback")
    return {
        "app_id": client_id, "app_secret": secret, "scope": str(cfg["SMART_SCOPE"]),
        "redirect": redirect_uri, "launch_token": launch_token,
        "server": {"base_uri": iss + "/", "auth_type": "oauth2", "auth": {
            "app_id": client_id, "app_secret": secret, "aud": iss,
            "authorize_uri": authorize, "token_uri": token, "redirect_uri": redirect_uri}},
    }


# --- the launch -----------------------------------------------------------------------------


@bp.get("/smart/launch")
def launch() -> Response:
    iss = normalise_base(request.args.get("iss", ""))
    launch_token = request.args.get("launch") or None
    if not iss or _http_url(iss) is None:
        return _page(400, "SMART launch refused",
                     "The launch needs the FHIR server's base URL as an http(s) 'iss' "
                     "parameter.")
    if launch_token is not None and len(launch_token) > 2000:
        return _page(400, "SMART launch refused", "The 'launch' parameter is too long.")
    if not components().fhir.allowed(iss):
        log.warning("SMART launch refused: iss not in the FHIR allow-list")
        return _page(403, "SMART launch refused",
                     "This FHIR server is not in the service's allow-list "
                     "(VTE_CDS_FHIR_ALLOWLIST); nothing was contacted. Ask the administrator "
                     "to add it.")
    try:
        authorize, token = _discover(iss)
    except UpstreamError as exc:
        return _page(502, "SMART launch failed", exc.message)
    record = Launch({}, iss, time.time() + LAUNCH_TTL_S)
    client = _client(_initial_state(iss, launch_token, authorize, token), record)
    url = client.authorize_url
    record.client_state = client.state
    sid = secrets.token_urlsafe(32)
    try:
        _save(sid, record)
    except StoreUnavailable as exc:
        return _page(503, "SMART launch failed", exc.message)
    session.clear()
    session[SESSION_KEY] = sid
    response = Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    return response


@bp.get("/smart/callback")
def callback() -> Response:
    try:
        return _callback()
    except StoreUnavailable as exc:
        return _page(503, "SMART launch failed", exc.message)


def _callback() -> Response:
    current = _current()
    if current is None:
        return _page(400, "SMART launch expired",
                     "No launch is waiting for this answer (it expired or the browser lost "
                     "its session). Launch the app again from the EHR.")
    sid, record = current
    error = request.args.get("error")
    if error is not None:
        code = error if _OAUTH_ERROR.match(error) else "error"
        components().sessions.drop(sid)
        return _page(400, "SMART authorization refused",
                     f"The authorization server answered '{code}'. Launch the app again.")
    expected = ((record.client_state.get("server") or {}).get("auth") or {}).get("auth_state")
    state = request.args.get("state")
    if not state or not expected or not secrets.compare_digest(str(state), str(expected)):
        return _page(400, "SMART launch refused",
                     "The answer does not belong to this launch (state mismatch).")
    if not request.args.get("code"):
        return _page(400, "SMART launch refused", "The answer carries no authorization code.")
    client = _client(record.client_state, record)
    try:
        client.handle_callback(request.url)
    except Exception:  # fhirclient raises bare Exception and requests errors
        log.warning("SMART token exchange failed")
        components().sessions.drop(sid)
        return _page(502, "SMART launch failed",
                     "The token exchange with the authorization server failed. Launch the app "
                     "again.")
    patient = client.patient_id
    if not isinstance(patient, str) or not _ID.match(patient):
        components().sessions.drop(sid)
        return _page(400, "SMART launch without a patient",
                     "The authorization server gave no patient in context; launch the app "
                     "from a patient's chart.")
    auth = client.server.auth
    lifetime = float(SESSION_TTL_S)
    if isinstance(auth.expires_at, dt.datetime):
        lifetime = (auth.expires_at - dt.datetime.now()).total_seconds()
    lifetime = max(1.0, min(lifetime, float(SESSION_MAX_S)))
    state_now = client.state
    state_now["server"]["auth"].pop("code_verifier", None)
    done = Launch(state_now, record.iss, time.time() + lifetime, patient)
    # A new session id once authorized (no fixation); the old one is gone.
    components().sessions.drop(sid)
    new_sid = secrets.token_urlsafe(32)
    _save(new_sid, done)
    session.clear()
    session[SESSION_KEY] = new_sid
    return Response(status=302, headers={"Location": "/smart/app", "Cache-Control": "no-store"})


# --- the page -----------------------------------------------------------------------------


@bp.get("/smart/app")
def app_page() -> Response:
    static = bp.static_folder
    if static is None:  # pragma: no cover - the blueprint always has its folder
        raise NotFound("the SMART app is not installed")
    return _secure(send_from_directory(static, "app.html", max_age=0))


@bp.get("/smart/api/context")
def context() -> Response:
    current = _current()
    if current is not None and current[1].patient is not None:
        return jsonify({"launch": True, "patient": current[1].patient,
                        "fhirServer": current[1].iss, "demo": False})
    demo = not _auth_on() and bool(_demo_url())
    return jsonify({"launch": False, "patient": None, "demo": demo,
                    "fhirServer": (_demo_url() or None) if demo else None})


def _demo_url() -> str:
    return normalise_base(str(current_app.config.get("UI_FHIR_URL") or ""))


# --- the assessment -----------------------------------------------------------------------


def _kind_text(spec: FactorSpec) -> str:
    if spec.kind == "bool":
        return "true or false"
    if spec.kind == "number":
        return "a number" + (f" ({spec.unit})" if spec.unit else "")
    return f"one of {list(spec.choices)}"


def parse_overrides(raw: Any) -> dict[str, Value]:
    """``{factor: value}`` checked against the factor catalogue; ``null`` means not entered."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest("overrides must be an object of factor name to value")
    if len(raw) > MAX_OVERRIDES:
        raise BadRequest(f"overrides may name at most {MAX_OVERRIDES} factors")
    catalogue = load_factor_catalogue()
    out: dict[str, Value] = {}
    for name, value in raw.items():
        spec = catalogue.get(name)
        if spec is None:
            shown = repr(name) if _FACTOR.match(name) else "a name"
            raise BadRequest(f"overrides names {shown} that is not a factor of the catalogue "
                             "(vte_rules/tables/factors.toml)")
        if value is None:
            continue
        if spec.kind == "bool":
            if not isinstance(value, bool):
                raise BadRequest(f"override {name!r} must be {_kind_text(spec)}")
            out[name] = value
        elif spec.kind == "number":
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or not 0 <= value <= MAX_NUMBER):
                raise BadRequest(f"override {name!r} must be {_kind_text(spec)}, from 0 to "
                                 f"{MAX_NUMBER:g}")
            out[name] = float(value)
        else:
            if not isinstance(value, str) or value not in spec.choices:
                raise BadRequest(f"override {name!r} must be {_kind_text(spec)}")
            out[name] = value
    return out


def _source(patient: str) -> tuple[str, str, str | None]:
    """(cache key, FHIR base URL, bearer token) for this request's patient."""
    current = _current()
    if current is not None and current[1].patient is not None:
        sid, record = current
        if patient != record.patient:
            raise Forbidden("this SMART launch is for another patient; launch the app from "
                            "that patient's chart")
        return f"smart:{sid}", record.iss, record.token
    if _auth_on():
        raise Forbidden("no SMART launch: launch the app from the EHR (reading the demo FHIR "
                        "server without a launch needs VTE_CDS_AUTH=off)")
    url = _demo_url()
    if not url:
        raise NotFound("no SMART launch and no demo FHIR server (VTE_CDS_UI_FHIR_URL)")
    return "demo", url, None


def _summary(resource: Any) -> dict[str, str]:
    rows = patient_rows({"resourceType": "Bundle", "entry": [{"resource": resource}]})
    return rows[0] if rows else {}


def _load(patient: str) -> Chart:
    key, base, token = _source(patient)
    cache = _store().charts
    found = cache.get((key, base, patient))
    if isinstance(found, Chart):
        return found
    queries = {k: t.replace("{{context.patientId}}", patient) for k, t in PATIENT_DATA.items()}
    fetched = components().fhir.fetch_all(base, token, queries)
    resource = fetched["patient"].value
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise NotFound("the FHIR server has no such Patient")
    sources = [f.value for f in fetched.values() if f.value is not None]
    # a query with a malformed page proves no absence: its type is not received
    received = {resource_type(PATIENT_DATA[k]) for k, f in fetched.items()
                if f.value is not None and f.complete}
    chart = map_chart(*sources, as_of=_today(), patient_id=patient, received_types=received)
    loaded = Chart(chart, assessment_document(chart), _summary(resource))
    cache.put((key, base, patient), loaded, CHART_TTL_S)
    return loaded


def _label(value: Any) -> dict[str, str]:
    return {"en": value.en, "zh": value.zh}


def tier_labels() -> dict[str, dict[str, dict[str, str]]]:
    """Score -> category -> {en, zh}, from each table's main tier scheme."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for key, name in SCORE_TABLES.items():
        tiers = load_table(name).tiers
        if tiers:
            out[key] = {t.category: _label(t.label) for t in next(iter(tiers.values()))}
    return out


def regimen_labels() -> dict[str, dict[str, str]]:
    """Regimen id -> its guideline wording {en, zh} (regimens.toml)."""
    regimens = load_table("regimens").data.get("regimens") or {}
    return {str(k): {"en": str(v["dose"]["en"]), "zh": str(v["dose"]["zh"])}
            for k, v in regimens.items() if isinstance(v, dict) and "dose" in v}


def inputs(baseline: Mapping[str, Any], overrides: Mapping[str, Value],
           unknown: set[str]) -> list[dict[str, Any]]:
    """The factors behind the score items the chart left unknown, in score order."""
    catalogue = load_factor_catalogue()
    found: dict[str, dict[str, Any]] = {}
    for key, name in SCORE_TABLES.items():
        score = (baseline.get("scores") or {}).get(key)
        if not score:
            continue
        table = load_table(name)
        for item in score.get("items", []):
            if item.get("status") != "unknown":
                continue
            row = table.row(item["rule"])
            for factor in row.criterion.factors:
                if factor not in unknown:
                    continue
                spec = catalogue[factor]
                entry = found.setdefault(factor, {
                    "factor": factor, "kind": spec.kind, "unit": spec.unit,
                    "choices": list(spec.choices), "label": _label(spec.label),
                    "value": overrides.get(factor), "items": []})
                entry["items"].append({
                    "score": key, "rule": row.rule, "label": _label(row.label),
                    "points": row.points,
                    "range": row.criterion.range.describe() if row.criterion.range else None,
                    "equals": row.criterion.equals})
    return list(found.values())


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise BadRequest("send the request as application/json")
    return json_object()


@bp.post("/smart/api/assess")
def assess() -> Response:
    body = _json_body()
    patient = body.get("patient")
    if not isinstance(patient, str) or not _ID.match(patient):
        raise BadRequest("patient must be a FHIR id (letters, digits, '-', '.'; at most 64)")
    overrides = parse_overrides(body.get("overrides"))
    loaded = _load(patient)
    derived = derive(loaded.chart.facts)
    for name in overrides:
        fact = derived[name]
        if fact.known:
            where = ", ".join(fact.evidence[:3]) or "the record"
            raise BadRequest(f"{name!r} is documented in the chart ({where}); the app fills in "
                             "only what the chart left unknown")
    catalogue = load_factor_catalogue()
    entered = {name: Fact(value, (EVIDENCE,), catalogue[name].unit)
               for name, value in overrides.items()}
    facts = loaded.chart.facts.with_facts(**entered)
    document = (assess_all(facts, tuple(loaded.baseline.get("already_on", ())), words.english)
                if entered else dict(loaded.baseline))
    document["data_issues"] = to_data(loaded.chart.issues)
    unknown = {name for name in load_factor_catalogue() if not derived[name].known}
    document["inputs"] = inputs(loaded.baseline, overrides, unknown)
    document["overrides"] = overrides
    document["tier_labels"] = tier_labels()
    document["regimen_labels"] = regimen_labels()
    document["patient"] = loaded.patient
    document["evidence_entered"] = EVIDENCE
    return jsonify(document)
