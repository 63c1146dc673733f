"""Calf muscular venous thrombosis (tables/cmvt.toml, vte_rules/cmvt.py): rules CMVT-01..CMVT-11."""

from __future__ import annotations

import pytest

from vte_rules.cmvt import CmvtAssessment, assess
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Regimen
from vte_rules.tables import Label, load_table

# An isolated CMVT with every item documented absent: the authors' low-risk patient (CMVT-03).
LOW_RISK: dict[str, bool | float] = {
    "cmvt": True,
    "axial_deep_vein_thrombosis": False,
    "cmvt_symptomatic": False,
    "thrombus_near_proximal_veins": False,
    "d_dimer_raised": False,
    "thrombus_length_cm": 3,
    "thrombus_diameter_mm": 5,
    "veins_involved_count": 1,
    "active_cancer": False,
    "prolonged_immobilisation": False,
    "stroke": False,
    "hypercoagulable_state": False,
    "high_bleeding_risk": False,
}


def patient(**changes: bool | float | None) -> PatientFacts:
    """The low-risk patient with some facts changed (None makes a fact unknown)."""
    return PatientFacts.of(None, **{**LOW_RISK, **changes})


def cmvt(**changes: bool | float | None) -> CmvtAssessment:
    return assess(patient(**changes))


def option_regimens(a: CmvtAssessment) -> set[Regimen]:
    return {o.regimen for o in a.recommendation.options}


def ruled_out(a: CmvtAssessment) -> dict[Regimen, str]:
    return {r.regimen: r.rule for r in a.recommendation.ruled_out}


def english(labels: tuple[Label, ...]) -> str:
    return " | ".join(label.en for label in labels)


# --- CMVT-03 / CMVT-04: low risk -> surveillance -----------------------------------------------

def test_cmvt_low_risk_d_dimer_negative_gets_surveillance_at_1_and_2_weeks() -> None:
    a = cmvt()
    rec = a.recommendation
    assert a.thrombosis_risk == "low"
    assert rec.regimen is Regimen.ULTRASOUND_SURVEILLANCE
    assert option_regimens(a) == {Regimen.ULTRASOUND_SURVEILLANCE, Regimen.MECHANICAL}
    assert a.surveillance_days == (7, 14)
    assert rec.rules[:1] == ("CMVT-01",)
    assert {"CMVT-03", "CMVT-04"} <= set(rec.rules)
    assert ruled_out(a) == {Regimen.ANTICOAGULATION: "CMVT-03"}


def test_cmvt_surveillance_note_says_the_two_dates_are_this_services_proposal() -> None:
    notes = english(cmvt().recommendation.notes)
    assert "days 7 and 14" in notes
    assert "within 2 weeks" in notes
    assert "this service's proposal" in notes
    assert "exercise" in notes  # CMVT-03: IPC and appropriate exercise


def test_cmvt_low_risk_surveillance_could_change_to_anticoagulation_on_extension() -> None:
    could = english(cmvt().recommendation.could_change)
    assert "CMVT-05" in could
    assert "extension to the proximal deep veins" in could


def test_cmvt_negative_d_dimer_and_no_symptoms_settle_the_two_implied_items() -> None:
    a = cmvt(d_dimer_markedly_raised=None, cmvt_severe_symptoms=None)
    implied = [i for i in a.items if i.assumption]
    assert {i.label.en for i in implied} == {"D-dimer markedly raised", "Severe symptoms"}
    assert all(i.status == "absent" for i in implied)
    assert a.thrombosis_risk == "low"


# --- CMVT-02: ACCP features, both sides of every cut-off ---------------------------------------

def test_cmvt_thrombus_6_cm_long_is_high_risk_and_anticoagulated_3_months() -> None:
    a = cmvt(thrombus_length_cm=6)
    rec = a.recommendation
    assert a.thrombosis_risk == "high"
    assert [i.label.en for i in a.present] == ["Extensive thrombosis: length > 5 cm"]
    assert rec.regimen is Regimen.ANTICOAGULATION
    assert rec.duration is not None
    assert "At least 3 months" in rec.duration.en
    assert rec.rules[:3] == ("CMVT-01", "CMVT-02", "CMVT-06")


