"""The synthetic patients end to end: load them into a real FHIR server, call every hook with no
prefetch (the service fetches the chart itself), and check each expectation of scenarios.toml.

The Bundles themselves are checked too: every resource valid against the R4B models, ids unique,
every reference resolved inside its Bundle, results fresh enough to be used on TODAY.
Expectations the service does not meet yet carry a ``known_issue`` and are strict xfails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from importlib import resources
from typing import Any

import pytest
import requests
import responses
from fhir.resources.R4B import get_fhir_model_class

from cds_service.app import create_app
from cds_service.synthetic import (
    HookExpectation,
    LoadError,
    Scenario,
    bundles,
    drafts,
    load_into,
    patient_ids,
    scenarios,
)
from hooks.base import CARD_KINDS
from tests.cds_service.card_checks import assert_valid_card

TODAY = "2026-11-27"
SERVICES = {"patient-view": "vte-patient-view", "order-select": "vte-order-select",
            "order-sign": "vte-order-sign"}
HOOK_INSTANCE = "5f0c2a4e-9d1b-4c7e-8a36-1b2c3d4e5f60"
TOKEN = {"access_token": "synthetic-test-token", "token_type": "Bearer", "expires_in": 300,
         "scope": "patient/*.read", "subject": "vte-cds"}
# How old a result may be on TODAY and still be used (fhir_mappers/policy.toml), by LOINC code;
# findings (urn:vte-cds:finding) within 30 days.
MAX_AGE_DAYS = {"777-3": 14, "6301-6": 14, "98979-8": 90, "33358-3": 90, "29463-7": 90,
                "39156-5": 365, "48065-7": 7}
FINDING = "urn:vte-cds:finding"
FINDING_MAX_AGE_DAYS = 30

SCENARIOS = scenarios()
BUNDLES = bundles()
DRAFTS = drafts()


def _cases() -> list[Any]:
    cases = []
    for scenario in SCENARIOS:
        for i, expect in enumerate(scenario.expect):
            name = expect.name or expect.drafts or "cards"
            marks = ([pytest.mark.xfail(strict=True, reason=expect.known_issue)]
                     if expect.known_issue else [])
            cases.append(pytest.param(scenario, expect, marks=marks,
                                      id=f"{scenario.id}-{expect.hook}-{i}-{name}"))
    return cases


# ------------------------------------------------------------------------- the Bundles ----

def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def _day(value: str) -> dt.date:
    return dt.datetime.fromisoformat(value).date() if "T" in value else dt.date.fromisoformat(
        value)


def test_scenarios_name_their_files_and_card_kinds():
    listed = {s.bundle for s in SCENARIOS}
    package = resources.files("cds_service.synthetic")
    on_disk = {p.name for p in package.iterdir() if p.name.endswith(".json")} - {"drafts.json"}
    assert listed == on_disk
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)
    assert len({s.patient for s in SCENARIOS}) == len(SCENARIOS)
    for scenario in SCENARIOS:
        assert all((scenario.title, scenario.description, scenario.cards_say))
        assert patient_ids(BUNDLES[scenario.id]) == [scenario.patient]
        for expect in scenario.expect:
            assert expect.hook in SERVICES
            assert set(expect.kinds) <= set(CARD_KINDS)
            assert {c.kind for c in expect.cards} <= set(expect.kinds)
            assert (expect.drafts is not None) == (expect.hook != "patient-view")
            if expect.drafts is not None:
                assert expect.drafts in DRAFTS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_bundle_is_a_valid_idempotent_transaction(scenario: Scenario):
    bundle = BUNDLES[scenario.id]
    get_fhir_model_class("Bundle").model_validate(bundle)
    assert bundle["type"] == "transaction"
    keys = set()
    for entry in bundle["entry"]:
        res = entry["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        key = f"{res['resourceType']}/{res['id']}"
        assert entry["request"] == {"method": "PUT", "url": key}
        assert res["id"].startswith(scenario.patient)
        keys.add(key)
    assert len(keys) == len(bundle["entry"])
    assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"
    for ref in _references(bundle):
        assert ref in keys, f"{scenario.id}: {ref} does not resolve inside the Bundle"


def test_ids_are_unique_across_scenarios_and_drafts():
    keys = Counter(f"{r['resourceType']}/{r['id']}" for b in BUNDLES.values()
                   for r in _resources(b))
    keys.update(f"{r['resourceType']}/{r['id']}" for d in DRAFTS.values() for r in d)
    assert [k for k, n in keys.items() if n > 1] == []


@pytest.mark.parametrize("name", sorted(DRAFTS))
def test_draft_orders_are_valid_drafts_of_a_synthetic_patient(name: str):
    patients = {s.patient for s in SCENARIOS}
    for res in DRAFTS[name]:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert res["status"] == "draft"
        assert res["subject"]["reference"].removeprefix("Patient/") in patients


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_results_are_fresh_on_today(scenario: Scenario):
    today = dt.date.fromisoformat(TODAY)
    for res in _resources(BUNDLES[scenario.id]):
        if res["resourceType"] != "Observation":
            continue
        coding = res["code"]["coding"][0]
        limit = (FINDING_MAX_AGE_DAYS if coding["system"] == FINDING
                 else MAX_AGE_DAYS[coding["code"]])
        age = (today - _day(res["effectiveDateTime"])).days
        assert 0 <= age <= limit, f"{res['id']} is {age} days old (limit {limit})"


# ------------------------------------------------------------------------- the loader ----

def test_loader_falls_back_to_single_puts_when_transactions_are_refused():
    base = "http://fhir.invalid/r4"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, base, status=501,
                 json={"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "not-supported"}]})
        mock.add_callback(responses.PUT, re.compile(rf"{re.escape(base)}/\w+/[\w.-]+"),
                          callback=lambda req: (201, {}, req.body))
        loaded = load_into(base + "/", requests.Session(), timeout=2)
        puts = [c.request for c in mock.calls if c.request.method == "PUT"]
    assert loaded == [s.patient for s in SCENARIOS]
    assert len(puts) == sum(len(b["entry"]) for b in BUNDLES.values())
    assert puts[0].url == f"{base}/Patient/{SCENARIOS[0].patient}"


def test_loader_reports_a_server_that_stores_nothing():
    base = "http://fhir.invalid/r4"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, base, status=400, json={"resourceType": "OperationOutcome",
                                                         "issue": [{"code": "invalid"}]})
        mock.add(responses.PUT, f"{base}/Patient/{SCENARIOS[0].patient}", status=422)
        with pytest.raises(LoadError, match="422"):
            load_into(base, requests.Session())
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, base, status=401)
        with pytest.raises(LoadError, match="401"):
            load_into(base, requests.Session())


@pytest.fixture(scope="module")
def loaded(fhir_server):
    with requests.Session() as session:
        session.trust_env = False  # loopback only, never through a proxy
        first = load_into(fhir_server.base_url, session)
        second = load_into(fhir_server.base_url, session)  # fixed ids: nothing is duplicated
    assert first == second == [s.patient for s in SCENARIOS]
    return fhir_server


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_loaded_twice_the_server_holds_each_resource_once(loaded, scenario: Scenario):
    for rtype in ("Condition", "Observation", "MedicationRequest"):
        expected = sorted(r["id"] for r in _resources(BUNDLES[scenario.id])
                          if r["resourceType"] == rtype)
        found = loaded.search_all(f"{rtype}?patient={scenario.patient}&_count=100")
        assert sorted(r["id"] for r in found) == expected


# ------------------------------------------------------------------------- the cards ----

@pytest.fixture
def client(loaded, tmp_path):
    app = create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                      "FHIR_ALLOWLIST": loaded.base_url,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    return app.test_client()


def _request(scenario: Scenario, expect: HookExpectation, base_url: str) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/syn-dr-li", "patientId": scenario.patient}
    if expect.drafts is not None:
        orders = DRAFTS[expect.drafts]
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in orders]}
        if expect.hook == "order-select":
            context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in orders]
    return {"hook": expect.hook, "hookInstance": HOOK_INSTANCE, "context": context,
            "fhirServer": base_url, "fhirAuthorization": TOKEN}


def _ext(card: dict[str, Any]) -> dict[str, Any]:
    ext: dict[str, Any] = card["extension"]["vte-cds"]
    return ext


def _recommendation(card: dict[str, Any]) -> dict[str, Any]:
    rec: dict[str, Any] = _ext(card)["recommendation"]
    return rec


def _creates(card: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]
            if a["type"] == "create" and a["resource"]["resourceType"] == rtype]


def _doses(card: dict[str, Any]) -> list[float]:
    return [d["doseQuantity"]["value"] for r in _creates(card, "MedicationRequest")
            for i in r.get("dosageInstruction", []) for d in i.get("doseAndRate", [])]


def check_card(card: dict[str, Any], checks: dict[str, Any]) -> None:
    """Every check of scenarios.toml (see the key list at the top of that file)."""
    ext = _ext(card)
    for key, want in checks.items():
        where = f"{ext['kind']}.{key}"
        if key == "summary_prefix":
            assert card["summary"].startswith(want), (where, card["summary"])
        elif key == "summary_excludes":
            assert not [w for w in want if w in card["summary"]], (where, card["summary"])
        elif key == "indicator":
            assert card["indicator"] == want, where
        elif key == "detail_contains":
            assert not [w for w in want if w not in card["detail"]], (where, card["detail"])
        elif key == "regimen":
            assert _recommendation(card)["regimen"] == want, where
        elif key == "options":
            assert _recommendation(card)["options"] == want, where
        elif key == "ruled_out":
            got = _recommendation(card)["ruled_out"]
            assert not [w for w in want if w not in got], (where, got)
        elif key == "not_ruled_out":
            got = {r["regimen"] for r in _recommendation(card)["ruled_out"]}
            assert not set(want) & got, (where, got)
        elif key == "rules":
            got = _recommendation(card)["rules"]
            assert not [w for w in want if w not in got], (where, got)
        elif key in ("mm_vte_points", "mm_vte_category", "mm_vte_unknown", "bleeding_category"):
            score = "mm_vte" if key.startswith("mm_vte_") else "bleeding"
            field = key.removeprefix(f"{score}_")
            assert ext["scores"][score][field] == want, (where, ext["scores"][score])
        elif key == "duration_action":
            assert ext["duration"]["action"] == want, (where, ext["duration"])
        elif key == "duration_rules":
            assert not [w for w in want if w not in ext["duration"]["rules"]], where
        elif key in ("thrombosis_risk", "isolated", "bleeding_high"):
            assert ext[key] == want, where
        elif key == "extension_rule":
            assert ext["rule"] == want, where
        elif key == "suggestions_min":
            assert len(card.get("suggestions", [])) >= want, where
        elif key == "suggestions_max":
            assert len(card.get("suggestions", [])) <= want, where
        elif key == "suggestion_doses_mg":
            assert not [w for w in want if float(w) not in _doses(card)], (where, _doses(card))
        elif key == "service_request_dates":
            got = sorted(r["occurrenceDateTime"] for r in _creates(card, "ServiceRequest")
                         if "occurrenceDateTime" in r)
            assert got == sorted(want), (where, got)
        elif key == "actions_include":
            got = {a["type"] for s in card.get("suggestions", []) for a in s["actions"]}
            assert set(want) <= got, (where, got)
        else:
            raise AssertionError(f"scenarios.toml: unknown check {key!r}")


@pytest.mark.parametrize(("scenario", "expect"), _cases())
def test_service_answers_as_the_guideline_says(client, loaded, scenario: Scenario,
                                               expect: HookExpectation):
    body = _request(scenario, expect, loaded.base_url)
    response = client.post(f"/cds-services/{SERVICES[expect.hook]}", json=body)
    assert response.status_code == 200, response.json
    cards = response.json["cards"]
    for card in cards:
        assert_valid_card(card)
        assert "**Not read:**" not in card["detail"], "a synthetic resource was skipped"
    kinds = [_ext(c)["kind"] for c in cards]
    assert sorted(kinds) == sorted(expect.kinds), [c["summary"] for c in cards]
    for want in expect.cards:
        card = next(c for c in cards if _ext(c)["kind"] == want.kind)
        check_card(card, dict(want.checks))


PREFETCH_KEYS = {"Condition": "conditions", "Observation": "observations",
                 "MedicationRequest": "medications", "Procedure": "procedures",
                 "Device": "devices", "Encounter": "encounters",
                 "AllergyIntolerance": "allergies", "FamilyMemberHistory": "family"}


def _full_prefetch(bundle: dict[str, Any]) -> dict[str, Any]:
    """What an EHR would prefetch for this patient: every key, searchsets (some empty)."""
    res = _resources(bundle)
    prefetch: dict[str, Any] = {key: {"resourceType": "Bundle", "type": "searchset", "entry": []}
                                for key in PREFETCH_KEYS.values()}
    prefetch["patient"] = res[0]
    for r in res[1:]:
        prefetch[PREFETCH_KEYS[r["resourceType"]]]["entry"].append({"resource": r})
    return prefetch


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_fetching_from_the_server_gives_the_cards_a_full_prefetch_gives(client, loaded,
                                                                        scenario: Scenario):
    fetched = _request(scenario, HookExpectation("patient-view", (), ()), loaded.base_url)
    prefetched = {**fetched, "prefetch": _full_prefetch(BUNDLES[scenario.id])}
    answers = [client.post("/cds-services/vte-patient-view", json=body).json["cards"]
               for body in (fetched, prefetched)]
    assert [(c["summary"], c["detail"]) for c in answers[0]] == \
        [(c["summary"], c["detail"]) for c in answers[1]]


def test_every_card_kind_is_exercised_by_an_expectation_that_holds():
    seen = {k for s in SCENARIOS for e in s.expect if not e.known_issue for k in e.kinds}
    assert set(CARD_KINDS) <= seen
