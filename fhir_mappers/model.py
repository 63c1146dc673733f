"""What the mapper returns: the facts, what it could not read, and the current orders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from vte_rules.facts import PatientFacts

Severity = Literal["skipped", "warning", "info"]


@dataclass(frozen=True)
class DataIssue:
    """Something in the data that could not be used as sent.

    ``reference`` is ``Type/id`` (or the position in the input when the resource has no id);
    ``reason`` names fields and problems, never values, so it carries no patient data.
    """

    reference: str
    reason: str
    severity: Severity = "skipped"


@dataclass(frozen=True)
class MedicationUse:
    """A current (or draft) medication the hooks need beyond the risk factors."""

    reference: str
    concepts: tuple[str, ...]
    status: str
    draft: bool
    dose_mg: float | None = None
    doses_per_day: float | None = None
    text: str | None = None
    dose_iu: float | None = None  # anti-Xa IU per administration (LMWH ordered in IU or mL)


@dataclass(frozen=True)
class ServiceUse:
    """A draft or active ServiceRequest the order hooks react to (a filter, a scan)."""

    reference: str
    concepts: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class MappedChart:
    facts: PatientFacts
    issues: tuple[DataIssue, ...]
    medications: tuple[MedicationUse, ...] = ()
    allergies: tuple[tuple[str, str], ...] = ()
    services: tuple[ServiceUse, ...] = ()
    received_types: frozenset[str] = field(default_factory=frozenset)
    resources_read: int = 0
    as_of: dt.date | None = None
