"""MM VTE risk score (MM consensus Table 5): every item, every band, every tier boundary."""

from __future__ import annotations

import pytest

from vte_rules import mm_vte
from vte_rules.facts import Fact, PatientFacts

NOTHING = {
    "inherited_thrombophilia": False, "family_history_of_vte": False, "history_of_vte": False,
    "lupus_anticoagulant": False, "pelvic_hip_femur_fracture": False,
    "history_of_superficial_vein_thrombosis": False, "bed_rest_over_72_hours": False,
    "major_surgery_within_1_month": False, "anticardiolipin_antibody": False,
    "age_years": 50, "bmi": 22, "m_protein_g_per_l": 10,
    "heart_failure_within_1_month": False, "acute_myocardial_infarction": False,
    "copd": False, "diabetes": False, "nephrotic_syndrome": False,
    "drug_thalidomide": False, "drug_lenalidomide": False, "drug_pomalidomide": False,
    "dexamethasone_mg_per_cycle": 0, "anthracycline_multiagent_chemo": False,
    "drug_carfilzomib": False, "central_venous_catheter": False,
    "erythropoiesis_stimulating_agent": False,
}


def score(**change):
    return mm_vte.assess(PatientFacts.of(**{**NOTHING, **change}))


@pytest.mark.parametrize(("rule", "change", "points"), [
    ("MM-T5-01", {"inherited_thrombophilia": True}, 6),
    ("MM-T5-02", {"family_history_of_vte": True}, 5),
    ("MM-T5-03", {"history_of_vte": True}, 5),
    ("MM-T5-04", {"lupus_anticoagulant": True}, 4),
    ("MM-T5-05", {"pelvic_hip_femur_fracture": True}, 4),
    ("MM-T5-06", {"history_of_superficial_vein_thrombosis": True}, 3),
    ("MM-T5-07", {"bed_rest_over_72_hours": True}, 2),
    ("MM-T5-08", {"major_surgery_within_1_month": True}, 2),
    ("MM-T5-09", {"anticardiolipin_antibody": True}, 2),
    ("MM-T5-10", {"age_years": 80}, 2),
    ("MM-T5-11", {"age_years": 65}, 1),
    ("MM-T5-12", {"bmi": 28}, 1),
    ("MM-T5-13", {"m_protein_g_per_l": 45}, 1),
    ("MM-T5-14", {"heart_failure_within_1_month": True}, 1),
    ("MM-T5-15", {"acute_myocardial_infarction": True}, 1),
    ("MM-T5-16", {"copd": True}, 1),
    ("MM-T5-17", {"diabetes": True}, 1),
    ("MM-T5-18", {"nephrotic_syndrome": True}, 1),
    ("MM-T5-19", {"drug_thalidomide": True}, 4),
    ("MM-T5-19", {"drug_lenalidomide": True}, 4),
    ("MM-T5-19", {"drug_pomalidomide": True}, 4),
    ("MM-T5-20", {"dexamethasone_mg_per_cycle": 480}, 4),
    ("MM-T5-21", {"dexamethasone_mg_per_cycle": 160}, 2),
    ("MM-T5-22", {"anthracycline_multiagent_chemo": True}, 3),
    ("MM-T5-23", {"drug_carfilzomib": True}, 2),
    ("MM-T5-24", {"central_venous_catheter": True}, 2),
    ("MM-T5-25", {"erythropoiesis_stimulating_agent": True}, 1),
])
def test_each_table_5_item_scores_as_printed(rule, change, points):
    result = score(**change)
    assert result.points == points
    assert [i.rule for i in result.contributing] == [rule]
    assert result.tier.settled


@pytest.mark.parametrize(("age", "points"), [(59, 0), (60, 1), (75, 1), (76, 2)])
def test_age_bands_are_exclusive_and_inclusive_at_60_and_75_mm_t5_26(age, points):
    assert score(age_years=age).points == points


@pytest.mark.parametrize(("mg", "points"), [(119, 0), (120, 2), (160, 2), (161, 4)])
def test_dexamethasone_bands_per_cycle_mm_t5_20_21_26(mg, points):
    assert score(dexamethasone_mg_per_cycle=mg).points == points


@pytest.mark.parametrize(("bmi", "points"), [(24.9, 0), (25, 1)])
def test_bmi_boundary_mm_t5_12(bmi, points):
    assert score(bmi=bmi).points == points


@pytest.mark.parametrize(("g_per_l", "points"), [(29.9, 0), (30, 1)])
def test_m_protein_boundary_mm_t5_13(g_per_l, points):
    assert score(m_protein_g_per_l=g_per_l).points == points


@pytest.mark.parametrize(("change", "points", "category"), [
    ({"history_of_vte": True}, 5, "none"),
    ({"inherited_thrombophilia": True}, 6, "low"),
    ({"inherited_thrombophilia": True, "bed_rest_over_72_hours": True}, 8, "low"),
    ({"inherited_thrombophilia": True, "pelvic_hip_femur_fracture": False,
      "anthracycline_multiagent_chemo": True}, 9, "high"),
    ({"drug_lenalidomide": True, "dexamethasone_mg_per_cycle": 480, "age_years": 80,
      "diabetes": True, "copd": True}, 12, "high"),
    ({"drug_lenalidomide": True, "dexamethasone_mg_per_cycle": 480, "age_years": 80,
      "diabetes": True, "copd": True, "bmi": 26}, 13, "very_high"),
])
def test_tier_boundaries_5_6_8_9_12_13_mm_t5_27(change, points, category):
    result = score(**change)
    assert (result.points, result.category) == (points, category)


