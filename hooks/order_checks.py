"""Checks on draft orders, shared by vte-order-select and vte-order-sign.

The chart is mapped with the drafts counted as the regimen about to start, so the scores reflect
what the clinician is ordering. Each check is one card:

- an IMiD (or high-dose dexamethasone) regimen with no anticoagulant: the tier's prophylaxis
  (MM-T5-27, MM-RX-01..04);
- aspirin for high or very high risk: the tier's options, and removing the draft (MM-RX-01);
- rivaroxaban with eGFR < 30 (critical), LMWH with eGFR < 30 (ADJ-02);
- any anticoagulant with high bleeding risk (MM-RX-06, BLEED-15) or platelets < 50 (ADJ-04);
- a vena cava filter for calf muscular vein thrombosis (CMVT-09);
- a treatment dose that matches none of the consensus regimens (TRT-02..04);
- a drug the assessment rules out for this patient (warfarin at very high risk, any
  anticoagulant where the CMVT plan rules anticoagulation out, a drug for a child): the order
  check asks the assessment, it keeps no list of its own;
- a treatment dose with no VTE (or other indication) on record.

No check offers a second antithrombotic to a patient already on one.

Draft orders that concern none of these get no card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from hooks import brief, plan_checks, suggestions
from hooks.base import HookRequest, Links, card_uuid, msg, orders
from hooks.chart import (
    ANTICOAGULANTS,
    ANTIPLATELETS,
    IMIDS,
    LMWHS,
    PARENTERAL_ANTICOAGULANTS,
    REGIMENS_OF,
    Chart,
    Use,
    assess_chart,
    current_anticoagulants,
)
from hooks.order_cards import drafts as _drafts
from hooks.order_cards import drug_name, update_dose
from hooks.order_cards import fill as _fill
from hooks.order_cards import make_card as _card
from hooks.order_cards import plain as _plain
from hooks.order_cards import pts as _pts
from vte_rules import treatment
from vte_rules.assessment import Assessment
from vte_rules.facts import PatientFacts
from vte_rules.prophylaxis import ProphylaxisAssessment
from vte_rules.regimens import DRUG_REGIMENS, Regimen
from vte_rules.report import recommendation_brief, score_brief
from vte_rules.tables import Label, load_table

HIGH_TIERS = ("high", "very_high")


class DraftService(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def concepts(self) -> tuple[str, ...]: ...


class OrderChart(Chart, Protocol):
    @property
    def services(self) -> Sequence[DraftService]: ...


def _options_label(pa: ProphylaxisAssessment) -> Label:
    names = [msg("short", o.regimen.value) for o in pa.recommendation.options]
    return Label(", ".join(n.en for n in names), "、".join(n.zh for n in names))


def _tier_suggestions(uuid: str, pa: ProphylaxisAssessment, request: HookRequest,
                      facts: PatientFacts, replace: Iterable[str] = (),
                      chart: Chart | None = None) -> list[dict[str, Any]]:
    if chart is not None and current_anticoagulants(chart):
        return []  # never a second antithrombotic on top of one already given
    out = []
    for i, opt in enumerate(pa.recommendation.options):
        if opt.regimen not in DRUG_REGIMENS:
            continue
        resource = suggestions.medication_request(opt, request.patient_id, facts, request.lang)
        if resource is None or not opt.orderable:
            continue  # the guideline gives no dose to order
        label = suggestions.order_label(opt, facts)
        suggestion = suggestions.create(uuid, label, resource, request.lang, recommended=i == 0)
        for ref in filter(suggestions.deletable, replace):
            suggestion["actions"].append({"type": "delete", "description": msg(
                "labels", "delete_draft").text(request.lang), "resourceId": ref})
        out.append(suggestion)
    return out


def _tier_brief(pa: ProphylaxisAssessment, lang: str) -> list[str]:
    """The tier with the items that decided it, the tier's options, the bleeding line: the
    score tables are behind the card's link."""
    rec = pa.recommendation
    first = brief.first_option(rec) or msg("short", rec.regimen.value)
    return brief.detail(
        brief.score_tier(msg("tiers", pa.vte.category), pa.vte, "mm_vte", lang),
        brief.action(first, [msg("short", o.regimen.value) for o in rec.options[1:]], lang),
        brief.bullets(c.text(lang) for o in rec.options for c in o.cautions),
        brief.bleeding(pa.bleeding.category, pa.bleeding, lang))


