"""Prophylaxis for myeloma patients: tiers, regimens, bleeding, renal and platelet adjustments.

Each test is a patient a haematologist would recognise; the facts are what the chart shows.
"""

from __future__ import annotations

from vte_rules import prophylaxis
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Regimen

# A 55-year-old woman with myeloma, everything in Tables 5 and 6 documented as absent,
# normal kidneys and platelets: 0 VTE points, bleeding 1.5 (age) + 2 (active cancer).
BASE = {
    "multiple_myeloma": True, "mm_on_active_treatment": True, "sex": "female",
    "age_years": 55, "weight_kg": 62, "bmi": 23, "m_protein_g_per_l": 12, "egfr": 85,
    "platelets": 180, "inr": 1.0, "coagulation_abnormality": False, "active_bleeding": False,
    "drug_prophylaxis_contraindicated": False,
    "inherited_thrombophilia": False, "family_history_of_vte": False, "history_of_vte": False,
    "lupus_anticoagulant": False, "pelvic_hip_femur_fracture": False,
    "history_of_superficial_vein_thrombosis": False, "bed_rest_over_72_hours": False,
    "major_surgery_within_1_month": False, "anticardiolipin_antibody": False,
    "heart_failure_within_1_month": False, "acute_myocardial_infarction": False,
    "copd": False, "diabetes": False, "nephrotic_syndrome": False,
    "drug_thalidomide": False, "drug_lenalidomide": False, "drug_pomalidomide": False,
    "drug_dexamethasone": False, "drug_glucocorticoid": False,
    "anthracycline_multiagent_chemo": False, "drug_carfilzomib": False,
    "central_venous_catheter": False, "erythropoiesis_stimulating_agent": False,
    "active_gastroduodenal_ulcer": False, "bleeding_within_3_months": False,
    "icu_admission": False, "rheumatic_disease": False,
}
# Table 5 points: lenalidomide 4 + dexamethasone 480 mg/cycle 4 = 8 (low)
RD_HIGH_DEX = {"drug_lenalidomide": True, "drug_dexamethasone": True,
               "drug_glucocorticoid": True, "dexamethasone_mg_per_cycle": 480}


def assess(**change):
    return prophylaxis.assess(PatientFacts.of(**{**BASE, **change}))


def regimens(options):
    return [o.regimen for o in options]


def ruled_out(rec):
    return {(r.regimen, r.rule) for r in rec.ruled_out}


def test_score_under_6_gets_no_drug_prophylaxis_mm_t5_27():
    result = assess(drug_bortezomib=True)
    rec = result.recommendation
    assert result.vte.category == "none"
    assert rec.regimen == Regimen.NONE
    assert rec.duration is None


def test_low_risk_gets_aspirin_100_mg_for_at_least_6_months_mm_rx_01_mm_rx_05():
    rec = assess(**RD_HIGH_DEX).recommendation
    assert rec.regimen == Regimen.ASPIRIN
    assert rec.options[0].dose.en == "Aspirin 100 mg once daily"
    assert rec.duration is not None
    assert "At least 6 months" in rec.duration.en
    assert {"MM-T5-27", "MM-RX-01", "MM-RX-05", "ADJ-03", "MM-RX-06"} <= set(rec.rules)


def test_high_risk_gets_three_equal_options_and_aspirin_ruled_out_mm_rx_01_02_03_04():
    rec = assess(**RD_HIGH_DEX, diabetes=True).recommendation  # 9 points
    assert regimens(rec.options) == [Regimen.LMWH_PROPHYLACTIC,
                                     Regimen.RIVAROXABAN_PROPHYLACTIC, Regimen.WARFARIN]
    doses = [o.dose.en for o in rec.options]
    assert "enoxaparin 40 mg SC once daily" in doses[0]
    assert "Rivaroxaban 10 mg once daily" in doses[1]
    assert "INR 2.0-3.0" in doses[2]
    assert (Regimen.ASPIRIN, "MM-RX-01") in ruled_out(rec)
    assert {"MM-RX-02", "MM-RX-03", "MM-RX-04"} <= set(rec.rules)
    # aspirin is not a high-risk choice: the tier's, not this patient's, exclusion
    assert [r.by_tier for r in rec.ruled_out] == [True]


def test_very_high_risk_gets_therapeutic_lmwh_dosed_by_weight_or_rivaroxaban_20_mg():
    rec = assess(**RD_HIGH_DEX, history_of_vte=True).recommendation  # 13 points
    assert rec.regimen == Regimen.LMWH_THERAPEUTIC
    assert regimens(rec.options) == [Regimen.LMWH_THERAPEUTIC, Regimen.RIVAROXABAN_THERAPEUTIC]
    lmwh = rec.options[0]
    assert lmwh.computed is not None
    assert lmwh.computed.en == "enoxaparin 62 mg SC twice daily (1 mg/kg x 62 kg)"
    assert "20 mg" in rec.options[1].dose.en
    assert (Regimen.WARFARIN, "MM-T5-27") in ruled_out(rec)


