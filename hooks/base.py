"""What every CDS service shares: the request, the service definition, text, card ids.

Card text comes from the gettext catalogues in ``hooks/locale`` (see hooks/i18n.py), read once
when this module is imported: a catalogue that lacks a language stops the service at start-up.

Card uuids are stable: the same hook instance and card kind give the same uuid (golden files
compare exactly). The last four hex digits carry the card kind's number, so feedback, which names
only the card uuid, can be counted per card kind on any instance without storing issued cards.
"""

from __future__ import annotations

import functools
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from hooks import i18n
from vte_rules.tables import Label

NAMESPACE = uuid.UUID("8f3c5a8e-3d54-4f0a-9f1e-6b1d2f7c9a10")
CARD_KINDS = ("mm-prophylaxis", "cmvt", "vte-treatment", "order-imid-no-prophylaxis",
              "order-aspirin-high-risk", "order-renal", "order-bleeding", "order-filter-cmvt",
              "order-treatment-dose", "order-ruled-out", "order-dose-no-indication",
              "order-aspirin-renal", "order-not-indicated", "order-regimen-during-vte",
              "order-cmvt-undecided", "order-dose-below-plan", "order-dose-weight",
              "order-warfarin-lead-in", "order-second-antithrombotic")

i18n.texts()  # read the catalogues once, now: a bad one stops the import (i18n.CatalogueError)


@dataclass(frozen=True)
class HookRequest:
    """A parsed CDS Hooks call (the web layer checks the shape before building one)."""

    hook: str
    hook_instance: str
    context: Mapping[str, Any]
    prefetch: Mapping[str, Any] = field(default_factory=dict)
    fhir_server: str | None = None
    lang: str = "en"

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])


@dataclass
class Links:
    """Where a card links to; the web layer knows its own URL.

    ``make_assessment_url`` is called at most once, and only when a card is built, so a call
    that yields no card stores nothing.
    """

    make_assessment_url: Callable[[], str] | None = None
    smart_launch_url: str | None = None
    _url: str | None = None

    def assessment_url(self) -> str | None:
        if self._url is None and self.make_assessment_url is not None:
            self._url = self.make_assessment_url()
        return self._url


Handler = Callable[[HookRequest, Any, Links], list[dict[str, Any]]]


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]
    handler: Handler
    include_drafts: bool = False

    def discovery(self) -> dict[str, Any]:
        return {"hook": self.hook, "id": self.id, "title": self.title,
                "description": self.description, "prefetch": dict(self.prefetch),
                "usageRequirements": "Send the prefetch, or a fhirServer this service is "
                                     "configured to query with fhirAuthorization."}


@functools.cache
def messages() -> Mapping[str, Any]:
    """Every card message by section and key, as ``{"en": ..., "zh": ...}`` (catalogue order)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for (section, key), label in i18n.texts().items():
        out.setdefault(section, {})[key] = {"en": label.en, "zh": label.zh}
    return out


@functools.cache
def orders() -> Mapping[str, Any]:
    """``hooks/orders.toml`` (codes and routes) with each medication's and service's order text
    from the catalogues, as ``text = {en = ..., zh = ...}``."""
    data = tomllib.loads((resources.files("hooks") / "orders.toml").read_text("utf-8"))
    for table, ctx in i18n.ORDER_CONTEXTS.items():
        for name, spec in data.get(table, {}).items():
            text = i18n.label(ctx, name)
            spec["text"] = {"en": text.en, "zh": text.zh}
    return data


def msg(section: str, key: str, **fields: object) -> Label:
    """A card message in both languages (``hooks/locale``), its ``{placeholders}`` filled."""
    if not fields:
        return _unfilled(section, key)
    raw = i18n.label(section, key)
    return Label(raw.en.format(**fields), raw.zh.format(**fields))


@functools.cache
def _unfilled(section: str, key: str) -> Label:
    """A message without fields, worded once (a card names a dozen)."""
    raw = i18n.label(section, key)
    return Label(raw.en.format(), raw.zh.format())


@dataclass(frozen=True)
class InLanguage:
    """Card messages in one language: ``in_language(lang).msg(section, key, **fields)`` is
    ``msg(section, key, **fields).text(lang)``, without wording the other language."""

    zh: bool

    def msg(self, section: str, key: str, **fields: object) -> str:
        raw = i18n.label(section, key)
        return (raw.zh if self.zh else raw.en).format(**fields)


_LANGUAGES = {zh: InLanguage(zh) for zh in (False, True)}


def in_language(lang: str) -> InLanguage:
    """The card's language, chosen as `Label.text` chooses it."""
    return _LANGUAGES[lang.startswith("zh")]


def text(label: Label, lang: str) -> str:
    return label.text(lang)


def card_uuid(kind: str, hook_instance: str, *parts: str) -> str:
    base = uuid.uuid5(NAMESPACE, "|".join((hook_instance, kind, *parts))).hex
    return str(uuid.UUID(base[:-4] + f"{CARD_KINDS.index(kind):04x}"))


def card_kind(card_id: str) -> str:
    """The kind of a card this service issued, from its uuid ('unknown' otherwise)."""
    try:
        number = int(uuid.UUID(card_id).hex[-4:], 16)
    except ValueError:
        return "unknown"
    return CARD_KINDS[number] if number < len(CARD_KINDS) else "unknown"


def suggestion_uuid(card: str, label: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{card}|{label}"))