def _imid_without_prophylaxis(request: HookRequest, chart: Chart, facts: PatientFacts,
                              pa: ProphylaxisAssessment, links: Links) -> dict[str, Any] | None:
    started = _drafts(chart, IMIDS)
    high_dex = _drafts(chart, {"dexamethasone"}) if pa.vte.category in HIGH_TIERS else []
    if not (started or high_dex) or pa.vte.category == "none":
        return None
    if any(set(u.concepts) & ANTICOAGULANTS for u in chart.medications):
        return None
    drug = (started or high_dex)[0]
    uuid_seed = card_uuid("order-imid-no-prophylaxis", request.hook_instance)
    offered = _tier_suggestions(uuid_seed, pa, request, facts, chart=chart)
    label = _fill("imid_no_prophylaxis", drug=_plain(drug.text or drug.concepts[0]),
                  tier=msg("tiers", pa.vte.category), points=_plain(_pts(pa.vte.points)))
    detail = _tier_brief(pa, request.lang)
    return _card("order-imid-no-prophylaxis", request, label,
                 "warning" if pa.vte.category in HIGH_TIERS else "info", detail, "mm", links,
                 offered, {"mm_vte": score_brief(pa.vte),
                           "recommendation": recommendation_brief(pa.recommendation)})


def _aspirin_high_risk(request: HookRequest, chart: Chart, facts: PatientFacts,
                       pa: ProphylaxisAssessment, links: Links) -> dict[str, Any] | None:
    aspirin = _drafts(chart, {"aspirin"})
    if not aspirin or pa.vte.category not in HIGH_TIERS:
        return None
    refs = [u.reference for u in aspirin]
    offered = _tier_suggestions(card_uuid("order-aspirin-high-risk", request.hook_instance),
                                pa, request, facts, refs, chart)
    label = _fill("aspirin_high_risk", tier=msg("tiers", pa.vte.category),
                  points=_plain(_pts(pa.vte.points)), options=_options_label(pa))
    detail = _tier_brief(pa, request.lang)
    return _card("order-aspirin-high-risk", request, label, "warning", detail, "mm", links,
                 offered, {"mm_vte": score_brief(pa.vte)})


def _renal(request: HookRequest, chart: Chart, facts: PatientFacts,
           links: Links) -> list[dict[str, Any]]:
    egfr = facts.number("egfr")
    severe = load_table("adjustments").row("ADJ-02")
    out = []
    riva = _drafts(chart, {"rivaroxaban"})
    lmwh = _drafts(chart, LMWHS)
    lang = request.lang
    if egfr is None and (riva or lmwh):
        detail = [severe.extra["unknown"][lang[:2]]]
        names = Label(", ".join(drug_name(u).en for u in riva + lmwh),
                      "、".join(drug_name(u).zh for u in riva + lmwh))
        return [_card("order-renal", request, _fill("renal_unknown", drugs=names), "info",
                      detail, "mm_adjustments", links, [], {"rule": "ADJ-02"}, "unknown")]
    if egfr is None or not severe.criterion.within(egfr):
        return []
    evidence = ", ".join(facts["egfr"].evidence)
    if riva:
        detail = brief.detail([f"{severe.extra['rivaroxaban_ruled_out'][lang[:2]]} (ADJ-02)"],
                              [f"eGFR {_pts(egfr)} ({evidence})"],
                              [msg("order", "renal_alternative", caution=severe.extra[
                                  "lmwh_caution"][lang[:2]]).text(lang)])
        offered = [suggestions.delete_draft("", u.reference, lang) for u in riva
                   if suggestions.deletable(u.reference)]
        out.append(_card("order-renal", request, _fill("rivaroxaban_gfr", egfr=_plain(
            _pts(egfr))), "critical", detail, "mm_adjustments", links, offered,
            {"rule": "ADJ-02"}, "rivaroxaban"))
    if lmwh:
        detail = brief.detail([f"{severe.extra['lmwh_caution'][lang[:2]]} (ADJ-02)"],
                              [f"eGFR {_pts(egfr)} ({evidence})"])
        out.append(_card("order-renal", request, _fill("lmwh_gfr", egfr=_plain(_pts(egfr))),
                         "warning", detail, "mm_adjustments", links, [], {"rule": "ADJ-02"},
                         "lmwh"))
    return out