def test_cmvt_length_exactly_5_cm_is_not_a_feature() -> None:
    assert cmvt(thrombus_length_cm=5).thrombosis_risk == "low"


def test_cmvt_length_5_1_cm_is_a_feature() -> None:
    assert cmvt(thrombus_length_cm=5.1).thrombosis_risk == "high"


def test_cmvt_diameter_exactly_7_mm_is_not_a_feature() -> None:
    assert cmvt(thrombus_diameter_mm=7).thrombosis_risk == "low"


def test_cmvt_diameter_7_1_mm_is_a_feature() -> None:
    assert cmvt(thrombus_diameter_mm=7.1).thrombosis_risk == "high"


def test_cmvt_one_vein_is_not_a_feature() -> None:
    assert cmvt(veins_involved_count=1).thrombosis_risk == "low"


def test_cmvt_two_veins_is_several_veins_and_a_feature() -> None:
    assert cmvt(veins_involved_count=2).thrombosis_risk == "high"


@pytest.mark.parametrize(("changes", "label"), [
    pytest.param({"cmvt_symptomatic": True, "cmvt_severe_symptoms": True}, "Severe symptoms",
                 id="CMVT-02-severe-symptoms"),
    pytest.param({"thrombus_near_proximal_veins": True}, "Thrombus close to the proximal veins",
                 id="CMVT-02-near-proximal-veins"),
    pytest.param({"d_dimer_raised": True, "d_dimer_markedly_raised": True},
                 "D-dimer markedly raised", id="CMVT-02-d-dimer-markedly-raised"),
    pytest.param({"active_cancer": True}, "Active cancer", id="CMVT-02-active-cancer"),
    pytest.param({"prolonged_immobilisation": True}, "Prolonged immobilisation",
                 id="CMVT-03-prolonged-immobilisation"),
    pytest.param({"stroke": True}, "Stroke", id="CMVT-03-stroke"),
    pytest.param({"hypercoagulable_state": True}, "Hypercoagulable state",
                 id="CMVT-03-hypercoagulable-state"),
    pytest.param({"d_dimer_raised": True}, "D-dimer positive", id="CMVT-03-d-dimer-positive"),
    pytest.param({"cmvt_symptomatic": True}, "Clinical symptoms", id="CMVT-06-symptoms"),
])
def test_cmvt_each_item_alone_means_not_low_risk_and_anticoagulation_per_cmvt_06(
        changes: dict[str, bool], label: str) -> None:
    a = cmvt(**changes)
    assert a.thrombosis_risk == "high"
    assert label in {i.label.en for i in a.present}
    assert a.recommendation.regimen is Regimen.ANTICOAGULATION
    assert "CMVT-06" in a.recommendation.rules


def test_cmvt_positive_but_not_markedly_raised_d_dimer_leads_to_anticoagulation() -> None:
    a = cmvt(d_dimer_raised=True, d_dimer_markedly_raised=False)
    assert [i.rule for i in a.present] == ["CMVT-03"]
    assert a.recommendation.regimen is Regimen.ANTICOAGULATION
    # the service's reading of the undefined "high thrombosis risk" decided it: it goes with
    # the advice, in both languages
    (reading,) = a.recommendation.readings
    assert "merely positive D-dimer" in reading.en
    assert "仅D-二聚体阳性" in reading.zh


def test_cmvt_stroke_alone_carries_the_stroke_reading_with_the_advice() -> None:
    a = cmvt(stroke=True)
    assert a.recommendation.regimen is Regimen.ANTICOAGULATION
    readings = " ".join(r.en for r in a.recommendation.readings)
    assert "'no stroke'" in readings
    assert "does not define 'high thrombosis risk'" in readings


