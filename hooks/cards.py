"""Card assembly and the Markdown a clinician reads in the card's detail.

The detail lists each contributing item with its rule id and the evidence (which lab, which
order), what was not documented and what it could change, the recommendation with doses, what
was ruled out and why, the duration, and the notes where the guideline is ambiguous.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from hooks.base import Links, messages, msg
from vte_rules.tables import Label

SUMMARY_LIMIT = 139
INDICATORS = ("info", "warning", "critical")


def summary(label: Label, lang: str) -> str:
    """The summary in the chosen language, cut to the standard's 140 characters."""
    value = label.text(lang)
    return value if len(value) <= SUMMARY_LIMIT else value[:SUMMARY_LIMIT - 1] + "…"


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
