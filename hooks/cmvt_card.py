"""The calf muscular vein thrombosis card.

When: the chart documents CMVT.
Then: one card with the extension risk first (CMVT-01), the recommendation, and one-click
surveillance scans at the days the table proposes (CMVT-04) or compression (CMVT-07/08).
Warning when anticoagulation is advised and none is in place, or bleeding risk is high; info for
surveillance. The filter advice (CMVT-09), the cited durations and the seed's readings are
behind the card's link, except a reading that decided this patient's advice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hooks import brief, cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, in_language, msg
from hooks.chart import Chart, current_anticoagulants
from vte_rules import cmvt
from vte_rules.assessment import Assessment
from vte_rules.regimens import Regimen
from vte_rules.report import recommendation_brief
from vte_rules.tables import Label

KIND = "cmvt"


def _suggestions(uuid: str, result: cmvt.CmvtAssessment, request: HookRequest,
                 diagnosed: dt.date, as_of: dt.date) -> list[dict[str, Any]]:
    """Scans on the proposed days after the diagnosis (CMVT-04); days already past are left
    out, so a chart opened late offers only the scans still ahead."""
    out = []
    regimens = {o.regimen for o in result.recommendation.options}
    days = [d for d in result.surveillance_days if diagnosed + dt.timedelta(days=d) >= as_of]
    if Regimen.ULTRASOUND_SURVEILLANCE in regimens and days:
        actions = []
        for day in days:
            resource = suggestions.service_request(
                Regimen.ULTRASOUND_SURVEILLANCE, request.patient_id, request.lang,
                diagnosed + dt.timedelta(days=day), day)
            actions.append({"type": "create", "description": resource["code"]["text"],
                            "resource": resource})
        label = suggestions.order_words(msg("short", "ultrasound-surveillance"))
        out.append({"label": label.text(request.lang),
                    "uuid": suggestions.suggestion_uuid(uuid, label.en),
                    "isRecommended": True, "actions": actions})
    if Regimen.MECHANICAL in regimens:
        resource = suggestions.service_request(Regimen.MECHANICAL, request.patient_id,
                                               request.lang)
        out.append(suggestions.create(uuid, suggestions.order_words(msg("short", "mechanical")),
                                      resource, request.lang))
    return out


def _risk(result: cmvt.CmvtAssessment, lang: str) -> list[str]:
    """CMVT-01: the extension risk first, with the items that made it high."""
    say = in_language(lang)
    word = msg("risk_words", result.thrombosis_risk).text(lang)
    if result.thrombosis_risk != "high":
        if result.thrombosis_risk == "low":
            return [say.msg("brief", "cmvt_risk_low", risk=word)]
        count = len({i.label for i in result.unknown})
        return [say.msg("brief", "cmvt_risk_unknown", risk=word, count=count)]
    shown = result.deciding[:brief.DECIDING]
    lines = brief.bullets(i.label.text(lang) for i in shown)
    if len(result.deciding) > len(shown):
        lines += brief.bullets([say.msg("brief", "more",
                                        count=len(result.deciding) - len(shown))])
    return [say.msg("brief", "cmvt_risk_high", risk=word), "", *lines]


def _detail(result: cmvt.CmvtAssessment, chart: Chart, found: Assessment,
            lang: str) -> list[str]:
    """Extension risk and its items, the action, what must be seen, bleeding, what could
    change it; the index event's evidence, the cited durations and notes are behind the link."""
    rec = result.recommendation
    action = brief.action(brief.first_option(rec) or msg("short", rec.regimen.value),
                          [msg("short", o.regimen.value) for o in rec.options[1:]], lang)
    level = {True: "high", False: "low", None: "indeterminate"}[result.bleeding_high]
    score_level = "high" if found.bleeding.category == "high" else "low"
    return brief.detail(
        _risk(result, lang), action,
        brief.bullets(m.text(lang) for m in brief.must_see(found, rec, chart)),
        brief.bleeding(level, found.bleeding, lang, from_score=level == score_level),
        brief.could_change(rec.could_change, lang), brief.unread(chart, lang))


def build(request: HookRequest, chart: Chart, links: Links,
          found: Assessment) -> dict[str, Any] | None:
    result = found.cmvt
    if result is None:
        return None
    facts = found.facts
    rec, lang = result.recommendation, request.lang
    names = [msg("short", o.regimen.value) for o in rec.options] or [msg("short",
                                                                        rec.regimen.value)]
    options = Label(", ".join(n.en for n in names), "、".join(n.zh for n in names))
    risk = msg("risk_words", result.thrombosis_risk)
    key = ("cmvt_extended" if facts.flag("extension_to_proximal_veins") is True
           else "cmvt_non_isolated" if result.isolated is False else "cmvt")
    label = Label(msg("summary", key, risk=risk.en, options=options.en).en,
                  msg("summary", key, risk=risk.zh, options=options.zh).zh)
    anticoagulated = bool(current_anticoagulants(chart))
    warn = (rec.regimen == Regimen.ANTICOAGULATION and not anticoagulated) or \
        result.bleeding_high is True
    uuid = card_uuid(KIND, request.hook_instance)
    detail = _detail(result, chart, found, lang)
    as_of = facts.as_of or dt.date.today()
    diagnosed = facts["cmvt"].date or as_of
    return cards.card(uuid, label, "warning" if warn else "info", detail, "cmvt", "cmvt", lang,
                      links, [] if anticoagulated else _suggestions(uuid, result, request,
                                                                     diagnosed, as_of),
                      {"vte-cds": {"kind": KIND, "thrombosis_risk": result.thrombosis_risk,
                                   "isolated": result.isolated,
                                   "bleeding_high": result.bleeding_high,
                                   "recommendation": recommendation_brief(rec)}})
