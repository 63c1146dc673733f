"""The table loader refuses malformed clinical tables at start-up."""

from __future__ import annotations

import tomllib

import pytest

from vte_rules.startup import check_all
from vte_rules.tables import (
    TABLE_NAMES,
    TableError,
    load_factor_catalogue,
    parse_table,
)

HEADER = 'id = "t"\nversion = "1"\nsource = "test table"\n'
ROW = '''
[[items]]
rule = "MM-T5-12"
factor = "bmi"
range = { ge = 25 }
points = 1
label = { en = "BMI >= 25", zh = "体质指数≥25" }
source = "MM consensus Table 5, row 12"
'''
TIERS = '''
[[tiers.main]]
category = "none"
range = { lt = 1 }
label = { en = "none", zh = "无" }
rule = "MM-T5-27"
source = "Table 5 note"

[[tiers.main]]
category = "some"
range = { ge = 1 }
label = { en = "some", zh = "有" }
rule = "MM-T5-27"
source = "Table 5 note"
'''


def parse(text: str):
    return parse_table("t", tomllib.loads(text), load_factor_catalogue())


def test_every_shipped_table_loads_and_passes_its_checks():
    tables = check_all()
    assert set(tables) == set(TABLE_NAMES)
    assert all(t.version for t in tables.values())


def test_a_well_formed_table_loads():
    table = parse(HEADER + ROW + TIERS)
    assert table.ref == "t@1"
    assert table.row("MM-T5-12").points == 1


def test_row_without_source_is_rejected():
    with pytest.raises(TableError, match="no source"):
        parse(HEADER + ROW.replace('source = "MM consensus Table 5, row 12"', ""))


def test_row_without_rule_id_is_rejected():
    with pytest.raises(TableError, match="no rule id"):
        parse(HEADER + ROW.replace('rule = "MM-T5-12"', ""))


def test_row_naming_an_unknown_factor_is_rejected():
    with pytest.raises(TableError, match="unknown factor 'body_mass'"):
        parse(HEADER + ROW.replace('"bmi"', '"body_mass"'))


def test_row_without_chinese_label_is_rejected():
    with pytest.raises(TableError, match="en and zh"):
        parse(HEADER + ROW.replace(', zh = "体质指数≥25"', ""))


def test_range_on_a_true_false_factor_is_rejected():
    with pytest.raises(TableError, match="range on non-number"):
        parse(HEADER + ROW.replace('"bmi"', '"diabetes"'))


def test_header_without_source_is_rejected():
    with pytest.raises(TableError, match="header needs source"):
        parse(HEADER.replace('source = "test table"', "") + ROW)


def test_overlapping_tiers_are_rejected():
    with pytest.raises(TableError, match="overlap at 1"):
        parse(HEADER + ROW + TIERS.replace("range = { lt = 1 }", "range = { le = 1 }"))


def test_tiers_leaving_a_gap_are_rejected():
    with pytest.raises(TableError, match="gap at 1"):
        parse(HEADER + ROW + TIERS.replace("range = { ge = 1 }", "range = { gt = 1 }"))


def test_overlapping_bands_in_one_group_are_rejected():
    bands = '''
[[items]]
rule = "MM-T5-10"
factor = "age_years"
range = { ge = 75 }
group = "age"
points = 2
label = { en = "Age >= 75", zh = "年龄≥75岁" }
source = "Table 5 row 10"

[[items]]
rule = "MM-T5-11"
factor = "age_years"
range = { ge = 60, le = 75 }
group = "age"
points = 1
label = { en = "Age 60-75", zh = "年龄60~75岁" }
source = "Table 5 row 11"
'''
    with pytest.raises(TableError, match="MM-T5-10 and MM-T5-11 overlap"):
        parse(HEADER + bands)


def test_wells_pe_tiers_as_printed_in_the_consensus_leave_1_5_in_no_tier_wpe_08():
    """The consensus prints low <= 1, intermediate 2-6: the loader finds the gap at 1.5."""
    from importlib import resources

    text = (resources.files("vte_rules") / "tables" / "wells_pe.toml").read_text("utf-8")
    printed = text.replace("range = { lt = 2 }", "range = { le = 1 }")
    with pytest.raises(TableError, match=r"gap at 1\.5"):
        parse_table("wells_pe", tomllib.loads(printed), load_factor_catalogue())
