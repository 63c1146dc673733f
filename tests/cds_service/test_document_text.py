"""Chinese for the text an assessment carries in English only (hooks/document_text.py): the
tables' seed readings, the mapper's assumptions and reasons, data issues."""

from __future__ import annotations

import pytest

from hooks.document_text import Text, translate
from vte_rules.tables import load_table

# The tables whose English-only notes reach the assessment document (scores and CMVT items).
DOCUMENT_TABLES = ("wells_dvt", "wells_pe", "mm_vte", "bleeding", "cmvt")


def english_notes(name: str) -> list[str]:
    table = load_table(name)
    notes = [*table.notes, *(r.note for r in table.rows), *(
        t.note for scheme in table.tiers.values() for t in scheme),
        *(str(n["note"]) for n in table.data.get("point_notes", ()))]
    return [n for n in notes if isinstance(n, str) and n]


@pytest.mark.parametrize("name", DOCUMENT_TABLES)
def test_every_english_note_a_score_or_the_cmvt_table_carries_has_chinese(name):
    missing = [n for n in english_notes(name) if translate(n, "zh").lang != "zh"]
    assert missing == [], f"add these {name} notes to hooks/document_text.py: {missing}"


def test_an_english_page_keeps_the_text_as_it_is():
    assert translate("not on the problem list", "en") == Text("not on the problem list", "en")


def test_a_whole_message_and_a_template_with_its_values():
    assert translate("not documented", "zh") == Text("未记录", "zh")
    assert translate("no major surgery recorded in 30 days", "zh") == \
        Text("30天内无大手术记录", "zh")


def test_joined_assumptions_are_translated_one_by_one_and_said_once():
    text = ("cycle length 28 days read from the dosage text (MedicationRequest/dex-1); "
            "MedicationRequest/dex-1: no end to the schedule: counted through the whole "
            "28-day cycle")
    assert translate(text, "zh").value == (
        "周期长度28天，读自用法文本（MedicationRequest/dex-1）；"
        "MedicationRequest/dex-1：给药方案无结束日期：按整个28天周期计算")
    repeated = "not in the current medication list; not in the current medication list"
    assert translate(repeated, "zh").value == "当前用药列表中无此药"


def test_a_field_never_swallows_the_next_joined_message():
    text = ("cycle length 28 days read from the dosage text (MedicationRequest/d); "
            "MedicationRequest/d: dose 40 mg read from the dosage text (no structured dose)")
    assert translate(text, "zh").value == (
        "周期长度28天，读自用法文本（MedicationRequest/d）；"
        "MedicationRequest/d：剂量40 mg读自用法文本（无结构化剂量）")


def test_a_message_with_its_own_semicolon_stays_one_message():
    assert translate("catheter insertion recorded; no removal recorded", "zh").value == \
        "有置管记录，无拔管记录"


def test_a_status_inside_a_template_is_translated_too():
    assert translate("recorded as remission within the last 30 days", "zh").value == \
        "30天内记录为缓解"


def test_text_the_catalogue_does_not_cover_stays_english_and_says_so():
    assert translate("a reason nobody wrote down", "zh") == \
        Text("a reason nobody wrote down", "en")
    half = "not on the problem list; a reason nobody wrote down"
    assert translate(half, "zh") == Text(half, "en")
