"""Gather resources from whatever a client sent: a prefetch object, Bundles, lists, resources.

Bundles of any type are read (``searchset``, ``collection``, ``transaction``, and Bundles with no
``type`` at all, as the public sandbox sends them); ``OperationOutcome`` entries, entries without a
``resource`` and a ``Bundle.entry`` that is not a list are reported, not fatal (and never read as
"nothing there": `readable` tells the caller that such a Bundle proves no absence). Duplicates
(same ``Type/id``) are read once.
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


class _Unreadable:
    """What ``_walk`` yields where a Bundle holds something that is not an entry."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def readable(value: Any) -> bool:
    """Whether a Bundle's entries can all be read: ``entry`` absent or a list of entries that hold
    a resource. Anything else leaves what the Bundle held unknown."""
    if not isinstance(value, Mapping) or value.get("resourceType") != "Bundle":
        return True
    entries = value.get("entry")
    if entries is None:
        return True
    return isinstance(entries, list) and all(
        isinstance(e, Mapping) and "resource" in e for e in entries)


def _walk(value: Any, position: str) -> Iterator[tuple[Any, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{position}[{i}]")
        return
    if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        if entries is None:
            return
        if not isinstance(entries, list):
            yield _Unreadable("Bundle.entry is not a list: the Bundle's resources could not be "
                              "read"), f"{position}.entry"
            return
        for i, entry in enumerate(entries):
            where = f"{position}.entry[{i}]"
            if not isinstance(entry, Mapping) or "resource" not in entry:
                yield _Unreadable("Bundle entry without a resource"), where
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
    if isinstance(value, _Unreadable):
        received.issues.append(DataIssue(where, value.reason))
        return
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