def _bleeding(request: HookRequest, chart: Chart, found: Assessment,
              links: Links) -> dict[str, Any] | None:
    facts = found.facts
    drafts = _drafts(chart, ANTICOAGULANTS)
    if not drafts:
        return None
    platelets = facts.number("platelets")
    low = load_table("adjustments").row("ADJ-04")
    lang = request.lang
    if platelets is not None and low.criterion.within(platelets):
        detail = [low.extra["individualise"][lang[:2]],
                  f"{_pts(platelets)} x10^9/L ({', '.join(facts['platelets'].evidence)})"]
        return _card("order-bleeding", request, _fill("anticoagulant_platelets", platelets=
                     _plain(_pts(platelets))), "critical", detail, "mm_adjustments", links, [],
                     {"rule": "ADJ-04"}, "platelets")
    score = found.bleeding
    if score.category != "high":
        return None
    detail = brief.detail(brief.score_tier(msg("risk_words", "high"), score, "bleeding", lang),
                          [msg("order", "bleeding_hold").text(lang)])
    return _card("order-bleeding", request, _fill("anticoagulant_bleeding", points=_plain(
        _pts(score.points))), "warning", detail, "mm", links, [],
        {"bleeding": score_brief(score)}, "score")


def _filter(request: HookRequest, chart: OrderChart, found: Assessment,
            links: Links) -> dict[str, Any] | None:
    filters = [s for s in chart.services if "ivc_filter" in s.concepts]
    if not filters or found.cmvt is None:
        return None
    advice = found.cmvt.filter_advice
    detail = [f"{advice.label.text(request.lang)} ({advice.rule})"]
    offered = [suggestions.delete_draft("", s.reference, request.lang) for s in filters
               if suggestions.deletable(s.reference)]
    return _card("order-filter-cmvt", request, msg("order", "filter_cmvt"), "warning", detail,
                 "cmvt", links, offered, {"rule": "CMVT-09"})


def _phase_matches(use: Use, phases: Sequence[treatment.Phase]) -> bool | None:
    """Whether the draft's dose is one of the phases' doses; None when it cannot be told (no
    readable dose, or a per-kg dose with no weight on record)."""
    mg = getattr(use, "dose_mg", None)
    per_day = getattr(use, "doses_per_day", None)
    if mg is None or per_day is None:
        return None
    unknown = False
    for phase in phases:
        if phase.per_kg and phase.computed_amount is None:
            unknown = True  # 1 mg/kg with no weight: this phase cannot be compared
            continue
        amount = phase.computed_amount if phase.per_kg else phase.amount
        if amount is None:
            return True  # warfarin: titrated to INR, nothing to compare
        allowance = float(orders()["dose_check"]["weight_based_relative_tolerance"])
        tolerance = allowance * amount if phase.per_kg else 0.0
        if abs(mg - amount) <= tolerance and per_day == phase.doses_per_day:
            return True
    return None if unknown else False


def _days_since_index(facts: Any) -> int | None:
    """Days since the index DVT/PE was diagnosed (the earliest dated one), or None."""
    dates = [facts[name].date for name in ("acute_dvt", "acute_pe")
             if facts.flag(name) is True and facts[name].date is not None]
    if not dates or facts.as_of is None:
        return None
    return int((facts.as_of - min(dates)).days)


def _phase_now(phases: Sequence[treatment.Phase], day: int | None) -> treatment.Phase | None:
    """The phase of one drug that applies ``day`` days into treatment (None: cannot tell)."""
    if day is None:
        return None
    start = 0
    for phase in sorted(phases, key=lambda p: p.step):
        if phase.duration_days is None or day < start + phase.duration_days:
            return phase
        start += phase.duration_days
    return None


