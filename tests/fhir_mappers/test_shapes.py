"""The quick R4B check (fhir_mappers/shapes.py) certifies only what fhir.resources models accept.

``surely_valid`` lets a resource skip model validation. It is sound if whatever it certifies the
model accepts: checked here on every resource the project holds (synthetic patients, review
charts, mapper fixtures, the sandbox captures, a long chart), on thousands of mutations of them
(the fuzz suite's hostile values, dropped fields, swapped types), and per primitive type on
generated text and numbers. It is useful if it certifies the well-formed resources real charts
send: checked on the same charts.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from fhir_core import types as fhir_types
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from fhir_mappers import shapes, validate
from fhir_mappers.chart import READ_TYPES
from fhir_mappers.collect import collect
from tests.cds_service.all_charts import calls
from tests.fhir_mappers.big_chart import build
from tests.reliability.support import FUZZ, HOSTILE, mutate

ROOT = Path(__file__).parents[1]


def _resources() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    sources: list[Any] = [list(call.resources) for call in calls()]
    sources += [json.loads(p.read_text("utf-8"))
                for p in sorted((ROOT / "fhir_mappers" / "fixtures").glob("*.json"))]
    for path in sorted((ROOT / "fixtures" / "cds-hooks-sandbox").rglob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        body = doc.get("body") if isinstance(doc, dict) else None
        if isinstance(body, dict):
            sources += [*(body.get("prefetch") or {}).values(),
                        (body.get("context") or {}).get("draftOrders")]
    sources.append(build(300))
    for resource in collect(*sources).resources:
        found.setdefault(json.dumps(resource, sort_keys=True), resource)
    return [r for r in found.values() if r["resourceType"] in READ_TYPES]


RESOURCES = _resources()


def _model_accepts(resource: dict[str, Any]) -> bool:
    model = validate._model(resource["resourceType"])
    allowed = validate._field_names(resource["resourceType"])
    try:
        model.model_validate({k: v for k, v in resource.items() if k in allowed})
    except ValidationError:
        return False
    return True


def _certified(resource: Any) -> bool:
    """What validate.check asks of the walk (the mapper reads only the types it knows)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str) \
            or resource["resourceType"] not in READ_TYPES:
        return False
    model = validate._model(resource["resourceType"])
    allowed = validate._field_names(resource["resourceType"])
    return shapes.surely_valid(model, {k: v for k, v in resource.items() if k in allowed})


def test_the_charts_hold_many_resources_of_every_type_the_rules_read():
    types = {r["resourceType"] for r in RESOURCES}
    assert len(RESOURCES) > 500
    assert {"Patient", "Observation", "Condition", "MedicationRequest", "Procedure"} <= types


def test_every_certified_resource_of_the_charts_is_one_the_model_accepts():
    certified = [r for r in RESOURCES if _certified(r)]
    assert [r["id"] for r in certified if not _model_accepts(r)] == []


def test_the_well_formed_resources_of_the_charts_are_certified():
    """Nearly all: what is left (repairs, extension siblings, url fields) goes to the model."""
    accepted = [r for r in RESOURCES if _model_accepts(r)]
    certified = [r for r in accepted if _certified(r)]
    assert len(certified) >= 0.95 * len(accepted)


@settings(FUZZ, max_examples=3000)
@given(resource=st.sampled_from(RESOURCES), count=st.integers(min_value=1, max_value=3),
       data=st.data())
def test_a_mutated_resource_is_certified_only_if_the_model_accepts_it(resource, count, data):
    mutated = mutate(data, resource, count)
    if _certified(mutated):
        assert _model_accepts(mutated), json.dumps(mutated)[:2000]


def test_a_resource_the_model_rejects_is_not_certified():
    observation = next(r for r in RESOURCES if r["resourceType"] == "Observation"
                       and "valueQuantity" in r and _certified(r))
    for field, value in [("status", "final "), ("effectiveDateTime", "2026-02-30"),
                         ("effectiveDateTime", "2026-11-27T08:00"), ("id", "a" * 65),
                         ("valueQuantity", {"value": True}), ("valueQuantity", {"value": "5"}),
                         ("subject", {"reference": 7}), ("code", {}), ("category", [None]),
                         ("valueString", "x")]:
        changed = {**observation, field: value}
        assert not _certified(changed), (field, value)


TYPES = {fhir_types.String: fhir_types.StringType, fhir_types.Code: fhir_types.CodeType,
         fhir_types.Id: fhir_types.IdType, fhir_types.Uri: fhir_types.UriType,
         fhir_types.Canonical: fhir_types.CanonicalType,
         fhir_types.Markdown: fhir_types.MarkdownType,
         fhir_types.Integer: fhir_types.IntegerType,
         fhir_types.UnsignedInt: fhir_types.UnsignedIntType,
         fhir_types.PositiveInt: fhir_types.PositiveIntType,
         fhir_types.Decimal: fhir_types.DecimalType, fhir_types.Date: fhir_types.DateType,
         fhir_types.DateTime: fhir_types.DateTimeType,
         fhir_types.Instant: fhir_types.InstantType, fhir_types.Time: fhir_types.TimeType}
MOMENTS = st.from_regex(
    r"\A[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?\Z")
TIMES = st.from_regex(r"\A[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?\Z")
VALUES = st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=0x7f)), MOMENTS,
                   TIMES, st.integers(), st.integers(min_value=-(2**40), max_value=2**40),
                   st.floats(), st.booleans(), st.none(), HOSTILE,
                   st.sampled_from(["2024-02-29", "2023-02-29", "0001-01-01", "1000-01-01",
                                    "9999-12-31T23:59:59.999999+14:00", "2016-12-31T23:59:60Z",
                                    "2026-11-27T24:00:00Z", "C90.00", "final", " final",
                                    "a  b", "x\n", "\u3000", "\x1c", "mm-rd.1", "a_b"]))


def test_every_certified_primitive_type_has_its_model_type_here():
    assert set(shapes.PRIMITIVES) == set(TYPES)


@settings(FUZZ, max_examples=4000)
@given(kind=st.sampled_from(sorted(TYPES, key=lambda t: t.__name__)), value=VALUES)
def test_a_primitive_is_certified_only_if_the_model_type_accepts_it(kind, value):
    if shapes.PRIMITIVES[kind](value):
        TypeAdapter(TYPES[kind]).validate_python(value)


@pytest.mark.parametrize("resource_type", sorted(READ_TYPES))
def test_the_walk_repeats_exactly_the_fields_the_repair_reads_as_lists(resource_type):
    model = validate._model(resource_type)
    known = shapes.shape(model).fields
    lists = validate._list_fields(resource_type)
    assert {name for name, (repeats, *_) in known.items() if repeats} == lists & known.keys()


def test_a_field_the_walk_does_not_know_is_never_certified():
    patient = next(r for r in RESOURCES if r["resourceType"] == "Patient" and _certified(r))
    for extra in ({"_gender": {"extension": []}}, {"contained": [patient]},
                  {"fhir_comments": "x"}, {"gender": None}):
        assert not _certified({**patient, **extra}), extra
    assert typing.get_origin(fhir_types.UrlType) is typing.Annotated  # url: never certified
