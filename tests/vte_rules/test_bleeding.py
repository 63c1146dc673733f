"""Bleeding risk score (MM consensus Table 6 / IMPROVE): items, bands, the < 7 / >= 7 split."""

from __future__ import annotations

import pytest

from vte_rules import bleeding
from vte_rules.derive import active_cancer
from vte_rules.facts import Fact, Message, PatientFacts

NOTHING = {
    "active_gastroduodenal_ulcer": False, "bleeding_within_3_months": False, "platelets": 200,
    "age_years": 30, "inr": 1.0, "egfr": 90, "icu_admission": False,
    "central_venous_catheter": False, "rheumatic_disease": False, "active_cancer": False,
    "sex": "female",
}


def score(**change):
    return bleeding.assess(PatientFacts.of(**{**NOTHING, **change}))


@pytest.mark.parametrize(("rule", "change", "points"), [
    ("BLEED-01", {"active_gastroduodenal_ulcer": True}, 4.5),
    ("BLEED-02", {"bleeding_within_3_months": True}, 4),
    ("BLEED-03", {"platelets": 35}, 4),
    ("BLEED-04", {"age_years": 88}, 3.5),
    ("BLEED-05", {"inr": 1.8}, 2.5),
    ("BLEED-06", {"egfr": 22}, 2.5),
    ("BLEED-07", {"icu_admission": True}, 2.5),
    ("BLEED-08", {"central_venous_catheter": True}, 2),
    ("BLEED-09", {"rheumatic_disease": True}, 2),
    ("BLEED-10", {"active_cancer": True}, 2),
    ("BLEED-11", {"age_years": 55}, 1.5),
    ("BLEED-12", {"sex": "male"}, 1),
    ("BLEED-13", {"egfr": 45}, 1),
])
def test_each_table_6_item_scores_as_printed(rule, change, points):
    result = score(**change)
    assert result.points == points
    assert [i.rule for i in result.contributing] == [rule]


@pytest.mark.parametrize(("age", "points"), [(39, 0), (40, 1.5), (84, 1.5), (85, 3.5)])
def test_age_bands_are_exclusive_bleed_04_bleed_11_bleed_14(age, points):
    assert score(age_years=age).points == points


@pytest.mark.parametrize(("egfr", "points"), [
    (29.9, 2.5), (30, 1), (59, 1), (59.5, 1), (60, 0)])
def test_renal_bands_are_exclusive_bleed_06_bleed_13_bleed_14(egfr, points):
    assert score(egfr=egfr).points == points


@pytest.mark.parametrize(("platelets", "points"), [(49, 4), (50, 0)])
def test_platelet_boundary_bleed_03(platelets, points):
    assert score(platelets=platelets).points == points


@pytest.mark.parametrize(("inr", "points"), [(1.5, 0), (1.6, 2.5)])
def test_inr_boundary_bleed_05(inr, points):
    assert score(inr=inr).points == points


@pytest.mark.parametrize(("change", "points", "category"), [
    ({"active_cancer": True, "age_years": 60, "sex": "male", "central_venous_catheter": True},
     6.5, "low"),
    ({"active_cancer": True, "age_years": 60, "sex": "male", "egfr": 22}, 7, "high"),
])
def test_cut_off_below_7_low_from_7_high_bleed_15(change, points, category):
    result = score(**change)
    assert (result.points, result.category) == (points, category)


def test_worked_example_man_on_treatment_with_catheter_and_ckd():
    """70-year-old man, myeloma on treatment (active cancer, BLEED-16), central line, eGFR 45:
    1.5 + 1 + 2 + 2 + 1 = 7.5 -> high bleeding risk."""
    facts = PatientFacts.of(**{**NOTHING, "active_cancer": None, "multiple_myeloma": True,
                               "mm_on_active_treatment": True, "age_years": 70, "sex": "male",
                               "central_venous_catheter": True, "egfr": 45})
    result = bleeding.assess(facts)
    assert result.points == 7.5
    assert result.category == "high"
    cancer = next(i for i in result.items if i.rule == "BLEED-10")
    assert cancer.status == "present"
    assert cancer.assumption == (Message.of("myeloma_active_cancer"),)  # BLEED-16


def test_unknown_items_could_raise_bleeding_risk_to_high():
    result = bleeding.assess(PatientFacts.of(age_years=70, sex="male", active_cancer=True))
    assert result.points == 4.5
    assert result.category == "low"
    assert result.tier.worst_case == "high"


def test_myeloma_on_treatment_is_active_cancer_as_an_assumption_bleed_16():
    fact = active_cancer(PatientFacts.of(multiple_myeloma=True, mm_on_active_treatment=True))
    assert fact.value is True
    assert fact.assumption == (Message.of("myeloma_active_cancer"),)


def test_myeloma_in_cr_off_treatment_is_a_judgement_not_a_default_bleed_16():
    fact = active_cancer(PatientFacts.of(multiple_myeloma=True, mm_on_active_treatment=False,
                                         mm_complete_response=True))
    assert fact.value is None
    assert "judgement" in (fact.reason or "")


def test_a_recorded_active_cancer_value_wins_over_the_inference_bleed_16():
    fact = active_cancer(PatientFacts.of(multiple_myeloma=True, mm_on_active_treatment=True,
                                         active_cancer=False))
    assert fact.value is False


@pytest.mark.parametrize(("ages", "points", "most"), [
    ((75, 76), 1.5, 1.5),  # both in 40-84 (BLEED-11): known, nothing to add
    ((84, 85), 1.5, 3.5),  # 40-84 counted, >= 85 (BLEED-04) could replace it
    ((39, 40), 0, 1.5),    # 39 is in no band: nothing counted
])
def test_age_known_only_as_two_possible_years_bleed_04_11_14(ages, points, most):
    age = Fact(None, reason="birthDate gives no day of birth",
               possible=tuple(float(a) for a in ages))
    result = score(age_years=age)
    base = score(age_years=20)
    assert (result.points - base.points, result.max_points - base.max_points) == (points, most)
