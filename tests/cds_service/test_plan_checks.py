"""Order checks that hold a draft against the assessment's plan (hooks/plan_checks.py), as a
prescriber meets them: a named patient, the drafted order, the card and its one-click action.

Rule ids: ADJ-01, MM-T5-27, MM-RX-01, MM-RX-03, MM-RX-04, TRT-02..04, TRT-08, CMVT-03, CMVT-06.
"""

from __future__ import annotations

import copy
from typing import Any

from hooks.base import card_kind
from tests.cds_service.card_checks import assert_valid_card
from tests.cds_service.scenarios import (
    ICD10CM,
    _calf,
    _myeloma,
    bundle,
    condition,
    finding,
    med,
    request,
)
from vte_rules.tables import load_table

ENOXAPARIN = ("67108", "enoxaparin sodium injection")
RIVAROXABAN = ("1114198", "rivaroxaban 10 MG Oral Tablet")


def _cards(client: Any, hook: str, pid: str, prefetch: dict[str, Any],
           drafts: list[dict[str, Any]], lang: str = "en") -> list[dict[str, Any]]:
    service = "vte-order-sign" if hook == "order-sign" else "vte-order-select"
    response = client.post(f"/cds-services/{service}", json=request(hook, pid, prefetch, drafts),
                           headers={"Accept-Language": lang})
    assert response.status_code == 200, response.json
    for card in response.json["cards"]:
        assert_valid_card(card)
    return list(response.json["cards"])


def _of(cards: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for c in cards if card_kind(c["uuid"]) == kind]


def _draft(pid: str, rid: str, code: tuple[str, str], mg: float, per_day: int = 1) -> dict:
    return med(pid, rid, code[0], code[1], status="draft", dose_mg=mg, per_day=per_day)


def _without(prefetch: dict[str, Any], suffix: str) -> dict[str, Any]:
    out = copy.deepcopy(prefetch)
    out["observations"]["entry"] = [e for e in out["observations"]["entry"]
                                    if not e["resource"]["id"].endswith(suffix)]
    return out


def _update(card: dict[str, Any]) -> dict[str, Any]:
    (action,) = [a for s in card.get("suggestions", []) for a in s["actions"]
                 if a["type"] == "update"]
    return action["resource"]


def _dose(resource: dict[str, Any]) -> tuple[float, int]:
    dosage = resource["dosageInstruction"][0]
    return (dosage["doseAndRate"][0]["doseQuantity"]["value"],
            dosage["timing"]["repeat"]["frequency"])


def _low_tier(pid: str, egfr: float) -> dict[str, Any]:
    """68-year-old woman on bortezomib-dexamethasone 40 mg weekly, BMI 26, diabetes: low tier."""
    return _myeloma(pid, egfr=egfr, meds=[
        med(pid, f"{pid}-dex", "3264", "dexamethasone", dose_mg=40, period=1, period_unit="wk"),
        med(pid, f"{pid}-btz", "358258", "bortezomib")])


def test_aspirin_drafted_with_egfr_38_gets_the_renal_caution_and_warfarin_instead(client):
    pre = _low_tier("asa-ckd", egfr=38)
    aspirin = _draft("asa-ckd", "draft-asa", ("1191", "aspirin"), 100)
    (card,) = _of(_cards(client, "order-sign", "asa-ckd", pre, [aspirin]), "order-aspirin-renal")
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Aspirin with renal insufficiency (eGFR 38)")
    assert "ADJ-01" in card["detail"]
    assert "warfarin" in card["detail"].lower()
    (offer,) = card["suggestions"]
    assert [a["type"] for a in offer["actions"]] == ["create", "delete"]
    assert "warfarin" in offer["actions"][0]["resource"]["medicationCodeableConcept"]["text"]
    assert offer["actions"][1]["resourceId"] == "MedicationRequest/draft-asa"


def test_aspirin_with_normal_renal_function_at_the_low_tier_gets_no_card(client):
    pre = _low_tier("asa-ok", egfr=88)
    aspirin = _draft("asa-ok", "draft-asa", ("1191", "aspirin"), 100)
    assert _cards(client, "order-sign", "asa-ok", pre, [aspirin]) == []


