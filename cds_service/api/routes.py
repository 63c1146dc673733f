"""HTTP routes: parse, call, serialise. No clinical logic here.

GET  /cds-services                      discovery
POST /cds-services/<id>                 a hook call -> {"cards": [...]}
POST /cds-services/<id>/feedback        card outcomes, acknowledged once durable
POST /assessments                       a Bundle or a hook request -> the full assessment
GET  /assessments/view/<token>          the assessment behind a card's link (in memory, 1 h):
                                        a page (?lang=en|zh), or JSON when asked for
GET  /healthz                           liveness
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from cds_service.api import snooze
from cds_service.api.body import json_object
from cds_service.api.metrics import cards_returned
from cds_service.errors import BadRequest, NotFound, PrefetchUnavailable, StoreUnavailable
from cds_service.fhir.client import is_fhir_id
from cds_service.state import components
from cds_service.storage.database import STALL_S
from cds_service.storage.links import SealedLink
from cds_service.web import assessment as assessment_page
from fhir_mappers.chart import map_chart
from fhir_mappers.collect import readable
from fhir_mappers.model import DataIssue, MappedChart
from hooks.base import HookRequest, Links, Service, card_kind
from hooks.chart import document as assessment_document
from hooks.prefetch import resource_type
from hooks.registry import SERVICES
from vte_rules.report import to_data
from vte_rules.tables import load_all

bp = Blueprint("cds", __name__)
log = logging.getLogger("vte_cds")
ORDER_HOOKS = ("order-select", "order-sign")


def _today() -> dt.date:
    fixed = str(current_app.config["TODAY"] or "")
    return dt.date.fromisoformat(fixed) if fixed else dt.date.today()


def _url() -> str:
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    return f"{base}{request.path}" if base else request.base_url


def _authenticate() -> None:
    authenticator = components().authenticator
    if authenticator is not None:
        authenticator.verify(request.headers.get("Authorization"), _url())


def _lang() -> str:
    best = request.accept_languages.best_match(["en", "zh", "zh-CN"])
    if best:
        return "zh" if best.startswith("zh") else "en"
    return "zh" if str(current_app.config["LANGUAGE"]).startswith("zh") else "en"


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok", "tables": {n: t.ref for n, t in load_all().items()}})


@bp.get("/cds-services")
def discovery() -> Response:
    return jsonify({"services": [s.discovery() for s in SERVICES.values()]})


def _service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        # the id is not repeated: an answer never quotes the request
        raise NotFound("no CDS service with this id; GET /cds-services lists them")
    return service


def _text_ok(value: str) -> bool:
    """Encodable as UTF-8 (JSON can carry lone surrogates that no text can)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hook_request(service: Service, body: Mapping[str, Any]) -> HookRequest:
    if body.get("hook") != service.hook:
        raise BadRequest(f"this service answers the {service.hook} hook")
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance or len(instance) > 100 or \
            not _text_ok(instance):
        raise BadRequest("hookInstance must be a non-empty string")
    context = body.get("context")
    if not isinstance(context, dict):
        raise BadRequest("context must be an object")
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient or len(patient) > 64 or \
            not _text_ok(patient):
        raise BadRequest("context.patientId must be a non-empty string")
    if service.hook in ORDER_HOOKS and not isinstance(context.get("draftOrders"), dict):
        raise BadRequest("context.draftOrders must be a Bundle object")
    prefetch = body.get("prefetch") or {}
    if not isinstance(prefetch, dict):
        raise BadRequest("prefetch must be an object")
    server = body.get("fhirServer")
    if server is not None and not isinstance(server, str):
        raise BadRequest("fhirServer must be a URL string")
    return HookRequest(service.hook, instance, context, prefetch, server, _lang())


def _token(body: Mapping[str, Any]) -> str | None:
    grant = body.get("fhirAuthorization")
    if grant is None:
        return None
    if not isinstance(grant, dict) or not isinstance(grant.get("access_token"), str):
        raise BadRequest("fhirAuthorization must hold an access_token")
    return str(grant["access_token"])


def _render(template: str, hook: HookRequest) -> str:
    out = template
    for key, value in hook.context.items():
        if isinstance(value, str):
            out = out.replace(f"{{{{context.{key}}}}}", value)
    return out


@dataclass
class _Gathered:
    """What a hook call read: the sources to map, the resource types received whole, what the
    fetch could not read (the mapper reports what it cannot read itself), and the prefetch keys
    that could not be read whole."""

    sources: list[Any] = field(default_factory=list)
    received: set[str] = field(default_factory=set)
    issues: list[DataIssue] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)


def _data(service: Service, hook: HookRequest, body: Mapping[str, Any]) -> _Gathered:
    """Prefetch first; what is missing or null is fetched, if the server is allowed. A type
    counts as received only when all of it could be read: a malformed Bundle proves no absence."""
    got = _Gathered()
    missing: dict[str, str] = {}
    for key, template in service.prefetch.items():
        value = hook.prefetch.get(key)
        rtype = resource_type(template)
        if value is None:
            missing[key] = _render(template, hook)
        elif _shape_ok(value, rtype):
            got.sources.append(value)
            if readable(value):
                got.received.add(rtype)
            else:
                got.unread.append(key)
    if missing:
        if not hook.fhir_server:
            raise PrefetchUnavailable("prefetch lacks " + ", ".join(sorted(missing)) +
                                      " and no fhirServer was given to fetch them from")
        if not is_fhir_id(hook.patient_id):
            raise BadRequest("context.patientId is not a FHIR id (letters, digits, '-' and '.', "
                             "at most 64), so nothing can be fetched for it")
        fetched = components().fhir.fetch_all(hook.fhir_server, _token(body), missing)
        for key, result in fetched.items():
            rtype = resource_type(service.prefetch[key])
            got.sources.append(result.value)
            if result.complete:
                got.received.add(rtype)
            else:
                got.unread.append(key)
            got.issues.extend(DataIssue(rtype, p) for p in result.problems)
    return got


