"""Chinese for the text an assessment document carries in English only.

Most of the assessment's text comes from the clinical tables in both languages (``{"en", "zh"}``
labels). Three kinds of text are English only, and the pages show them in Chinese through this
module:

- the tables' notes on how the guideline was read (a score's ``notes``, a row's or a tier's
  ``note``): the seed ambiguities;
- what the FHIR mapper and the rules assumed, or why an item is unknown (an item's
  ``assumption`` and ``reason``);
- why the mapper could not use a resource (a data issue's ``reason``).

Each such text is a message of ``msgctxt "document"`` in ``hooks/locale``: its English is the
text exactly as the document carries it, or a template whose ``{fields}`` stand for what the
mapper fills in (a number of days, a resource id). A captured field is itself translated when it
is a whole message (a FHIR status such as ``remission``, the kind of a measurement). The mapper
joins several assumptions with "; ", so a text that is no message as a whole is read as such a
join. A text that this catalogue does not cover stays in English, and says so
(``Text.lang``), so a page can mark it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hooks import i18n
from hooks.i18n import runtime_key

SECTION = "document"
JOIN = "; "
#: ``Type/id: text`` or ``concept: text``: the mapper prefixes a resource or a measurement.
_PREFIXED = re.compile(r"^(?P<head>[A-Za-z][\w.\-/]*): (?P<rest>.+)$", re.S)
_FIELD = re.compile(r"\{(\w+)\}")

#: The messages of this section. Each key's English is the document's text (or template).
KEYS = (
    # How the guideline was read: the score tables' notes, the CMVT rows' notes.
    runtime_key("document", "wells_dvt_cut_off"),
    runtime_key("document", "wells_dvt_bedside_items"),
    runtime_key("document", "wells_dvt_row_3"),
    runtime_key("document", "wells_dvt_row_10"),
    runtime_key("document", "wells_dvt_total_2"),
    runtime_key("document", "wells_pe_tiers"),
    runtime_key("document", "wells_pe_judgement_items"),
    runtime_key("document", "wells_pe_low"),
    runtime_key("document", "wells_pe_total_1_5"),
    runtime_key("document", "mm_vte_exclusive_bands"),
    runtime_key("document", "mm_vte_other_glucocorticoids"),
    runtime_key("document", "mm_vte_none_tier"),
    runtime_key("document", "mm_vte_age"),
    runtime_key("document", "mm_vte_age_60_75"),
    runtime_key("document", "mm_vte_imid"),
    runtime_key("document", "mm_vte_dose_per_cycle"),
    runtime_key("document", "mm_vte_dexamethasone_160"),
    runtime_key("document", "mm_vte_esa"),
    runtime_key("document", "bleeding_exclusive_bands"),
    runtime_key("document", "bleeding_improve"),
    runtime_key("document", "bleeding_ulcer"),
    runtime_key("document", "bleeding_platelets_50"),
    runtime_key("document", "bleeding_age"),
    runtime_key("document", "bleeding_inr_vka"),
    runtime_key("document", "bleeding_active_cancer"),
    runtime_key("document", "bleeding_egfr_30_59"),
    runtime_key("document", "cmvt_no_symptoms"),
    runtime_key("document", "cmvt_d_dimer_negative"),
    runtime_key("document", "cmvt_length_5"),
    runtime_key("document", "cmvt_diameter_7"),
    runtime_key("document", "cmvt_several_veins"),
    runtime_key("document", "cmvt_no_tumour"),
    runtime_key("document", "cmvt_stroke_row"),
    # Why an item is unknown (the rules and the mapper).
    runtime_key("document", "not_documented"),
    runtime_key("document", "antineoplastic_without_cancer"),
    runtime_key("document", "cancer_with_status"),
    runtime_key("document", "cancer_undetermined"),
    runtime_key("document", "could_not_be_read"),
    runtime_key("document", "circulatory_history"),
    runtime_key("document", "fracture_site"),
    runtime_key("document", "not_within_window"),
    runtime_key("document", "not_begun_long_enough"),
    runtime_key("document", "without_date"),
    runtime_key("document", "anthracycline_alone"),
    runtime_key("document", "stale_result"),
    runtime_key("document", "egfr_not_computable"),
    runtime_key("document", "d_dimer_no_marked_cut_off"),
    runtime_key("document", "not_coded_positive_negative"),
    runtime_key("document", "positive_and_negative"),
    runtime_key("document", "result_skipped"),
    runtime_key("document", "finding_too_old"),
    runtime_key("document", "myeloma_treatment_unknown"),
    runtime_key("document", "myeloma_cr_judgement"),
    runtime_key("document", "dexamethasone_not_computable"),
    runtime_key("document", "inr_on_warfarin"),
    # What the mapper and the rules assumed.
    runtime_key("document", "myeloma_active_cancer"),
    runtime_key("document", "no_cancer"),
    runtime_key("document", "recorded_as_status_within"),
    runtime_key("document", "recorded_as_status"),
    runtime_key("document", "metastatic"),
    runtime_key("document", "haematological_not_in_remission"),
    runtime_key("document", "chemotherapy_recorded"),
    runtime_key("document", "on_antineoplastic_treatment"),
    runtime_key("document", "diagnosed_within"),
    runtime_key("document", "catheter_not_removed"),
    runtime_key("document", "no_major_surgery"),
    runtime_key("document", "no_central_venous_catheter"),
    runtime_key("document", "no_intensive_care"),
    runtime_key("document", "recorded_before"),
    runtime_key("document", "ended_before"),
    runtime_key("document", "recorded_resolved"),
    runtime_key("document", "new_vte_with_earlier_episode"),
    runtime_key("document", "not_on_problem_list"),
    runtime_key("document", "myeloma_months_from"),
    runtime_key("document", "condition_from_text"),
    runtime_key("document", "condition_refined_by_text"),
    runtime_key("document", "not_in_medications"),
    runtime_key("document", "no_anti_myeloma_drug"),
    runtime_key("document", "no_anthracycline"),
    runtime_key("document", "no_glucocorticoid"),
    runtime_key("document", "egfr_from_creatinine"),
    runtime_key("document", "bmi_computed"),
    runtime_key("document", "laboratory_interpretation"),
    runtime_key("document", "laboratory_reference_range"),
    runtime_key("document", "d_dimer_default_cut_off"),
    runtime_key("document", "laboratory_critical"),
    runtime_key("document", "d_dimer_ddu_converted"),
    runtime_key("document", "d_dimer_basis_from_code"),
    runtime_key("document", "test_found_by_name"),
    runtime_key("document", "result_word_in_text"),
    runtime_key("document", "measurement_found_by_name"),
    runtime_key("document", "near_proximal_from_text"),
    runtime_key("document", "not_counted_again"),
    runtime_key("document", "glucocorticoid_per_cycle_as_dexamethasone"),
    runtime_key("document", "glucocorticoid_as_dexamethasone"),
    runtime_key("document", "cycle_from_text"),
    runtime_key("document", "cycle_from_outer_timing"),
    runtime_key("document", "cycle_from_repeat_period"),
    runtime_key("document", "cycle_given_by_caller"),
    runtime_key("document", "cycle_assumed"),
    runtime_key("document", "consensus_example_cycle"),
    runtime_key("document", "tablet_strength"),
    runtime_key("document", "concentration"),
    runtime_key("document", "dose_from_text"),
    runtime_key("document", "administrations_in_later_cycle"),
    runtime_key("document", "administrations_by_count"),
    runtime_key("document", "first_administration_day"),
    runtime_key("document", "schedule_without_end"),
    runtime_key("document", "schedule_past_cycle"),
    runtime_key("document", "bounds_as_cycle_days"),
    runtime_key("document", "schedule_from_text"),
    runtime_key("document", "schedule_days_from_text"),
    runtime_key("document", "administrations_up_to_latest"),
    runtime_key("document", "earlier_not_counted"),
    # Why a resource could not be used (data issues).
    runtime_key("document", "birth_date_unreadable"),
    runtime_key("document", "resources_not_used"),
    runtime_key("document", "not_a_resource"),
    runtime_key("document", "operation_outcome"),
    runtime_key("document", "refuted"),
    runtime_key("document", "no_clinical_status"),
    runtime_key("document", "condition_unread"),
    runtime_key("document", "condition_skipped"),
    runtime_key("document", "text_not_read"),
    runtime_key("document", "no_icd_range"),
    runtime_key("document", "code_not_recognised"),
    runtime_key("document", "another_patient"),
    runtime_key("document", "no_numeric_value"),
    runtime_key("document", "no_effective_date"),
    runtime_key("document", "value_out_of_range"),
    runtime_key("document", "finding_without_factor"),
    runtime_key("document", "finding_unit"),
    runtime_key("document", "fields_ignored"),
    runtime_key("document", "single_as_list"),
    runtime_key("document", "id_characters"),
    runtime_key("document", "date_without_timezone"),
    runtime_key("document", "empty_strings"),
    runtime_key("document", "not_r4_type"),
    runtime_key("document", "invalid_resource"),
    runtime_key("document", "required_missing"),
    runtime_key("document", "value_not_finite"),
    runtime_key("document", "value_negative"),
    runtime_key("document", "no_unit"),
    runtime_key("document", "value_overflows"),
    # Values the mapper puts into the texts above (FHIR statuses, kinds of measurement).
    runtime_key("document", "status_active"),
    runtime_key("document", "status_recurrence"),
    runtime_key("document", "status_relapse"),
    runtime_key("document", "status_inactive"),
    runtime_key("document", "status_remission"),
    runtime_key("document", "status_resolved"),
    runtime_key("document", "kind_platelets"),
    runtime_key("document", "kind_egfr"),
    runtime_key("document", "kind_creatinine"),
    runtime_key("document", "kind_inr"),
    runtime_key("document", "kind_d_dimer"),
    runtime_key("document", "kind_m_protein"),
    runtime_key("document", "kind_weight"),
    runtime_key("document", "kind_height"),
    runtime_key("document", "kind_bmi"),
)


@dataclass(frozen=True)
class Text:
    """A text as a page shows it, and the language it is in (``en`` when no Chinese exists)."""

    value: str
    lang: str


@dataclass(frozen=True)
class _Template:
    pattern: re.Pattern[str]
    zh: str


@functools.cache
def _catalogue() -> tuple[Mapping[str, str], tuple[_Template, ...]]:
    """English -> Chinese for the whole messages; templates, the most specific first."""
    exact: dict[str, str] = {}
    templates: list[tuple[int, _Template]] = []
    for section, key in KEYS:
        label = i18n.label(section, key)
        if not _FIELD.search(label.en):
            exact[label.en] = label.zh
            continue
        pieces = _FIELD.split(label.en)
        # a field never spans the "; " that joins two messages
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>(?:(?!; ).)+?)"
                        for i, p in enumerate(pieces))
        literal = sum(len(p) for p in pieces[::2])
        templates.append((literal, _Template(re.compile(regex, re.S), label.zh)))
    templates.sort(key=lambda t: -t[0])
    return exact, tuple(t for _, t in templates)


def _one(text: str) -> str | None:
    """The Chinese of one message's text, or None."""
    exact, templates = _catalogue()
    found = exact.get(text)
    if found is not None:
        return found
    for template in templates:
        match = template.pattern.fullmatch(text)
        if match:
            values = {k: exact.get(v, v) for k, v in match.groupdict().items()}
            return template.zh.format(**values)
    prefixed = _PREFIXED.match(text)
    if prefixed:
        rest = _one(prefixed["rest"])
        if rest is not None:
            return f"{prefixed['head']}：{rest}"
    return None


def _joined(parts: Sequence[str]) -> list[str] | None:
    """Chinese for each message of a "; "-joined text, the longest message first."""

    @functools.cache
    def rest(start: int) -> tuple[str, ...] | None:
        if start == len(parts):
            return ()
        for end in range(len(parts), start, -1):
            head = _one(JOIN.join(parts[start:end]))
            tail = rest(end) if head is not None else None
            if head is not None and tail is not None:
                return (head, *tail)
        return None

    found = rest(0)
    return None if found is None else list(found)


def translate(text: str, lang: str) -> Text:
    """``text`` (English, from the document) in ``lang``; English when not covered."""
    if not lang.startswith("zh"):
        return Text(text, "en")
    found = _joined(text.split(JOIN))
    if found is None:
        return Text(text, "en")
    return Text("；".join(dict.fromkeys(found)), "zh")