def test_aspirin_with_no_egfr_on_record_says_adj01_could_not_be_checked(client):
    pre = _without(_low_tier("asa-noegfr", egfr=88), "-egfr")
    aspirin = _draft("asa-noegfr", "draft-asa", ("1191", "aspirin"), 100)
    (card,) = _of(_cards(client, "order-sign", "asa-noegfr", pre, [aspirin]),
                  "order-aspirin-renal")
    assert card["indicator"] == "info"
    assert "ADJ-01" in card["summary"]


def test_aspirin_below_the_prophylaxis_threshold_is_not_indicated(client):
    pid = "asa-low"
    pre = _myeloma(pid, egfr=88, meds=[med(pid, f"{pid}-btz", "358258", "bortezomib")])
    aspirin = _draft(pid, "draft-asa", ("1191", "aspirin"), 100)
    (card,) = _cards(client, "order-sign", pid, pre, [aspirin])
    assert card_kind(card["uuid"]) == "order-not-indicated"
    assert card["indicator"] == "info"
    assert "(< 6): no drug prophylaxis" in card["summary"]
    assert "MM-T5-27" in card["detail"]
    assert "another indication" in card["detail"]
    assert card["suggestions"][0]["actions"] == [{
        "type": "delete", "description": "Remove the draft order",
        "resourceId": "MedicationRequest/draft-asa"}]


def _very_high(pid: str) -> dict[str, Any]:
    """The Rd patient with a previous DVT: 15 points, very high; weight 58 kg."""
    return _myeloma(pid, egfr=88, extra_cond=[
        condition(pid, f"{pid}-olddvt", ICD10CM, "I82.411", "2019-05-01", "resolved")])


def test_very_high_risk_prophylactic_enoxaparin_is_raised_to_1_mg_per_kg_in_place(client):
    pid = "vh-enox40"
    (card,) = _cards(client, "order-sign", pid, _very_high(pid),
                     [_draft(pid, "draft-enox", ENOXAPARIN, 40)])
    assert card_kind(card["uuid"]) == "order-dose-below-plan"
    assert "MM-RX-03" in card["detail"]
    updated = _update(card)
    assert updated["id"] == "draft-enox"
    assert updated["status"] == "draft"
    assert _dose(updated) == (58, 2)  # 1 mg/kg x 58 kg, twice daily
    # the 40 mg syringe cannot carry 58 mg: the product becomes enoxaparin (RxNorm 67108)
    assert updated["medicationCodeableConcept"]["coding"][0]["code"] == "67108"


def test_very_high_risk_rivaroxaban_10_is_raised_to_20_mg(client):
    pid = "vh-riva10"
    (card,) = _cards(client, "order-sign", pid, _very_high(pid),
                     [_draft(pid, "draft-riva", RIVAROXABAN, 10)])
    assert card_kind(card["uuid"]) == "order-dose-below-plan"
    assert _dose(_update(card)) == (20, 1)


def test_very_high_risk_enoxaparin_80_twice_daily_for_58_kg_is_corrected_to_58_mg(client):
    pid = "vh-enox80"
    (card,) = _cards(client, "order-sign", pid, _very_high(pid),
                     [_draft(pid, "draft-enox", ENOXAPARIN, 80, per_day=2)])
    assert card_kind(card["uuid"]) == "order-dose-weight"
    assert "58 kg" in card["detail"]
    assert _dose(_update(card)) == (58, 2)


def test_very_high_risk_enoxaparin_at_1_mg_per_kg_gets_no_card(client):
    pid = "vh-enox58"
    assert _cards(client, "order-sign", pid, _very_high(pid),
                  [_draft(pid, "draft-enox", ENOXAPARIN, 60, per_day=2)]) == []


