"""Drug notes from MM consensus Table 4 (DRUG-01..11)."""

from __future__ import annotations

import pytest

from vte_rules import drug_risk
from vte_rules.facts import PatientFacts


def notes(**facts):
    return {n.rule: n for n in drug_risk.notes(PatientFacts.of(**facts))}


@pytest.mark.parametrize(("rule", "factor", "effect"), [
    ("DRUG-03", "drug_pomalidomide", "limited_data"),
    ("DRUG-04", "anthracycline_multiagent_chemo", "raises"),
    ("DRUG-06", "drug_carfilzomib", "raises"),
    ("DRUG-07", "drug_bortezomib", "may_lower"),
    ("DRUG-08", "drug_ixazomib", "no_rise"),
    ("DRUG-09", "drug_melphalan", "no_rise"),
    ("DRUG-10", "drug_daratumumab", "may_lower"),
    ("DRUG-11", "drug_selinexor", "no_association"),
])
def test_single_drug_notes(rule, factor, effect):
    got = notes(**{factor: True})
    assert got[rule].effect == effect
    assert got[rule].text.zh


def test_thalidomide_alone_does_not_raise_risk_drug_01():
    got = notes(drug_thalidomide=True, drug_glucocorticoid=False,
                anthracycline_multiagent_chemo=False)
    assert got["DRUG-01"].effect == "no_rise"


def test_thalidomide_with_dexamethasone_raises_risk_markedly_drug_01_drug_05():
    got = notes(drug_thalidomide=True, drug_glucocorticoid=True)
    assert got["DRUG-01"].effect == "raises_markedly"
    assert got["DRUG-05"].effect == "raises"


def test_lenalidomide_alone_vs_with_glucocorticoid_drug_02():
    assert notes(drug_lenalidomide=True, drug_glucocorticoid=False)["DRUG-02"].effect == "no_rise"
    assert notes(drug_lenalidomide=True,
                 drug_glucocorticoid=True)["DRUG-02"].effect == "raises_markedly"


def test_glucocorticoid_without_imid_does_not_raise_risk_drug_05():
    got = notes(drug_glucocorticoid=True, drug_melphalan=True, drug_thalidomide=False,
                drug_lenalidomide=False, drug_pomalidomide=False)
    assert got["DRUG-05"].effect == "no_rise"
    assert got["DRUG-09"].effect == "no_rise"


def test_unknown_partner_gives_the_higher_risk_reading_flagged_as_such():
    got = notes(drug_lenalidomide=True)
    assert got["DRUG-02"].effect == "raises_markedly"
    assert got["DRUG-02"].combination_known is False


def test_drug_not_known_to_be_given_gets_no_note():
    assert notes(drug_bortezomib=False) == {}
    assert notes() == {}
