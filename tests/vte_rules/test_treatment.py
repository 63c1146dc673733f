"""Treatment of established MM-related VTE: TRT-01..TRT-08 and ADJ-02 (tables/treatment.toml)."""

from __future__ import annotations

import pytest

from vte_rules import treatment
from vte_rules.facts import Fact, PatientFacts
from vte_rules.regimens import Regimen

RIVAROXABAN = Regimen.RIVAROXABAN_THERAPEUTIC
LMWH = Regimen.LMWH_THERAPEUTIC
WARFARIN = Regimen.WARFARIN

# An acute proximal DVT in a 70 kg myeloma patient on bortezomib, everything else documented.
DOCUMENTED = {
    "acute_dvt": True, "proximal_dvt": True, "acute_pe": False, "active_bleeding": False,
    "drug_prophylaxis_contraindicated": False, "haemodynamic_instability": False,
    "extensive_dvt_limb_threatening": False, "active_cancer": True, "recurrent_vte": False,
    "drug_thalidomide": False, "drug_lenalidomide": False, "drug_pomalidomide": False,
    "anthracycline_multiagent_chemo": False, "drug_dexamethasone": False,
    "drug_bortezomib": True, "weight_kg": 70.0, "egfr": 75.0,
}


def plan(**values: bool | float | str | Fact | None) -> treatment.TreatmentPlan:
    return treatment.assess(PatientFacts.of(**{**DOCUMENTED, **values}))


def option(p: treatment.TreatmentPlan, regimen: Regimen):
    return next(o for o in p.recommendation.options if o.regimen is regimen)


def doses(p: treatment.TreatmentPlan, regimen: Regimen, drug: str) -> list[tuple]:
    return [(ph.step, ph.amount, ph.unit, ph.per_kg, ph.doses_per_day, ph.duration_days,
             ph.computed_amount) for ph in p.phases[regimen] if ph.drug == drug]


# TRT-01

def test_no_documented_dvt_or_pe_is_not_applicable_trt_01():
    p = treatment.assess(PatientFacts.of(acute_dvt=None, acute_pe=False))
    assert not p.applicable
    assert p.recommendation.regimen is Regimen.NONE
    assert p.recommendation.options == ()
    assert p.phases == {}
    assert p.vena_cava_filter is None


def test_dvt_without_contraindication_offers_doac_lmwh_and_warfarin_trt_01():
    p = plan()
    assert p.applicable
    rec = p.recommendation
    assert rec.regimen is Regimen.ANTICOAGULATION
    assert [o.regimen for o in rec.options] == [RIVAROXABAN, LMWH, WARFARIN]
    assert rec.rules == ("TRT-01", "TRT-02", "TRT-03", "TRT-04", "TRT-05")
    assert rec.ruled_out == ()
    assert rec.could_change == ()
    assert "cancer-associated VTE" in rec.notes[0].en
    assert set(p.phases) == {RIVAROXABAN, LMWH, WARFARIN}


def test_contraindication_unknown_keeps_anticoagulation_and_asks_to_confirm_trt_01():
    p = plan(active_bleeding=None)
    assert p.recommendation.regimen is Regimen.ANTICOAGULATION
    assert any("confirm before starting" in c.en for c in p.recommendation.could_change)
    assert p.vena_cava_filter.applies is None


# TRT-02

def test_pe_on_rivaroxaban_gets_15_mg_twice_daily_for_3_weeks_then_20_mg_trt_02():
    p = plan(acute_dvt=False, proximal_dvt=False, acute_pe=True)
    assert doses(p, RIVAROXABAN, "rivaroxaban") == [
        (1, 15.0, "mg", False, 2, 21, None), (2, 20.0, "mg", False, 1, None, None)]
    assert all(ph.rule == "TRT-02" for ph in p.phases[RIVAROXABAN])
    assert option(p, RIVAROXABAN).dose.en == (
        "Rivaroxaban 15 mg twice daily for 3 weeks, then 20 mg once daily")


# TRT-03

def test_enoxaparin_dose_computed_from_70_kg_trt_03():
    p = plan()
    assert doses(p, LMWH, "enoxaparin") == [
        (1, 1.0, "mg", True, 2, 30, 70.0), (2, 1.5, "mg", True, 1, None, 105.0)]
    computed = option(p, LMWH).computed
    assert "enoxaparin 70 mg SC twice daily for 1 month (1 mg/kg x 70 kg)" in computed.en
    assert "then enoxaparin 105 mg SC once daily" in computed.en
    assert "依诺肝素70 mg" in computed.zh
    assert option(p, LMWH).evidence == ()


