"""A quick check that a resource is valid FHIR R4B, read from the fhir.resources models themselves.

``surely_valid(model, data)`` answers True only when validating ``data`` with ``model`` (pydantic)
would raise nothing; False means "not sure", and the caller then validates with the model. The
model costs 50-200 µs a resource; this walk, a few. It knows:

- every field of every element and resource by its JSON name, whether it repeats, and its type,
  from the models' field annotations (read once per model, then cached);
- for the primitive types it certifies, a subset of what the model accepts: ``string`` (some
  non-whitespace), ``code`` (printable ASCII words between single spaces), ``id``, ``uri``,
  ``canonical``, ``markdown`` (non-empty), ``boolean``, ``integer``, ``unsignedInt``,
  ``positiveInt`` (a JSON integer in range), ``decimal`` (a finite JSON number), ``date``,
  ``dateTime``, ``instant`` and ``time`` (the model's own pattern, a real calendar date, at most
  microseconds, no leap second); text that UTF-8 cannot carry is never certified;
- the models' own checks: one value at most per choice (``value[x]``), required elements and
  choices present, no null, no unknown field.

Anything else (an empty object or list, a ``_field`` extension sibling, a ``contained`` resource,
``url``, ``uuid``, ``base64Binary``, ``xhtml``, a JSON type the model would coerce) is "not sure".
tests/fhir_mappers/test_shapes.py holds the walk to what the models answer.

The walk is one function per element shape, built on first use, with each field's check chosen
then; the answers of the checks of short texts (string, code, id, uri, canonical, the dates and
times) are kept per text: a chart repeats its systems, codes and dates.
tests/fhir_mappers/test_shapes_walk.py holds it to the recursive walk it replaced.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_core import types as fhir_types
from fhir_core.types import FhirBase, FhirElementOrResourceBase

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_INT32 = (-(2**31), 2**31 - 1)
_DECIMAL_INT_LIMIT = 10**15
_FRACTION = re.compile(r"\.([0-9]+)")
_DATE_PARTS = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# validate.py adds a timezone to such a text wherever it is: not this walk's to certify
_NAIVE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")

Check = Callable[[Any], bool]
_REMEMBERED_TEXTS = 4096  # answers kept per primitive type
_REMEMBERED_LENGTH = 64  # longer texts are checked each time (a date or a code is shorter)


def _naive(value: str) -> bool:
    return len(value) >= 16 and value[10] == "T" and _NAIVE_DATETIME.match(value) is not None


def _text(value: Any) -> bool:
    """A str that pydantic can read (UTF-8 can carry it: JSON can hold lone surrogates), and
    that is not a date and time without a timezone."""
    if type(value) is not str or not value or _naive(value):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _string(value: Any) -> bool:
    # the model's pattern: some character that is not whitespace (str.isspace covers more)
    return _text(value) and not value.isspace()


def _code(value: Any) -> bool:
    return (type(value) is str and value.isascii() and value.isprintable() and value != ""
            and value[0] != " " and value[-1] != " " and "  " not in value
            and not _naive(value))


def _id(value: Any) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _integer(low: int) -> Check:
    def check(value: Any) -> bool:
        return type(value) is int and low <= value <= _INT32[1]
    return check


def _decimal(value: Any) -> bool:
    if type(value) is int:
        return -_DECIMAL_INT_LIMIT < value < _DECIMAL_INT_LIMIT
    return type(value) is float and math.isfinite(value)


def _calendar_date(text: str) -> bool:
    parts = _DATE_PARTS.match(text)
    if parts is None:
        return True  # a year, or a year and month: the pattern is the whole check
    year, month, day = (int(p) for p in parts.groups())
    if year < 1000:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _time_part(text: str) -> bool:
    """No leap second (the model reads 60 its own way), at most microseconds."""
    if ":60" in text:
        return False
    fraction = _FRACTION.search(text)
    return fraction is None or len(fraction.group(1)) <= 6


def _moment(pattern: re.Pattern[str]) -> Check:
    def check(value: Any) -> bool:
        return (type(value) is str and value.isascii() and pattern.fullmatch(value) is not None
                and _calendar_date(value) and _time_part(value))
    return check


def _time(value: Any) -> bool:
    return (type(value) is str and value.isascii()
            and fhir_types.Time.pattern.fullmatch(value) is not None and _time_part(value))


def _remembered(check: Check) -> Check:
    """``check``, with its answer for each short text kept: a chart repeats its dates, codes and
    systems, and a date costs a pattern, a calendar and a time check (a few µs) each time."""
    answers: dict[str, bool] = {}

    @functools.wraps(check)
    def remembered(value: Any) -> bool:
        if type(value) is not str or len(value) > _REMEMBERED_LENGTH:
            return check(value)
        answer = answers.get(value)
        if answer is None:
            if len(answers) >= _REMEMBERED_TEXTS:  # bounded: the texts come from callers
                answers.clear()
            answer = answers[value] = check(value)
        return answer
    return remembered


PRIMITIVES: dict[type, Check] = {
    fhir_types.String: _remembered(_string),
    fhir_types.Code: _remembered(_code),
    fhir_types.Id: _remembered(_id),
    fhir_types.Uri: _remembered(_text),
    fhir_types.Canonical: _remembered(_text),
    fhir_types.Markdown: _text,
    fhir_types.Integer: _integer(_INT32[0]),
    fhir_types.UnsignedInt: _integer(0),
    fhir_types.PositiveInt: _integer(1),
    fhir_types.Decimal: _decimal,
    fhir_types.Date: _remembered(_moment(fhir_types.Date.pattern)),
    fhir_types.DateTime: _remembered(_moment(fhir_types.DateTime.pattern)),
    fhir_types.Instant: _remembered(_moment(fhir_types.Instant.pattern)),
    fhir_types.Time: _remembered(_time),
}


@dataclass(frozen=True)
class Field:
    """One JSON property: whether it repeats, and either a primitive check or an element."""

    repeats: bool
    check: Check | None = None
    element: type | None = None


def _unbuilt(value: Any) -> bool:
    raise RuntimeError("shapes: walk() of a shape whose walk is not built")


@dataclass(eq=False)
class Shape:
    """An element's JSON properties, name -> (repeats, primitive check, element shape, index of
    its choice group or -1); the required ones; the choice groups one of which is required;
    ``walk``, the check of an element of this shape (`_build_walk`)."""

    fields: dict[str, tuple[bool, Check | None, Shape | None, int]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    needed_choices: tuple[int, ...] = ()
    walk: Check = _unbuilt


def _alternatives(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for x in typing.get_args(annotation) if x is not type(None)
                for a in _alternatives(x)]
    return [annotation]


def _field(annotation: Any) -> Field | None:
    """What the annotation accepts, or None when this walk does not certify it."""
    options = _alternatives(annotation)
    if len(options) != 1:
        return None
    kind, repeats = options[0], False
    if typing.get_origin(kind) in (list, typing.List):  # noqa: UP006
        inner = _alternatives(typing.get_args(kind)[0])
        if len(inner) != 1:
            return None
        kind, repeats = inner[0], True
    if kind is bool:
        return Field(repeats, check=_boolean)
    if typing.get_origin(kind) is typing.Annotated:
        marks = [type(m) for m in typing.get_args(kind)[1:]]
        checks = [PRIMITIVES[m] for m in marks if m in PRIMITIVES]
        return Field(repeats, check=checks[0]) if len(marks) == 1 and checks else None
    if isinstance(kind, type) and issubclass(kind, FhirBase) and \
            not issubclass(kind, FhirElementOrResourceBase):
        return Field(repeats, element=kind.get_model_klass())
    return None


_SHAPES: dict[Any, Shape] = {}


def shape(model: Any) -> Shape:
    """The JSON properties ``model`` certifies, its required ones and its choices (built once;
    elements refer to each other's shapes, Extension to itself)."""
    found = _SHAPES.get(model)
    if found is not None:
        return found
    found = _SHAPES.setdefault(model, Shape())
    fields = getattr(model, "model_fields", {})
    group: dict[str, int] = {}
    needed = []
    for n, names in enumerate(model.get_one_of_many_fields(model).values()):
        group.update({fields[name].alias or name: n for name in names})
        if (fields[names[0]].json_schema_extra or {}).get("one_of_many_required") is True:
            needed.append(n)
    for name, info in fields.items():
        alias = info.alias or name
        if alias.startswith("_") or alias == "fhir_comments":
            continue
        known = _field(info.annotation)
        if known is not None:
            element = shape(known.element) if known.element is not None else None
            found.fields[alias] = (known.repeats, known.check, element, group.get(alias, -1))
    required = {info.alias or name for name, info in fields.items() if info.is_required()}
    required |= {fields[name].alias or name for name, _ in model.get_required_fields(model)}
    found.required = frozenset(required)
    found.needed_choices = tuple(needed)
    return found


def surely_valid(model: type, data: Any) -> bool:
    """True only if ``model.model_validate(data)`` would raise nothing (see the module); the
    resource's own ``resourceType`` is the caller's to check."""
    walk = _RESOURCE_WALKS.get(model)
    if walk is None:
        with _BUILDING:  # a walk is built from complete shapes only, once
            walk = _RESOURCE_WALKS.get(model) or _resource_walk(model)
            _RESOURCE_WALKS[model] = walk
    return walk(data)


_RESOURCE_WALKS: dict[Any, Check] = {}
_BUILDING = threading.Lock()


def _resource_walk(model: Any) -> Check:
    """The walk of a resource of ``model``: its shape's, with ``resourceType`` allowed at the
    top. Builds the walk of every shape built so far first, then fills in their fields' checks
    (elements refer to each other's shapes, Extension to itself)."""
    top = shape(model)
    unbuilt = [known for known in _SHAPES.values() if known.walk is _unbuilt]
    checks = []
    for known in unbuilt:
        known.walk, fields = _build_walk(known)
        checks.append(fields)
    for known, fields in zip(unbuilt, checks, strict=True):
        fields.update(_field_checks(known))
    walk, fields = _build_walk(top)
    fields.update(_field_checks(top))
    fields.setdefault("resourceType", _anything)
    return walk


def _field_checks(known: Shape) -> dict[str, Check]:
    return {name: _field_walk(repeats, check if check is not None else _element_walk(element))
            for name, (repeats, check, element, _) in known.fields.items()}


def _element_walk(element: Shape | None) -> Check:
    if element is None:
        raise ValueError("shapes: a field with neither a primitive check nor an element")
    return element.walk


def _build_walk(known: Shape) -> tuple[Check, dict[str, Check]]:
    """What the element check decides for ``known`` (anything but a non-empty JSON object, any
    field the shape does not know, a wrong type, a second value of a choice, a missing required
    element or choice makes it False), as one function, and the checks of its fields, by name,
    for the caller to fill in: each field's check is chosen once, not at every value."""
    checks: dict[str, Check] = {}
    required = known.required
    choice = {name: 1 << group for name, (*_, group) in known.fields.items() if group >= 0}
    needed = 0
    for group in known.needed_choices:
        needed |= 1 << group

    def walk(data: Any) -> bool:
        if type(data) is not dict or not data:
            return False
        for key, value in data.items():
            check = checks.get(key)
            if check is None or not check(value):
                return False
        return not required or required <= data.keys()

    def walk_choices(data: Any) -> bool:
        if type(data) is not dict or not data:
            return False
        chosen = 0
        for key, value in data.items():
            check = checks.get(key)
            if check is None or not check(value):
                return False
            bit = choice.get(key)
            if bit is not None:  # a choice: one value at most
                if chosen & bit:
                    return False
                chosen |= bit
        return (not required or required <= data.keys()) and chosen & needed == needed

    return walk_choices if choice else walk, checks


def _anything(value: Any) -> bool:
    return True


def _field_walk(repeats: bool, check: Check) -> Check:
    """The check of one property's JSON value: one value, or a non-empty list of them."""
    if not repeats:
        return check

    def each(value: Any) -> bool:
        return type(value) is list and bool(value) and all(map(check, value))
    return each
