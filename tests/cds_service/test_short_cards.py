"""Patient-view cards a clinician reads in seconds.

Each card's detail names the risk tier and the items that decided it, the action with the first
phase of its regimen and dose, what must never be missed, the bleeding risk in one line and what
missing data could change the advice; the full breakdown is on the card's "Full VTE assessment"
link. The scenarios are patients a haematologist or a vascular physician would recognise.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from cds_service.app import create_app
from tests.cds_service.all_charts import calls
from tests.cds_service.scenarios import (
    ICD10CM,
    SCENARIOS,
    _calf,
    _myeloma,
    condition,
    med,
    myeloma_gfr_25,
    myeloma_on_lenalidomide_dexamethasone,
    myeloma_platelets_40,
    myeloma_very_high_risk,
    patient,
    request,
)

# The most a card of each kind may hold, over every chart the project has, in both languages:
# lines with text, and characters. The old detail ran to about 60 lines and 4,000 characters.
LIMITS = {"mm-prophylaxis": (16, 1100), "vte-treatment": (10, 1000), "cmvt": (10, 900)}


def card_for(client, body: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    response = client.post("/cds-services/vte-patient-view", json=body,
                           headers={"Accept-Language": lang})
    assert response.status_code == 200, response.json
    (card,) = response.json["cards"]
    return card


def lines(detail: str) -> list[str]:
    return [line for line in detail.splitlines() if line.strip()]


def link_document(client, card: dict[str, Any]) -> dict[str, Any]:
    """What the card's "Full VTE assessment" link holds (its JSON form)."""
    (link,) = [x for x in card["links"] if x["type"] == "absolute"]
    response = client.get(link["url"].removeprefix("https://cds.example"),
                          headers={"Accept": "application/json"})
    assert response.status_code == 200
    return dict(response.json)


# --- named scenarios ---------------------------------------------------------------------

def test_very_high_risk_myeloma_on_lenalidomide_names_tier_three_items_regimen_and_bleeding(
        client):
    card = card_for(client, myeloma_very_high_risk())
    detail = card["detail"]
    assert detail.startswith("**Very high VTE risk**: 15 points on the MM VTE risk score")
    # the three items with the most points, then what the others add (5 + 4 + 2 + 4 = 15)
    assert "- Personal history of VTE: 5\n" \
           "- Immunomodulatory drug (thalidomide, lenalidomide, pomalidomide): 4\n" \
           "- Dexamethasone 120-160 mg per cycle: 2\n" \
           "- Other items (4): 4" in detail
    # the regimen at this patient's dose (58 kg), the alternative by name
    assert "**Recommended:** enoxaparin 58 mg SC twice daily (1 mg/kg x 58 kg); " \
           "or rivaroxaban 20 mg" in detail
    assert "**Bleeding risk:** low (Table 6 score 4.5)" in detail
    assert len(lines(detail)) <= 8
    assert "|" not in detail
    assert "MM-T5-" not in detail


def test_the_breakdown_left_out_of_the_card_is_on_its_link(client):
    card = card_for(client, myeloma_on_lenalidomide_dexamethasone())
    detail = card["detail"]
    # not on the card: the table rows, evidence ids, what the tier rules out, duration, drugs
    for gone in ("| MM-T5-19 |", "MedicationRequest/mm-rd-len", "Aspirin not recommended",
                 "At least 6 months", "DRUG-02", "BLEED-10"):
        assert gone not in detail
    doc = link_document(client, card)
    items = {i["rule"]: i for i in doc["scores"]["mm_vte"]["items"]}
    assert items["MM-T5-19"]["status"] == "present"
    assert items["MM-T5-19"]["evidence"] == ["MedicationRequest/mm-rd-len"]
    assert "BLEED-10" in doc["scores"]["bleeding"]["contributing"]
    ruled = doc["recommendations"]["prophylaxis"]["ruled_out"]
    assert [(r["regimen"], r["rule"], r["by_tier"]) for r in ruled] == [
        ("aspirin", "MM-RX-01", True)]
    assert "At least 6 months" in doc["recommendations"]["prophylaxis"]["duration"]["en"]
    assert [n["rule"] for n in doc["drug_notes"]] == ["DRUG-02", "DRUG-05"]


