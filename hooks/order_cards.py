"""What every order check shares: the drafts of a concept, bilingual message filling, one card,
and the draft resource behind a reference (for an ``update`` action)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from hooks import cards, suggestions
from hooks.base import HookRequest, Links, card_uuid, in_language
from hooks.chart import Chart, Use
from vte_rules.tables import Label


def pts(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def fill(template: str, **fields: Label) -> Label:
    """An ``order`` message whose fields are themselves bilingual."""
    return Label(in_language("en").msg("order", template, **{k: v.en for k, v in fields.items()}),
                 in_language("zh").msg("order", template, **{k: v.zh for k, v in fields.items()}))


def plain(value: str) -> Label:
    return Label(value, value)


def drafts(chart: Chart, concepts: Iterable[str]) -> list[Use]:
    wanted = set(concepts)
    return [u for u in chart.medications if u.draft and set(u.concepts) & wanted]


def drug_name(use: Use) -> Label:
    return plain(use.text or use.concepts[0])


def make_card(kind: str, request: HookRequest, label: Label, indicator: str,
              detail: list[str], source: str, links: Links, offered: list[dict[str, Any]],
              extension: dict[str, Any], *parts: str) -> dict[str, Any]:
    uuid = card_uuid(kind, request.hook_instance, *parts)
    for i, s in enumerate(offered):  # suggestion uuids belong to this card
        s["uuid"] = suggestions.suggestion_uuid(uuid, f"{i}|{s['label']}")
    return cards.card(uuid, label, indicator, detail, source, kind, request.lang, links,
                      offered, {"vte-cds": {"kind": kind, **extension}})


def draft_resource(request: HookRequest, reference: str) -> Mapping[str, Any] | None:
    """The drafted resource named ``Type/id`` in ``context.draftOrders`` (None if absent)."""
    bundle = request.context.get("draftOrders")
    entries = bundle.get("entry") if isinstance(bundle, Mapping) else None
    rtype, _, rid = reference.partition("/")
    for entry in entries if isinstance(entries, list) else []:
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(res, Mapping) and res.get("resourceType") == rtype and \
                res.get("id") == rid:
            return res
    return None


def update_dose(request: HookRequest, use: Use, mg: float, per_day: int, text: Label,
                coding: Mapping[str, str]) -> dict[str, Any] | None:
    """A suggestion that changes the drafted order in place (CDS Hooks ``update``): the same
    order, the dose and frequency the card names, and the product ``coding`` (from
    ``orders.toml``), since a drafted fixed-strength product (a 40 mg syringe, a 10 mg tablet)
    cannot carry another dose. None when the draft cannot be found in ``draftOrders``."""
    original = draft_resource(request, use.reference)
    if original is None or not suggestions.deletable(use.reference):
        return None
    resource = copy.deepcopy(dict(original))
    resource["medicationCodeableConcept"] = {"coding": [dict(coding)],
                                             "text": coding["display"]}
    resource.pop("medicationReference", None)
    dosages = resource.get("dosageInstruction")
    dosage = dict(dosages[0]) if isinstance(dosages, list) and dosages and \
        isinstance(dosages[0], Mapping) else {}
    dosage["text"] = text.text(request.lang)
    dosage["doseAndRate"] = [{"doseQuantity": {"value": mg, "unit": "mg",
                                               "system": suggestions.UCUM, "code": "mg"}}]
    timing = dict(dosage.get("timing") or {})
    timing["repeat"] = {"frequency": per_day, "period": 1, "periodUnit": "d"}
    timing.pop("code", None)
    dosage["timing"] = timing
    resource["dosageInstruction"] = [dosage, *(dosages[1:] if isinstance(dosages, list) else [])]
    checked = _repaired(resource)
    if checked is None:
        return None  # the draft cannot be made valid R4: no update built on it
    label = Label(in_language("en").msg("labels", "update_dose", what=text.en),
                  in_language("zh").msg("labels", "update_dose", what=text.zh))
    return {"label": label.text(request.lang), "uuid": "", "isRecommended": True,
            "actions": [{"type": "update", "description": label.text(request.lang),
                         "resource": checked}]}


_KEPT = frozenset({"resourceType", "id", "status", "intent", "subject",
                   "medicationCodeableConcept", "dosageInstruction"})


def _repaired(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The updated draft as valid R4, or None. Drafts as real clients send them are not always
    valid (the CDS Hooks sandbox sends ``category`` as one object, not a list): a single object
    where R4 wants a list is wrapped; an element that is still invalid is left out of the update
    (never the order's identity, drug or dose), so the clinician still gets the one click."""
    for _ in range(3):
        try:
            return suggestions.checked(resource)
        except ValidationError as exc:
            fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
            if not fields or fields & _KEPT:
                return None
            for name in fields:
                value = resource.get(name)
                if isinstance(value, Mapping):
                    resource[name] = [value]
                else:
                    resource.pop(name, None)
    return None