def _treatment_dose(request: HookRequest, chart: Chart, found: Assessment,
                    links: Links) -> dict[str, Any] | None:
    plan = found.treatment
    if plan is None or not plan.applicable:
        return None
    day = _days_since_index(found.facts)
    for use in _drafts(chart, ANTICOAGULANTS):
        for regimen, phases in plan.phases.items():
            mine = [p for p in phases if p.drug in use.concepts]
            if not mine:
                continue
            matches = _phase_matches(use, mine)
            if matches is None and any(p.per_kg and p.computed_amount is None for p in mine):
                return _card("order-dose-weight", request, _fill(
                    "weight_unknown", drug=drug_name(use)), "warning",
                    [msg("order", "weight_unknown_detail").text(request.lang)],
                    "mm_treatment", links, [], {"regimen": regimen.value,
                                                "rules": [p.rule for p in phases]},
                    use.reference, "weight")
            now = _phase_now(mine, day)
            if matches is True and now is not None and _phase_matches(use, [now]) is False:
                matches = False  # a later phase's dose drafted too early (TRT-02: 15 mg bid first)
            if matches is not False:
                continue
            first = now or mine[0]
            expected = first.label  # the phase due now; every phase of the drug is in the detail
            label = _fill("treatment_dose", drug=drug_name(use), expected=expected)
            detail = brief.detail(brief.bullets(
                p.label.text(request.lang) for p in phases if p.drug in use.concepts))
            if now is not None and day is not None:
                detail.insert(0, msg("order", "treatment_day", day=str(day),
                                     phase=first.label.text(request.lang)).text(request.lang))
                detail.insert(1, "")
            amount = first.computed_amount if first.per_kg else first.amount
            offered = []
            product = orders()["treatment"].get(first.drug)
            if amount is not None and first.doses_per_day and product is not None:
                text = first.computed if first.per_kg and first.computed else first.label
                update = update_dose(request, use, amount, first.doses_per_day, text,
                                     product["coding"])
                offered = [update] if update else []
            return _card("order-treatment-dose", request, label, "warning", detail,
                         "mm_treatment", links, offered, {"regimen": regimen.value,
                                                          "rules": [p.rule for p in phases]})
    return None


def _lead_in_ends_at_inr() -> float:
    """The INR at which TRT-04's LMWH lead-in may end: ``until_inr_at_least`` of the warfarin
    option's phases in ``vte_rules/tables/treatment.toml`` (the lowest, should they differ)."""
    table = load_table("treatment").data
    phases = [table["phases"][key] for key in table["options"][Regimen.WARFARIN.value]["phases"]]
    return min(float(p["until_inr_at_least"]) for p in phases if "until_inr_at_least" in p)


def _warfarin_without_lead_in(request: HookRequest, chart: Chart, found: Assessment,
                              links: Links) -> dict[str, Any] | None:
    """TRT-04: warfarin for an MM-related DVT/PE starts under LMWH (at least 5 days, until the
    INR reaches the table's ``until_inr_at_least``). A warfarin draft with no LMWH or heparin
    running or drafted, and the patient not already on warfarin, draws a card."""
    plan = found.treatment
    if plan is None or not plan.applicable:
        return None
    drafted = _drafts(chart, {"warfarin"})
    if not drafted:
        return None
    running = {c for u in chart.medications for c in u.concepts}
    if running & PARENTERAL_ANTICOAGULANTS or [u for u in current_anticoagulants(chart)
                                               if set(u.concepts) - ANTIPLATELETS]:
        return None  # under LMWH or heparin; or a switch from another anticoagulant (DUR-02)
    inr = found.facts.number("inr")
    if inr is not None and inr >= _lead_in_ends_at_inr():
        return None  # already in range (e.g. warfarin given elsewhere): nothing to bridge
    detail = [msg("order", "warfarin_lead_in_detail").text(request.lang)]
    return _card("order-warfarin-lead-in", request, _fill("warfarin_lead_in", drug=drug_name(
        drafted[0])), "warning", detail, "mm_treatment", links, [], {"rule": "TRT-04"})


def _regimens_of(use: Use) -> set[Regimen]:
    """The regimens a drafted drug can fulfil; any anticoagulant fulfils "anticoagulation"."""
    names = {r for c in use.concepts for r in REGIMENS_OF.get(c, set())}
    if set(use.concepts) & (ANTICOAGULANTS - ANTIPLATELETS):
        names.add(Regimen.ANTICOAGULATION.value)
    return {Regimen(n) for n in names}


# Reasons another card already gives: eGFR < 30 (order-renal), platelets < 50 and a bleeding
# hold (order-bleeding).
_SAID_ELSEWHERE = frozenset({"ADJ-02", "ADJ-04", "MM-RX-06"})


