"""Checks on draft orders, shared by vte-order-select and vte-order-sign.

The chart is mapped with the drafts counted as the regimen about to start, so the scores reflect
what the clinician is ordering. Each check is one card:

- an IMiD (or high-dose dexamethasone) regimen with no anticoagulant: the tier's prophylaxis
  (MM-T5-27, MM-RX-01..04);
- aspirin for high or very high risk: the tier's options, and removing the draft (MM-RX-01);
- rivaroxaban with eGFR < 30 (critical), LMWH with eGFR < 30 (ADJ-02);
- any anticoagulant with high bleeding risk (MM-RX-06, BLEED-15) or platelets < 50 (ADJ-04);
- a vena cava filter for calf muscular vein thrombosis (CMVT-09);
- a treatment dose that matches none of the consensus regimens (TRT-02..04).

Draft orders that concern none of these get no card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from hooks import cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, msg, orders
from hooks.chart import ANTICOAGULANTS, IMIDS, Chart, Use
from vte_rules import bleeding, cmvt, prophylaxis, treatment
from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.prophylaxis import ProphylaxisAssessment
from vte_rules.regimens import DRUG_REGIMENS
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


def _pts(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _fill(template: str, **fields: Label) -> Label:
    """A message whose fields are themselves bilingual."""
    return Label(msg("order", template, **{k: v.en for k, v in fields.items()}).en,
                 msg("order", template, **{k: v.zh for k, v in fields.items()}).zh)


def _plain(value: str) -> Label:
    return Label(value, value)


def _options_label(pa: ProphylaxisAssessment) -> Label:
    names = [msg("short", o.regimen.value) for o in pa.recommendation.options]
    return Label(", ".join(n.en for n in names), "、".join(n.zh for n in names))


def _tier_suggestions(uuid: str, pa: ProphylaxisAssessment, request: HookRequest,
                      facts: PatientFacts, replace: Iterable[str] = ()) -> list[dict[str, Any]]:
    out = []
    for i, opt in enumerate(pa.recommendation.options):
        if opt.regimen not in DRUG_REGIMENS:
            continue
        resource = suggestions.medication_request(opt, request.patient_id, facts, request.lang)
        if resource is None:
            continue
        label = suggestions.order_label(opt, facts)
        suggestion = suggestions.create(uuid, label, resource, request.lang, recommended=i == 0)
        for ref in filter(suggestions.deletable, replace):
            suggestion["actions"].append({"type": "delete", "description": msg(
                "labels", "delete_draft").text(request.lang), "resourceId": [ref]})
        out.append(suggestion)
    return out


def _card(kind: str, request: HookRequest, label: Label, indicator: str, detail: list[str],
          source: str, links: Links, offered: list[dict[str, Any]],
          extension: dict[str, Any], *parts: str) -> dict[str, Any]:
    uuid = card_uuid(kind, request.hook_instance, *parts)
    for i, s in enumerate(offered):  # suggestion uuids belong to this card
        s["uuid"] = suggestions.suggestion_uuid(uuid, f"{i}|{s['label']}")
    return cards.card(uuid, label, indicator, detail, source, kind, request.lang, links,
                      offered, {"vte-cds": {"kind": kind, **extension}})


def _drafts(chart: Chart, concepts: frozenset[str] | set[str]) -> list[Use]:
    return [u for u in chart.medications if u.draft and set(u.concepts) & concepts]


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
    offered = _tier_suggestions(uuid_seed, pa, request, facts)
    label = _fill("imid_no_prophylaxis", drug=_plain(drug.text or drug.concepts[0]),
                  tier=msg("tiers", pa.vte.category), points=_plain(_pts(pa.vte.points)))
    detail = [*cards.score_section("mm_vte", pa.vte, request.lang), "",
              *cards.recommendation_section(pa.recommendation, request.lang)]
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
                                pa, request, facts, refs)
    label = _fill("aspirin_high_risk", tier=msg("tiers", pa.vte.category),
                  points=_plain(_pts(pa.vte.points)), options=_options_label(pa))
    detail = [*cards.score_section("mm_vte", pa.vte, request.lang), "",
              *cards.recommendation_section(pa.recommendation, request.lang)]
    return _card("order-aspirin-high-risk", request, label, "warning", detail, "mm", links,
                 offered, {"mm_vte": score_brief(pa.vte)})


def _renal(request: HookRequest, chart: Chart, facts: PatientFacts,
           links: Links) -> list[dict[str, Any]]:
    egfr = facts.number("egfr")
    severe = load_table("adjustments").row("ADJ-02")
    if egfr is None or not severe.criterion.within(egfr):
        return []
    out = []
    riva = _drafts(chart, {"rivaroxaban"})
    lmwh = _drafts(chart, {"enoxaparin", "dalteparin", "nadroparin", "lmwh"})
    lang = request.lang
    evidence = ", ".join(facts["egfr"].evidence)
    if riva:
        detail = [severe.extra["rivaroxaban_ruled_out"][lang[:2]], f"eGFR: {_pts(egfr)} "
                  f"({evidence})", severe.extra["lmwh_caution"][lang[:2]]]
        offered = [suggestions.delete_draft("", u.reference, lang) for u in riva
                   if suggestions.deletable(u.reference)]
        out.append(_card("order-renal", request, _fill("rivaroxaban_gfr", egfr=_plain(
            _pts(egfr))), "critical", detail, "mm_adjustments", links, offered,
            {"rule": "ADJ-02"}, "rivaroxaban"))
    if lmwh:
        detail = [severe.extra["lmwh_caution"][lang[:2]], f"eGFR: {_pts(egfr)} ({evidence})"]
        out.append(_card("order-renal", request, _fill("lmwh_gfr", egfr=_plain(_pts(egfr))),
                         "warning", detail, "mm_adjustments", links, [], {"rule": "ADJ-02"},
                         "lmwh"))
    return out


def _bleeding(request: HookRequest, chart: Chart, facts: PatientFacts,
              links: Links) -> dict[str, Any] | None:
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
    score = bleeding.assess(facts)
    if score.category != "high":
        return None
    detail = cards.score_section("bleeding", score, lang)
    return _card("order-bleeding", request, _fill("anticoagulant_bleeding", points=_plain(
        _pts(score.points))), "warning", detail, "mm", links, [],
        {"bleeding": score_brief(score)}, "score")


def _filter(request: HookRequest, chart: OrderChart, facts: PatientFacts,
            links: Links) -> dict[str, Any] | None:
    filters = [s for s in chart.services if "ivc_filter" in s.concepts]
    if not filters or facts.flag("cmvt") is not True:
        return None
    advice = cmvt.assess(facts).filter_advice
    detail = [f"{advice.label.text(request.lang)} ({advice.rule})"]
    offered = [suggestions.delete_draft("", s.reference, request.lang) for s in filters
               if suggestions.deletable(s.reference)]
    return _card("order-filter-cmvt", request, msg("order", "filter_cmvt"), "warning", detail,
                 "cmvt", links, offered, {"rule": "CMVT-09"})


def _phase_matches(use: Use, phases: Sequence[treatment.Phase]) -> bool | None:
    mg = getattr(use, "dose_mg", None)
    per_day = getattr(use, "doses_per_day", None)
    if mg is None or per_day is None:
        return None
    for phase in phases:
        amount = phase.computed_amount if phase.per_kg else phase.amount
        if amount is None:
            return True  # warfarin: titrated to INR, nothing to compare
        allowance = float(orders()["dose_check"]["weight_based_relative_tolerance"])
        tolerance = allowance * amount if phase.per_kg else 0.0
        if abs(mg - amount) <= tolerance and per_day == phase.doses_per_day:
            return True
    return False


def _treatment_dose(request: HookRequest, chart: Chart, facts: PatientFacts,
                    links: Links) -> dict[str, Any] | None:
    if facts.flag("multiple_myeloma") is not True:
        return None
    plan = treatment.assess(facts)
    if not plan.applicable:
        return None
    for use in _drafts(chart, ANTICOAGULANTS):
        for regimen, phases in plan.phases.items():
            drugs = {p.drug for p in phases}
            if not drugs & set(use.concepts) or _phase_matches(use, phases) is not False:
                continue
            expected = Label("; ".join(p.label.en for p in phases),
                             "；".join(p.label.zh for p in phases))
            label = _fill("treatment_dose", drug=_plain(use.text or use.concepts[0]),
                          expected=expected)
            detail = [*cards.recommendation_section(plan.recommendation, request.lang)]
            return _card("order-treatment-dose", request, label, "warning", detail,
                         "mm_treatment", links, [], {"regimen": regimen.value,
                                                     "rules": [p.rule for p in phases]})
    return None


def check(request: HookRequest, chart: OrderChart, links: Links) -> list[dict[str, Any]]:
    """Every card the draft orders call for (possibly none)."""
    facts = derive(chart.facts)
    found: list[dict[str, Any] | None] = []
    if facts.flag("multiple_myeloma") is True:
        full = prophylaxis.assess(facts)
        found += [_imid_without_prophylaxis(request, chart, facts, full, links),
                  _aspirin_high_risk(request, chart, facts, full, links),
                  _treatment_dose(request, chart, facts, links)]
    found += _renal(request, chart, facts, links)
    found += [_bleeding(request, chart, facts, links), _filter(request, chart, facts, links)]
    return [c for c in found if c is not None]
