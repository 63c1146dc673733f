"""Card assembly and the Markdown a clinician reads in the card's detail.

The detail lists each contributing item with its rule id and the evidence (which lab, which
order), what was not documented and what it could change, the recommendation with doses, what
was ruled out and why, the duration, and the notes where the guideline is ambiguous.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from hooks import words
from hooks.base import Links, messages, msg
from vte_rules import report
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Recommendation
from vte_rules.score import ItemResult, ScoreAssessment
from vte_rules.tables import Label

SUMMARY_LIMIT = 139
INDICATORS = ("info", "warning", "critical")


def _pts(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def summary(label: Label, lang: str) -> str:
    """The summary in the chosen language, cut to the standard's 140 characters."""
    value = label.text(lang)
    return value if len(value) <= SUMMARY_LIMIT else value[:SUMMARY_LIMIT - 1] + "…"


def _evidence(item: ItemResult, lang: str) -> str:
    refs = ", ".join(item.evidence) or messages()["detail"]["no_evidence"][lang[:2]]
    if item.assumption:
        colon = "：" if lang.startswith("zh") else ": "
        refs += (f" ({msg('detail', 'assumed').text(lang)}{colon}"
                 f"{words.text(item.assumption, lang)})")
    return refs.replace("|", "/")


def score_section(name: str, score: ScoreAssessment, lang: str) -> list[str]:
    tier = score.tier
    lines = [msg("detail", "score_heading", name=msg("names", name).text(lang),
                 points=_pts(score.points), category=tier.label.text(lang)).text(lang)]
    if score.contributing:
        lines += ["", msg("detail", "table_head").text(lang)]
        lines.extend(f"| {i.label.text(lang)} | {_pts(i.points)} | {i.rule} | "
                     f"{_evidence(i, lang)} |" for i in score.contributing)
    if score.unknown:
        lines.append("")
        lines.append(msg("detail", "range", points=_pts(score.points),
                         lo=_pts(score.min_points), hi=_pts(score.max_points)).text(lang))
        lines.append(msg("detail", "unknown_heading").text(lang) + " " + "; ".join(
            f"{i.label.text(lang)} ({i.rule}, {_pts(i.points)})" for i in score.unknown))
    lines.extend(f"- {n}" for n in tier.notes)
    return lines


def recommendation_section(rec: Recommendation, lang: str) -> list[str]:
    lines = [msg("detail", "recommendation").text(lang), ""]
    for opt in rec.options:
        line = f"- {opt.dose.text(lang)}"
        if opt.computed:
            line += f": {opt.computed.text(lang)}"
        line += f" ({', '.join(opt.rules)})"
        lines.append(line)
        lines.extend(f"  - {c.text(lang)}" for c in opt.cautions)
    if rec.ruled_out:
        lines += ["", msg("detail", "ruled_out").text(lang)]
        lines.extend(f"- {msg('short', r.regimen.value).text(lang)}: {r.reason.text(lang)} "
                     f"({r.rule})"
                     for r in rec.ruled_out)
    if rec.duration:
        lines += ["", f"{msg('detail', 'duration').text(lang)} {rec.duration.text(lang)}"]
    if rec.could_change:
        lines += ["", msg("detail", "could_change").text(lang)]
        lines.extend(f"- {c.text(lang)}" for c in rec.could_change)
    if rec.notes:
        lines += ["", msg("detail", "notes").text(lang)]
        lines.extend(f"- {n.text(lang)}" for n in rec.notes)
    return lines


_EVENT_WORDS = {"acute_dvt": "dvt", "acute_pe": "pe", "cmvt": "cmvt"}


def index_event(facts: PatientFacts, lang: str) -> list[str]:
    """The VTE event the card is about, as the assessment names it (vte_rules.report)."""
    lines = [msg("detail", "index_event", what=msg("vte_words", _EVENT_WORDS[e["factor"]]
                                                  ).text(lang),
                 evidence=", ".join(e["evidence"]), date=e["date"] or "?").text(lang)
             for e in report.index_event(facts)]
    return [*lines, ""] if lines else []


def not_orderable(rec: Recommendation, lang: str) -> list[str]:
    """Why some options come without a one-click order (each reason once)."""
    reasons = dict.fromkeys(o.not_orderable_because.text(lang) for o in rec.options
                            if not o.orderable and o.not_orderable_because is not None)
    return [f"- {r}" for r in reasons]


def bullet_labels(title: Label, labels: Iterable[Label], lang: str) -> list[str]:
    items = [f"- {label.text(lang)}" for label in labels]
    return [title.text(lang), "", *items] if items else []


@functools.cache
def _reasons_by_kind() -> Mapping[str, Any]:
    text = (resources.files("hooks") / "override_reasons.toml").read_text("utf-8")
    data: Mapping[str, Any] = tomllib.loads(text)
    return data


SNOOZE_REASON = "not_now"


def override_reasons(lang: str, kind: str | None = None) -> list[dict[str, str]]:
    """The override reasons a card of ``kind`` offers (``hooks/override_reasons.toml``); every
    reason when no kind is given (the feedback report names them all)."""
    return [{"code": code, "system": "urn:vte-cds:override-reason", "display": display}
            for code, display in _reasons(lang.startswith("zh"), kind)]


@functools.cache
def _reasons(zh: bool, kind: str | None) -> tuple[tuple[str, str], ...]:
    """Each reason's code and display, read once per language and card kind."""
    every = messages()["override_reasons"]
    codes = list(every) if kind is None else _reasons_by_kind()["kinds"][kind]
    return tuple((code, Label(**every[code]).text("zh" if zh else "en")) for code in codes)


def source(key: str, lang: str, topic: str) -> dict[str, Any]:
    return {"label": msg("sources", key).text(lang),
            "topic": {"system": "urn:vte-cds:card-topic", "code": topic}}


def card(uuid: str, summary_label: Label, indicator: str, detail: list[str], source_key: str,
         topic: str, lang: str, links: Links, suggestions: list[dict[str, Any]],
         extension: Mapping[str, Any]) -> dict[str, Any]:
    assert indicator in INDICATORS
    out: dict[str, Any] = {
        "uuid": uuid,
        "summary": summary(summary_label, lang),
        "indicator": indicator,
        "detail": "\n".join(detail),
        "source": source(source_key, lang, topic),
        "overrideReasons": override_reasons(lang, topic),  # the topic is the card kind
        "extension": dict(extension),
    }
    if suggestions:
        out["suggestions"] = suggestions
        out["selectionBehavior"] = "at-most-one"
    url = links.assessment_url()
    found = []
    if url:
        found.append({"label": msg("labels", "full_assessment").text(lang), "url": url,
                      "type": "absolute"})
    if links.smart_launch_url:
        found.append({"label": msg("labels", "smart_app").text(lang),
                      "url": links.smart_launch_url, "type": "smart"})
    if found:
        out["links"] = found
    return out
