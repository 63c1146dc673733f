"""Assessments as plain JSON-ready data, the one shape the service and the CLI emit.

Enums become their values, `Label` becomes ``{"en": ..., "zh": ...}``, dataclasses become
objects; nothing is rounded or renamed here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any

from vte_rules import bleeding, cmvt, drug_risk, duration, mm_vte, prophylaxis, treatment, wells
from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Recommendation
from vte_rules.score import ScoreAssessment
from vte_rules.tables import load_all

_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The public fields of a dataclass type (cached: ``dataclasses.fields`` is slow)."""
    if cls not in _FIELDS:
        _FIELDS[cls] = (tuple(f.name for f in dataclasses.fields(cls)
                              if not f.name.startswith("_"))
                        if dataclasses.is_dataclass(cls) else None)
    return _FIELDS[cls]


def to_data(obj: Any) -> Any:
    """Recursively convert rule results to JSON-compatible values."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dt.date):
        return obj.isoformat()
    fields = _field_names(type(obj))
    if fields is not None:
        return {name: to_data(getattr(obj, name)) for name in fields}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_data(v) for v in obj]
    return obj


def _bleeding_high(score: ScoreAssessment) -> bool | None:
    """High, low, or None when unknown items could still make it high."""
    if score.category == "high":
        return True
    return False if score.tier.worst_case == "low" else None


def score_entry(score: ScoreAssessment) -> dict[str, Any]:
    """A score as the API gives it: documented points, category, items, unknown items."""
    tier = score.tier
    entry: dict[str, Any] = {
        "table": score.table, "points": score.points, "min_points": score.min_points,
        "max_points": score.max_points, "category": tier.category,
        "best_case": tier.best_case, "worst_case": tier.worst_case,
        "could_be": to_data(tier.could_be), "items": to_data(score.items),
        "contributing": [i.rule for i in score.contributing],
        "unknown": [i.rule for i in score.unknown],
        "notes": [*score.notes, *tier.notes],
    }
    for scheme, other in list(score.tiers.items())[1:]:
        entry[scheme] = {"category": other.category, "best_case": other.best_case,
                         "worst_case": other.worst_case, "notes": list(other.notes)}
    return entry


def score_brief(score: ScoreAssessment) -> dict[str, Any]:
    """A score for a card's extension: the figures and rule ids, not every item's labels
    (the card's link opens the full assessment)."""
    tier = score.tier
    return {"table": score.table, "points": score.points, "min_points": score.min_points,
            "max_points": score.max_points, "category": tier.category,
            "worst_case": tier.worst_case,
            "contributing": [i.rule for i in score.contributing],
            "unknown": [i.rule for i in score.unknown]}


def recommendation_brief(rec: Recommendation) -> dict[str, Any]:
    return {"regimen": rec.regimen.value, "options": [o.regimen.value for o in rec.options],
            "rules": list(rec.rules),
            "ruled_out": [{"regimen": r.regimen.value, "rule": r.rule} for r in rec.ruled_out]}


def assess_all(facts: PatientFacts) -> dict[str, Any]:
    """Every assessment that applies to this patient, as JSON-ready data.

    ``scores``: ``wells_dvt`` and ``wells_pe`` always; ``mm_vte`` for myeloma; ``bleeding``
    for myeloma, CMVT or established VTE. ``recommendations``: ``prophylaxis`` (myeloma),
    ``treatment`` (established DVT/PE), ``cmvt`` (CMVT). A score or recommendation that does
    not apply is absent, not empty.
    """
    derived = derive(facts)
    mm = derived.flag("multiple_myeloma") is True
    has_cmvt = derived.flag("cmvt") is True
    acute = derived.flag("acute_dvt") is True or derived.flag("acute_pe") is True
    dvt = wells.assess_dvt(derived)
    scores: dict[str, Any] = {"wells_dvt": score_entry(dvt),
                              "wells_pe": score_entry(wells.assess_pe(derived))}
    recommendations: dict[str, Any] = {}
    doc: dict[str, Any] = {"as_of": to_data(facts.as_of), "scores": scores,
                           "recommendations": recommendations,
                           "dvt_workup": to_data(wells.dvt_workup(dvt, derived))}
    bleed = bleeding.assess(derived)
    if mm or has_cmvt or acute:
        scores["bleeding"] = score_entry(bleed)
    if mm:
        vte = mm_vte.assess(derived)
        pro = prophylaxis.recommend(derived, vte, bleed)
        scores["mm_vte"] = score_entry(vte)
        recommendations["prophylaxis"] = to_data(pro)
        doc["duration"] = to_data(duration.assess(derived, mm_vte.individual_risk_factor(vte)))
        doc["drug_notes"] = to_data(drug_risk.notes(derived))
        doc["context"] = to_data(mm_vte.context(derived))
    if acute:
        recommendations["treatment"] = to_data(treatment.assess(derived))
    if has_cmvt:
        result = cmvt.assess(derived, _bleeding_high(bleed))
        doc["cmvt"] = to_data(result)
        recommendations["cmvt"] = to_data(result.recommendation)
    doc["tables"] = {name: table.ref for name, table in load_all().items()}
    return doc
