"""The CDS Hooks service over HTTP: what an EHR sends and what it gets back."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import responses

from hooks.base import card_kind
from tests.cds_service.card_checks import assert_valid_card
from tests.cds_service.scenarios import (
    SCENARIOS,
    TODAY,
    bundle,
    cmvt_low_risk,
    med,
    myeloma_gfr_25,
    myeloma_on_lenalidomide_dexamethasone,
    request,
)

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("VTE_CDS_REGENERATE_GOLDEN") == "1"


def post(client, service, body, **headers):
    return client.post(f"/cds-services/{service}", json=body, headers=headers)


def test_discovery_lists_the_three_services_with_prefetch_templates(client):
    services = client.get("/cds-services").json["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("vte-patient-view", "patient-view"), ("vte-order-select", "order-select"),
        ("vte-order-sign", "order-sign")]
    for s in services:
        assert s["description"]
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "Observation?patient={{context.patientId}}&code=http://loinc.org|777-3" in \
            s["prefetch"]["observations"] or "http://loinc.org|777-3" in \
            s["prefetch"]["observations"]


@pytest.mark.parametrize(("accept_language", "suffix"), [("en", ""), ("zh-CN", ".zh")])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_cards_for_named_scenarios(client, name, accept_language, suffix):
    build, service = SCENARIOS[name]
    response = post(client, service, build(), **{"Accept-Language": accept_language})
    assert response.status_code == 200
    cards = response.json["cards"]
    for card in cards:
        assert_valid_card(card)
    # the link token is random by design; golden files hold everything else exactly
    for card in cards:
        for link in card.get("links", []):
            link["url"] = link["url"].rsplit("/", 1)[0] + "/<token>"
    path = GOLDEN / f"{name}{suffix}.json"
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(cards, ensure_ascii=False, indent=2) + "\n", "utf-8")
    assert cards == json.loads(path.read_text("utf-8")), f"cards changed for {name}{suffix}"


def test_myeloma_card_names_what_decided_it_and_offers_valid_orders(client):
    (card,) = post(client, "vte-patient-view",
                   myeloma_on_lenalidomide_dexamethasone()).json["cards"]
    assert card["summary"].startswith("High VTE risk (score 10)")
    assert card["indicator"] == "warning"
    assert "- Immunomodulatory drug (thalidomide, lenalidomide, pomalidomide): 4\n" \
        in card["detail"]
    # the rule ids and evidence of every item are on the card's link (tests/cds_service/
    # test_short_cards.py), the rule ids also in the card's extension
    assert "MM-T5-19" in card["extension"]["vte-cds"]["scores"]["mm_vte"]["contributing"]
    assert card_kind(card["uuid"]) == "mm-prophylaxis"
    first = card["suggestions"][0]["actions"][0]["resource"]
    assert first["medicationCodeableConcept"]["coding"][0]["code"] == "854235"
    assert first["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 40
    assert card["extension"]["vte-cds"]["scores"]["mm_vte"]["points"] == 10


def test_gfr_25_leaves_rivaroxaban_out_and_says_why(client):
    (card,) = post(client, "vte-patient-view", myeloma_gfr_25()).json["cards"]
    labels = [s["label"] for s in card["suggestions"]]
    assert not any("rivaroxaban" in label for label in labels)
    assert "Rivaroxaban not recommended: GFR < 30. (ADJ-02)" in card["detail"]


def test_cards_come_in_chinese_when_the_ehr_asks(client):
    (card,) = post(client, "vte-patient-view", myeloma_on_lenalidomide_dexamethasone(),
                   **{"Accept-Language": "zh-CN,zh;q=0.9"}).json["cards"]
    assert card["summary"].startswith("VTE高危（10分）")


def test_patient_without_myeloma_or_cmvt_gets_no_card(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"]["conditions"] = bundle()
    body["prefetch"]["medications"] = bundle()
    assert post(client, "vte-patient-view", body).json == {"cards": []}


def test_no_prefetch_and_no_fhir_server_is_412(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    del body["prefetch"]
    response = post(client, "vte-patient-view", body)
    assert response.status_code == 412
    assert "no fhirServer" in response.json["message"]


@responses.activate
def test_disallowed_fhir_server_is_refused_and_never_contacted(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"]["conditions"] = None
    body["fhirServer"] = "http://169.254.169.254/latest"
    body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer"}
    response = post(client, "vte-patient-view", body)
    assert response.status_code == 403
    assert len(responses.calls) == 0
    assert "secret-token" not in response.get_data(as_text=True)


@pytest.mark.parametrize(("mutate", "status", "message"), [
    (lambda b: b.update(hook="order-sign"), 400, "answers the patient-view hook"),
    (lambda b: b.pop("hookInstance"), 400, "hookInstance"),
    (lambda b: b["context"].pop("patientId"), 400, "context.patientId"),
    (lambda b: b.update(context="patient 1"), 400, "context must be an object"),
    (lambda b: b.update(prefetch=[1, 2]), 400, "prefetch must be an object"),
])
def test_malformed_hook_requests_get_a_clear_400(client, mutate, status, message):
    body = myeloma_on_lenalidomide_dexamethasone()
    mutate(body)
    response = post(client, "vte-patient-view", body)
    assert response.status_code == status
    assert message in response.json["message"]


def test_invalid_json_unknown_service_and_huge_body(client, app):
    bad = client.post("/cds-services/vte-patient-view", data="{not json",
                      content_type="application/json")
    assert (bad.status_code, bad.json["error"]) == (400, "bad_request")
    assert client.post("/cds-services/nope", json={}).status_code == 404
    app.config["MAX_CONTENT_LENGTH"] = 1000
    big = client.post("/cds-services/vte-patient-view", data="x" * 5000,
                      content_type="application/json")
    assert big.status_code == 413
    assert big.json["error"] == "payload_too_large"


def test_deeply_nested_json_is_a_400_not_a_crash(client):
    body = "[" * 100000 + "]" * 100000
    response = client.post("/cds-services/vte-patient-view", data=body,
                           content_type="application/json")
    assert response.status_code == 400


def _order(hook, drafts, base=myeloma_on_lenalidomide_dexamethasone):
    body = base()
    return request(hook, body["context"]["patientId"], body["prefetch"], drafts)


def test_order_select_lenalidomide_without_prophylaxis_suggests_the_tier(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    pre = copy.deepcopy(body["prefetch"])
    pre["medications"] = bundle()
    draft = med("mm-rd", "draft-len", "643720", "lenalidomide 25 MG Oral Capsule",
                status="draft", dose_mg=25)
    dex = med("mm-rd", "draft-dex", "3264", "dexamethasone", status="draft", dose_mg=40,
              period=1, period_unit="wk")
    cards = post(client, "vte-order-select",
                 request("order-select", "mm-rd", pre, [draft, dex])).json["cards"]
    (card,) = cards
    assert_valid_card(card)
    assert card["summary"] == ("lenalidomide 25 MG Oral Capsule ordered without VTE "
                               "prophylaxis: High VTE risk (score 10)")
    assert card_kind(card["uuid"]) == "order-imid-no-prophylaxis"
    assert len(card["suggestions"]) == 3


def test_order_sign_aspirin_for_high_risk_suggests_options_and_removes_the_draft(client):
    aspirin = med("mm-rd", "draft-asa", "1191", "aspirin", status="draft", dose_mg=100)
    (card,) = post(client, "vte-order-sign", _order("order-sign", [aspirin])).json["cards"]
    assert_valid_card(card)
    assert card["summary"].startswith("Aspirin is not for High VTE risk (score 10)")
    actions = card["suggestions"][0]["actions"]
    assert [a["type"] for a in actions] == ["create", "delete"]
    assert actions[1]["resourceId"] == "MedicationRequest/draft-asa"


def test_order_sign_rivaroxaban_with_gfr_25_is_critical(client):
    riva = med("mm-gfr25", "draft-riva", "1114198", "rivaroxaban 10 MG Oral Tablet",
               status="draft", dose_mg=10)
    cards = post(client, "vte-order-sign",
                 _order("order-sign", [riva], myeloma_gfr_25)).json["cards"]
    renal = [c for c in cards if card_kind(c["uuid"]) == "order-renal"]
    (card,) = renal
    assert card["indicator"] == "critical"
    assert card["summary"] == "Rivaroxaban with eGFR 25 (< 30): not recommended (ADJ-02)"
    assert card["suggestions"][0]["actions"][0]["resourceId"] == "MedicationRequest/draft-riva"


def test_draft_orders_that_do_not_concern_vte_get_no_card(client):
    amoxicillin = med("calf-low", "draft-amox", "723", "amoxicillin", status="draft",
                      dose_mg=500, per_day=3)
    body = cmvt_low_risk()
    req = request("order-select", "calf-low", body["prefetch"], [amoxicillin])
    assert post(client, "vte-order-select", req).json == {"cards": []}


def test_sandbox_order_select_with_an_empty_draft_gets_no_card(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
             "subject": {"reference": "Patient/mm-rd"}, "authoredOn": TODAY}
    req = request("order-select", "mm-rd", body["prefetch"], [draft])
    req["context"]["draftOrders"].pop("type")
    response = post(client, "vte-order-select", req)
    assert response.status_code == 200
    assert response.json == {"cards": []}


def test_card_link_opens_the_full_assessment(client):
    (card,) = post(client, "vte-patient-view",
                   myeloma_on_lenalidomide_dexamethasone()).json["cards"]
    path = card["links"][0]["url"].replace("https://cds.example", "")
    page = client.get(path, headers={"Accept": "application/json"})
    assert page.status_code == 200
    assert page.json["scores"]["mm_vte"]["points"] == 10
    assert client.get("/assessments/view/not-a-token").status_code == 404


def test_cors_preflight_from_the_public_sandbox(client):
    response = client.options("/cds-services/vte-patient-view", headers={
        "Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_assessments_endpoint_takes_a_bundle_and_leaves_out_what_does_not_apply(client):
    pre = myeloma_on_lenalidomide_dexamethasone()["prefetch"]
    entries = [{"resource": pre["patient"]}] + [
        e for key in ("conditions", "observations", "medications")
        for e in pre[key]["entry"]]
    response = client.post("/assessments?as_of=2026-11-27",
                           json={"resourceType": "Bundle", "type": "collection",
                                 "entry": entries})
    doc = response.json
    assert doc["scores"]["mm_vte"]["category"] == "high"
    assert doc["scores"]["mm_vte"]["points"] == 10
    assert doc["scores"]["bleeding"]["category"] == "low"
    assert doc["scores"]["wells_pe"]["two_level"]["category"] in ("unlikely", "likely")
    assert doc["recommendations"]["prophylaxis"]["regimen"] == "lmwh-prophylactic"
    assert "cmvt" not in doc
    calf = cmvt_low_risk()["prefetch"]
    doc = client.post("/assessments?as_of=2026-11-27", json={
        "hook": "patient-view", "context": {"patientId": "calf-low"},
        "prefetch": calf}).json
    assert "mm_vte" not in doc["scores"]
    assert doc["recommendations"]["cmvt"]["regimen"] == "ultrasound-surveillance"


@pytest.mark.parametrize(("name", "build"), [
    ("patient-view-myeloma-rd", myeloma_on_lenalidomide_dexamethasone),
    ("patient-view-cmvt-low-risk", cmvt_low_risk)])
def test_the_readme_example_requests_match_their_scenarios(name, build):
    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.json"
    assert json.loads(path.read_text("utf-8")) == build()


def test_json_nested_deeper_than_any_fhir_resource_is_a_400(client):
    body = myeloma_on_lenalidomide_dexamethasone()
    value: object = 1
    for _ in range(300):  # parses fine, but would exhaust the stack further down
        value = [value]
    body["prefetch"]["observations"]["entry"][0]["resource"]["valueQuantity"]["value"] = value
    response = post(client, "vte-patient-view", body)
    assert response.status_code == 400
    assert "nests deeper than 64 levels" in response.json["message"]
