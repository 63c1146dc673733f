"""The assessment as JSON shows where the seeds differ from the original publications."""

from __future__ import annotations

import json

from vte_rules.facts import PatientFacts
from vte_rules.report import assess_all


def test_wells_dvt_total_of_2_carries_the_wells_2003_difference_in_the_output():
    result = assess_all(PatientFacts.of(active_cancer=True, history_of_dvt=True))
    tier = result["scores"]["wells_dvt"]
    assert tier["category"] == "unlikely"
    assert any("Wells 2003" in n for n in tier["notes"])


def test_wells_pe_gap_and_improve_origin_are_in_the_output():
    result = assess_all(PatientFacts.of(heart_rate=120))
    pe = result["scores"]["wells_pe"]
    assert pe["category"] == "low"
    assert pe["two_level"]["category"] == "unlikely"
    assert any("1.5" in n for n in pe["notes"])
    mm = assess_all(PatientFacts.of(multiple_myeloma=True))
    assert any("IMPROVE" in n for n in mm["scores"]["bleeding"]["notes"])


def test_output_is_plain_json_with_both_languages_and_table_versions():
    result = assess_all(PatientFacts.of(multiple_myeloma=True, mm_on_active_treatment=True))
    text = json.dumps(result, ensure_ascii=False)
    assert json.loads(text) == result
    assert result["tables"]["mm_vte"] == "mm_vte@1"
    dose = result["recommendations"]["prophylaxis"]["options"][0]["dose"]
    assert set(dose) == {"en", "zh"}


def test_scores_that_do_not_apply_are_absent():
    plain = assess_all(PatientFacts.of(multiple_myeloma=False, cmvt=False))
    assert set(plain["scores"]) == {"wells_dvt", "wells_pe"}
    assert plain["recommendations"] == {}
    mm = assess_all(PatientFacts.of(multiple_myeloma=True))
    assert {"mm_vte", "bleeding"} <= set(mm["scores"])
    assert mm["scores"]["mm_vte"]["category"] in {"none", "low", "high", "very_high"}
    assert "prophylaxis" in mm["recommendations"]
    calf = assess_all(PatientFacts.of(cmvt=True))
    assert "cmvt" in calf
    assert "cmvt" in calf["recommendations"]
    assert "mm_vte" not in calf["scores"]
