"""Facts are three-valued and checked against the factor catalogue."""

from __future__ import annotations

import datetime as dt

import pytest

from vte_rules.facts import Fact, FactError, PatientFacts, facts_from_json


def test_a_factor_never_set_is_unknown_not_absent():
    facts = PatientFacts.of(diabetes=False)
    assert facts.flag("diabetes") is False
    assert facts.flag("copd") is None
    assert facts["copd"].reason == "not documented"


def test_unknown_factor_name_is_refused():
    with pytest.raises(FactError, match="unknown factor 'diabetic'"):
        PatientFacts.of(diabetic=True)


def test_wrong_kind_is_refused():
    with pytest.raises(FactError, match="is a number"):
        PatientFacts.of(bmi="high")
    with pytest.raises(FactError, match="true/false"):
        PatientFacts.of(diabetes=1)
    with pytest.raises(FactError, match="one of"):
        PatientFacts.of(sex="M")


def test_numbers_keep_value_unit_date_and_evidence():
    fact = Fact(27.4, ("Observation/bmi-1",), "kg/m2", dt.date(2026, 11, 1))
    facts = PatientFacts.of(bmi=fact)
    assert facts["bmi"].value == 27.4
    assert facts["bmi"].evidence == ("Observation/bmi-1",)
    assert facts["bmi"].date == dt.date(2026, 11, 1)


def test_facts_from_json_reads_values_and_evidence():
    facts = facts_from_json({"as_of": "2026-11-27", "facts": {
        "age_years": 71, "diabetes": None,
        "egfr": {"value": 28, "unit": "mL/min/1.73m2", "evidence": ["Observation/e1"],
                 "date": "2026-11-20T08:00:00"}}})
    assert facts.as_of == dt.date(2026, 11, 27)
    assert facts.number("egfr") == 28.0
    assert facts["egfr"].evidence == ("Observation/e1",)
    assert facts.flag("diabetes") is None


@pytest.mark.parametrize(("doc", "message"), [
    ({}, "'facts' must be an object"),
    ({"facts": {"egfr": {"value": [1]}}}, "value must be"),
    ({"facts": {"egfr": {"value": 20, "evidence": "Observation/1"}}}, "list of references"),
    ({"facts": {"egfr": {"valu": 20}}}, "unexpected keys"),
    ({"facts": {}, "as_of": "27/11/2026"}, "not YYYY-MM-DD"),
])
def test_bad_fact_documents_get_a_clear_error(doc, message):
    with pytest.raises(FactError, match=message):
        facts_from_json(doc)


def test_facts_added_to_checked_facts_are_checked_too():
    facts = PatientFacts.of(diabetes=False)
    with pytest.raises(FactError, match="is a number"):
        facts.with_facts(bmi=Fact("high"))
    assert facts.with_facts(bmi=Fact(31)).number("bmi") == 31.0  # an int read as a number


def test_a_copy_with_other_facts_is_assessed_afresh():
    """Each score is computed once per set of facts: a copy that changed a fact gets its own."""
    from vte_rules import mm_vte
    from vte_rules.derive import derive

    facts = PatientFacts.of(multiple_myeloma=True, drug_lenalidomide=True, history_of_vte=False)
    with_vte = facts.with_facts(history_of_vte=Fact(True, ("Condition/dvt",)))
    assert mm_vte.assess(facts) is mm_vte.assess(facts)
    assert mm_vte.assess(with_vte).points == mm_vte.assess(facts).points + 5
    assert derive(derive(facts)) is derive(facts)