def test_dalteparin_dose_computed_from_70_kg_trt_03():
    assert doses(plan(), LMWH, "dalteparin") == [
        (1, 200.0, "U", True, 1, 30, 14000.0), (2, 150.0, "U", True, 1, None, 10500.0)]


def test_lmwh_dose_without_weight_says_weight_needed_trt_03():
    p = plan(weight_kg=None)
    lmwh = option(p, LMWH)
    assert lmwh.computed is None
    assert any("weigh the patient" in c.en for c in lmwh.cautions)
    assert doses(p, LMWH, "enoxaparin")[0][1:] == (1.0, "mg", True, 2, 30, None)
    assert option(p, RIVAROXABAN).cautions == ()


def test_weight_evidence_is_kept_with_the_computed_dose_trt_03():
    p = plan(weight_kg=Fact(82.5, ("Observation/weight-1",)))
    assert option(p, LMWH).evidence == ("Observation/weight-1",)
    assert doses(p, LMWH, "enoxaparin")[1][-1] == pytest.approx(123.75)
    assert "123.8 mg" in option(p, LMWH).computed.en


# TRT-04

def test_warfarin_bridges_with_lmwh_for_at_least_5_days_until_inr_2_trt_04():
    p = plan()
    bridge, alternative, warfarin = p.phases[WARFARIN]
    assert (bridge.drug, bridge.amount, bridge.doses_per_day, bridge.computed_amount) == (
        "enoxaparin", 1.0, 2, 70.0)
    assert (alternative.drug, alternative.amount, alternative.computed_amount) == (
        "dalteparin", 200.0, 14000.0)
    for ph in (bridge, alternative):
        assert (ph.step, ph.duration_days, ph.duration_is_minimum, ph.until_inr_at_least) == (
            1, 5, True, 2.0)
    assert (warfarin.step, warfarin.drug, warfarin.amount, warfarin.inr_range) == (
        2, "warfarin", None, (2.0, 3.0))
    assert {ph.rule for ph in p.phases[WARFARIN]} == {"TRT-04"}


# TRT-05

def test_active_myeloma_allows_anticoagulation_beyond_6_months_trt_05():
    d = plan().duration
    assert (d.minimum_months, d.extend_beyond_months) == ((3, 6), 6)
    assert d.extend_while_mm_active is True
    assert d.label.en.startswith("Anticoagulate for at least 3-6 months. MM is active")
    assert "long-term" not in d.label.en
    assert plan().recommendation.duration == d.label


def test_recurrent_vte_considers_long_term_anticoagulation_trt_05():
    d = plan(recurrent_vte=True, active_cancer=False).duration
    assert d.consider_long_term is True
    assert d.label.en == ("Anticoagulate for at least 3-6 months. Recurrent MM-related VTE: "
                          "consider long-term anticoagulation.")


def test_unknown_activity_and_recurrence_are_said_conditionally_trt_05():
    d = plan(recurrent_vte=None, active_cancer=None, multiple_myeloma=None).duration
    assert (d.extend_while_mm_active, d.consider_long_term) == (None, None)
    assert "If MM is active" in d.label.en
    assert "If this VTE is a recurrence" in d.label.en


# TRT-06

def test_proximal_dvt_with_active_bleeding_gets_filter_advice_trt_06():
    p = plan(active_bleeding=Fact(True, ("Condition/gi-bleed",)))
    assert p.vena_cava_filter.applies is True
    assert p.vena_cava_filter.rule == "TRT-06"
    assert "venous filter" in p.vena_cava_filter.label.en
    assert "Condition/gi-bleed" in p.vena_cava_filter.evidence
    rec = p.recommendation
    assert rec.regimen is Regimen.INDIVIDUALISE
    assert rec.options == ()
    assert [(r.regimen, r.rule) for r in rec.ruled_out] == [
        (RIVAROXABAN, "TRT-01"), (LMWH, "TRT-01"), (WARFARIN, "TRT-01")]
    assert rec.ruled_out[0].evidence == ("Condition/gi-bleed",)
    assert p.phases == {}


def test_pe_with_another_contraindication_gets_filter_advice_trt_06():
    p = plan(acute_dvt=False, proximal_dvt=False, acute_pe=True,
             drug_prophylaxis_contraindicated=True)
    assert p.vena_cava_filter.applies is True


def test_distal_dvt_with_active_bleeding_gets_no_filter_advice_trt_06():
    p = plan(proximal_dvt=False, active_bleeding=True)
    assert p.vena_cava_filter.applies is False
    assert p.recommendation.regimen is Regimen.INDIVIDUALISE