def test_worked_example_newly_diagnosed_on_rd():
    """68-year-old, BMI 27, M-protein 42 g/L, lenalidomide + dexamethasone 40 mg days 1, 8,
    15, 22 (160 mg/cycle), diabetes: 1 + 1 + 1 + 4 + 2 + 1 = 10 -> high risk."""
    result = score(age_years=68, bmi=27, m_protein_g_per_l=42, drug_lenalidomide=True,
                   dexamethasone_mg_per_cycle=160, diabetes=True)
    assert result.points == 10
    assert result.category == "high"
    assert [i.rule for i in result.contributing] == [
        "MM-T5-11", "MM-T5-12", "MM-T5-13", "MM-T5-17", "MM-T5-19", "MM-T5-21"]


def test_missing_bmi_gives_a_lower_bound_and_says_high_if_bmi_25_is_confirmed():
    """8 documented points + unknown BMI: low now, high risk if BMI >= 25 is confirmed."""
    result = score(bmi=None, drug_lenalidomide=True, dexamethasone_mg_per_cycle=160,
                   age_years=70, central_venous_catheter=False, diabetes=True)
    assert result.points == 8
    assert result.category == "low"
    assert result.max_points == 9
    assert result.tier.worst_case == "high"
    assert [(c.category, c.rules) for c in result.tier.could_be] == [("high", ("MM-T5-12",))]
    assert [i.rule for i in result.unknown] == ["MM-T5-12"]


def test_missing_dexamethasone_dose_counts_as_unknown_not_zero_mm_t5_26():
    """Lenalidomide + dexamethasone ordered but the per-cycle dose cannot be computed."""
    facts = PatientFacts.of(**{**NOTHING, "dexamethasone_mg_per_cycle": None,
                               "drug_dexamethasone": True, "drug_lenalidomide": True,
                               "age_years": 66})
    result = mm_vte.assess(facts)
    assert result.points == 5
    assert result.max_points == 9  # the higher dexamethasone band counts once
    assert result.category == "none"
    assert {c.category for c in result.tier.could_be} == {"low", "high"}
    unknown = {i.rule: i for i in result.unknown}
    assert set(unknown) == {"MM-T5-20", "MM-T5-21"}
    assert "could not be computed" in (unknown["MM-T5-20"].reason or "")


def test_no_dexamethasone_in_a_known_regimen_scores_zero_for_dexamethasone():
    facts = PatientFacts.of(**{**NOTHING, "dexamethasone_mg_per_cycle": None,
                               "drug_dexamethasone": False})
    result = mm_vte.assess(facts)
    assert result.tier.settled
    assert {i.rule for i in result.items if i.status == "absent"} >= {"MM-T5-20", "MM-T5-21"}


def test_a_chart_with_nothing_documented_is_none_at_best_and_very_high_at_worst():
    result = mm_vte.assess(PatientFacts.of())
    assert result.points == 0
    assert result.tier.best_case == "none"
    assert result.tier.worst_case == "very_high"
    assert len(result.unknown) == 25  # every row, both rows of each band group included


def test_individual_risk_factor_for_dur_04_is_three_valued():
    assert mm_vte.individual_risk_factor(score()) is False
    assert mm_vte.individual_risk_factor(score(diabetes=True)) is True
    assert mm_vte.individual_risk_factor(score(copd=None)) is None
    # treatment factors are not individual factors
    assert mm_vte.individual_risk_factor(score(drug_lenalidomide=True)) is False


def test_context_mentions_the_first_year_window_mmrf_01_and_baseline_incidence_mmrf_02():
    early = mm_vte.context(PatientFacts.of(months_since_mm_diagnosis=4))
    assert "within 1 year" in early[0].en
    assert "10-34%" in early[-1].en
    late = mm_vte.context(PatientFacts.of(months_since_mm_diagnosis=30, mm_relapse=False))
    assert len(late) == 1
    relapse = mm_vte.context(PatientFacts.of(months_since_mm_diagnosis=30, mm_relapse=True))
    assert "relapse" in relapse[0].en


def possible_ages(*ages: int) -> Fact:
    """An age known only to be one of these (a birthDate without its day)."""
    return Fact(None, ("Patient/p",), "a", reason="birthDate gives no day of birth",
                possible=tuple(float(a) for a in ages))


def status(result, rule: str) -> str:
    return next(i.status for i in result.items if i.rule == rule)


def test_age_75_or_76_counts_the_60_75_band_and_could_add_1_for_over_75_mm_t5_10_11_26():
    result = score(age_years=possible_ages(75, 76), drug_lenalidomide=True,
                   dexamethasone_mg_per_cycle=160, diabetes=True)
    assert (status(result, "MM-T5-11"), status(result, "MM-T5-10")) == ("present", "unknown")
    assert (result.points, result.max_points) == (8, 9)  # 4 + 2 + 1 + the age band's 1
    assert result.category == "low"
    assert [(c.category, c.rules) for c in result.tier.could_be] == [("high", ("MM-T5-10",))]


def test_age_65_or_66_is_known_to_be_in_the_60_75_band_mm_t5_11():
    result = score(age_years=possible_ages(65, 66))
    assert (status(result, "MM-T5-11"), status(result, "MM-T5-10")) == ("present", "absent")
    assert (result.points, result.max_points) == (1, 1)


def test_age_59_or_60_may_be_in_no_band_so_nothing_is_counted_mm_t5_11():
    result = score(age_years=possible_ages(59, 60))
    assert (status(result, "MM-T5-11"), status(result, "MM-T5-10")) == ("unknown", "absent")
    assert (result.points, result.max_points) == (0, 1)
