"""Duration of MM VTE prophylaxis: MM-RX-05 and DUR-01..DUR-07 (tables/duration.toml)."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from vte_rules import duration
from vte_rules.facts import Fact, PatientFacts
from vte_rules.tables import TableError, load_factor_catalogue, parse_table

NO_DRUGS = {
    "drug_thalidomide": False, "drug_lenalidomide": False, "drug_pomalidomide": False,
    "drug_glucocorticoid": False, "drug_dexamethasone": False,
    "anthracycline_multiagent_chemo": False,
}
# Past the 6-month minimum, no relapse, no AF or valve, not in CR, no drugs: every item known.
DOCUMENTED = {
    "months_on_prophylaxis": 8.0, "mm_relapse": False, "atrial_fibrillation": False,
    "mechanical_heart_valve": False, "mm_complete_response": False, "mm_phase": "induction",
    **NO_DRUGS,
}
LEN_DEX = {"drug_lenalidomide": True, "drug_glucocorticoid": True, "drug_dexamethasone": True}


def advise(other_individual_risk_factor: bool | None = False,
           **values: bool | float | str | None) -> duration.DurationAdvice:
    return duration.assess(PatientFacts.of(**{**DOCUMENTED, **values}),
                           other_individual_risk_factor)


def in_cr(phase: str, **values: bool | float | str | None) -> dict[str, bool | float | str | None]:
    return {"mm_complete_response": True, "mm_phase": phase, **values}


def unknown_item(advice: duration.DurationAdvice, item: str) -> duration.CouldChange:
    return next(u for u in advice.unknown if u.item == item)


# MM-RX-05: at least 6 months

@pytest.mark.parametrize(("months", "action"), [(5.9, "continue"), (6.0, "may_stop")])
def test_six_months_is_the_minimum_before_stopping_mm_rx_05(months, action):
    advice = advise(**in_cr("maintenance", months_on_prophylaxis=months))
    assert advice.action == action
    assert ("MM-RX-05" in advice.rules) is (action == "continue")


def test_first_months_continue_even_in_cr_without_drugs_mm_rx_05():
    advice = advise(**in_cr("maintenance", months_on_prophylaxis=2.0))
    assert advice.action == "continue"
    assert advice.rules == ("MM-RX-05",)
    assert advice.settled
    assert "at least 6 months" in advice.reasons[0].text.en
    assert advice.reasons[0].source == "MM consensus section 5.1, paragraph 1"


def test_months_on_prophylaxis_unknown_continues_and_says_what_6_months_would_give_mm_rx_05():
    advice = advise(**in_cr("maintenance", months_on_prophylaxis=None))
    assert advice.action == "continue"
    assert not advice.settled
    item = unknown_item(advice, "within_minimum")
    assert [a.actions for a in item.answers] == [("continue",), ("may_stop",)]
    assert item.answers[1].text.en == (
        "If prophylaxis has run 6 months or more: may stop (DUR-03, DUR-04)")
    assert item.answers[1].text.zh == "若预防已满6个月：可停止预防（DUR-03, DUR-04）"
    assert [u.item for u in advice.unknown] == ["within_minimum"]


# DUR-07: relapse

def test_relapse_restarts_prophylaxis_as_newly_diagnosed_dur_07():
    advice = advise(mm_relapse=True, **in_cr("maintenance"))
    assert advice.action == "as_newly_diagnosed"
    assert advice.rules == ("DUR-07",)
    assert "初治" in advice.label.zh
    assert advice.reasons[0].source == "MM consensus section 5.3, paragraph 2"


def test_relapse_within_the_first_6_months_also_restarts_dur_07():
    assert advise(mm_relapse=True, months_on_prophylaxis=3.0).action == "as_newly_diagnosed"


def test_relapse_unknown_is_not_read_as_no_relapse_dur_07():
    advice = advise(mm_relapse=None, **in_cr("maintenance"))
    assert advice.action == "continue"
    item = unknown_item(advice, "relapse")
    assert [a.actions for a in item.answers] == [("as_newly_diagnosed",), ("may_stop",)]


# DUR-02: atrial fibrillation or mechanical valve

def test_mechanical_valve_follows_its_own_rules_and_keeps_the_mm_answer_dur_02():
    advice = advise(mechanical_heart_valve=True, months_on_prophylaxis=3.0)
    assert advice.action == "follow_other_indication"
    assert advice.rules == ("DUR-02", "MM-RX-05")
    assert [r.rules for r in advice.reasons] == [("DUR-02",), ("MM-RX-05",)]


def test_atrial_fibrillation_is_another_risk_factor_so_dur_04_does_not_stop_dur_02():
    advice = advise(atrial_fibrillation=True, **in_cr("consolidation"))
    assert advice.action == "follow_other_indication"
    assert "DUR-04" not in advice.rules
    assert "another independent risk factor" in advice.reasons[1].text.en


def test_atrial_fibrillation_unknown_is_named_as_could_change_dur_02():
    advice = advise(atrial_fibrillation=None, mechanical_heart_valve=None,
                    months_on_prophylaxis=3.0)
    assert advice.action == "continue"
    item = unknown_item(advice, "other_indication")
    assert item.answers[0].actions == ("follow_other_indication",)


# DUR-01 and DUR-03: after 6 months, not in CR

def test_ongoing_lenalidomide_dexamethasone_after_6_months_continues_dur_01():
    advice = advise(**LEN_DEX)
    assert advice.action == "continue"
    assert advice.rules == ("DUR-03", "DUR-01")
    assert "长期使用" in advice.reasons[0].text.zh


def test_multi_agent_chemotherapy_alone_is_a_combination_dur_01():
    assert advise(anthracycline_multiagent_chemo=True).rules == ("DUR-03", "DUR-01")


@pytest.mark.parametrize("drugs", [{"drug_lenalidomide": True}, {"drug_dexamethasone": True}, {}])
def test_imid_or_glucocorticoid_alone_after_6_months_is_reassessed_dur_03(drugs):
    advice = advise(**drugs)
    assert advice.action == "reassess"
    assert advice.rules == ("DUR-03",)


def test_cr_during_induction_is_decided_by_the_regimen_dur_03():
    assert advise(**in_cr("induction", **LEN_DEX)).rules == ("DUR-03", "DUR-01")


# DUR-04..06: CR/sCR

@pytest.mark.parametrize("phase", ["consolidation", "maintenance"])
def test_cr_without_imid_or_glucocorticoid_may_stop_dur_04(phase):
    advice = advise(**in_cr(phase, drug_bortezomib=True))
    assert advice.action == "may_stop"
    assert advice.rules == ("DUR-03", "DUR-04")
    assert advice.settled


def test_cr_with_a_table_5_individual_factor_does_not_stop_dur_04():
    advice = advise(True, **in_cr("consolidation"))
    assert advice.action == "reassess"
    assert "DUR-04" not in advice.rules


def test_cr_with_individual_factor_unknown_is_not_stopped_dur_04():
    advice = advise(None, **in_cr("consolidation"))
    assert advice.action == "reassess"
    item = unknown_item(advice, "other_risk_factor")
    assert [a.actions for a in item.answers] == [("reassess",), ("may_stop",)]


def test_cr_consolidation_lenalidomide_dexamethasone_continues_dur_05():
    advice = advise(**in_cr("consolidation", **LEN_DEX))
    assert advice.action == "continue"
    assert advice.rules == ("DUR-03", "DUR-05")


def test_cr_consolidation_imid_with_chemotherapy_continues_dur_05():
    advice = advise(**in_cr("consolidation", drug_thalidomide=True,
                            anthracycline_multiagent_chemo=True))
    assert advice.rules == ("DUR-03", "DUR-05")


def test_cr_consolidation_with_an_individual_factor_still_continues_dur_05():
    assert advise(True, **in_cr("consolidation", **LEN_DEX)).action == "continue"


def test_cr_maintenance_lenalidomide_alone_may_consider_stopping_dur_06():
    advice = advise(**in_cr("maintenance", drug_lenalidomide=True))
    assert advice.action == "consider_stopping"
    assert advice.rules == ("DUR-03", "DUR-06")


def test_cr_maintenance_lenalidomide_alone_with_an_individual_factor_is_reassessed_dur_06():
    assert advise(True, **in_cr("maintenance", drug_lenalidomide=True)).action == "reassess"


def test_cr_maintenance_lenalidomide_dexamethasone_is_not_covered_and_reassessed():
    advice = advise(**in_cr("maintenance", **LEN_DEX))
    assert advice.action == "reassess"
    assert any("DUR-01" in n.en and "continuing" in n.en for n in advice.notes)


def test_cr_consolidation_imid_alone_is_not_covered_and_reassessed():
    advice = advise(**in_cr("consolidation", drug_pomalidomide=True))
    assert advice.action == "reassess"
    assert any("IMiD alone in consolidation" in n.en for n in advice.notes)


def test_cr_chemotherapy_without_imid_shows_the_dur_04_dur_05_ambiguity():
    advice = advise(**in_cr("consolidation", anthracycline_multiagent_chemo=True))
    assert advice.action == "reassess"
    assert any("DUR-04" in n.en and "DUR-05" in n.en for n in advice.notes)


# Unknown values: each value's answer is said

def test_cr_unknown_says_what_each_answer_would_give_dur_04():
    advice = advise(mm_complete_response=None, mm_phase="maintenance", **LEN_DEX)
    assert advice.action == "continue"
    item = unknown_item(advice, "complete_response")
    assert [(a.actions, a.rules) for a in item.answers] == [
        (("reassess",), ("DUR-03",)), (("continue",), ("DUR-03", "DUR-01"))]


def test_imid_unknown_in_cr_maintenance_gives_the_more_cautious_of_dur_06_and_dur_04():
    advice = advise(**in_cr("maintenance", drug_lenalidomide=None, drug_thalidomide=None,
                            drug_pomalidomide=None))
    assert advice.action == "consider_stopping"
    assert [a.actions for a in unknown_item(advice, "imid").answers] == [
        ("consider_stopping",), ("may_stop",)]


def test_phase_unknown_in_cr_lists_each_phase():
    advice = advise(mm_complete_response=True, mm_phase=None, drug_lenalidomide=True)
    assert advice.action == "reassess"
    answers = unknown_item(advice, "phase").answers
    assert [a.value.en for a in answers] == [
        "the patient is in induction", "the patient is in consolidation",
        "the patient is in maintenance"]
    assert answers[2].actions == ("consider_stopping",)


def test_an_unknown_that_cannot_change_the_answer_is_not_listed():
    advice = advise(mm_phase=None, **LEN_DEX)  # not in CR: the phase does not matter
    assert advice.settled
    assert advice.action == "continue"


def test_evidence_of_the_facts_read_is_kept():
    facts = PatientFacts.of(**{**DOCUMENTED, "mm_relapse": Fact(True, ("Condition/relapse-1",))})
    assert duration.assess(facts, False).evidence == ("Condition/relapse-1",)


# The table

def test_shipped_duration_table_passes_its_checks():
    duration.check_tables()


def _raw_table() -> dict:
    text = (resources.files("vte_rules") / "tables" / "duration.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_cr_table_with_a_gap_is_refused():
    raw = _raw_table()
    raw["cr_branches"] = [b for b in raw["cr_branches"]
                          if b["outcome"] != "cr_maintenance_imid_alone"]
    raw["outcomes"].pop("cr_maintenance_imid_alone")
    table = parse_table("duration", raw, load_factor_catalogue())
    with pytest.raises(TableError, match="exactly one branch"):
        duration.check_table(table)


def test_outcome_without_chinese_message_is_refused():
    raw = _raw_table()
    del raw["outcomes"]["relapse"]["label"]["zh"]
    table = parse_table("duration", raw, load_factor_catalogue())
    with pytest.raises(TableError, match=r"outcomes\.relapse"):
        duration.check_table(table)
