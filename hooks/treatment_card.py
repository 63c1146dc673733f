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


def _index(facts: Any, lang: str) -> list[str]:
    """The index event the card is about: which entry, since when."""
    out = []
    for name in ("acute_dvt", "acute_pe"):
        fact = facts[name]
        if fact.value is True:
            when = fact.date.isoformat() if fact.date else "?"
            out.append(msg("detail", "index_event", what=msg("vte_words", {
                "acute_dvt": "dvt", "acute_pe": "pe"}[name]).text(lang),
                evidence=", ".join(fact.evidence), date=when).text(lang))
    return [*out, ""] if out else []


def _what(facts: Any) -> Label:
    dvt, pe = facts.flag("acute_dvt") is True, facts.flag("acute_pe") is True
    return msg("vte_words", "dvt_pe" if dvt and pe else "pe" if pe else "dvt")


def _first_phase(plan: Any, regimen: Regimen) -> Label:
    """A regimen is named by its first phase (rivaroxaban starts at 15 mg twice daily)."""
    phases = plan.phases.get(regimen) or ()
    return phases[0].label if phases else msg("short", regimen.value)


def build(request: HookRequest, chart: Chart, links: Links,
          found: Assessment) -> dict[str, Any] | None:
    plan = found.treatment
    if plan is None or not plan.applicable:
        return None
    facts = found.facts
    rec, lang = plan.recommendation, request.lang
    what = _what(facts)
    names = [_first_phase(plan, o.regimen) for o in rec.options if o.regimen.value in
             ("rivaroxaban-therapeutic", "lmwh-therapeutic", "warfarin")]
    options = Label(", ".join(n.en for n in names), "；".join(n.zh for n in names))
    if rec.regimen == Regimen.INDIVIDUALISE:
        label = Label(msg("summary", "treatment_individualise", what=what.en).en,
                      msg("summary", "treatment_individualise", what=what.zh).zh)
    else:
        label = Label(msg("summary", "treatment", what=what.en, options=options.en).en,
                      msg("summary", "treatment", what=what.zh, options=options.zh).zh)
    anticoagulated = bool(current_anticoagulants(chart))
    uuid = card_uuid(KIND, request.hook_instance)
    detail = [*_index(facts, lang), *[f"- {n.text(lang)}" for n in found.notes],
              *cards.recommendation_section(rec, lang)]
    for advice in (plan.vena_cava_filter, plan.reperfusion, plan.myeloma_regimen):
        if advice is not None and advice.applies is not False:
            detail.append(f"- {advice.label.text(lang)} ({advice.rule})")
    offered: list[dict[str, Any]] = []
    renal = [o.regimen for o in rec.options if "ADJ-02" in o.rules]
    if renal and not anticoagulated:
        no_order = load_table("adjustments").row("ADJ-02").extra["no_order"]
        detail.append(f"- {Label.of(no_order).text(lang)}")
    platelets = facts.number("platelets")
    low_platelets = load_table("adjustments").row("ADJ-04")
    if platelets is not None and low_platelets.criterion.within(platelets):
        # ADJ-04 (platelets < 50): individualise; the consensus gives no dose, so no one-click
        # order (this service applies the prophylaxis adjustment to treatment too)
        detail.append(f"- {Label.of(low_platelets.extra['individualise']).text(lang)} (ADJ-04)")
        anticoagulated = True
    if not anticoagulated and rec.regimen != Regimen.INDIVIDUALISE:
        for regimen, phases in plan.phases.items():
            if regimen in renal:
                continue  # no standard-dose LMWH (or LMWH bridge) with GFR < 30 (ADJ-02)
            order = _first_phase_order(phases[0], request.patient_id, lang) if phases else None
            if order is not None:
                offered.append(suggestions.create(uuid, Label(phases[0].label.en,
                                                              phases[0].label.zh),
                                                  order, lang, recommended=not offered))
    indicator = "info" if current_anticoagulants(chart) else "warning"
    return cards.card(uuid, label, indicator, detail, "mm_treatment", "vte-treatment", lang,
                      links, offered,
                      {"vte-cds": {"kind": KIND, "recommendation": recommendation_brief(rec)}})
