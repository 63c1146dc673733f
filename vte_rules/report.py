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

from vte_rules import cmvt, duration, mm_vte, prophylaxis, treatment, wells
from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.score import ScoreAssessment
from vte_rules.tables import load_all


def to_data(obj: Any) -> Any:
    """Recursively convert rule results to JSON-compatible values."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_data(v) for v in obj]
    return obj


def score_data(score: ScoreAssessment) -> dict[str, Any]:
    """A score with its derived views (contributing and unknown items) spelled out."""
    data: dict[str, Any] = to_data(score)
    data["category"] = score.category
    data["contributing"] = [i.rule for i in score.contributing]
    data["unknown"] = [i.rule for i in score.unknown]
    return data


def _bleeding_high(score: ScoreAssessment) -> bool | None:
    """High, low, or None when unknown items could still make it high."""
    if score.category == "high":
        return True
    return False if score.tier.worst_case == "low" else None


def assess_all(facts: PatientFacts) -> dict[str, Any]:
    """Every assessment for one patient, as JSON-ready data.

    ``scores`` holds mm_vte, bleeding, wells_dvt and wells_pe; ``prophylaxis``, ``duration``,
    ``treatment`` and ``cmvt`` hold the recommendations; ``tables`` the table versions used.
    """
    derived = derive(facts)
    pro = prophylaxis.assess(derived)
    dvt = wells.assess_dvt(derived)
    pe = wells.assess_pe(derived)
    return {
        "as_of": to_data(facts.as_of),
        "applicable": {"multiple_myeloma": derived.flag("multiple_myeloma"),
                       "cmvt": derived.flag("cmvt")},
        "scores": {"mm_vte": score_data(pro.vte), "bleeding": score_data(pro.bleeding),
                   "wells_dvt": score_data(dvt), "wells_pe": score_data(pe)},
        "dvt_workup": to_data(wells.dvt_workup(dvt, derived)),
        "drug_notes": to_data(pro.drugs),
        "context": to_data(pro.context),
        "prophylaxis": to_data(pro.recommendation),
        "duration": to_data(duration.assess(derived, mm_vte.individual_risk_factor(pro.vte))),
        "treatment": to_data(treatment.assess(derived)),
        "cmvt": to_data(cmvt.assess(derived, _bleeding_high(pro.bleeding))),
        "tables": {name: table.ref for name, table in load_all().items()},
    }