def test_very_high_risk_without_weight_asks_for_a_weight():
    rec = assess(**RD_HIGH_DEX, history_of_vte=True, weight_kg=None).recommendation
    lmwh = rec.options[0]
    assert lmwh.computed is None
    assert "weigh the patient" in lmwh.cautions[0].en


def test_gfr_29_rules_out_rivaroxaban_and_flags_lmwh_dose_adj_02():
    rec = assess(**RD_HIGH_DEX, diabetes=True, egfr=29).recommendation
    assert Regimen.RIVAROXABAN_PROPHYLACTIC not in regimens(rec.options)
    assert (Regimen.RIVAROXABAN_PROPHYLACTIC, "ADJ-02") in ruled_out(rec)
    assert not next(r for r in rec.ruled_out if r.rule == "ADJ-02").by_tier  # the kidneys
    reason = next(r.reason.en for r in rec.ruled_out if r.rule == "ADJ-02")
    assert reason == "Rivaroxaban not recommended: GFR < 30."
    lmwh = rec.options[0]
    assert "anti-Xa" in lmwh.cautions[0].en


def test_gfr_30_keeps_rivaroxaban_adj_02():
    rec = assess(**RD_HIGH_DEX, diabetes=True, egfr=30).recommendation
    assert Regimen.RIVAROXABAN_PROPHYLACTIC in regimens(rec.options)
    assert "ADJ-02" not in rec.rules


def test_low_risk_with_renal_insufficiency_gets_aspirin_caution_and_warfarin_adj_01():
    rec = assess(**RD_HIGH_DEX, egfr=50).recommendation
    assert regimens(rec.options) == [Regimen.ASPIRIN, Regimen.WARFARIN]
    assert "aspirin may worsen renal disease" in rec.options[0].cautions[0].en
    assert "ADJ-01" in rec.rules


def test_egfr_60_is_not_renal_insufficiency_adj_01():
    rec = assess(**RD_HIGH_DEX, egfr=60).recommendation
    assert regimens(rec.options) == [Regimen.ASPIRIN]


def test_unknown_egfr_is_said_not_assumed_normal():
    rec = assess(**RD_HIGH_DEX, diabetes=True, egfr=None).recommendation
    assert Regimen.RIVAROXABAN_PROPHYLACTIC in regimens(rec.options)
    assert any("No recent eGFR" in c.en for c in rec.could_change)


def test_platelets_above_50_with_normal_coagulation_need_no_dose_change_adj_03():
    rec = assess(**RD_HIGH_DEX, diabetes=True, platelets=51).recommendation
    assert rec.regimen == Regimen.LMWH_PROPHYLACTIC
    assert any("no dose change" in n.en for n in rec.notes)
    assert "ADJ-03" in rec.rules


def test_platelets_above_50_with_undocumented_coagulation_asks_to_confirm_adj_03():
    rec = assess(**RD_HIGH_DEX, diabetes=True, coagulation_abnormality=None).recommendation
    assert any("confirm before the standard dose" in n.en for n in rec.notes)


def test_platelets_below_50_means_individualise_with_no_automatic_drug_adj_04():
    # age 55 (1.5) + active cancer (2) + platelets < 50 (4) = 7.5 would also mean high
    # bleeding risk; keep the bleeding score low by making the patient 35.
    result = assess(**RD_HIGH_DEX, diabetes=True, platelets=45, age_years=35)
    rec = result.recommendation
    assert result.bleeding.category == "low"
    assert rec.regimen == Regimen.INDIVIDUALISE
    assert {(Regimen.LMWH_PROPHYLACTIC, "ADJ-04"), (Regimen.WARFARIN, "ADJ-04")} <= ruled_out(rec)
    assert "safety data are limited" in rec.ruled_out[-1].reason.en


def test_platelets_below_50_with_a_high_bleeding_score_holds_every_drug_for_bleeding_mm_rx_06():
    # platelets 40 score BLEED-05 (4 points): 4 + 4.5 (IMiD, age, cancer...) reaches >= 7
    result = assess(**RD_HIGH_DEX, diabetes=True, platelets=40)
    rec = result.recommendation
    assert result.bleeding.category == "high"
    assert rec.regimen == Regimen.MECHANICAL
    for drug in (Regimen.LMWH_PROPHYLACTIC, Regimen.RIVAROXABAN_PROPHYLACTIC, Regimen.WARFARIN):
        assert {(drug, "ADJ-04"), (drug, "MM-RX-06")} <= ruled_out(rec)


