"""Gather resources from whatever a client sent: a prefetch object, Bundles, lists, resources.

Bundles of any type are read (``searchset``, ``collection``, ``transaction``, and Bundles with no
``type`` at all, as the public sandbox sends them); ``OperationOutcome`` entries and entries
without a ``resource`` are reported, not fatal. Duplicates (same ``Type/id``) are read once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir_mappers.model import DataIssue


@dataclass
class Received:
    resources: list[dict[str, Any]] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def reference(resource: Mapping[str, Any], position: str = "") -> str:
    rtype = resource.get("resourceType")
    rid = resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and rid:
        return f"{rtype}/{rid}"
    return f"{rtype if isinstance(rtype, str) else 'resource'}#{position or '?'}"


def _walk(value: Any, position: str) -> Iterator[tuple[Any, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{position}[{i}]")
        return
    if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        entries = value.get("entry") or []
        if not isinstance(entries, list):
            yield None, f"{position}.entry"
            return
        for i, entry in enumerate(entries):
            where = f"{position}.entry[{i}]"
            if not isinstance(entry, Mapping) or "resource" not in entry:
                yield None, where
                continue
            yield from _walk(entry["resource"], where)
        return
    yield value, position


def collect(*sources: Any) -> Received:
    """Flatten ``sources`` into one list of resources, each read once."""
    received = Received()
    for n, source in enumerate(sources):
        for value, where in _walk(source, f"input[{n}]"):
            _add(received, value, where)
    return received


def _add(received: Received, value: Any, where: str) -> None:
    if value is None:
        return  # a null prefetch key: nothing was sent, nothing is lost
    if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
        received.issues.append(DataIssue(where, "not a FHIR resource (no resourceType)"))
        return
    if value["resourceType"] == "OperationOutcome":
        received.issues.append(DataIssue(where, "the FHIR server returned an OperationOutcome",
                                         "warning"))
        return
    ref = reference(value, where)
    if "#" not in ref and ref in received.seen:
        return
    received.seen.add(ref)
    received.resources.append(dict(value))