def test_cmvt_an_accp_feature_needs_no_reading_of_the_seed() -> None:
    a = cmvt(thrombus_length_cm=6)
    assert a.recommendation.regimen is Regimen.ANTICOAGULATION
    assert a.recommendation.readings == ()


def test_cmvt_low_risk_rules_anticoagulation_out_as_the_tier_s_choice() -> None:
    (ruled,) = cmvt().recommendation.ruled_out
    assert ruled.regimen is Regimen.ANTICOAGULATION
    assert ruled.by_tier is True


def test_cmvt_active_cancer_is_named_once_though_it_is_a_cmvt_02_and_cmvt_03_item() -> None:
    a = cmvt(active_cancer=True)
    assert {i.rule for i in a.present} == {"CMVT-02", "CMVT-03"}
    first_note = a.recommendation.notes[0].en
    assert first_note.count("ancer") == 1


# --- CMVT-01: extension risk first ------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    pytest.param({}, id="low-risk"),
    pytest.param({"thrombus_length_cm": 6}, id="high-risk"),
    pytest.param({"d_dimer_raised": None}, id="indeterminate"),
    pytest.param({"high_bleeding_risk": True}, id="high-bleeding"),
    pytest.param({"axial_deep_vein_thrombosis": True}, id="non-isolated"),
    pytest.param({"extension_to_proximal_veins": True}, id="extension"),
])
def test_cmvt_cmvt_01_every_recommendation_states_the_extension_risk_first(
        changes: dict[str, bool | float | None]) -> None:
    rec = cmvt(**changes).recommendation
    assert rec.rules[0] == "CMVT-01"
    assert rec.notes[0].en.startswith("Risk of extension assessed first")
    assert rec.notes[0].zh.startswith("首先评估血栓进展风险")


# --- Unknowns: indeterminate risk ---------------------------------------------------------------

def test_cmvt_unknown_d_dimer_is_indeterminate_and_could_change_names_it() -> None:
    a = cmvt(d_dimer_raised=None)
    rec = a.recommendation
    assert a.thrombosis_risk == "indeterminate"
    assert {i.label.en for i in a.unknown} == {"D-dimer positive", "D-dimer markedly raised"}
    assert rec.regimen is Regimen.ULTRASOUND_SURVEILLANCE
    assert "Anticoagulation (CMVT-06) if confirmed: D-dimer positive." in english(
        rec.could_change)
    assert rec.ruled_out == ()  # anticoagulation stays open until the D-dimer is known
    assert "D-dimer positive" in rec.notes[0].en


def test_cmvt_unknown_item_never_counts_as_absent_even_with_everything_else_negative() -> None:
    assert cmvt(thrombus_diameter_mm=None).thrombosis_risk == "indeterminate"


def test_cmvt_present_item_makes_risk_high_whatever_else_is_unknown() -> None:
    assert cmvt(stroke=None, thrombus_length_cm=8).thrombosis_risk == "high"


def test_cmvt_unknown_bleeding_risk_still_anticoagulates_high_risk_but_says_it_assumes_it() -> None:
    rec = cmvt(thrombus_length_cm=6, high_bleeding_risk=None).recommendation
    assert rec.regimen is Regimen.ANTICOAGULATION
    assert "assumes that high bleeding risk has been excluded" in english(rec.notes)
    assert "if high bleeding risk is confirmed" in english(rec.could_change)


def test_cmvt_unknown_isolation_could_change_surveillance_to_anticoagulation_cmvt_08() -> None:
    a = cmvt(axial_deep_vein_thrombosis=None)
    assert a.isolated is None
    assert a.recommendation.regimen is Regimen.ULTRASOUND_SURVEILLANCE
    assert "Anticoagulation (CMVT-08)" in english(a.recommendation.could_change)


# --- CMVT-05: extension on surveillance --------------------------------------------------------

