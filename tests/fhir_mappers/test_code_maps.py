"""The code maps and the mapping policy agree with each other and with the rules' factors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fhir_mappers.codes import MAP_NAMES, CodeMapError, load_map, parse_map
from fhir_mappers.context import policy
from vte_rules.tables import load_factor_catalogue

PACKAGE = Path(__file__).resolve().parents[2] / "fhir_mappers"


def routed_factors() -> set[str]:
    """Factors some code in some map reaches through the policy."""
    p = policy()
    routed: set[str] = set()
    obs = load_map("observations").concepts()
    routed |= {m["factor"] for k, m in p["measurements"].items() if "factor" in m and k in obs}
    conds = load_map("conditions").concepts()
    for concept, entry in p["conditions"]["concepts"].items():
        if concept in conds:
            routed |= {*entry.get("present", ()), *entry.get("history", ()),
                       *entry.get("sets_false", ()), *entry.get("while_active", ()),
                       *entry.get("unknown", ())}
    meds = load_map("medications").concepts()
    for concept, factors in p["medications"]["concepts"].items():
        if concept in meds:
            routed |= set(factors)
    return routed


def test_every_row_of_every_map_has_a_source_and_a_known_concept():
    p = policy()
    known = {
        "observations": set(p["measurements"]) | set(p["hook_concepts"]["observations"]),
        "conditions": set(p["conditions"]["concepts"]),
        "medications": set(p["medications"]["concepts"]) | set(p["hook_concepts"]["medications"]),
        "procedures": {"major_surgery", "central_venous_catheter", "plaster_cast", "icu",
                       *p["hook_concepts"]["procedures"]},
    }
    for name in MAP_NAMES:
        cmap = load_map(name)
        assert cmap.rows, name
        assert all(r.source for r in cmap.rows)
        unknown = cmap.concepts() - known[name]
        assert not unknown, f"{name}.csv concepts the policy does not know: {sorted(unknown)}"


def test_every_factor_the_rules_use_can_be_fed_from_fhir():
    p = policy()
    catalogue = set(load_factor_catalogue())
    by_reader = set(p["coverage"]["set_by_reader"])
    finding_only = set(p["coverage"]["finding_only"])
    covered = routed_factors() | by_reader | finding_only
    assert catalogue - covered == set(), "factors with no route from FHIR"
    assert covered - catalogue == set(), "routes to factors the rules do not have"
    assert not (routed_factors() & finding_only), "finding_only factors that a code reaches"


def test_factors_set_by_a_reader_are_named_in_the_reader_code():
    source = "\n".join(p.read_text("utf-8") for p in PACKAGE.glob("*.py"))
    for factor in policy()["coverage"]["set_by_reader"]:
        assert re.search(rf'"{factor}"', source) or factor in policy_factors(), factor


def policy_factors() -> set[str]:
    return {m["factor"] for m in policy()["measurements"].values() if "factor" in m}


def test_policy_names_only_known_factors():
    catalogue = set(load_factor_catalogue())
    p = policy()
    named = set(policy_factors())
    for entry in p["conditions"]["concepts"].values():
        named |= {*entry.get("present", ()), *entry.get("history", ()),
                  *entry.get("sets_false", ())}
    for factors in p["medications"]["concepts"].values():
        named |= set(factors)
    assert named <= catalogue


@pytest.mark.parametrize(("system", "code", "concept"), [
    ("http://hl7.org/fhir/sid/icd-10-cm", "I82.461", "cmvt"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "C90.02", "mm_in_relapse"),
    ("urn:oid:2.16.840.1.113883.6.1", "777-3", "platelets"),
    ("http://www.nlm.nih.gov/research/umls/rxnorm/", "1114195", "rivaroxaban"),
])
def test_prefix_codes_and_system_aliases_match(system, code, concept):
    name = {"cmvt": "conditions", "mm_in_relapse": "conditions", "platelets": "observations",
            "rivaroxaban": "medications"}[concept]
    assert concept in load_map(name).match_coding(system, code)


def test_text_fallback_only_when_no_code_matched():
    meds = load_map("medications")
    by_code = meds.match({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                      "code": "1114195"}], "text": "来那度胺"})
    assert [m.concept for m in by_code] == ["rivaroxaban"]
    by_text = meds.match({"text": "利伐沙班片 10mg"})
    assert [m.concept for m in by_text] == ["rivaroxaban"]


def test_a_map_with_a_row_without_source_is_refused():
    text = "system,code,display,concept,justification,source\nhttp://loinc.org,777-3,x,platelets,y,\n"
    with pytest.raises(CodeMapError, match="empty source"):
        parse_map("bad", text)
