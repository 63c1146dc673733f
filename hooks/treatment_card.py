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
from vte_rules import treatment
from vte_rules.derive import derive
from vte_rules.regimens import Regimen
from vte_rules.report import recommendation_brief
from vte_rules.tables import Label
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


def build(request: HookRequest, chart: Chart, links: Links) -> dict[str, Any] | None:
    facts = derive(chart.facts)
    if facts.flag("multiple_myeloma") is not True:
        return None
    plan = treatment.assess(facts)
    if not plan.applicable:
        return None
    rec, lang = plan.recommendation, request.lang
    what = _what(facts)
    names = [msg("short", o.regimen.value) for o in rec.options if o.regimen.value in
             ("rivaroxaban-therapeutic", "lmwh-therapeutic", "warfarin")]
    options = Label(", ".join(n.en for n in names), "、".join(n.zh for n in names))
    if rec.regimen == Regimen.INDIVIDUALISE:
        label = Label(msg("summary", "treatment_individualise", what=what.en).en,
                      msg("summary", "treatment_individualise", what=what.zh).zh)
    else:
        label = Label(msg("summary", "treatment", what=what.en, options=options.en).en,
                      msg("summary", "treatment", what=what.zh, options=options.zh).zh)
    anticoagulated = bool(current_anticoagulants(chart))
    uuid = card_uuid(KIND, request.hook_instance)
    detail = [*cards.recommendation_section(rec, lang)]
    for advice in (plan.vena_cava_filter, plan.reperfusion, plan.myeloma_regimen):
        if advice is not None and advice.applies is not False:
            detail.append(f"- {advice.label.text(lang)} ({advice.rule})")
    offered: list[dict[str, Any]] = []
    if not anticoagulated and rec.regimen != Regimen.INDIVIDUALISE:
        for phases in plan.phases.values():
            order = _first_phase_order(phases[0], request.patient_id, lang) if phases else None
            if order is not None:
                offered.append(suggestions.create(uuid, Label(phases[0].label.en,
                                                              phases[0].label.zh),
                                                  order, lang, recommended=not offered))
    indicator = "info" if anticoagulated else "warning"
    return cards.card(uuid, label, indicator, detail, "mm_treatment", "vte-treatment", lang,
                      links, offered,
                      {"vte-cds": {"kind": KIND, "recommendation": recommendation_brief(rec)}})
