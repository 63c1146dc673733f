"""The charts behind the cards' "Full VTE assessment" links.

``put(chart) -> token`` keeps a mapped chart for an hour behind a random 128-bit token (the link's
last path segment); ``get(token)`` gives it back, or None once expired or unknown. The assessment
is computed from it when the link is opened, not on the hook's path.

What is kept is what the assessment reads, no more: the patient facts (each value with its unit,
date and the ids of the FHIR resources behind it, or why it is unknown), the data issues (resource
reference and a reason naming fields, never values), and the current, non-draft medications
(reference, concepts, status, dose). Dropped: draft orders, allergies, service requests,
medication free text, and which resource types were received. No name, birth date or patient id
is kept beyond the resource ids cited as evidence.

The row's key is a SHA-256 of the token, so the database does not hold working links; the value is
JSON sealed with Fernet (``SharedStore.seal``).

A hook call does not write the row itself: ``sealed(chart)`` gives the token and the row, and the
call writes it in the one statement that also indexes its cards (``cds_service/api/snooze.settle``).
A link made by this version and opened on an older instance (during a rolling upgrade) fails there
when a fact carries its possible values (an age from a birth year alone); older links open here.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any, cast

from cds_service.storage.shared import SharedStore, digest
from fhir_mappers.model import DataIssue, MappedChart, MedicationUse, Severity
from vte_rules.facts import Fact, Message, PatientFacts

KIND = "link"
TTL_S = 3600
SAVE_FAILED = ("the store is unavailable: the card's assessment link could not be saved; "
                "try again")
_READ_FAILED = ("the store is unavailable: the assessment behind this link could not be read; "
                "try again")


@dataclass(frozen=True)
class SealedLink:
    """A link's token and the store row that makes it work, not yet written."""

    token: str
    key: str
    value: bytes
    expires_at: float


class AssessmentLinks:
    def __init__(self, shared: SharedStore, ttl_seconds: int = TTL_S) -> None:
        self.shared, self.ttl = shared, ttl_seconds

    def sealed(self, chart: MappedChart) -> SealedLink:
        """A new token for ``chart`` and its sealed row (``KIND``), for the caller to write."""
        token = secrets.token_urlsafe(16)
        data = json.dumps(chart_to_data(chart), separators=(",", ":"), check_circular=False)
        return SealedLink(token, digest(token),
                          self.shared.seal(data.encode("utf-8"), SAVE_FAILED),
                          self.shared.clock() + self.ttl)

    def put(self, chart: MappedChart) -> str:
        link = self.sealed(chart)
        self.shared.expiring(SAVE_FAILED).put(KIND, link.key, link.value, link.expires_at,
                                               now=self.shared.clock(), failure=SAVE_FAILED)
        return link.token

    def get(self, token: str) -> MappedChart | None:
        found = self.shared.expiring(_READ_FAILED).get(KIND, digest(token),
                                                       now=self.shared.clock(),
                                                       failure=_READ_FAILED)
        data = None if found is None else self.shared.unseal(found, _READ_FAILED)
        return None if data is None else chart_from_data(json.loads(data))


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _day(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _said(messages: tuple[Message, ...] | None) -> list[Any] | None:
    # tuples are written as JSON arrays, as lists are: nothing is copied
    return None if messages is None else [(m.key, m.fields, m.about) for m in messages]


def _unsaid(data: list[Any] | None) -> tuple[Message, ...] | None:
    return None if data is None else tuple(
        Message(key, tuple((name, value) for name, value in fields), about)
        for key, fields, about in data)


def chart_to_data(chart: MappedChart) -> dict[str, Any]:
    """The part of ``chart`` the assessment reads, as JSON data."""
    facts = chart.facts
    return {
        "as_of": _date(chart.as_of),
        "facts_as_of": _date(facts.as_of),
        "facts": {name: [fact.value, fact.evidence, fact.unit, _date(fact.date),
                         fact.reason, _said(fact.assumption),
                         *([fact.possible] if fact.possible else [])]
                  for name, fact in facts.items()},
        "issues": [[i.reference, i.reason, i.severity] for i in chart.issues],
        "medications": [[m.reference, m.concepts, m.status, m.dose_mg, m.doses_per_day]
                        for m in chart.medications if not m.draft],
    }


def chart_from_data(data: dict[str, Any]) -> MappedChart:
    facts = PatientFacts(
        {name: Fact(value, tuple(evidence), unit, _day(day), reason, _unsaid(assumption),
                    tuple(possible[0]) if possible else None)
         for name, (value, evidence, unit, day, reason, assumption, *possible)
         in data["facts"].items()},
        _day(data["facts_as_of"]))
    return MappedChart(
        facts=facts,
        issues=tuple(DataIssue(reference, reason, cast(Severity, severity))
                     for reference, reason, severity in data["issues"]),
        medications=tuple(MedicationUse(reference, tuple(concepts), status, False, dose, per_day)
                          for reference, concepts, status, dose, per_day in data["medications"]),
        as_of=_day(data["as_of"]),
    )
