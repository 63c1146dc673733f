"""The quick R4B check's walk (``shapes.surely_valid``) answers as the recursive walk it replaced.

``surely_valid`` runs one function per element shape, built once, with each field's check chosen
when it is built, and keeps the answers of the checks of the short texts it has seen.
Its answers must be those of the walk it replaced (kept here as the reference, with the
primitive checks unremembered): on every resource the project holds, with and without the
fields R4B does not define, on thousands of mutations of them, and per primitive type on
generated values asked twice.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappers import shapes, validate
from fhir_mappers.chart import READ_TYPES
from fhir_mappers.model import DataIssue
from tests.fhir_mappers.test_shapes import RESOURCES, TYPES, VALUES
from tests.reliability.support import FUZZ, mutate


def _plain(check: Any) -> Any:
    return getattr(check, "__wrapped__", check)


def reference_element(known: shapes.Shape, data: dict[str, Any], top: bool = False) -> bool:
    """The walk ``surely_valid`` replaced."""
    if not data:
        return False
    fields = known.fields
    chosen: set[int] | None = None
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            if top and key == "resourceType":
                continue
            return False
        repeats, check, element, group = spec
        check = _plain(check) if check is not None else None
        if group >= 0:
            if chosen is None:
                chosen = {group}
            elif group in chosen:
                return False
            else:
                chosen.add(group)
        if repeats:
            if type(value) is not list or not value:
                return False
            for item in value:
                if not (check(item) if check is not None else
                        type(item) is dict and reference_element(element, item)):
                    return False
        elif check is not None:
            if not check(value):
                return False
        elif type(value) is not dict or not reference_element(element, value):
            return False
    if known.required and not known.required <= data.keys():
        return False
    return all(chosen is not None and n in chosen for n in known.needed_choices)


def reference_surely_valid(model: type, data: Any) -> bool:
    return type(data) is dict and reference_element(shapes.shape(model), data, top=True)


def _both(resource: Any) -> tuple[bool, bool] | None:
    """(walk, reference) on the resource as sent and with only the fields R4B defines."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) \
            or resource["resourceType"] not in READ_TYPES:
        return None
    model = validate._model(resource["resourceType"])
    allowed = validate._field_names(resource["resourceType"])
    answers = [(shapes.surely_valid(model, data), reference_surely_valid(model, data))
               for data in (resource, {k: v for k, v in resource.items() if k in allowed})]
    assert all(walk == reference for walk, reference in answers), answers
    return answers[1]


def test_the_walk_answers_as_the_reference_on_every_resource_of_the_charts():
    answers = [_both(r) for r in RESOURCES]
    assert sum(1 for a in answers if a and a[0]) > 500  # most are certified: the walk is used


@settings(FUZZ, max_examples=3000)
@given(resource=st.sampled_from(RESOURCES), count=st.integers(min_value=1, max_value=3),
       data=st.data())
def test_the_walk_answers_as_the_reference_on_a_mutated_resource(resource, count, data):
    _both(mutate(data, resource, count))


@settings(FUZZ, max_examples=4000)
@given(kind=st.sampled_from(sorted(TYPES, key=lambda t: t.__name__)), value=VALUES)
def test_a_remembered_primitive_check_answers_as_the_check_each_time(kind, value):
    check = shapes.PRIMITIVES[kind]
    expected = _plain(check)(value)
    assert check(value) == expected
    assert check(value) == expected


def test_the_remembered_answers_stay_right_when_the_memory_is_full(monkeypatch):
    monkeypatch.setattr(shapes, "_REMEMBERED_TEXTS", 3)
    check = shapes.PRIMITIVES[next(t for t in TYPES if t.__name__ == "DateTime")]
    texts = ["2026-11-27", "2026-02-30", "2026-11-27T08:00", "2024-02-29", "x", "2026-11-27"]
    assert [check(t) for t in texts * 2] == [_plain(check)(t) for t in texts * 2]
    assert [check(t) for t in texts] == [True, False, False, True, False, True]


def reference_quick(model: Any, resource: dict[str, Any], ref: str) -> list[Any] | None:
    """The validate._quick that filtered the fields R4B does not define before the walk."""
    allowed = validate._field_names(str(resource["resourceType"]))
    extra = [k for k in resource if k not in allowed]
    data = {k: v for k, v in resource.items() if k in allowed} if extra else resource
    if not shapes.surely_valid(model, data):
        return None
    if extra:
        return [DataIssue(ref, f"fields not in FHIR R4 ignored: {', '.join(sorted(extra))}",
                          "info")]
    return []


VENDOR = st.dictionaries(st.sampled_from(["vendorFlag", "zz", "_status", "meta2", "text2"]),
                         st.sampled_from([1, "x", None, {"a": 1}, []]), max_size=3)


@settings(FUZZ, max_examples=2000)
@given(resource=st.sampled_from(RESOURCES), count=st.integers(min_value=0, max_value=2),
       vendor=VENDOR, data=st.data())
def test_the_quick_check_answers_as_before_with_fields_r4b_does_not_define(resource, count,
                                                                          vendor, data):
    mutated = {**(mutate(data, resource, count) if count else resource), **vendor}
    if not isinstance(mutated.get("resourceType"), str) \
            or mutated["resourceType"] not in READ_TYPES:
        return
    model = validate._model(mutated["resourceType"])
    assert validate._quick(model, mutated, "R/1") == reference_quick(model, mutated, "R/1")
