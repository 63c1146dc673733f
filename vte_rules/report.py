"""Assessments as plain JSON-ready data, the one shape the service and the CLI emit.

Enums become their values, `Label` becomes ``{"en": ..., "zh": ...}``, dataclasses become
objects; nothing is rounded or renamed here. What was assumed to read a fact (a tuple of
:class:`~vte_rules.facts.Message`) becomes what ``word`` makes of it: the hook layer, which
holds the wording, passes one; without it each message stays its key, fields and subject.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from vte_rules import assessment, wells
from vte_rules.facts import Message, PatientFacts
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


Word = Callable[[tuple[Message, ...]], Any]


def to_data(obj: Any, word: Word | None = None) -> Any:
    """Recursively convert rule results to JSON-compatible values."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if word is not None and isinstance(obj, tuple) and obj and all(
            isinstance(m, Message) for m in obj):
        return word(obj)
    if isinstance(obj, Message):
        return {"key": obj.key, "fields": dict(obj.fields), "about": obj.about}
    fields = _field_names(type(obj))
    if fields is not None:
        return {name: to_data(getattr(obj, name), word) for name in fields}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v, word) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_data(v, word) for v in obj]
    return obj


def score_entry(score: ScoreAssessment, word: Word | None = None) -> dict[str, Any]:
    """A score as the API gives it: documented points, category, items, unknown items."""
    tier = score.tier
    entry: dict[str, Any] = {
        "table": score.table, "points": score.points, "min_points": score.min_points,
        "max_points": score.max_points, "category": tier.category,
        "best_case": tier.best_case, "worst_case": tier.worst_case,
        "could_be": to_data(tier.could_be), "items": to_data(score.items, word),
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


def index_event(facts: PatientFacts) -> list[dict[str, Any]]:
    """The VTE event the plans are about: which factor, which resource, since when."""
    out = []
    for name in ("acute_dvt", "acute_pe", "cmvt"):
        fact = facts[name]
        if fact.value is True:
            out.append({"factor": name, "evidence": list(fact.evidence),
                        "date": to_data(fact.date)})
    return out


def assess_all(facts: PatientFacts, already_on: tuple[str, ...] = (),
               word: Word | None = None) -> dict[str, Any]:
    """Every assessment that applies to this patient, as JSON-ready data.

    ``scores``: ``wells_dvt`` and ``wells_pe`` always; ``mm_vte`` for myeloma without an index
    VTE; ``bleeding`` whenever a plan applies. ``recommendations``: ``prophylaxis`` (myeloma),
    ``treatment`` (myeloma with an index DVT/PE), ``cmvt`` (CMVT). A score or recommendation
    that does not apply is absent, not empty.
    """
    return render(assessment.assess(facts, already_on), word)


def render(a: assessment.Assessment, word: Word | None = None) -> dict[str, Any]:
    """The one JSON shape of an assessment (the link page and the API show exactly this)."""
    scores: dict[str, Any] = {"wells_dvt": score_entry(a.wells_dvt, word),
                              "wells_pe": score_entry(a.wells_pe, word)}
    recommendations = {k: to_data(v, word) for k, v in a.recommendations().items()}
    doc: dict[str, Any] = {"as_of": to_data(a.facts.as_of, word), "adult": a.adult,
                           "index_event": index_event(a.facts),
                           "notes": to_data(a.notes, word), "already_on": list(a.already_on),
                           "scores": scores, "recommendations": recommendations,
                           "dvt_workup": to_data(wells.dvt_workup(a.wells_dvt, a.facts), word)}
    if a.bleeding_applies:
        scores["bleeding"] = score_entry(a.bleeding, word)
    if a.vte_score is not None:
        scores["mm_vte"] = score_entry(a.vte_score, word)
    if a.prophylaxis is not None:
        doc["drug_notes"] = to_data(a.prophylaxis.drugs, word)
        doc["context"] = to_data(a.prophylaxis.context, word)
    if a.duration is not None:
        doc["duration"] = to_data(a.duration, word)
    if a.treatment is not None:
        doc["treatment"] = to_data(a.treatment, word)
    if a.cmvt is not None:
        doc["cmvt"] = to_data(a.cmvt, word)
    doc["tables"] = {name: table.ref for name, table in load_all().items()}
    return doc