def test_cmvt_extension_to_proximal_veins_on_surveillance_is_anticoagulated_cmvt_05() -> None:
    rec = cmvt(extension_to_proximal_veins=True).recommendation
    assert rec.regimen is Regimen.ANTICOAGULATION
    assert rec.rules[:2] == ("CMVT-01", "CMVT-05")
    assert "The review gives no separate duration here" in english(rec.notes)


def test_cmvt_extension_with_high_bleeding_risk_is_not_anticoagulated() -> None:
    a = cmvt(extension_to_proximal_veins=True, high_bleeding_risk=True)
    assert a.recommendation.regimen is Regimen.MECHANICAL


# --- CMVT-07: high bleeding risk -----------------------------------------------------------------

def test_cmvt_high_bleeding_gets_mechanical_and_surveillance_anticoagulation_ruled_out() -> None:
    a = cmvt(thrombus_length_cm=6, high_bleeding_risk=True)
    rec = a.recommendation
    assert rec.regimen is Regimen.MECHANICAL
    assert option_regimens(a) == {Regimen.MECHANICAL, Regimen.ULTRASOUND_SURVEILLANCE}
    assert ruled_out(a) == {Regimen.ANTICOAGULATION: "CMVT-07"}
    assert "anticoagulation is not recommended" in rec.ruled_out[0].reason.en
    assert a.surveillance_days == (7, 14)


def test_cmvt_table_6_bleeding_result_passed_in_wins_over_the_documented_judgement() -> None:
    computed_high = assess(patient(thrombus_length_cm=6, high_bleeding_risk=False), True)
    assert computed_high.bleeding_high is True
    assert computed_high.recommendation.regimen is Regimen.MECHANICAL
    computed_low = assess(patient(thrombus_length_cm=6, high_bleeding_risk=None), False)
    assert computed_low.recommendation.regimen is Regimen.ANTICOAGULATION
    assert computed_low.recommendation.could_change == ()


# --- CMVT-08: non-isolated CMVT ------------------------------------------------------------------

def test_cmvt_non_isolated_with_low_bleeding_risk_is_anticoagulated_even_if_low_risk() -> None:
    a = cmvt(axial_deep_vein_thrombosis=True)
    assert a.isolated is False
    assert a.recommendation.regimen is Regimen.ANTICOAGULATION
    assert a.recommendation.rules[:2] == ("CMVT-01", "CMVT-08")


def test_cmvt_non_isolated_with_high_bleeding_risk_gets_compression_and_close_ultrasound() -> None:
    a = cmvt(axial_deep_vein_thrombosis=True, high_bleeding_risk=True)
    assert a.recommendation.regimen is Regimen.MECHANICAL
    assert option_regimens(a) == {Regimen.MECHANICAL, Regimen.ULTRASOUND_SURVEILLANCE}
    assert ruled_out(a) == {Regimen.ANTICOAGULATION: "CMVT-08"}


# --- CMVT-09: vena cava filter -----------------------------------------------------------------

def test_cmvt_filter_advice_cmvt_09_is_there_for_an_order_hook_in_every_case() -> None:
    for a in (cmvt(), cmvt(thrombus_length_cm=6), cmvt(high_bleeding_risk=True)):
        assert a.filter_advice.rule == "CMVT-09"
        assert "vena cava filter is not recommended" in a.filter_advice.label.en


def test_cmvt_high_bleeding_recommendation_warns_against_a_filter() -> None:
    rec = cmvt(high_bleeding_risk=True).recommendation
    assert "CMVT-09" in rec.rules
    assert "Do not place a vena cava filter" in english(rec.notes)


# --- CMVT-10 / CMVT-11: durations as evidence ---------------------------------------------------

def _evidence(a: CmvtAssessment, text: str) -> tuple[str, bool | None, bool]:
    match = [e for e in a.duration_evidence if text in e.label.en]
    assert len(match) == 1
    return match[0].rule, match[0].applies, match[0].conflicting


