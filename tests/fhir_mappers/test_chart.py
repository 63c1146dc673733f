"""From what EHRs send to PatientFacts: one test per real-world chart shape."""

from __future__ import annotations

import pytest

from fhir_mappers.chart import map_chart
from tests.fhir_mappers.conftest import AS_OF
from vte_rules import mm_vte
from vte_rules.facts import Message

ALL_TYPES = {"Patient", "Observation", "Condition", "MedicationRequest", "Procedure",
             "Device", "Encounter"}


def issues_for(chart, ref):
    return [i for i in chart.issues if i.reference == ref]


def test_newly_diagnosed_myeloma_on_rd_maps_to_the_score_a_haematologist_would_give(fixture):
    chart = map_chart(fixture("mm_newly_diagnosed_on_rd_searchset"), as_of=AS_OF,
                      patient_id="mm-rd-1", received_types=ALL_TYPES)
    f = chart.facts
    assert f["age_years"].value == 68
    assert f["sex"].value == "female"
    assert f.flag("multiple_myeloma") is True
    assert f["multiple_myeloma"].evidence == ("Condition/mm-dx",)
    assert f.flag("mm_complete_response") is False  # C90.00: not in remission
    assert f.flag("diabetes") is True
    assert f.flag("copd") is False
    assert f["copd"].assumption == (Message.of("not_on_problem_list"),)
    assert f.number("egfr") == 52
    assert f.number("platelets") == 140
    assert f.number("bmi") == 26.1
    assert f.flag("drug_lenalidomide") is True
    assert f.flag("drug_thalidomide") is False
    assert f.flag("mm_on_active_treatment") is True
    assert f.number("dexamethasone_mg_per_cycle") == 160
    assert any(("days", "28") in m.fields for m in f["dexamethasone_mg_per_cycle"].assumption
               or ())
    assert f["m_protein_g_per_l"].value is None  # no M-protein result: unknown, not normal
    assert f.flag("family_history_of_vte") is None  # never inferred from silence
    score = mm_vte.assess(f)
    # age 1 + BMI 1 + diabetes 1 + IMiD 4 + dexamethasone 160 mg 2 = 9, M-protein unknown
    assert (score.points, score.category) == (9, "high")
    assert "MM-T5-13" in {i.rule for i in score.unknown}


def test_chart_with_only_chinese_drug_text_maps_the_drugs_and_the_dose(fixture):
    chart = map_chart(fixture("chinese_text_only_medications"), as_of=AS_OF,
                      received_types={"Patient", "MedicationRequest"})
    f = chart.facts
    assert f.flag("drug_thalidomide") is True
    assert f["drug_thalidomide"].evidence == ("MedicationRequest/zh-thal",)
    assert f.flag("drug_bortezomib") is False  # the bortezomib order was stopped
    assert f.number("dexamethasone_mg_per_cycle") == 480
    enox = [u for u in chart.medications if "enoxaparin" in u.concepts]
    assert enox
    assert enox[0].reference == "MedicationRequest/zh-enox"
    # Conditions were not received: diagnoses stay unknown rather than absent
    assert f.flag("diabetes") is None


def test_icd10cm_calf_muscular_vein_code_and_findings_feed_the_cmvt_rules(fixture):
    chart = map_chart(fixture("icd10cm_calf_muscular_vein_thrombosis"), as_of=AS_OF,
                      received_types={"Patient", "Condition", "Observation"})
    f = chart.facts
    assert f.flag("cmvt") is True
    assert f["cmvt"].evidence == ("Condition/cmvt-dx",)
    assert f.number("thrombus_length_cm") == 3.2
    assert f.number("thrombus_diameter_mm") == 5
    assert f.flag("axial_deep_vein_thrombosis") is False
    assert f.flag("d_dimer_raised") is False
    assert f.flag("d_dimer_markedly_raised") is False
    assert f.flag("proximal_dvt") is False


def test_mixed_units_are_normalised_and_a_stale_lab_is_unknown(fixture):
    chart = map_chart(fixture("mixed_units_and_stale_labs"), as_of=AS_OF,
                      received_types={"Patient", "Observation"})
    f = chart.facts
    # the newest platelet result has an unknown unit: reported, and the valid one wins
    assert f.number("platelets") == 45
    assert f["platelets"].evidence == ("Observation/plt-per-ul",)
    assert any("platelets" in i.reason for i in issues_for(chart, "Observation/plt-old-cells"))
    # creatinine 97 umol/L = 1.10 mg/dL, woman of 66: CKD-EPI 2021 about 55
    assert f.number("egfr") == pytest.approx(55.6, abs=0.1)
    assert f["egfr"].assumption == (Message.of("egfr_from_creatinine", creatinine="1.09729"),)
    assert f.number("m_protein_g_per_l") == 32
    assert f.flag("d_dimer_raised") is True  # 1200 ng/mL DDU = 2.4 mg/L FEU
    assert f["inr"].value is None
    assert "60 days old" in (f["inr"].reason or "")


def test_entered_in_error_and_refuted_conditions_are_not_used(fixture):
    chart = map_chart(fixture("entered_in_error_and_refuted_conditions"), as_of=AS_OF,
                      received_types={"Patient", "Condition"})
    f = chart.facts
    assert f.flag("acute_pe") is False
    assert f.flag("acute_dvt") is False
    assert f.flag("history_of_vte") is True  # the resolved PE of 2019 still counts as history
    assert f["history_of_vte"].evidence == ("Condition/old-pe",)
    assert f["heart_failure_within_1_month"].value is None  # HF since 2023: not "within 1 month"
    assert {i.reference for i in chart.issues if i.severity == "info"} >= {
        "Condition/pe-eie", "Condition/dvt-refuted"}


def test_vendor_extensions_naive_datetimes_and_odd_ids_are_read_not_rejected(fixture):
    chart = map_chart(fixture("vendor_extensions_and_naive_datetimes"), as_of=AS_OF,
                      patient_id="vendor-1")
    f = chart.facts
    assert f.number("platelets") == 212
    assert f["platelets"].evidence == ("Observation/plt_2026_11_26",)
    reasons = " | ".join(i.reason for i in issues_for(chart, "Observation/plt_2026_11_26"))
    assert "without timezone" in reasons
    assert "ehrInternalFlag" in reasons
    assert "id has characters" in reasons
    # one broken resource is skipped and said; it does not fail the chart
    broken = issues_for(chart, "Observation/hr-broken")
    assert broken
    assert broken[0].severity == "skipped"
    assert f["heart_rate"].value is None
    assert issues_for(chart, "Observation/other-patient-plt")[0].reason.startswith(
        "belongs to another patient")