def test_proximal_dvt_without_contraindication_gets_no_filter_trt_06():
    assert plan().vena_cava_filter.applies is False


# TRT-07

def test_pe_with_haemodynamic_instability_gets_thrombolysis_advice_trt_07():
    p = plan(acute_pe=True, haemodynamic_instability=True)
    assert p.reperfusion.applies is True
    assert "alteplase" in p.reperfusion.label.en
    assert p.reperfusion.notes == ()


def test_limb_threatening_dvt_gets_thrombectomy_advice_trt_07():
    assert plan(extensive_dvt_limb_threatening=True).reperfusion.applies is True


def test_stable_dvt_gets_no_thrombolysis_advice_trt_07():
    assert plan(haemodynamic_instability=True).reperfusion.applies is False  # no PE


def test_instability_unknown_with_pe_leaves_thrombolysis_open_trt_07():
    assert plan(acute_pe=True, haemodynamic_instability=None).reperfusion.applies is None


def test_thrombolysis_advice_with_bleeding_adds_a_caution_trt_07():
    p = plan(acute_pe=True, haemodynamic_instability=True, active_bleeding=True)
    assert p.reperfusion.applies is True
    assert "specialist" in p.reperfusion.notes[0].en


# TRT-08

@pytest.mark.parametrize("drug", [
    {"drug_lenalidomide": True},
    {"anthracycline_multiagent_chemo": True},
    {"drug_dexamethasone": True, "dexamethasone_mg_per_cycle": 161.0},
])
def test_thrombogenic_myeloma_drug_gets_regimen_caution_trt_08(drug):
    advice = plan(**drug).myeloma_regimen
    assert advice.rule == "TRT-08"
    assert advice.applies is True
    assert "bortezomib, ixazomib or daratumumab" in advice.label.en


def test_dexamethasone_160_mg_per_cycle_is_not_high_dose_trt_08():
    p = plan(drug_dexamethasone=True, dexamethasone_mg_per_cycle=160.0)
    assert p.myeloma_regimen.applies is False


def test_dexamethasone_dose_unknown_leaves_the_caution_open_trt_08():
    assert plan(drug_dexamethasone=True).myeloma_regimen.applies is None


def test_bortezomib_regimen_needs_no_caution_trt_08():
    assert plan().myeloma_regimen.applies is False


# ADJ-02 applied to treatment

@pytest.mark.parametrize(("egfr", "ruled_out"), [(29.0, True), (30.0, False)])
def test_gfr_29_rules_out_rivaroxaban_for_treatment_and_gfr_30_does_not_adj_02(egfr, ruled_out):
    p = plan(egfr=Fact(egfr, ("Observation/egfr-1",)))
    rec = p.recommendation
    offered = [o.regimen for o in rec.options]
    assert (RIVAROXABAN not in offered) is ruled_out
    assert (RIVAROXABAN in p.phases) is not ruled_out
    assert ("ADJ-02" in rec.rules) is ruled_out
    if ruled_out:
        assert [(r.regimen, r.rule, r.evidence) for r in rec.ruled_out] == [
            (RIVAROXABAN, "ADJ-02", ("Observation/egfr-1",))]
        assert any("service's reading" in n.en for n in rec.readings)
    else:
        assert rec.ruled_out == ()


@pytest.mark.parametrize(("egfr", "cautioned"), [(29.0, True), (30.0, False)])
def test_gfr_29_asks_for_a_reduced_lmwh_dose_with_anti_xa_monitoring_adj_02(egfr, cautioned):
    p = plan(egfr=egfr)
    for regimen in (LMWH, WARFARIN):  # the warfarin bridge is LMWH too
        o = option(p, regimen)
        assert any("anti-Xa" in c.en for c in o.cautions) is cautioned
        assert ("ADJ-02" in o.rules) is cautioned


def test_gfr_unknown_keeps_rivaroxaban_but_names_adj_02():
    p = plan(egfr=None)
    rec = p.recommendation
    assert RIVAROXABAN in [o.regimen for o in rec.options]
    assert any("ADJ-02" in c.en and "rivaroxaban" in c.en for c in rec.could_change)
    assert not any("anti-Xa" in c.en for c in option(p, LMWH).cautions)


# The table

def test_shipped_treatment_table_passes_its_checks():
    treatment.check_tables()


def test_every_phase_cites_the_treatment_section():
    for phases in plan().phases.values():
        for ph in phases:
            assert ph.source == "MM consensus section 6, paragraph 3"
            assert ph.label.en
            assert ph.label.zh
