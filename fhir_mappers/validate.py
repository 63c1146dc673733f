"""Check a resource against the FHIR R4B model, forgiving what real clients are known to send.

A copy of the resource is repaired before validation, and each repair is reported as a
``warning`` issue (the resource is still used):

- a single object where R4 wants a list (``category``, ``reasonCode``: the public sandbox);
- an empty string (``"display": ""``, as Chinese hospital systems send a local code with no
  name; R4 strings may not be empty): read as if the element were absent;
- a ``dateTime`` with a time but no timezone (EHR exports): read as the local date;
- an ``id`` with characters the FHIR id pattern rejects: kept for evidence as sent;
- top-level fields that R4B does not define (vendor additions): ignored;
- required fields that are missing (a draft order without ``intent``): read as far as possible.

Anything else that fails validation (a string where a number belongs, a malformed reference)
makes the resource ``skipped``, with the failing field paths (never the values) in the reason.
Only resources the rules use are validated: the caller selects them first, by type and code,
because model validation costs far more than reading JSON. A resource that ``shapes.surely_valid``
certifies (the common, well-formed case: nothing to repair but unknown top-level fields) is not
handed to the model, which would accept it.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_mappers import shapes
from fhir_mappers.model import DataIssue

_NAIVE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_BAD_ID_CHAR = re.compile(r"[^A-Za-z0-9\-.]")
_TOLERATED = {"missing", "model_field_validation.missing"}


@functools.cache
def _model(resource_type: str) -> Any:
    try:
        return get_fhir_model_class(resource_type)
    except KeyError:
        return None


@functools.cache
def _field_names(resource_type: str) -> frozenset[str]:
    model = _model(resource_type)
    if model is None:
        return frozenset()
    return frozenset({info.alias or name for name, info in model.model_fields.items()}
                     | {"resourceType"})


@functools.cache
def _list_fields(resource_type: str) -> frozenset[str]:
    model = _model(resource_type)
    if model is None:
        return frozenset()
    names = set()
    for name, info in model.model_fields.items():
        if "List[" in str(info.annotation) or typing.get_origin(info.annotation) is list:
            names.add(info.alias or name)
    return frozenset(names)


def _fix_datetimes(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (value + "Z", True) if _NAIVE_DATETIME.match(value) else (value, False)
    if isinstance(value, list):
        fixed = [_fix_datetimes(v) for v in value]
        return [v for v, _ in fixed], any(c for _, c in fixed)
    if isinstance(value, Mapping):
        pairs = {k: _fix_datetimes(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(c for _, c in pairs.values())
    return value, False


def _drop_empty_strings(value: Any) -> tuple[Any, bool]:
    if isinstance(value, list):
        kept = [_drop_empty_strings(v) for v in value if v != ""]
        return [v for v, _ in kept], len(kept) < len(value) or any(c for _, c in kept)
    if isinstance(value, Mapping):
        pairs = {k: _drop_empty_strings(v) for k, v in value.items() if v != ""}
        return ({k: v for k, (v, _) in pairs.items()},
                len(pairs) < len(value) or any(c for _, c in pairs.values()))
    return value, False


def _repair(resource: Mapping[str, Any], ref: str) -> tuple[dict[str, Any], list[DataIssue]]:
    rtype = str(resource["resourceType"])
    allowed = _field_names(rtype)
    extra = sorted(k for k in resource if k not in allowed)
    copy = {k: v for k, v in resource.items() if k in allowed}
    notes: list[DataIssue] = []
    if extra:
        notes.append(DataIssue(ref, f"fields not in FHIR R4 ignored: {', '.join(extra)}", "info"))
    wrapped = sorted(k for k in _list_fields(rtype) if isinstance(copy.get(k), Mapping))
    for key in wrapped:
        copy[key] = [copy[key]]
    if wrapped:
        notes.append(DataIssue(ref, f"read single {', '.join(wrapped)} as a list", "warning"))
    rid = copy.get("id")
    if isinstance(rid, str) and (_BAD_ID_CHAR.search(rid) or len(rid) > 64):
        copy["id"] = (_BAD_ID_CHAR.sub("-", rid) or "x")[:64]
        notes.append(DataIssue(ref, "id has characters FHIR ids do not allow; kept as sent",
                               "warning"))
    fixed, changed = _fix_datetimes(copy)
    if changed:
        notes.append(DataIssue(ref, "dateTime without timezone read as a local date", "warning"))
    fixed, emptied = _drop_empty_strings(fixed)
    if emptied:
        notes.append(DataIssue(ref, "empty strings read as absent elements", "warning"))
    return fixed, notes


def check(resource: Mapping[str, Any], ref: str) -> tuple[dict[str, Any] | None, list[DataIssue]]:
    """The resource to read (lists repaired) or None when it must be skipped, and the issues."""
    model = _model(str(resource["resourceType"]))
    if model is None:
        return None, [DataIssue(ref, "not an R4 resource type")]
    quick = _quick(model, resource, ref)
    if quick is not None:
        return dict(resource), quick
    repaired, notes = _repair(resource, ref)
    try:
        model.model_validate(repaired)
        return _readable(resource, repaired), notes
    except ValidationError as exc:
        errors = exc.errors()
    fatal = [e for e in errors if e["type"] not in _TOLERATED]
    missing = sorted({_path(e["loc"]) for e in errors if e["type"] in _TOLERATED})
    if fatal:
        fields = ", ".join(sorted({f"{_path(e['loc'])} ({e['type']})" for e in fatal}))
        return None, [*notes, DataIssue(ref, f"invalid FHIR R4: {fields}")]
    if missing:
        notes.append(DataIssue(ref, f"required fields missing: {', '.join(missing)}", "warning"))
    return _readable(resource, repaired), notes


def _quick(model: Any, resource: Mapping[str, Any], ref: str) -> list[DataIssue] | None:
    """The issues, when the resource needs no repair but dropping fields R4B does not define and
    ``shapes.surely_valid`` certifies the rest (what ``_repair`` and the model would say); else
    None."""
    if shapes.surely_valid(model, resource):
        return []  # the walk knows only fields R4B defines: none to drop
    allowed = _field_names(str(resource["resourceType"]))
    extra = [k for k in resource if k not in allowed]
    if not extra or not shapes.surely_valid(model, {k: v for k, v in resource.items()
                                                    if k in allowed}):
        return None
    return [DataIssue(ref, f"fields not in FHIR R4 ignored: {', '.join(sorted(extra))}", "info")]


def _readable(original: Mapping[str, Any], repaired: Mapping[str, Any]) -> dict[str, Any]:
    """Read the repaired lists, but the original id and dates (the evidence cites them)."""
    readable = dict(original)
    for key in _list_fields(str(original["resourceType"])):
        if isinstance(original.get(key), Mapping):
            readable[key] = repaired[key]
    return readable


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int)) or "resource"
