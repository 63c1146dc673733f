"""The drug classes (vte_rules/tables/drug_classes.toml) as a clinician reads them, and the loader
that refuses a malformed class."""

from __future__ import annotations

import pytest

from fhir_mappers.codes import load_map
from vte_rules.drug_classes import (
    antithrombotics,
    classes,
    members,
    parse_classes,
    regimens_fulfilled,
)
from vte_rules.tables import TableError

TABLE = [
    # class           drugs (medication concepts)                   antithrombotic    route
    ("antiplatelet", "aspirin",                                    "antiplatelet",   "oral"),
    ("vka",          "warfarin",                                   "anticoagulant",  "oral"),
    ("lmwh",         "enoxaparin dalteparin nadroparin lmwh",      "anticoagulant",  "parenteral"),
    ("heparin",      "heparin",                                    "anticoagulant",  "parenteral"),
    ("fondaparinux", "fondaparinux",                               "anticoagulant",  "parenteral"),
    ("doac",         "rivaroxaban apixaban edoxaban dabigatran",   "anticoagulant",  "oral"),
    ("imid",         "thalidomide lenalidomide pomalidomide",      None,             "oral"),
]


def test_the_drug_classes_read_as_a_table():
    assert [(c.name, " ".join(c.concepts), c.antithrombotic, c.route) for c in classes()] == TABLE


def test_every_class_cites_its_source_and_has_english_and_chinese_names():
    for drug_class in classes():
        assert drug_class.source, drug_class.name
        assert drug_class.fulfils_source, drug_class.name
        assert drug_class.label.en, drug_class.name
        assert drug_class.label.zh, drug_class.name


def test_aspirin_is_an_antithrombotic_but_not_an_anticoagulant():
    assert "aspirin" in antithrombotics()
    assert "aspirin" not in antithrombotics("anticoagulant")
    assert antithrombotics("antiplatelet") == {"aspirin"}


def test_the_parenteral_anticoagulants_are_the_heparins_and_fondaparinux():
    assert antithrombotics("anticoagulant", route="parenteral") == {
        "enoxaparin", "dalteparin", "nadroparin", "lmwh", "heparin", "fondaparinux"}


def test_an_imid_is_no_antithrombotic():
    assert not members("imid") & antithrombotics()


def test_another_doac_already_given_counts_as_the_rivaroxaban_regimens():
    fulfilled = regimens_fulfilled()
    assert fulfilled["apixaban"] == {"rivaroxaban-prophylactic", "rivaroxaban-therapeutic"}
    assert fulfilled["heparin"] == {"lmwh-prophylactic", "lmwh-therapeutic"}
    assert fulfilled["aspirin"] == {"aspirin"}
    assert "fondaparinux" not in fulfilled


def test_every_drug_of_a_class_is_a_concept_of_the_medication_code_map():
    mapped = load_map("medications").concepts()
    assert {c for d in classes() for c in d.concepts} - mapped == set()


def test_an_unknown_class_is_a_key_error():
    with pytest.raises(KeyError, match="no class"):
        members("antiplatelets")


def raw(**changes):
    row = {"name": "vka", "label": {"en": "Vitamin K antagonist", "zh": "维生素K拮抗剂"},
           "concepts": ["warfarin"], "antithrombotic": "anticoagulant", "route": "oral",
           "fulfils": ["warfarin"], "fulfils_source": "MM-RX-02", "source": "ATC B01AA"}
    return {k: v for k, v in {**row, **changes}.items() if v is not None}


@pytest.mark.parametrize(("changes", "message"), [
    ({"source": None}, "class needs source"),
    ({"label": {"en": "Vitamin K antagonist"}}, "label needs both en and zh"),
    ({"antithrombotic": "thrombolytic"}, "antithrombotic must be one of"),
    ({"route": "subcutaneous"}, "route must be one of"),
    ({"fulfils": ["warfarin-bridge"]}, "fulfils names no regimen"),
])
def test_a_malformed_class_is_refused_with_the_reason(changes, message):
    with pytest.raises(TableError, match=message):
        parse_classes([raw(**changes)])


def test_a_drug_in_two_classes_is_refused():
    with pytest.raises(TableError, match="'warfarin' is in 'vka' and 'other'"):
        parse_classes([raw(), raw(name="other")])


def test_a_class_given_twice_is_refused():
    with pytest.raises(TableError, match="given twice"):
        parse_classes([raw(), raw(concepts=["acenocoumarol"])])