def test_cmvt_cmvt_10_provoking_factor_removed_points_to_6_weeks_not_3_months() -> None:
    a = cmvt(thrombus_length_cm=6, provoking_factor_removed=True)
    assert _evidence(a, "6 weeks") == ("CMVT-10", True, False)
    assert _evidence(a, "persistent risk factors") == ("CMVT-10", False, False)


def test_cmvt_cmvt_10_persistent_risk_factor_points_to_3_months() -> None:
    a = cmvt(thrombus_length_cm=6, provoking_factor_removed=False)
    assert _evidence(a, "6 weeks")[1] is False
    assert _evidence(a, "persistent risk factors")[1] is True


def test_cmvt_cmvt_10_undocumented_provoking_factor_leaves_both_open() -> None:
    a = cmvt(thrombus_length_cm=6)
    assert _evidence(a, "6 weeks")[1] is None
    assert _evidence(a, "persistent risk factors")[1] is None


def test_cmvt_cmvt_10_short_courses_are_conflicting_evidence_not_the_recommendation() -> None:
    a = cmvt(thrombus_length_cm=6)
    assert _evidence(a, "10 days of LMWH")[2] is True
    assert _evidence(a, "15-30 days")[2] is True
    duration = a.recommendation.duration
    assert duration is not None
    assert "days" not in duration.en
    assert _evidence(a, "ACCP") == ("CMVT-10", True, False)
    assert _evidence(a, "Shanghai 2019") == ("CMVT-10", True, False)


def test_cmvt_cmvt_11_galanaud_1_month_is_shown_against_the_authors_3_months() -> None:
    a = cmvt(prolonged_immobilisation=True)
    assert _evidence(a, "Galanaud") == ("CMVT-11", True, False)
    assert "CMVT-11" in a.recommendation.rules
    galanaud = [n.en for n in a.recommendation.notes if "Galanaud" in n.en]
    assert len(galanaud) == 1
    assert "at least 1 month" in galanaud[0]
    assert "at least 3 months" in galanaud[0]


def test_cmvt_cmvt_11_does_not_apply_without_poor_mobility_hypercoagulability_or_cancer() -> None:
    assert _evidence(cmvt(), "Galanaud")[1] is False


# --- Not applicable, table, notes --------------------------------------------------------------

@pytest.mark.parametrize("value", [False, None])
def test_cmvt_without_documented_cmvt_the_algorithm_does_not_apply(value: bool | None) -> None:
    a = cmvt(cmvt=value, thrombus_length_cm=6)
    assert a.applicable is False
    assert a.recommendation.regimen is Regimen.NONE
    assert a.recommendation.options == ()
    assert a.recommendation.rules == ()
    assert "does not apply" in a.recommendation.notes[0].en


def test_cmvt_options_are_the_regimens_table_doses() -> None:
    dose = cmvt(thrombus_length_cm=6).recommendation.options[0].dose
    assert dose.en == load_table("regimens").data["regimens"]["anticoagulation"]["dose"]["en"]


def test_cmvt_table_covers_every_rule_cmvt_01_to_cmvt_11() -> None:
    table = load_table("cmvt")
    assert table.rule_ids() == {f"CMVT-{n:02d}" for n in range(1, 12)}
    assert cmvt().table == table.ref


def test_cmvt_notes_show_the_seed_ambiguities() -> None:
    assert all(n.zh for n in cmvt().notes)
    notes = " ".join(n.en for n in cmvt().notes)
    assert "脑卒中患者" in notes
    assert "'no stroke'" in notes
    assert "「如」" in notes
    assert "does not define 'high thrombosis risk'" in notes
    assert "1 month" in notes
    assert "3 months" in notes
    assert "defines no bleeding score" in notes


def test_clinician_judged_high_bleeding_risk_wins_over_a_low_table_6_score_cmvt_07():
    facts = PatientFacts.of(cmvt=True, axial_deep_vein_thrombosis=False, high_bleeding_risk=True,
                            thrombus_length_cm=6)
    result = assess(facts, bleeding_high=False)
    assert result.bleeding_high is True
    assert result.recommendation.regimen == Regimen.MECHANICAL
