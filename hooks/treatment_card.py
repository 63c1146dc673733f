"""Treatment of established VTE in a myeloma patient (TRT-01..08).

When: myeloma and an active DVT or PE on the chart.
Then: one card with the regimens of the consensus (rivaroxaban, LMWH, warfarin after LMWH),
doses from the latest weight, the duration, and filter or reperfusion advice where it applies.
Info when an anticoagulant is already in place, warning otherwise.
"""

from __future__ import annotations

from typing import Any

from hooks import cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, msg, orders
from hooks.chart import Chart, current_anticoagulants
from vte_rules.assessment import Assessment
from vte_rules.regimens import Regimen
from vte_rules.report import recommendation_brief
from vte_rules.tables import Label, load_table
from vte_rules.treatment import Phase

KIND = "vte-treatment"
UCUM = "http://unitsofmeasure.org"


def _first_phase_order(phase: Phase, patient_id: str, lang: str) -> dict[str, Any] | None:
    spec = orders()["treatment"].get(phase.drug)
    amount = phase.computed_amount if phase.per_kg else phase.amount
    if spec is None or amount is None or phase.unit is None:
        return None
    dosage: dict[str, Any] = {
        "text": (phase.computed or phase.label).text(lang),
        "timing": {"repeat": {"frequency": phase.doses_per_day or 1, "period": 1,
                              "periodUnit": "d"}},
        "route": {"coding": [dict(orders()["routes"][spec["route"]])]},
        "doseAndRate": [{"doseQuantity": {"value": amount, "unit": phase.unit, "system": UCUM,
                                          "code": phase.unit}}]}
    if phase.duration_days:
        dosage["timing"]["repeat"]["boundsDuration"] = {
            "value": phase.duration_days, "unit": "d", "system": UCUM, "code": "d"}
    return suggestions.checked({
        "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"coding": [dict(spec["coding"])],
                                      "text": spec["coding"]["display"]},
        "dosageInstruction": [dosage]})


def _what(facts: Any) -> Label:
    dvt, pe = facts.flag("acute_dvt") is True, facts.flag("acute_pe") is True
    return msg("vte_words", "dvt_pe" if dvt and pe else "pe" if pe else "dvt")


def _first_phase(regimen: Regimen) -> Label:
    """A regimen named by its first phase (rivaroxaban starts at 15 mg twice daily)."""
    return Label.of(load_table("treatment").data["options"][regimen.value]["short"])


def build(request: HookRequest, chart: Chart, links: Links,
          found: Assessment) -> dict[str, Any] | None:
    plan = found.treatment
    if plan is None or not plan.applicable:
        return None
    facts = found.facts
    rec, lang = plan.recommendation, request.lang
    what = _what(facts)
    names = [_first_phase(o.regimen) for o in rec.options if o.regimen.value in
             ("rivaroxaban-therapeutic", "lmwh-therapeutic", "warfarin")]
    options = Label(" / ".join(n.en for n in names), "；".join(n.zh for n in names))
    if rec.regimen == Regimen.INDIVIDUALISE:
        label = Label(msg("summary", "treatment_individualise", what=what.en).en,
                      msg("summary", "treatment_individualise", what=what.zh).zh)
    else:
        label = Label(msg("summary", "treatment", what=what.en, options=options.en).en,
                      msg("summary", "treatment", what=what.zh, options=options.zh).zh)
    anticoagulated = bool(current_anticoagulants(chart))
    uuid = card_uuid(KIND, request.hook_instance)
    detail = [*cards.index_event(facts, lang), *[f"- {n.text(lang)}" for n in found.notes],
              *cards.recommendation_section(rec, lang)]
    for advice in (plan.vena_cava_filter, plan.reperfusion, plan.myeloma_regimen):
        if advice is not None and advice.applies is not False:
            detail.append(f"- {advice.label.text(lang)} ({advice.rule})")
    offered: list[dict[str, Any]] = []
    held = {o.regimen for o in rec.options if not o.orderable}
    if not anticoagulated:
        detail += cards.not_orderable(rec, lang)
    if not anticoagulated and rec.regimen != Regimen.INDIVIDUALISE:
        for regimen, phases in plan.phases.items():
            if regimen in held:
                continue  # the guideline gives no dose to order (the detail says why)
            order = _first_phase_order(phases[0], request.patient_id, lang) if phases else None
            if order is not None:
                offered.append(suggestions.create(uuid, Label(phases[0].label.en,
                                                              phases[0].label.zh),
                                                  order, lang, recommended=not offered))
    indicator = "info" if anticoagulated else "warning"
    return cards.card(uuid, label, indicator, detail, "mm_treatment", "vte-treatment", lang,
                      links, offered,
                      {"vte-cds": {"kind": KIND, "recommendation": recommendation_brief(rec)}})
