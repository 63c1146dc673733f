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

from vte_rules.score import ScoreAssessment


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