def test_very_high_risk_enoxaparin_twice_daily_with_no_weight_asks_for_one(client):
    pid = "vh-noweight"
    pre = _without(_very_high(pid), "-wt")
    (card,) = _cards(client, "order-sign", pid, pre,
                     [_draft(pid, "draft-enox", ENOXAPARIN, 80, per_day=2)])
    assert card_kind(card["uuid"]) == "order-dose-weight"
    assert "no body weight" in card["summary"]
    assert not card.get("suggestions")  # nothing to compute a dose from


def _treated(pid: str, meds: list[dict[str, Any]]) -> dict[str, Any]:
    """Myeloma with an acute femoral DVT diagnosed 6 days ago."""
    return _myeloma(pid, egfr=88, meds=meds, extra_cond=[
        condition(pid, f"{pid}-dvt", ICD10CM, "I82.411", "2026-11-21")])


def test_acute_dvt_rivaroxaban_10_mg_drafted_is_changed_to_15_mg_twice_daily(client):
    pid = "trt-riva10"
    cards = _cards(client, "order-sign", pid, _treated(pid, []),
                   [_draft(pid, "draft-riva", RIVAROXABAN, 10)])
    (card,) = _of(cards, "order-treatment-dose")
    updated = _update(card)
    assert updated["id"] == "draft-riva"
    assert _dose(updated) == (15, 2)  # the first phase of TRT-02
    assert updated["medicationCodeableConcept"]["coding"][0]["code"] == "1232082"  # 15 mg tab


def test_next_lenalidomide_cycle_during_dvt_treatment_draws_the_trt08_caution(client):
    pid = "trt-len"
    enox = med(pid, f"{pid}-enox", ENOXAPARIN[0], ENOXAPARIN[1], dose_mg=60, per_day=2)
    draft = med(pid, "draft-len", "643720", "lenalidomide 25 MG Oral Capsule", status="draft",
                dose_mg=25)
    cards = _cards(client, "order-sign", pid, _treated(pid, [enox]), [draft])
    (card,) = _of(cards, "order-regimen-during-vte")
    assert card["indicator"] == "warning"
    assert "TRT-08" in card["summary"]
    assert "bortezomib" in card["detail"]
    zh = _of(_cards(client, "order-sign", pid, _treated(pid, [enox]), [draft], "zh-CN"),
             "order-regimen-during-vte")[0]
    assert "硼替佐米" in zh["detail"]


def test_lenalidomide_already_running_does_not_raise_trt08_for_an_unrelated_draft(client):
    pid = "trt-running"
    running = [med(pid, f"{pid}-len", "643720", "lenalidomide 25 MG Oral Capsule", dose_mg=25),
               med(pid, f"{pid}-enox", ENOXAPARIN[0], ENOXAPARIN[1], dose_mg=60, per_day=2)]
    amox = med(pid, "draft-amox", "723", "amoxicillin", status="draft", dose_mg=500, per_day=3)
    assert _of(_cards(client, "order-sign", pid, _treated(pid, running), [amox]),
               "order-regimen-during-vte") == []


def _calf_unknown(pid: str) -> dict[str, Any]:
    """A CMVT whose symptoms, size and setting are not recorded."""
    pre = _calf(pid, [])
    pre["observations"] = bundle(*[e["resource"] for e in pre["observations"]["entry"]
                                   if e["resource"]["code"]["coding"][0]["system"]
                                   == "http://loinc.org"])
    return pre


def test_rivaroxaban_for_a_cmvt_whose_extension_risk_is_undocumented_says_what_is_missing(
        client):
    pid = "calf-unknown"
    (card,) = _cards(client, "order-sign", pid, _calf_unknown(pid),
                     [_draft(pid, "draft-riva", ("1232082", "rivaroxaban 15 MG Oral Tablet"),
                             15, per_day=2)])
    assert card_kind(card["uuid"]) == "order-cmvt-undecided"
    assert card["indicator"] == "info"
    assert "CMVT-06" in card["detail"]
    assert "Clinical symptoms" in card["detail"]