def test_egfr_25_keeps_the_renal_adjustment_on_the_card(client):
    detail = card_for(client, myeloma_gfr_25())["detail"]
    assert "- Rivaroxaban not recommended: GFR < 30. (ADJ-02)" in detail
    assert "- GFR < 30: consider reducing the LMWH dose" in detail
    assert "- No one-click LMWH order with GFR < 30" in detail


def test_platelets_40_says_drugs_are_held_for_bleeding_and_why(client):
    card = card_for(client, myeloma_platelets_40())
    detail = card["detail"]
    assert "**Recommended:** Mechanical prophylaxis" in detail
    assert "- Platelets < 50 x 10^9/L: safety data are limited" in detail
    assert "- Drug prophylaxis held: high bleeding risk (Table 6 score 8.5 >= 7)." in detail
    assert "**Bleeding risk:** high (Table 6 score 8.5)" in detail
    assert "suggestions" not in card or all(
        a["resource"]["resourceType"] != "MedicationRequest"
        for s in card["suggestions"] for a in s["actions"])


def test_already_on_warfarin_is_said_and_nothing_is_added(client):
    pid = "mm-warf"
    body = request("patient-view", pid, _myeloma(pid, meds=[
        med(pid, f"{pid}-len", "643720", "lenalidomide 25 MG Oral Capsule", dose_mg=25),
        med(pid, f"{pid}-warf", "855332", "warfarin sodium 5 MG Oral Tablet", dose_mg=5)]))
    card = card_for(client, body)
    assert "- Already on warfarin: keep managing it by the rules of its own indication " \
           "(DUR-02); do not add a second antithrombotic." in card["detail"]
    assert not card.get("suggestions")


def test_a_16_year_old_gets_the_under_18_statement_and_no_drug(client):
    pid = "mm-teen"
    pre = _myeloma(pid)
    pre["patient"] = patient(pid, "female", "2010-05-01")
    card = card_for(client, request("patient-view", pid, pre))
    assert "- Patient under 18: both guidelines are for adults, so no drug is recommended " \
           "here." in card["detail"]
    assert "enoxaparin" not in card["detail"]


def test_an_unreadable_entry_is_counted_on_the_card_and_listed_on_the_link(client):
    pid = "mm-unread"
    old_dvt = condition(pid, f"{pid}-dvt", ICD10CM, "I82.411", "2019-05-01", "resolved")
    old_dvt["onsetDateTime"] = "May 2019"  # not a FHIR dateTime: the entry cannot be read
    card = card_for(client, request("patient-view", pid, _myeloma(pid, extra_cond=[old_dvt])))
    assert card["detail"].endswith("**Not read:** diagnosis: 1; see the full assessment.")
    issues = link_document(client, card)["data_issues"]
    assert [i["reference"] for i in issues if i["severity"] == "skipped"] == [
        f"Condition/{pid}-dvt"]


def test_established_pe_names_the_first_phase_of_the_first_regimen(client):
    pid = "mm-pe"
    pe = condition(pid, f"{pid}-pe", ICD10CM, "I26.99", "2026-11-20")
    card = card_for(client, request("patient-view", pid, _myeloma(pid, extra_cond=[pe])))
    detail = card["detail"]
    assert detail.startswith("**Established PE**, on record since 2026-11-20.")
    assert "**Recommended:** Rivaroxaban 15 mg twice daily for 3 weeks; " \
           "or enoxaparin 1 mg/kg bid, LMWH, then warfarin" in detail
    assert "**Bleeding risk:** low" in detail
    assert len(lines(detail)) <= 6