def _ruled_out(request: HookRequest, chart: Chart, found: Assessment, links: Links,
               skip: set[str]) -> list[dict[str, Any]]:
    """A drafted drug that the assessment rules out and does not recommend in any form."""
    out = []
    for use in _drafts(chart, ANTICOAGULANTS):
        if use.reference in skip:
            continue
        regimens = _regimens_of(use)
        if any(found.recommends(r) for r in regimens):
            continue
        reasons = [r for reg in sorted(regimens) for r in found.ruled_out(reg)
                   if r.rule not in _SAID_ELSEWHERE]
        if not reasons:
            continue
        lang = request.lang
        drug = _plain(use.text or use.concepts[0])
        detail = brief.detail([f"- {r.reason.text(lang)}" + ("" if r.rule in r.reason.en
                                                              else f" ({r.rule})")
                               for r in reasons],
                              brief.bullets(n.text(lang) for n in found.notes))
        offered = ([suggestions.delete_draft("", use.reference, lang)]
                   if suggestions.deletable(use.reference) else [])
        out.append(_card("order-ruled-out", request, _fill("ruled_out_short", drug=drug,
                         rule=_plain(reasons[0].rule)), "warning", detail, "mm", links, offered,
                         {"rules": sorted({r.rule for r in reasons})}, use.reference))
    return out


def _treatment_dose_without_vte(request: HookRequest, chart: Chart, found: Assessment,
                                links: Links) -> list[dict[str, Any]]:
    """A treatment-dose anticoagulant with no VTE, CMVT plan or other indication on record."""
    facts = found.facts
    spec = orders()["treatment_dose"]
    drugs = spec["drugs"]
    if any(facts.flag(f) is True for f in ("acute_dvt", "acute_pe", "cmvt",
                                            "atrial_fibrillation", "mechanical_heart_valve")):
        return []
    out = []
    for use in _drafts(chart, set(drugs)):
        classed, daily = plan_checks.dose_class(use), plan_checks.daily_dose(use)
        if classed is None or daily is None or classed[1] != "therapeutic":
            continue
        if daily[1] != "mg":
            continue  # the card words the limit in mg (MM-RX-03/04 give mg)
        drug = classed[0]
        limit = float(drugs[drug]["prophylactic_max_mg_per_day"])
        mg, per_day = getattr(use, "dose_mg", 0.0), getattr(use, "doses_per_day", 1.0)
        therapeutic = Regimen(drugs[drug]["therapeutic_regimen"])
        if found.recommends(therapeutic):
            continue  # very high myeloma risk: a therapeutic dose is the prophylaxis
        if any(r.rule in _SAID_ELSEWHERE for r in found.ruled_out(therapeutic)):
            continue  # the tier's therapeutic dose, removed for eGFR or platelets: said elsewhere
        rule = str(drugs[drug].get("rule", spec["rule"]))
        detail = [msg("order", "treatment_dose_no_vte_detail", limit=_pts(limit),
                      rule=rule).text(request.lang)]
        out.append(_card("order-dose-no-indication", request, _fill(
            "treatment_dose_no_vte", drug=_plain(use.text or drug),
            dose=_plain(f"{_pts(mg)} mg x {_pts(per_day)}/d")), "warning", detail, "mm", links,
            [], {"rule": rule}, use.reference))
    return out


def check(request: HookRequest, chart: OrderChart, links: Links) -> list[dict[str, Any]]:
    """Every card the draft orders call for (possibly none)."""
    found = assess_chart(chart)
    facts = found.facts
    cards_: list[dict[str, Any] | None] = []
    full = found.prophylaxis
    aspirin = None
    if full is not None:
        aspirin = _aspirin_high_risk(request, chart, facts, full, links)
        cards_ += [_imid_without_prophylaxis(request, chart, facts, full, links), aspirin]
    cards_.append(_treatment_dose(request, chart, found, links))
    cards_.append(_warfarin_without_lead_in(request, chart, found, links))
    cards_ += _renal(request, chart, facts, links)
    cards_ += [_filter(request, chart, found, links)]
    skip = {u.reference for u in _drafts(chart, {"aspirin"})} if aspirin else set()
    bleeding_card = _bleeding(request, chart, found, links)
    cards_.append(bleeding_card)
    if bleeding_card is not None:  # it already says why no anticoagulant now
        skip |= {u.reference for u in _drafts(chart, ANTICOAGULANTS)}
    cards_ += _ruled_out(request, chart, found, links, skip)
    cards_ += _treatment_dose_without_vte(request, chart, found, links)
    cards_ += plan_checks.check(request, chart, found, links)
    return [c for c in cards_ if c is not None]
