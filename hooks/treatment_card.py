"""Treatment of established VTE in a myeloma patient (TRT-01..08).

When: myeloma and an active DVT or PE on the chart.
Then: one card with the first phase of the consensus's first regimen (the others by name:
rivaroxaban, LMWH, warfarin after LMWH), doses from the latest weight, and filter or
reperfusion advice where it applies; duration and the rest are behind the link.
Info when an anticoagulant is already in place, warning otherwise.
"""

from __future__ import annotations

from typing import Any

from hooks import brief, cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, in_language, msg, orders
from hooks.chart import Chart, current_anticoagulants
from vte_rules import report
from vte_rules.assessment import Assessment
from vte_rules.regimens import Regimen
from vte_rules.report import recommendation_brief
from vte_rules.tables import Label, load_table
from vte_rules.treatment import Phase, TreatmentPlan

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
        "dosageInstruction": [dosage]}, ("treatment", phase.drug, dosage["text"],
                                         phase.doses_per_day, amount, phase.unit,
                                         phase.duration_days))


def _what(facts: Any) -> Label:
    dvt, pe = facts.flag("acute_dvt") is True, facts.flag("acute_pe") is True
    return msg("vte_words", "dvt_pe" if dvt and pe else "pe" if pe else "dvt")


_EVENT = {"acute_dvt": "dvt", "acute_pe": "pe"}


def _first_phase(regimen: Regimen) -> Label:
    """A regimen named by its first phase (rivaroxaban starts at 15 mg twice daily)."""
    return Label.of(load_table("treatment").data["options"][regimen.value]["short"])


def _detail(plan: TreatmentPlan, chart: Chart, found: Assessment, lang: str) -> list[str]:
    """The event, the first phase of the first regimen, what must be seen (with a filter or
    reperfusion that applies), bleeding, what could change it; the rest is behind the link."""
    rec = plan.recommendation
    say = in_language(lang)
    events = [say.msg("brief", "event", what=msg("vte_words", _EVENT[e["factor"]]).text(lang),
                      date=e["date"] or "?") for e in report.index_event(found.facts)
              if e["factor"] in _EVENT]
    offered = [o.regimen for o in rec.options if plan.phases.get(o.regimen)]
    if offered:
        phase = plan.phases[offered[0]][0]
        action = brief.action(phase.computed or phase.label,
                              [_first_phase(r) for r in offered[1:]], lang)
    else:
        first = brief.first_option(rec)
        action = brief.action(first or msg("short", rec.regimen.value), [], lang)
    urgent = [a.label for a in (plan.vena_cava_filter, plan.reperfusion)
              if a is not None and a.applies is True]
    must_see = brief.must_see(found, rec, chart, urgent)
    return brief.detail(events, action, brief.bullets(m.text(lang) for m in must_see),
                        brief.bleeding(found.bleeding.category, found.bleeding, lang),
                        brief.could_change(rec.could_change, lang), brief.unread(chart, lang))


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
        label = Label(in_language("en").msg("summary", "treatment_individualise", what=what.en),
                      in_language("zh").msg("summary", "treatment_individualise", what=what.zh))
    else:
        label = Label(in_language("en").msg("summary", "treatment", what=what.en,
                                            options=options.en),
                      in_language("zh").msg("summary", "treatment", what=what.zh,
                                            options=options.zh))
    anticoagulated = bool(current_anticoagulants(chart))
    uuid = card_uuid(KIND, request.hook_instance)
    detail = _detail(plan, chart, found, lang)
    offered: list[dict[str, Any]] = []
    held = {o.regimen for o in rec.options if not o.orderable}
    if not anticoagulated and rec.regimen != Regimen.INDIVIDUALISE:
        for regimen, phases in plan.phases.items():
            if regimen in held:
                continue  # the guideline gives no dose to order (the detail says why)
            order = _first_phase_order(phases[0], request.patient_id, lang) if phases else None
            if order is not None:
                offered.append(suggestions.create(uuid, suggestions.order_words(Label(
                                                  phases[0].label.en, phases[0].label.zh)),
                                                  order, lang, recommended=not offered))
    indicator = "info" if anticoagulated else "warning"
    return cards.card(uuid, label, indicator, detail, "mm_treatment", "vte-treatment", lang,
                      links, offered,
                      {"vte-cds": {"kind": KIND, "recommendation": recommendation_brief(rec)}})
