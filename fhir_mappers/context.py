"""Shared state of one mapping run: the date, the patient, the policy, the votes, the issues."""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from fhir_mappers import validate
from fhir_mappers.ballot import Ballot, Vote
from fhir_mappers.collect import reference
from fhir_mappers.model import DataIssue

_SUBJECT_FIELDS = ("subject", "patient")


@dataclass(frozen=True)
class CancerEntry:
    """A problem-list entry of a malignancy, kept until the medications are read."""

    reference: str
    concepts: frozenset[str]
    status: str
    onset: dt.date | None
    abated: dt.date | None


@functools.cache
def policy() -> Mapping[str, Any]:
    text = (resources.files("fhir_mappers") / "policy.toml").read_text("utf-8")
    return tomllib.loads(text)


@dataclass
class Context:
    as_of: dt.date
    patient_id: str | None
    received_types: frozenset[str]
    include_drafts: bool = False
    ballot: Ballot = field(default_factory=Ballot)
    issues: list[DataIssue] = field(default_factory=list)
    by_ref: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    read: int = 0
    foreign: set[str] = field(default_factory=set)
    cancers: list[CancerEntry] = field(default_factory=list)
    unread_conditions: list[str] = field(default_factory=list)

    @property
    def policy(self) -> Mapping[str, Any]:
        return policy()

    def received(self, *types: str) -> bool:
        return any(t in self.received_types for t in types)

    def vote(self, factor: str, vote: Vote) -> None:
        self.ballot.cast(factor, vote)

    def accept(self, resource: Mapping[str, Any]) -> dict[str, Any] | None:
        """The resource ready to read, or None (another patient's, or invalid: reported)."""
        ref = reference(resource)
        if not self.same_patient(resource):
            return None
        readable, notes = validate.check(resource, ref)
        self.issues.extend(notes)
        if readable is not None:
            self.read += 1
        return readable

    def same_patient(self, resource: Mapping[str, Any]) -> bool:
        """Whether the resource is this patient's; another patient's is reported once."""
        if self._subject_matches(resource):
            return True
        ref = reference(resource)
        if ref not in self.foreign:
            self.foreign.add(ref)
            self.issues.append(DataIssue(ref, "belongs to another patient; ignored"))
        return False

    def _subject_matches(self, resource: Mapping[str, Any]) -> bool:
        if self.patient_id is None:
            return True
        if resource.get("resourceType") == "Patient":
            return resource.get("id") == self.patient_id
        for name in _SUBJECT_FIELDS:
            subject = resource.get(name)
            if subject is not None and (type(subject) is dict or isinstance(subject, Mapping)) \
                    and isinstance(subject.get("reference"), str):
                ref = str(subject["reference"]).rstrip("/")
                return ref.split("/")[-1] == self.patient_id and (
                    "Patient/" in ref or "/" not in ref)
        return True  # no subject to compare (Medication, Device without patient): keep
