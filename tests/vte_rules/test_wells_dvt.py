"""Wells DVT (MM consensus Table 1): items, the <= 2 / > 2 cut-off, and the next step."""

from __future__ import annotations

import pytest

from vte_rules.facts import PatientFacts
from vte_rules.wells import assess_dvt, dvt_workup

ALL_BEDSIDE_ABSENT = {
    "active_cancer": False, "lower_limb_paralysis_or_plaster": False,
    "bedridden_over_3_days": False, "major_surgery_planned_within_1_month": False,
    "deep_vein_tenderness": False, "entire_leg_swollen": False,
    "calf_swelling_over_3_cm": False, "pitting_oedema_symptomatic_leg": False,
    "collateral_superficial_veins": False, "history_of_dvt": False,
    "alternative_diagnosis_as_likely_as_dvt": False,
}


def facts(**present):
    return PatientFacts.of(**{**ALL_BEDSIDE_ABSENT, **present})


@pytest.mark.parametrize(("rule", "factor", "points"), [
    ("WDVT-01", "active_cancer", 1),
    ("WDVT-02", "lower_limb_paralysis_or_plaster", 1),
    ("WDVT-03", "bedridden_over_3_days", 1),
    ("WDVT-03", "major_surgery_planned_within_1_month", 1),
    ("WDVT-04", "deep_vein_tenderness", 1),
    ("WDVT-05", "entire_leg_swollen", 1),
    ("WDVT-06", "calf_swelling_over_3_cm", 1),
    ("WDVT-07", "pitting_oedema_symptomatic_leg", 1),
    ("WDVT-08", "collateral_superficial_veins", 1),
    ("WDVT-09", "history_of_dvt", 1),
    ("WDVT-10", "alternative_diagnosis_as_likely_as_dvt", -2),
])
def test_each_wells_dvt_item_scores_as_printed(rule, factor, points):
    result = assess_dvt(facts(**{factor: True}))
    assert result.points == points
    assert [i.rule for i in result.items if i.status == "present"] == [rule]


def test_immobilised_and_surgery_planned_together_still_score_one_wdvt_03():
    both = assess_dvt(facts(bedridden_over_3_days=True,
                            major_surgery_planned_within_1_month=True))
    assert both.points == 1


def test_total_2_is_unlikely_per_the_consensus_and_the_card_says_wells_2003_differs_wdvt_11():
    result = assess_dvt(facts(active_cancer=True, history_of_dvt=True))
    assert result.points == 2
    assert result.category == "unlikely"
    assert any("original two-level Wells rule" in n for n in result.tier.notes)


def test_total_3_is_likely_wdvt_11():
    result = assess_dvt(facts(active_cancer=True, history_of_dvt=True, entire_leg_swollen=True))
    assert result.points == 3
    assert result.category == "likely"
    assert result.tier.notes == ()


def test_worked_example_myeloma_patient_with_swollen_calf():
    """Myeloma on lenalidomide (active cancer), calf 4 cm bigger, pitting oedema, no other
    diagnosis likelier: 1 + 1 + 1 = 3 -> DVT likely -> compression ultrasound."""
    f = facts(active_cancer=True, calf_swelling_over_3_cm=True,
              pitting_oedema_symptomatic_leg=True, d_dimer_raised=False)
    result = assess_dvt(f)
    assert (result.points, result.category) == (3, "likely")
    assert [i.rule for i in result.contributing] == ["WDVT-01", "WDVT-06", "WDVT-07"]
    assert dvt_workup(result, f).step == "ultrasound"


def test_alternative_diagnosis_brings_likely_back_to_unlikely():
    result = assess_dvt(facts(active_cancer=True, calf_swelling_over_3_cm=True,
                              pitting_oedema_symptomatic_leg=True,
                              alternative_diagnosis_as_likely_as_dvt=True))
    assert (result.points, result.category) == (1, "unlikely")


def test_unrecorded_bedside_findings_are_unknown_and_could_make_dvt_likely():
    result = assess_dvt(PatientFacts.of(active_cancer=True, history_of_dvt=True))
    assert result.category == "unlikely"
    assert result.tier.worst_case == "likely"
    assert "WDVT-05" in {i.rule for i in result.unknown}
    assert result.min_points == 0  # the unknown -2 item could lower it too
    assert not result.tier.settled


def test_unlikely_with_normal_d_dimer_helps_exclude_dvt_wdvt_12():
    f = facts(active_cancer=True, d_dimer_raised=False)
    step = dvt_workup(assess_dvt(f), f)
    assert step.step == "exclude"
    assert step.rule == "WDVT-12"
    assert "helps exclude" in step.label.en


def test_unlikely_with_raised_d_dimer_goes_to_ultrasound_wdvt_12():
    f = facts(active_cancer=True, d_dimer_raised=True)
    assert dvt_workup(assess_dvt(f), f).step == "ultrasound"


def test_unlikely_without_d_dimer_asks_for_one_wdvt_12():
    f = facts(active_cancer=True)
    assert dvt_workup(assess_dvt(f), f).step == "d_dimer"


def test_dvt_is_not_excluded_while_bedside_findings_are_missing_wdvt_12():
    f = PatientFacts.of(active_cancer=True, d_dimer_raised=False)
    step = dvt_workup(assess_dvt(f), f)
    assert step.step == "complete_score"
    assert "Entire leg swollen" in step.label.en