def test_rivaroxaban_for_a_documented_low_risk_cmvt_is_ruled_out(client):
    pid = "calf-low-riva"
    (card,) = _cards(client, "order-sign", pid, _calf(pid, []),
                     [_draft(pid, "draft-riva", RIVAROXABAN, 10)])
    assert card_kind(card["uuid"]) == "order-ruled-out"
    assert "CMVT-03" in card["detail"]


def test_prophylactic_enoxaparin_for_a_cmvt_to_anticoagulate_asks_for_full_dose(client):
    pid = "calf-ext-enox"
    pre = _calf(pid, [finding(pid, f"{pid}-ext", "extension_to_proximal_veins", True)])
    (card,) = _cards(client, "order-sign", pid, pre, [_draft(pid, "draft-enox", ENOXAPARIN, 40)])
    assert card_kind(card["uuid"]) == "order-dose-below-plan"
    assert "27%" in card["detail"]
    assert "CMVT-06" in card["detail"]
    assert not card.get("suggestions")  # the review gives no dose to order


def test_aspirin_drafted_on_top_of_dabigatran_for_atrial_fibrillation_is_not_stacked(client):
    pid = "af-dabi"
    dabigatran = med(pid, f"{pid}-dabi", "1037045", "dabigatran etexilate 110 MG Oral Capsule",
                     dose_mg=110, per_day=2)
    pre = _low_tier(pid, egfr=88)
    pre["medications"]["entry"].append({"resource": dabigatran})
    cards = _cards(client, "order-sign", pid, pre,
                   [_draft(pid, "draft-asa", ("1191", "aspirin"), 100)])
    (card,) = _of(cards, "order-second-antithrombotic")
    assert "DUR-02" in card["summary"]
    assert "dabigatran" in card["summary"]
    assert card["suggestions"][0]["actions"][0]["type"] == "delete"


def test_warfarin_drafted_while_lmwh_runs_is_the_trt04_overlap_not_a_second_drug(client):
    pid = "trt-bridge"
    enox = med(pid, f"{pid}-enox", ENOXAPARIN[0], ENOXAPARIN[1], dose_mg=58, per_day=2)
    cards = _cards(client, "order-sign", pid, _treated(pid, [enox]),
                   [_draft(pid, "draft-warf", ("11289", "warfarin"), 3)])
    assert _of(cards, "order-second-antithrombotic") == []
    assert _of(cards, "order-warfarin-lead-in") == []


def test_warfarin_alone_for_a_new_dvt_needs_lmwh_first(client):
    pid = "trt-warf"
    cards = _cards(client, "order-sign", pid, _treated(pid, []),
                   [_draft(pid, "draft-warf", ("11289", "warfarin"), 3)])
    (card,) = _of(cards, "order-warfarin-lead-in")
    assert "TRT-04" in card["summary"]
    assert "at least 5 days" in card["detail"]


def _with_inr(prefetch: dict[str, Any], inr: float) -> dict[str, Any]:
    out = copy.deepcopy(prefetch)
    for entry in out["observations"]["entry"]:
        if entry["resource"]["id"].endswith("-inr"):
            entry["resource"]["valueQuantity"]["value"] = inr
    return out


def test_warfarin_lead_in_ends_at_the_inr_the_treatment_table_gives(client, monkeypatch):
    """TRT-04: LMWH until the INR is at least 2.0 (treatment.toml, the bridge phases'
    until_inr_at_least). INR 2.2 on record: no lead-in card; the table at 2.5: the card."""
    pid = "trt-warf-inr"
    pre = _with_inr(_treated(pid, []), 2.2)
    warfarin = [_draft(pid, "draft-warf", ("11289", "warfarin"), 3)]
    assert _of(_cards(client, "order-sign", pid, pre, warfarin), "order-warfarin-lead-in") == []
    phases = load_table("treatment").data["phases"]
    for key in ("enoxaparin_bridge", "dalteparin_bridge"):
        assert phases[key]["until_inr_at_least"] == 2.0
        monkeypatch.setitem(phases[key], "until_inr_at_least", 2.5)
    (card,) = _of(_cards(client, "order-sign", pid, pre, warfarin), "order-warfarin-lead-in")
    assert "TRT-04" in card["summary"]


