"""Gather resources from whatever a client sent: a prefetch object, Bundles, lists, resources.

Bundles of any type are read (``searchset``, ``collection``, ``transaction``, and Bundles with no
``type`` at all, as the public sandbox sends them); ``OperationOutcome`` entries, entries without a
``resource`` and a ``Bundle.entry`` that is not a list are reported, not fatal (and never read as
"nothing there": `readable` tells the caller that such a Bundle proves no absence). Duplicates
(same ``Type/id``) are read once.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def _mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # a dict, as JSON gives, first


def readable(value: Any) -> bool:
    """Whether a Bundle's entries can all be read: ``entry`` absent or a list of entries that hold
    a resource. Anything else leaves what the Bundle held unknown."""
    if not _mapping(value) or value.get("resourceType") != "Bundle":
        return True
    entries = value.get("entry")
    if entries is None:
        return True
    return isinstance(entries, list) and all(_mapping(e) and "resource" in e for e in entries)


def collect(*sources: Any) -> Received:
    """Flatten ``sources`` into one list of resources, each read once."""
    received = Received()
    for n, source in enumerate(sources):
        _gather(received, source, f"input[{n}]")
    return received


def _gather(received: Received, value: Any, position: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _gather(received, item, f"{position}[{i}]")
        return
    if not (_mapping(value) and value.get("resourceType") == "Bundle"):
        _add(received, value, position)
        return
    entries = value.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        received.issues.append(DataIssue(f"{position}.entry", "Bundle.entry is not a list: the "
                                         "Bundle's resources could not be read"))
        return
    seen, resources = received.seen, received.resources
    for i, entry in enumerate(entries):
        if not _mapping(entry) or "resource" not in entry:
            received.issues.append(DataIssue(f"{position}.entry[{i}]",
                                             "Bundle entry without a resource"))
            continue
        resource = entry["resource"]
        rtype, rid = (resource.get("resourceType"), resource.get("id")) \
            if type(resource) is dict else (None, None)
        if type(rtype) is not str or type(rid) is not str or not rid or \
                rtype in ("Bundle", "OperationOutcome"):
            _gather(received, resource, f"{position}.entry[{i}]")
            continue
        # The common entry: a resource with its id, whose reference needs no position.
        ref = f"{rtype}/{rid}"
        if "#" not in ref and ref in seen:
            continue
        seen.add(ref)
        resources.append(dict(resource))


def _add(received: Received, value: Any, where: str) -> None:
    if value is None:
        return  # a null prefetch key: nothing was sent, nothing is lost
    if not _mapping(value) or not isinstance(value.get("resourceType"), str):
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
