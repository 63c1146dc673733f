"""Wells PE (MM consensus Table 2): items, three tiers (WPE-08) and two tiers (WPE-09)."""

from __future__ import annotations

import pytest

from vte_rules.facts import PatientFacts
from vte_rules.wells import assess_pe

ABSENT = {
    "alternative_diagnosis_less_likely_than_pe": False, "dvt_signs_and_symptoms": False,
    "heart_rate": 80, "history_of_vte": False,
    "immobilisation_or_surgery_within_4_weeks": False, "active_cancer": False,
    "haemoptysis": False,
}


def facts(**present):
    return PatientFacts.of(**{**ABSENT, **present})


@pytest.mark.parametrize(("rule", "change", "points"), [
    ("WPE-01", {"alternative_diagnosis_less_likely_than_pe": True}, 3),
    ("WPE-02", {"dvt_signs_and_symptoms": True}, 3),
    ("WPE-03", {"heart_rate": 101}, 1.5),
    ("WPE-04", {"history_of_vte": True}, 1.5),
    ("WPE-05", {"immobilisation_or_surgery_within_4_weeks": True}, 1.5),
    ("WPE-06", {"active_cancer": True}, 1),
    ("WPE-07", {"haemoptysis": True}, 1),
])
def test_each_wells_pe_item_scores_as_printed(rule, change, points):
    result = assess_pe(facts(**change))
    assert result.points == points
    assert [i.rule for i in result.contributing] == [rule]


def test_heart_rate_100_is_not_tachycardia_101_is_wpe_03():
    assert assess_pe(facts(heart_rate=100)).points == 0
    assert assess_pe(facts(heart_rate=101)).points == 1.5


@pytest.mark.parametrize(("change", "points", "three", "two"), [
    ({"active_cancer": True}, 1, "low", "unlikely"),
    ({"history_of_vte": True}, 1.5, "low", "unlikely"),
    ({"active_cancer": True, "haemoptysis": True}, 2, "intermediate", "unlikely"),
    ({"dvt_signs_and_symptoms": True, "active_cancer": True}, 4, "intermediate", "unlikely"),
    ({"dvt_signs_and_symptoms": True, "history_of_vte": True}, 4.5, "intermediate", "likely"),
    ({"dvt_signs_and_symptoms": True, "alternative_diagnosis_less_likely_than_pe": True},
     6, "intermediate", "likely"),
    ({"dvt_signs_and_symptoms": True, "alternative_diagnosis_less_likely_than_pe": True,
      "haemoptysis": True}, 7, "high", "likely"),
    ({"dvt_signs_and_symptoms": True, "alternative_diagnosis_less_likely_than_pe": True,
      "heart_rate": 120}, 7.5, "high", "likely"),
])
def test_wells_pe_tier_boundaries_wpe_08_wpe_09(change, points, three, two):
    result = assess_pe(facts(**change))
    assert result.points == points
    assert result.tiers["three_level"].category == three
    assert result.tiers["two_level"].category == two


def test_total_1_5_sits_in_the_printed_gap_and_the_card_says_so_wpe_08():
    tier = assess_pe(facts(heart_rate=130)).tiers["three_level"]
    assert tier.category == "low"
    assert any("1.5" in n for n in tier.notes)


def test_worked_example_breathless_myeloma_patient():
    """Active myeloma, heart rate 112, leg swelling with DVT signs, PE the likeliest
    diagnosis: 3 + 3 + 1.5 + 1 = 8.5 -> high (three tiers), likely (two tiers)."""
    result = assess_pe(facts(active_cancer=True, heart_rate=112, dvt_signs_and_symptoms=True,
                             alternative_diagnosis_less_likely_than_pe=True))
    assert result.points == 8.5
    assert result.tiers["three_level"].category == "high"
    assert result.tiers["two_level"].category == "likely"


def test_unknown_judgement_items_could_make_pe_likely():
    result = assess_pe(PatientFacts.of(active_cancer=True, heart_rate=90, history_of_vte=False,
                                       haemoptysis=False,
                                       immobilisation_or_surgery_within_4_weeks=False))
    two = result.tiers["two_level"]
    assert two.category == "unlikely"
    assert two.worst_case == "likely"
    assert {"WPE-01", "WPE-02"} <= {i.rule for i in result.unknown}