def test_platelets_exactly_50_is_treated_as_below_and_the_card_says_why_adj_04():
    rec = assess(**RD_HIGH_DEX, diabetes=True, platelets=50, age_years=35).recommendation
    assert rec.regimen == Regimen.INDIVIDUALISE
    assert any("exactly 50" in n.en for n in rec.readings)


def test_unknown_platelets_are_said_not_assumed_normal():
    rec = assess(**RD_HIGH_DEX, platelets=None).recommendation
    assert rec.regimen == Regimen.ASPIRIN
    assert any("No recent platelet count" in c.en for c in rec.could_change)


def test_active_bleeding_switches_to_mechanical_prophylaxis_mm_rx_06_mm_rx_07():
    rec = assess(**RD_HIGH_DEX, diabetes=True, active_bleeding=True).recommendation
    assert rec.regimen == Regimen.MECHANICAL
    assert "compression" in rec.options[0].dose.en
    assert (Regimen.LMWH_PROPHYLACTIC, "MM-RX-06") in ruled_out(rec)
    assert "major or active bleeding" in rec.ruled_out[-1].reason.en
    assert any("bortezomib, ixazomib, daratumumab" in n.en for n in rec.notes)
    assert "MM-RX-07" in rec.rules


def test_contraindication_to_anticoagulants_switches_to_mechanical_mm_rx_06():
    rec = assess(**RD_HIGH_DEX, drug_prophylaxis_contraindicated=True).recommendation
    assert rec.regimen == Regimen.MECHANICAL
    assert (Regimen.ASPIRIN, "MM-RX-06") in ruled_out(rec)


def test_high_bleeding_score_with_high_vte_risk_holds_drugs_mm_rx_06_mm_rx_07_bleed_15():
    """Man of 70 on Rd with a central line and eGFR 45: VTE 1+4+4+2 = 11 (high);
    bleeding 1.5 + 1 + 2 + 2 + 1 = 7.5 (high)."""
    result = assess(**RD_HIGH_DEX, sex="male", age_years=70, central_venous_catheter=True,
                    egfr=45)
    assert (result.vte.points, result.vte.category) == (11, "high")
    assert (result.bleeding.points, result.bleeding.category) == (7.5, "high")
    rec = result.recommendation
    assert rec.regimen == Regimen.MECHANICAL
    assert "Table 6 score 7.5 >= 7" in rec.ruled_out[-1].reason.en
    assert {"MM-RX-06", "MM-RX-07", "BLEED-15"} <= set(rec.rules)


def test_bleeding_that_could_be_high_is_said():
    rec = assess(**RD_HIGH_DEX, diabetes=True, active_gastroduodenal_ulcer=None,
                 bleeding_within_3_months=None).recommendation
    assert rec.regimen == Regimen.LMWH_PROPHYLACTIC
    assert any("could reach the high-risk band" in c.en and "Bleeding within 3 months" in c.en
               for c in rec.could_change)


def test_missing_bmi_keeps_low_risk_but_says_high_if_bmi_25_confirmed():
    rec = assess(**RD_HIGH_DEX, bmi=None).recommendation
    assert rec.regimen == Regimen.ASPIRIN
    assert any(c.en == "High risk if BMI >= 25 kg/m2 is confirmed" for c in rec.could_change)
    assert any(c.zh == "若证实体质指数≥25 kg/m2，则为高危" for c in rec.could_change)


def test_worked_example_from_chart_to_recommendation():
    """68-year-old woman, 58 kg, newly diagnosed, lenalidomide + dexamethasone 40 mg weekly
    (160 mg/cycle), BMI 26, M-protein 35 g/L, diabetes, eGFR 52, platelets 140.
    VTE: 1 (age) + 1 (BMI) + 1 (M-protein) + 1 (diabetes) + 4 (IMiD) + 2 (dex) = 10, high.
    Bleeding: 1.5 (age) + 2 (active cancer) + 1 (eGFR 30-59) = 4.5, low.
    -> prophylactic LMWH, rivaroxaban 10 mg or warfarin, at least 6 months."""
    result = assess(age_years=68, weight_kg=58, bmi=26, m_protein_g_per_l=35, diabetes=True,
                    egfr=52, platelets=140, drug_lenalidomide=True, drug_dexamethasone=True,
                    drug_glucocorticoid=True, dexamethasone_mg_per_cycle=160)
    assert (result.vte.points, result.vte.category) == (10, "high")
    assert (result.bleeding.points, result.bleeding.category) == (4.5, "low")
    rec = result.recommendation
    assert regimens(rec.options) == [Regimen.LMWH_PROPHYLACTIC,
                                     Regimen.RIVAROXABAN_PROPHYLACTIC, Regimen.WARFARIN]
    assert rec.could_change == ()
    assert {n.rule for n in result.drugs} == {"DRUG-02", "DRUG-05"}
