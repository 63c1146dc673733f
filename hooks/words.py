"""What the mapper and the rules assumed, worded in the reader's language.

A fact's assumption is a tuple of :class:`vte_rules.facts.Message`: a key and its fields, never
a sentence (the mapper knows no language). Its wording is the message of ``msgctxt "reading"``
with that key in ``hooks/locale``; a field whose value is itself a message of
``msgctxt "reading_values"`` (a FHIR condition status such as ``remission``, a glucocorticoid,
``consensus_example_cycle``) is worded too, and any other value (a number, a resource id, a unit
as sent) is kept as it is. A message ``about`` a resource starts with it.

Cards word assumptions in the card's language (:func:`text`). The assessment document keeps
them in English (:func:`english`), joined by "; " as the mapper used to write them, so that
every view of the document reads the same text.
"""

from __future__ import annotations

from hooks.i18n import label, runtime_key, texts
from vte_rules.facts import GIVEN, Message
from vte_rules.tables import Label

#: Every message a mapper or a rule may say it assumed (the key comes with the fact).
KEYS = (
    # the rules
    runtime_key("reading", "myeloma_active_cancer"),
    runtime_key("reading", "no_symptoms_not_severe"),
    runtime_key("reading", "negative_d_dimer_not_marked"),
    # conditions, cancer, procedures, devices, encounters
    runtime_key("reading", "no_cancer"),
    runtime_key("reading", "recorded_as_status_within"),
    runtime_key("reading", "recorded_as_status"),
    runtime_key("reading", "metastatic"),
    runtime_key("reading", "haematological_not_in_remission"),
    runtime_key("reading", "chemotherapy_recorded"),
    runtime_key("reading", "on_antineoplastic_treatment"),
    runtime_key("reading", "diagnosed_within"),
    runtime_key("reading", "catheter_not_removed"),
    runtime_key("reading", "no_major_surgery"),
    runtime_key("reading", "no_central_venous_catheter"),
    runtime_key("reading", "no_intensive_care"),
    runtime_key("reading", "recorded_before"),
    runtime_key("reading", "ended_before"),
    runtime_key("reading", "recorded_resolved"),
    runtime_key("reading", "new_vte_with_earlier_episode"),
    runtime_key("reading", "not_on_problem_list"),
    runtime_key("reading", "myeloma_months_from"),
    runtime_key("reading", "condition_from_text"),
    runtime_key("reading", "condition_refined_by_text"),
    # medications
    runtime_key("reading", "not_in_medications"),
    runtime_key("reading", "no_anti_myeloma_drug"),
    runtime_key("reading", "no_anthracycline"),
    runtime_key("reading", "no_glucocorticoid"),
    # results and units
    runtime_key("reading", "egfr_from_creatinine"),
    runtime_key("reading", "bmi_computed"),
    runtime_key("reading", "laboratory_interpretation"),
    runtime_key("reading", "laboratory_reference_range"),
    runtime_key("reading", "d_dimer_default_cut_off"),
    runtime_key("reading", "laboratory_critical"),
    runtime_key("reading", "unit_letter_case"),
    runtime_key("reading", "d_dimer_ddu_converted"),
    runtime_key("reading", "d_dimer_basis_from_code"),
    runtime_key("reading", "test_found_by_name"),
    runtime_key("reading", "result_word_in_text"),
    runtime_key("reading", "measurement_found_by_name"),
    runtime_key("reading", "near_proximal_from_text"),
    # dexamethasone per cycle
    runtime_key("reading", "not_counted_again"),
    runtime_key("reading", "glucocorticoid_per_cycle_as_dexamethasone"),
    runtime_key("reading", "glucocorticoid_as_dexamethasone"),
    runtime_key("reading", "cycle_from_text"),
    runtime_key("reading", "cycle_from_outer_timing"),
    runtime_key("reading", "cycle_from_repeat_period"),
    runtime_key("reading", "cycle_given_by_caller"),
    runtime_key("reading", "cycle_assumed"),
    runtime_key("reading", "tablet_strength"),
    runtime_key("reading", "concentration"),
    runtime_key("reading", "dose_from_text"),
    runtime_key("reading", "administrations_in_later_cycle"),
    runtime_key("reading", "administrations_by_count"),
    runtime_key("reading", "first_administration_day"),
    runtime_key("reading", "schedule_without_end"),
    runtime_key("reading", "schedule_past_cycle"),
    runtime_key("reading", "bounds_as_cycle_days"),
    runtime_key("reading", "schedule_from_text"),
    runtime_key("reading", "schedule_days_from_text"),
    runtime_key("reading", "administrations_up_to_latest"),
    runtime_key("reading", "administrations_up_to_latest_earlier"),
    # values inside them
    runtime_key("reading_values", "active"),
    runtime_key("reading_values", "recurrence"),
    runtime_key("reading_values", "relapse"),
    runtime_key("reading_values", "inactive"),
    runtime_key("reading_values", "remission"),
    runtime_key("reading_values", "resolved"),
    runtime_key("reading_values", "consensus_example_cycle"),
    runtime_key("reading_values", "unit"),
    runtime_key("reading_values", "ucum_code"),
    runtime_key("reading_values", "dexamethasone"),
    runtime_key("reading_values", "prednisone"),
    runtime_key("reading_values", "prednisolone"),
    runtime_key("reading_values", "methylprednisolone"),
    runtime_key("reading_values", "hydrocortisone"),
)

_SEPARATOR = Label("; ", "；")
_ABOUT = Label("{about}: {text}", "{about}：{text}")


def worded(message: Message) -> Label:
    """One message in both languages (a text a facts document gave stays as it was given)."""
    if message.key == GIVEN:
        given = dict(message.fields)["text"]
        return Label(given, given)
    values = {name: texts().get(("reading_values", value), Label(value, value))
              for name, value in message.fields}
    template = label("reading", message.key)
    said = Label(template.en.format(**{k: v.en for k, v in values.items()}),
                 template.zh.format(**{k: v.zh for k, v in values.items()}))
    if message.about is None:
        return said
    return Label(_ABOUT.en.format(about=message.about, text=said.en),
                 _ABOUT.zh.format(about=message.about, text=said.zh))


def joined(messages: tuple[Message, ...]) -> Label:
    """What was assumed, each message once, in both languages."""
    said = [worded(m) for m in dict.fromkeys(messages)]
    return Label(_SEPARATOR.en.join(s.en for s in said), _SEPARATOR.zh.join(s.zh for s in said))


def text(messages: tuple[Message, ...], lang: str) -> str:
    return joined(messages).text(lang)


def english(messages: tuple[Message, ...]) -> str:
    """The assessment document's wording (``vte_rules.report.render``'s ``word``)."""
    return joined(messages).en