def _shape_ok(value: Any, rtype: str) -> bool:
    """A prefetch value is the template's resource type or a Bundle; anything else is
    ignored (mapped as not received)."""
    return isinstance(value, dict) and value.get("resourceType") in (rtype, "Bundle")


def _chart(service: Service, hook: HookRequest, got: _Gathered) -> MappedChart:
    sources, received = list(got.sources), set(got.received)
    if service.include_drafts:
        sources.append(hook.context.get("draftOrders"))
        received |= {"MedicationRequest"} & received
    chart = map_chart(*sources, as_of=_today(), patient_id=hook.patient_id,
                      received_types=received, include_drafts=service.include_drafts)
    return replace(chart, issues=(*got.issues, *chart.issues)) if got.issues else chart


def _links(chart: MappedChart, made: list[SealedLink]) -> Links:
    """The card link's assessment is computed when the link is opened, from the facts kept in
    the store (not on the hook's path). The link is sealed when a card asks for it and appended
    to ``made``; ``snooze.settle`` writes it with the rest of the call's store work."""
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/") or request.host_url.rstrip("/")
    cache = components().cache

    def make() -> str:
        made.append(cache.sealed(chart))
        return f"{base}/assessments/view/{made[-1].token}"

    return Links(make, f"{base}/smart/launch")


@bp.post("/cds-services/<service_id>")
def call(service_id: str) -> Response:
    started = time.perf_counter()
    service = _service(service_id)
    _authenticate()
    body = json_object()
    hook = _hook_request(service, body)
    got = _data(service, hook, body)
    chart = _chart(service, hook, got)
    made: list[SealedLink] = []
    cards = service.handler(hook, chart, _links(chart, made))
    cards = snooze.settle(cards, hook.patient_id, made[0] if made else None)
    if got.unread and not cards:
        # no card could mean "nothing to say" or "could not read it": never let it be the first
        raise PrefetchUnavailable("the data for " + ", ".join(got.unread) + " came as a "
                                  "malformed Bundle and could not be read whole, so no card "
                                  "could be decided")
    cards_returned(service.id, cards)
    log.info("service=%s hookInstance=%s cards=%d ms=%.1f", service.id,
             hook.hook_instance[:40], len(cards), (time.perf_counter() - started) * 1000)
    if current_app.config["LOG_CARDS"]:
        for card in cards:
            log.info("card %s %s", card["uuid"], card["indicator"])
    return jsonify({"cards": cards})


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    from cds_service.storage import feedback as store_module

    service = _service(service_id)
    _authenticate()
    entries = store_module.parse_feedback(json_object())
    parts = components()
    # opened on first use; a request does not queue behind an opening that hangs
    if not parts.store_lock.acquire(timeout=STALL_S):
        raise StoreUnavailable("the feedback store is still being opened; the feedback was not "
                               "recorded")
    try:
        if parts.store is None:
            parts.store = store_module.open_store(str(current_app.config["DATABASE_URL"]))
    finally:
        parts.store_lock.release()
    written = parts.store.record(service.id, entries,
                                 {e.card: card_kind(e.card) for e in entries})
    snoozed = snooze.from_feedback(entries)  # after recording: a retry is counted once
    log.info("feedback service=%s entries=%d written=%d snoozed=%d", service.id, len(entries),
             written, snoozed)
    return jsonify({"recorded": written, "snoozed": snoozed})


@bp.post("/assessments")
def assessments() -> Response:
    _authenticate()
    body = json_object()
    as_of = request.args.get("as_of")
    try:
        day = dt.date.fromisoformat(as_of) if as_of else _today()
    except ValueError as exc:
        raise BadRequest("as_of must be YYYY-MM-DD") from exc
    if "hook" in body and "context" in body:
        context = body.get("context")
        prefetch = body.get("prefetch") or {}
        if not isinstance(context, dict) or not isinstance(prefetch, dict):
            raise BadRequest("context and prefetch must be objects")
        patient = context.get("patientId")
        chart = map_chart(*prefetch.values(), as_of=day,
                          patient_id=patient if isinstance(patient, str) else None)
    elif body.get("resourceType"):
        chart = map_chart(body, as_of=day)
    else:
        raise BadRequest("send a FHIR R4 Bundle or a CDS Hooks request")
    document = assessment_document(chart)
    document["data_issues"] = to_data(chart.issues)
    return jsonify(document)


@bp.get("/assessments/view/<token>")
def view(token: str) -> Response:
    chart = components().cache.get(token)
    if chart is None:
        raise NotFound("this assessment link has expired (links last one hour)")
    document = assessment_document(chart)
    document["data_issues"] = to_data(chart.issues)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(document)
    return assessment_page.response(document, assessment_page.choose_lang(
        request.args.get("lang"), _lang()))
