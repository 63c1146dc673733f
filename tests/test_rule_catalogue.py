"""Every rule in docs/rules.md is implemented in a table and exercised by a test."""

from __future__ import annotations

import re
from pathlib import Path

from vte_rules.tables import load_all

ROOT = Path(__file__).resolve().parent.parent
RULE_ID = re.compile(r"^\| ((?:WDVT|WPE|MMRF|DRUG|MM-T5|MM-RX|BLEED|ADJ|DUR|TRT|CMVT)-\d{2}) \|",
                     re.MULTILINE)


def documented_ids() -> set[str]:
    return set(RULE_ID.findall((ROOT / "docs" / "rules.md").read_text("utf-8")))


def implemented_ids() -> set[str]:
    return {rule for table in load_all().values() for rule in table.rule_ids()}


def test_catalogue_lists_all_eleven_rule_groups():
    ids = documented_ids()
    assert len(ids) == 114
    assert {i.rsplit("-", 1)[0] for i in ids} == {
        "WDVT", "WPE", "MMRF", "DRUG", "MM-T5", "MM-RX", "BLEED", "ADJ", "DUR", "TRT", "CMVT"}


def test_every_documented_rule_is_implemented_in_a_table():
    missing = documented_ids() - implemented_ids()
    assert not missing, f"documented but cited by no table: {sorted(missing)}"


def test_no_table_cites_an_undocumented_rule():
    extra = implemented_ids() - documented_ids()
    assert not extra, f"cited by a table but not in docs/rules.md: {sorted(extra)}"


def test_every_documented_rule_is_exercised_by_a_test():
    here = Path(__file__).resolve()
    text = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").rglob("test_*.py")
                     if p != here).upper().replace("_", "-")
    untested = {i for i in documented_ids() if i not in text}
    assert not untested, f"no test mentions: {sorted(untested)}"
