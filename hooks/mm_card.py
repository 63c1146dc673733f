"""The myeloma prophylaxis card: VTE tier and what decided it, the regimen, bleeding risk.

When: the chart documents multiple myeloma.
Then: one card. Warning when prophylaxis is due and none is in place; info when the patient is
already anticoagulated, or when the documented score is below the threshold but undocumented
items could raise it. No card when the score is below the threshold whatever the unknown items.
"""

from __future__ import annotations

from typing import Any

from hooks import brief, cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, msg
from hooks.chart import REGIMENS_OF, Chart, Use, current_anticoagulants
from vte_rules.assessment import Assessment
from vte_rules.duration import DurationAdvice
from vte_rules.prophylaxis import ProphylaxisAssessment
from vte_rules.regimens import DRUG_REGIMENS, Regimen
from vte_rules.report import recommendation_brief, score_brief
from vte_rules.tables import Label

KIND = "mm-prophylaxis"


def _pts(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _options(pa: ProphylaxisAssessment) -> Label:
    names = [msg("short", o.regimen.value) for o in pa.recommendation.options]
    return Label(", ".join(n.en for n in names), "、".join(n.zh for n in names))


def _in_place(pa: ProphylaxisAssessment, chart: Chart) -> list[Use]:
    """Current antithrombotics that are among the recommended options (aspirin for a high-risk
    patient is not prophylaxis in place: MM-RX-01)."""
    accepted = {r.value for r in (o.regimen for o in pa.recommendation.options)}
    return [u for u in current_anticoagulants(chart)
            if any(REGIMENS_OF.get(c, set()) & accepted for c in u.concepts)]


def _summary(pa: ProphylaxisAssessment, chart: Chart, dur: DurationAdvice | None,
             on: list[Use]) -> tuple[Label, str]:
    vte, rec = pa.vte, pa.recommendation
    tier = msg("tiers", vte.category)
    points = _pts(vte.points) + ("+" if vte.tier.worst_case != vte.category else "")
    if vte.category == "none":
        return _both(msg("summary", "mm_could_be", points=points, tier="{tier}"),
                     tier=msg("tiers", vte.tier.worst_case)), "info"
    other = [u for u in current_anticoagulants(chart) if "aspirin" not in u.concepts]
    if other and not on:
        drug = other[0].text or other[0].concepts[0]
        return _both(msg("summary", "mm_on_other_antithrombotic", tier="{tier}",
                         points=points, drug=drug), tier=tier), "warning"
    if on and rec.regimen in DRUG_REGIMENS and dur is not None:
        drug = on[0].text or on[0].concepts[0]
        return _both(msg("summary", "mm_on_prophylaxis", tier="{tier}", points=points,
                         drug=drug, next="{next}"),
                     tier=tier, next=msg("duration_short", dur.action)), "info"
    if rec.regimen == Regimen.MECHANICAL:
        held = [h for h in _as_tuple(rec.extra.get("held_because")) if isinstance(h, Label)]
        held = held[:1]  # the first reason; every reason is in the detail (summary < 140)
        why = Label("; ".join(h.en for h in held), "；".join(h.zh for h in held))
        return _both(msg("summary", "mm_hold", points=points, why="{why}", tier="{tier}"),
                     why=why, tier=tier), "warning"
    if rec.regimen == Regimen.INDIVIDUALISE:
        platelets = _pts(chart.facts.number("platelets") or 0)
        return _both(msg("summary", "mm_individualise", points=points, platelets=platelets,
                         tier="{tier}"), tier=tier), "warning"
    indicator = "warning" if vte.category in ("high", "very_high") else "info"
    return _both(msg("summary", "mm", points=points, tier="{tier}", options="{options}"),
                 tier=tier, options=_options(pa)), indicator


def _as_tuple(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else ()


def _both(template: Label, **fields: Label) -> Label:
    """Fill a message's language-specific fields with the matching language of each Label."""
    return Label(template.en.format(**{k: v.en for k, v in fields.items()}),
                 template.zh.format(**{k: v.zh for k, v in fields.items()}))


def _anticoagulated(chart: Chart) -> bool:
    """On an anticoagulant (aspirin alone is the low-tier regimen the card may replace)."""
    return any("aspirin" not in u.concepts for u in current_anticoagulants(chart))


def _suggestions(uuid: str, pa: ProphylaxisAssessment, request: HookRequest, chart: Chart,
                 on: list[Use]) -> list[dict[str, Any]]:
    if on or _anticoagulated(chart) or pa.vte.category == "none":
        return []  # never a second anticoagulant on top of one already given
    out: list[dict[str, Any]] = []
    for opt in pa.recommendation.options:
        if opt.regimen == Regimen.MECHANICAL:
            resource = suggestions.service_request(opt.regimen, request.patient_id,
                                                   request.lang)
        elif opt.regimen in DRUG_REGIMENS:
            found = suggestions.medication_request(opt, request.patient_id, chart.facts,
                                                   request.lang)
            if found is None:
                continue
            resource = found
        else:
            continue
        if not opt.orderable:
            continue  # the guideline gives no dose to order (the detail says why)
        label = suggestions.order_label(opt, chart.facts)
        out.append(suggestions.create(uuid, label, resource, request.lang,
                                      recommended=not out))
    return out


def _detail(pa: ProphylaxisAssessment, chart: Chart, found: Assessment, lang: str,
            on: list[Use]) -> list[str]:
    """Tier and deciding items, action, what must be seen, bleeding, what could change it;
    the score tables, drug notes, ruled-out list and duration are behind the link."""
    rec, dur = pa.recommendation, found.duration
    extra: tuple[Label, ...] = ()
    if on and dur is not None:
        action = brief.action(dur.label, [], lang)  # prophylaxis in place: how long it goes on
        extra = dur.notes
    else:
        action = brief.action(brief.first_option(rec) or msg("short", rec.regimen.value),
                              [msg("short", o.regimen.value) for o in rec.options[1:]], lang)
    must_see = brief.must_see(found, rec, chart, extra)
    return brief.detail(
        brief.score_tier(msg("tiers", pa.vte.category), pa.vte, "mm_vte", lang), action,
        brief.bullets(m.text(lang) for m in must_see),
        brief.bleeding(pa.bleeding.category, pa.bleeding, lang),
        brief.could_change(rec.could_change, lang), brief.unread(chart, lang))


def build(request: HookRequest, chart: Chart, links: Links,
          found: Assessment) -> dict[str, Any] | None:
    pa = found.prophylaxis  # None without myeloma, or with an index VTE (treatment card)
    if pa is None:
        return None
    if pa.vte.category == "none" and pa.vte.tier.worst_case == "none":
        return None
    lang = request.lang
    dur = found.duration
    uuid = card_uuid(KIND, request.hook_instance)
    on = _in_place(pa, chart)
    label, indicator = _summary(pa, chart, dur, on)
    detail = _detail(pa, chart, found, lang, on)
    extension = {"vte-cds": {"kind": KIND, "scores": {"mm_vte": score_brief(pa.vte),
                                                      "bleeding": score_brief(pa.bleeding)},
                             "recommendation": recommendation_brief(pa.recommendation),
                             "duration": {"action": dur.action, "rules": list(dur.rules)}
                             if dur else None}}
    return cards.card(uuid, label, indicator, detail, "mm", "mm-prophylaxis", lang, links,
                      _suggestions(uuid, pa, request, chart, on), extension)