def test_rivaroxaban_20_mg_on_day_6_of_treatment_is_changed_to_the_initial_15_mg_bid(client):
    pid = "trt-riva20"
    (card,) = _of(_cards(client, "order-sign", pid, _treated(pid, []),
                         [_draft(pid, "draft-riva", ("1232086", "rivaroxaban 20 MG Oral Tablet"),
                                 20)]), "order-treatment-dose")
    assert "Day 6 of treatment" in card["detail"]
    assert _dose(_update(card)) == (15, 2)


def test_rivaroxaban_20_mg_after_the_first_three_weeks_is_the_continuation_dose(client):
    pid = "trt-riva20-late"
    pre = _myeloma(pid, egfr=88, meds=[], extra_cond=[
        condition(pid, f"{pid}-dvt", ICD10CM, "I82.411", "2026-10-20")])
    cards = _cards(client, "order-sign", pid, pre,
                   [_draft(pid, "draft-riva", ("1232086", "rivaroxaban 20 MG Oral Tablet"), 20)])
    assert _of(cards, "order-treatment-dose") == []


def test_rivaroxaban_with_no_egfr_on_record_says_adj02_could_not_be_checked(client):
    pid = "vh-noegfr"
    pre = _without(_very_high(pid), "-egfr")
    cards = _cards(client, "order-sign", pid, pre,
                   [_draft(pid, "draft-riva", ("1232086", "rivaroxaban 20 MG Oral Tablet"), 20)])
    (card,) = _of(cards, "order-renal")
    assert card["indicator"] == "info"
    assert "ADJ-02" in card["summary"]


def test_nadroparin_0_4_ml_once_daily_for_a_cmvt_to_anticoagulate_is_a_prophylactic_dose(client):
    pid = "calf-ext-nadro"
    pre = _calf(pid, [finding(pid, f"{pid}-ext", "extension_to_proximal_veins", True)])
    draft = {"resourceType": "MedicationRequest", "id": "draft-nadro", "status": "draft",
             "intent": "order", "subject": {"reference": f"Patient/{pid}"},
             "medicationCodeableConcept": {"text": "那屈肝素钙注射液 0.4ml:4100AXaIU"},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1,
                                                          "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {"value": 0.4,
                                                                      "unit": "mL"}}]}]}
    (card,) = _cards(client, "order-sign", pid, pre, [draft])
    assert card_kind(card["uuid"]) == "order-dose-below-plan"
    assert "CMVT-06" in card["detail"]


def test_the_cds_hooks_sandbox_draft_gets_its_update_although_its_category_is_not_a_list(client):
    """The real sandbox drafts MedicationRequests with ``category`` as one object (not R4) and a
    dose of 1 {pill}; captured from it driving this service. The update is still offered."""
    pid = "trt-sandbox"
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
             "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2026-11-27",
             "intent": "order",
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1,
                                                          "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": {
                                        "value": 1, "system": "http://unitsofmeasure.org",
                                        "code": "{pill}"}}]}],
             "dispenseRequest": {"expectedSupplyDuration": {
                 "value": 30, "unit": "days", "system": "http://unitsofmeasure.org",
                 "code": "d"}},
             "category": {"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                 "code": "community"}]},
             "medicationCodeableConcept": {"text": "rivaroxaban 10 MG Oral Tablet", "coding": [{
                 "display": "rivaroxaban 10 MG Oral Tablet",
                 "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1114198"}]}}
    (card,) = _of(_cards(client, "order-select", pid, _treated(pid, []), [draft]),
                  "order-treatment-dose")
    updated = _update(card)
    assert updated["id"] == "request-123"
    assert _dose(updated) == (15, 2)
    assert isinstance(updated["category"], list)
    assert updated["dispenseRequest"] == draft["dispenseRequest"]
    assert card["summary"].endswith("Rivaroxaban 15 mg twice daily for 3 weeks")
