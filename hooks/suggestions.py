"""One-click suggestions: FHIR R4 resources for the regimens a card recommends.

Doses come from ``vte_rules/tables/regimens.toml`` (the weight-based dose from the patient's
latest weight), codes from ``hooks/orders.toml``. A regimen whose dose cannot be computed (a
weight-based dose with no weight on record) gets no suggestion: the card says why instead.
Every resource is checked against the R4B model before it is offered.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Hashable, Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from hooks.base import in_language, msg, orders, suggestion_uuid
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Option, Regimen
from vte_rules.tables import Label, load_table

UCUM = "http://unitsofmeasure.org"


def _regimen_entry(regimen: Regimen) -> Mapping[str, Any]:
    entry: Mapping[str, Any] = load_table("regimens").data["regimens"][regimen.value]
    return entry


def _dose_mg(regimen: Regimen, facts: PatientFacts) -> float | None:
    entry = _regimen_entry(regimen)
    if "dose_mg" in entry:
        return float(entry["dose_mg"])
    weight = facts.number("weight_kg")
    if "mg_per_kg" in entry and weight is not None:
        return float(round(float(entry["mg_per_kg"]) * weight))
    return None


def medication_request(option: Option, patient_id: str, facts: PatientFacts,
                       lang: str) -> dict[str, Any] | None:
    spec = orders()["medications"].get(option.regimen.value)
    if spec is None:
        return None
    entry = _regimen_entry(option.regimen)
    mg = _dose_mg(option.regimen, facts)
    if "mg_per_kg" in entry and mg is None:
        return None
    text = Label(**spec["text"]).text(lang).format(mg=_fmt(mg))
    reason = option.dose.text(lang)
    dosage: dict[str, Any] = {
        "text": text,
        "timing": {"repeat": {"frequency": int(entry.get("doses_per_day", 1)), "period": 1,
                              "periodUnit": "d"}},
        "route": {"coding": [dict(orders()["routes"][spec["route"]])]},
    }
    if mg is not None:
        dosage["doseAndRate"] = [{"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM,
                                                   "code": "mg"}}]
    resource = {
        "resourceType": "MedicationRequest", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"coding": [dict(spec["coding"])],
                                      "text": spec["coding"]["display"]},
        "dosageInstruction": [dosage],
        "reasonCode": [{"text": reason}],
    }
    return checked(resource, ("MedicationRequest", option.regimen.value, mg, text, reason))


def order_label(option: Option, facts: PatientFacts) -> Label:
    """"Order <what>" in both languages, with the dose this patient would get."""
    spec = orders()["medications"].get(option.regimen.value)
    if spec is None:
        spec = orders()["services"].get(option.regimen.value)
    if spec is None:
        return msg("labels", "suggest", what=option.dose.en)
    mg = _fmt(_dose_mg(option.regimen, facts))
    text = Label(**spec["text"])
    return Label(
        in_language("en").msg("labels", "suggest",
                              what=_in_sentence(text.en.format(mg=mg, day=""))),
        in_language("zh").msg("labels", "suggest", what=text.zh.format(mg=mg, day="")))


def order_words(what: Label) -> Label:
    """"Order <what>" in both languages, for a label that names an action without a verb."""
    return Label(in_language("en").msg("labels", "suggest", what=_in_sentence(what.en)),
                 in_language("zh").msg("labels", "suggest", what=what.zh))


def _in_sentence(text: str) -> str:
    """"Intermittent pneumatic ..." -> "intermittent pneumatic ..."; "LMWH ..." unchanged."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def service_request(regimen: Regimen, patient_id: str, lang: str,
                    on: dt.date | None = None, day: int | None = None) -> dict[str, Any]:
    spec = orders()["services"][regimen.value]
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "code": {"coding": [dict(spec["coding"])],
                 "text": Label(**spec["text"]).text(lang).format(day=day)},
    }
    if on is not None:
        resource["occurrenceDateTime"] = on.isoformat()
    return checked(resource, ("ServiceRequest", regimen.value, resource["code"]["text"],
                              resource.get("occurrenceDateTime")))


_VALIDATED: set[Hashable] = set()


def checked(resource: dict[str, Any], made_from: Hashable | None = None) -> dict[str, Any]:
    """The resource, after the R4B model accepted it (a failure is a bug in this service).

    Suggestions differ between patients only in ``subject``; a shape validated once is not
    validated again (the set is bounded). ``made_from`` names every value a resource built here
    was made of, ``subject`` aside, so that its shape is known without writing it out (a third
    of a card's time); a resource from elsewhere (a draft) is known by its content.
    """
    key = ("made", made_from) if made_from is not None else json.dumps(
        {k: v for k, v in resource.items() if k != "subject"}, sort_keys=True)
    if key not in _VALIDATED:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        if len(_VALIDATED) > 5000:
            _VALIDATED.clear()
        _VALIDATED.add(key)
    return resource


__all__ = ["checked", "create", "deletable", "delete_draft", "medication_request", "order_label",
           "service_request", "suggestion_uuid"]


def create(card: str, label: Label, resource: dict[str, Any], lang: str,
           recommended: bool = False) -> dict[str, Any]:
    return {"label": label.text(lang), "uuid": suggestion_uuid(card, label.en),
            "isRecommended": recommended,
            "actions": [{"type": "create", "description": label.text(lang),
                         "resource": resource}]}


def deletable(reference: str) -> bool:
    """A draft the EHR can delete: ``Type/id`` with an id (a draft sent without an id is
    named ``Type#position`` by the mapper and cannot be the target of a delete action)."""
    rtype, _, rid = reference.partition("/")
    return bool(rtype and rid) and "#" not in reference


def delete_draft(card: str, reference: str, lang: str) -> dict[str, Any]:
    label = msg("labels", "delete_draft")
    return {"label": label.text(lang), "uuid": suggestion_uuid(card, f"delete {reference}"),
            "actions": [{"type": "delete", "description": label.text(lang),
                         "resourceId": reference}]}


def _fmt(mg: float | None) -> str:
    if mg is None:
        return "?"
    return str(int(mg)) if float(mg).is_integer() else f"{mg:g}"