def test_calf_thrombosis_with_only_a_positive_d_dimer_shows_the_reading_that_decided_it(
        client):
    pid = "calf-dd"
    pre = _calf(pid, [])
    (d_dimer,) = [e["resource"] for e in pre["observations"]["entry"]
                  if e["resource"]["id"] == f"{pid}-dd"]
    d_dimer["valueQuantity"]["value"] = 1.2  # positive (> 0.5 mg/L FEU), not read as marked
    body = request("patient-view", pid, pre)
    detail = card_for(client, body)["detail"]
    assert detail.startswith("**Extension risk: high**, from:\n\n- D-dimer positive")
    assert "**Recommended:** Therapeutic anticoagulation for at least 3 months" in detail
    assert "A merely positive D-dimer (not markedly raised) therefore makes the patient " \
           "'not low risk'" in detail


def test_low_risk_calf_thrombosis_is_five_lines_with_no_reading(client):
    detail = card_for(client, request("patient-view", "calf-low", _calf("calf-low", [])))[
        "detail"]
    assert lines(detail) == [
        "**Extension risk: low**: every risk item is documented absent.",
        "**Recommended:** Repeat duplex ultrasound of the leg veins within 2 weeks; "
        "or mechanical prophylaxis",
        "**Bleeding risk:** low (Table 6 score 2.5)",
        "**Could change it:** Anticoagulation (CMVT-05) if surveillance shows extension to the "
        "proximal deep veins."]


def test_the_chinese_card_is_as_short_and_names_the_same_items(client):
    detail = card_for(client, myeloma_very_high_risk(), "zh-CN")["detail"]
    assert detail.startswith("**VTE极高危**：MM相关VTE风险评分（表5）15分，主要来自：")
    assert "- 其他4项：4分" in detail
    assert "**出血风险**：低（表6评分4.5分）" in detail
    assert len(lines(detail)) <= 8


# --- every card: short, Markdown the sandbox renders as meant -------------------------------

def markdown_problems(detail: str) -> list[str]:
    """Tables, and paragraph lines that Markdown would join to the next line."""
    found = [f"table row: {line}" for line in detail.splitlines() if line.startswith("|")]
    rows = detail.split("\n")
    for here, after in pairwise(rows):
        if here and after and not (here.startswith("- ") and after.startswith("- ")):
            found.append(f"no blank line between {here[:40]!r} and {after[:40]!r}")
    return found


@pytest.mark.parametrize("name", sorted(n for n, (_, s) in SCENARIOS.items()
                                        if s == "vte-patient-view"))
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_scenario_card_is_markdown_the_sandbox_renders(client, name, lang):
    build, service = SCENARIOS[name]
    for card in client.post(f"/cds-services/{service}", json=build(),
                            headers={"Accept-Language": lang}).json["cards"]:
        assert markdown_problems(card["detail"]) == []


def test_every_patient_view_card_of_every_chart_fits_its_limits(tmp_path):
    apps: dict[str, Any] = {}
    longest: dict[tuple[str, str], tuple[int, int, str]] = defaultdict(lambda: (0, 0, ""))
    for call in calls():
        if call.body["hook"] != "patient-view":
            continue
        if call.as_of not in apps:
            apps[call.as_of] = create_app({
                "AUTH": "off", "TODAY": call.as_of, "PUBLIC_URL": "https://cds.example",
                "DATABASE_URL": f"sqlite:///{tmp_path}/{call.as_of}.db",
                "FHIR_ALLOWLIST": ""}).test_client()
        for lang in ("en", "zh-CN"):
            got = apps[call.as_of].post("/cds-services/vte-patient-view", json=call.body,
                                        headers={"Accept-Language": lang})
            for card in got.json["cards"]:
                kind, detail = card["extension"]["vte-cds"]["kind"], card["detail"]
                assert len(card["summary"]) < 140, (call.name, card["summary"])
                assert markdown_problems(detail) == [], call.name
                size = (len(lines(detail)), len(detail), call.name)
                key = (kind, lang)
                longest[key] = max(longest[key], size)
    assert {k for k, _ in longest} == set(LIMITS)
    over = {key: size for key, size in longest.items()
            if size[0] > LIMITS[key[0]][0] or size[1] > LIMITS[key[0]][1]}
    assert over == {}
