"""Gathering resources from what a client sent (``fhir_mappers.collect``), on any input.

``collect`` must give the resources (in order, each ``Type/id`` once) and the issues that the
generator walk it replaced (kept here as the reference) gave: on generated prefetch values of
every shape (Bundles, nested Bundles, lists, bare resources, null, entries without a resource, a
``Bundle.entry`` that is not a list, OperationOutcomes, duplicates, ids with ``#``, no id), on the
charts the project holds and on the fuzz suite's hostile values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappers.collect import Received, collect, reference
from fhir_mappers.model import DataIssue
from tests.cds_service.all_charts import calls
from tests.reliability.support import FUZZ, HOSTILE


class _Unreadable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


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


def reference_collect(*sources: Any) -> Received:
    """The generator walk ``collect`` replaced."""
    received = Received()
    for n, source in enumerate(sources):
        for value, where in _walk(source, f"input[{n}]"):
            if value is None:
                continue
            if isinstance(value, _Unreadable):
                received.issues.append(DataIssue(where, value.reason))
                continue
            if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
                received.issues.append(DataIssue(where, "not a FHIR resource (no resourceType)"))
                continue
            if value["resourceType"] == "OperationOutcome":
                received.issues.append(DataIssue(
                    where, "the FHIR server returned an OperationOutcome", "warning"))
                continue
            ref = reference(value, where)
            if "#" not in ref and ref in received.seen:
                continue
            received.seen.add(ref)
            received.resources.append(dict(value))
    return received


TYPES = st.sampled_from(["Observation", "Condition", "Patient", "OperationOutcome", "Bundle", ""])
IDS = st.one_of(st.sampled_from(["a", "b", "a#1", "", "x.y"]), st.none(), st.integers(0, 2))
RESOURCES = st.one_of(
    st.fixed_dictionaries({"resourceType": TYPES, "id": IDS}),
    st.fixed_dictionaries({"resourceType": TYPES}), st.fixed_dictionaries({"id": IDS}),
    HOSTILE)


def _bundles(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    entry = st.one_of(st.builds(lambda r: {"resource": r}, inner), HOSTILE, st.just({}))
    return st.one_of(
        st.builds(lambda e: {"resourceType": "Bundle", "entry": e}, st.lists(entry, max_size=6)),
        st.builds(lambda e: {"resourceType": "Bundle", "entry": e}, HOSTILE),
        st.just({"resourceType": "Bundle"}), st.lists(inner, max_size=3))


SOURCES = st.recursive(RESOURCES, _bundles, max_leaves=12)


def _same(sources: list[Any]) -> None:
    got, want = collect(*sources), reference_collect(*sources)
    assert (got.resources, got.issues, got.seen) == (want.resources, want.issues, want.seen)


@settings(FUZZ, max_examples=3000)
@given(sources=st.lists(st.one_of(SOURCES, st.none()), max_size=4))
def test_collect_gathers_as_the_walk_it_replaced(sources):
    _same(sources)


def test_every_chart_is_gathered_as_before():
    for call in calls():
        _same([*call.body["prefetch"].values(), call.body["context"].get("draftOrders")])
