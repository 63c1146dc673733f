"""Dexamethasone mg per treatment cycle from FHIR R4 medication resources (MM-T5-20/21/26).

Per cycle = dose per administration x administrations in the cycle; other glucocorticoids count
by dexamethasone equivalence (``dosage.toml``), and the result says when they did.

What it reads (plain, already parsed JSON dicts; the caller has chosen the current orders):

- MedicationRequest ``dosageInstruction[]`` and MedicationStatement ``dosage[]``:
  ``doseAndRate[].doseQuantity`` (a preferred ``type`` ``ordered`` entry, else entries that agree)
  in mg, g or µg/ug/mcg; in tablets (``{tbl}``, ``{pill}``...) when the product name
  (``medicationCodeableConcept.text`` or ``coding[].display``, e.g. "dexamethasone 4 MG Oral
  Tablet") states one strength; in mL when the product name states one mg/mL concentration.
- ``timing.repeat``: frequency/period/periodUnit (s, min, h, d, wk), boundsDuration,
  boundsPeriod (dates; the end date is inclusive, as in FHIR), boundsRange (read as days from the
  start of the cycle, low inclusive, high exclusive: 0-4 d is days 1-4), count, dayOfWeek,
  timeOfDay; ``timing.event`` dates; ``timing.code`` (QD, BID, WK...); ``sequence`` (entries with
  a later sequence start when the earlier ones end).
- The cycle length: a cycle stated in the dosage text ("q28d", "every 21 days", "28-day cycle",
  "每28天", "28天为一周期"), or a dose-less dosage entry whose only content is a repeat period
  longer than every dosing interval (the outer cycle), or a repeat whose period of at least
  ``cycle.repeat_period_min_days`` holds several administrations (frequency 8 per 21 d: eight
  doses in each 21-day cycle), else the caller's ``default_cycle_days``, else the default in
  ``dosage.toml``. Bare intervals ("q7d") that merely restate the structured dosing interval are
  not read as a cycle.
- Dosage ``text``/``patientInstruction``, only for a field that is absent from the structure: the
  dose ("40 mg") and days of the cycle ("days 1-4, 9-12, 17-20", "D1-4, D9-12", "d1,8,15,22",
  "d1-4、d9-12", "第1-4天"); every reading of text is reported in ``assumptions``. A repeat with
  a period shorter than ``cycle.open_schedule_whole_cycle_min_period_days`` and no end (no count,
  duration or bounds end: "20 mg once daily") takes its days from the text; with none there,
  its doses per cycle are unknown, never every day of the cycle (pulsed dexamethasone is
  ordered so). A longer period with no end (weekly) runs to the end of the cycle.
- MedicationAdministration ``dosage.dose`` and ``effectiveDateTime``/``effectivePeriod.start``:
  the administrations dated within the cycle that ends on the latest one are summed.

What it refuses (``mg`` None and a ``reason`` naming the resource): no dose; a dose range; mL
without a concentration; tablets without a stated strength; a dose per kg or m²; "as directed";
as-needed (PRN) orders; no timing; a daily schedule with no end and no days of the cycle;
frequency ranges; periods in months or years; weekday schedules over spans that are not whole
weeks when no date fixes the weekday; a drug the caller could not name or that has no
equivalence; orders that state different cycle lengths. It never copies free text from the
record into a reason or an assumption.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vte_rules.facts import Message

ORDER_TYPES = ("MedicationRequest", "MedicationStatement")
ADMINISTRATION = "MedicationAdministration"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class DoseResult:
    """Dexamethasone-equivalent mg per cycle, or None with the reason it is unknown."""

    mg: float | None
    cycle_days: int | None
    evidence: tuple[str, ...]
    reason: str | None
    assumptions: tuple[Message, ...]


class DosageTableError(ValueError):
    """``dosage.toml`` is malformed; the mapper must not run with it."""


class _Unknown(Exception):  # noqa: N818 - a result, not an error: the dose is unknown
    """Why a dose cannot be computed; plain English, no free text copied from the record."""


# --------------------------------------------------------------------------------- tables ----

@dataclass(frozen=True)
class _Unit:
    kind: str  # "mass" (factor = mg), "volume" (factor = mL) or "tablet"
    factor: Fraction


@dataclass(frozen=True)
class _Tables:
    default_cycle_days: int
    default_cycle_why: str
    repeat_cycle_min_days: int
    open_whole_cycle_min_days: int
    equivalent_mg: Mapping[str, Fraction]
    basis: str
    ucum_system: str
    snomed_system: str
    ucum: Mapping[str, _Unit]
    snomed: Mapping[str, _Unit]
    words: Mapping[str, _Unit]
    seconds: Mapping[str, int]
    time_words: Mapping[str, str]
    code_system: str
    codes: Mapping[str, tuple[Fraction, Fraction, str]]


def _number(raw: object, where: str) -> Fraction:
    # str() first so that 0.001 becomes exactly 1/1000, not its binary approximation
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise DosageTableError(f"dosage.toml: {where} must be a positive number")
    return Fraction(str(raw))


def _units(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, _Unit]:
    found: dict[str, _Unit] = {}
    for i, row in enumerate(rows):
        if row.get("kind") not in ("mass", "volume", "tablet"):
            raise DosageTableError(f"dosage.toml: quantity.units[{i}] has no valid kind")
        unit = _Unit(str(row["kind"]), _number(row.get("factor"), f"quantity.units[{i}].factor"))
        for name in row.get(key, []):
            found[name.casefold() if key == "text" else name] = unit
    return found


def _codes(raw: Mapping[str, Any], seconds: Mapping[str, int]) -> dict[str, tuple[Fraction,
                                                                             Fraction, str]]:
    codes = {}
    for code, row in raw.items():
        if row.get("unit") not in seconds:
            raise DosageTableError(f"dosage.toml: timing code {code} has an unknown unit")
        codes[code] = (_number(row.get("frequency"), code), _number(row.get("period"), code),
                       str(row["unit"]))
    return codes


def _parse_tables(raw: Mapping[str, Any]) -> _Tables:
    try:
        cycle, eq, qty, time, timing = (raw["cycle"], raw["equivalence"], raw["quantity"],
                                        raw["time"], raw["timing_codes"])
        for section in (cycle, eq, qty, time, timing):
            if not section.get("source"):
                raise DosageTableError("dosage.toml: every section needs a source")
        default, shortest = cycle["default_days"], cycle["repeat_period_min_days"]
        open_min = cycle["open_schedule_whole_cycle_min_period_days"]
        for name, days in (("default_days", default), ("repeat_period_min_days", shortest),
                           ("open_schedule_whole_cycle_min_period_days", open_min)):
            if not isinstance(days, int) or isinstance(days, bool) or days < 1:
                raise DosageTableError(f"dosage.toml: cycle.{name} must be a positive integer")
        seconds = {k: int(v) for k, v in time["seconds"].items()}
        return _Tables(
            default, str(cycle["why"]), shortest, open_min,
            {k: _number(v, f"equivalence.mg.{k}") for k, v in eq["mg"].items()},
            str(eq["basis"]), str(qty["ucum_system"]), str(qty["snomed_system"]),
            _units(qty["units"], "ucum"), _units(qty["units"], "snomed"),
            _units(qty["units"], "text"), seconds,
            {k.casefold(): str(v) for k, v in time["text"].items()},
            str(timing["system"]), _codes(timing["codes"], seconds))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, DosageTableError):
            raise
        raise DosageTableError(f"dosage.toml: missing or malformed entry ({exc})") from exc


@functools.cache
def _tables() -> _Tables:
    text = importlib.resources.files("fhir_mappers").joinpath("dosage.toml").read_text("utf-8")
    tables = _parse_tables(tomllib.loads(text))
    if tables.basis not in tables.equivalent_mg:
        raise DosageTableError("dosage.toml: the equivalence basis has no row")
    return tables


# ------------------------------------------------------------------------------- JSON access ----

def _map(raw: object) -> Mapping[str, Any]:
    if type(raw) is dict:  # what JSON gives, without asking the Mapping ABC
        return raw
    return raw if isinstance(raw, Mapping) else {}


def _list(raw: object) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _str(raw: object) -> str | None:
    return raw if isinstance(raw, str) and raw.strip() else None


def _num(raw: object) -> Fraction | None:
    if isinstance(raw, Fraction):  # a Timing.code shortcut from the table
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return _exact(raw)


@functools.lru_cache(maxsize=1024, typed=True)
def _exact(raw: int | float) -> Fraction:
    # str() first so that 0.1 is exactly 1/10; kept per number and type (1 and 1.0 apart): an
    # order states the same few numbers again and again, and parsing one takes 3 µs
    return Fraction(str(raw))


def _date(raw: object) -> dt.date:
    # The calendar date as written: a cycle is counted in days, and the record's local date is
    # the one the team used when it planned day 1.
    text = _str(raw)
    if text is None or len(text) < 10:
        raise _Unknown("a date is missing or is not a full date")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise _Unknown("a date is not a valid date") from None


def _fmt(x: Fraction) -> str:
    return f"{round(float(x), 2):g}"


# --------------------------------------------------------------------------------- entry ----

def mg_per_cycle(resources: Sequence[Mapping[str, Any]],
                 drug: Callable[[Mapping[str, Any]], str | None],
                 default_cycle_days: int | None = None) -> DoseResult:
    """Dexamethasone-equivalent mg per treatment cycle over the given glucocorticoid resources.

    ``drug(resource)`` names the glucocorticoid (the caller's code lookup). No resources means
    no glucocorticoid: 0 mg. One resource that cannot be computed makes the total unknown.
    """
    notes: list[Message] = []
    kept = _distinct(resources, notes)
    if not kept:
        return DoseResult(0.0, None, (), None, tuple(notes))
    refs = tuple(ref for ref, _ in kept)
    try:
        cycle = _cycle_days(kept, default_cycle_days, notes)
    except _Unknown as exc:
        return DoseResult(None, None, refs, str(exc), _unique(notes))
    total, evidence, failures = _total(kept, drug, cycle, notes)
    if failures:
        return DoseResult(None, cycle, refs, "; ".join(failures), _unique(notes))
    return DoseResult(float(total), cycle, evidence, None, _unique(notes))


def _unique(notes: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(dict.fromkeys(notes))


def _reference(resource: Mapping[str, Any]) -> str:
    kind = _str(resource.get("resourceType")) or "Resource"
    ident = _str(resource.get("id"))
    return f"{kind}/{ident}" if ident else f"{kind} (no id)"


def _local(reference: str) -> str:
    """``https://ehr/fhir/MedicationRequest/1/_history/2`` -> ``MedicationRequest/1``."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def _links(resource: Mapping[str, Any]) -> list[str]:
    """The orders a resource belongs to (MedicationAdministration.request, basedOn of a
    MedicationStatement or of a MedicationRequest that carries out another)."""
    raw = [resource.get("request"), *_list(resource.get("basedOn"))]
    return [_local(ref) for item in raw if (ref := _str(_map(item).get("reference")))]


def _distinct(resources: Sequence[Mapping[str, Any]], notes: list[Message]
              ) -> list[tuple[str, Mapping[str, Any]]]:
    """Each resource once; an administration or statement of an order in the list is the same
    medication, not a second one, so it is not counted again."""
    kept: dict[str, Mapping[str, Any]] = {}
    unnamed: list[tuple[str, Mapping[str, Any]]] = []
    for resource in resources:
        ref = _reference(resource)
        if ref.endswith("(no id)"):
            unnamed.append((ref, resource))  # cannot be matched, so never merged
        else:
            kept.setdefault(ref, resource)
    result = []
    for ref, resource in [*kept.items(), *unnamed]:
        orders = [link for link in _links(resource)
                  if link != ref and link in kept and link.startswith("MedicationRequest/")]
        if orders:
            notes.append(Message.of("not_counted_again", ref=ref, order=orders[0]))
        else:
            result.append((ref, resource))
    return result


def _total(kept: list[tuple[str, Mapping[str, Any]]],
           drug: Callable[[Mapping[str, Any]], str | None], cycle: int, notes: list[Message]
           ) -> tuple[Fraction, tuple[str, ...], list[str]]:
    total, evidence, failures = Fraction(0), [], []
    administrations = [(r, x) for r, x in kept if x.get("resourceType") == ADMINISTRATION]
    for ref, resource in kept:
        if resource.get("resourceType") == ADMINISTRATION:
            continue
        own: list[Message] = []
        try:
            total += _order_dex_mg(ref, resource, drug, cycle, own)
        except _Unknown as exc:
            failures.append(f"{ref}: {exc}")
        else:
            notes.extend(note.on(ref) for note in own)
            evidence.append(ref)
    if administrations:
        mg, counted, failed = _administered_dex_mg(administrations, drug, cycle, notes)
        total += mg
        evidence.extend(counted)
        failures.extend(failed)
    return total, tuple(evidence), failures


# ------------------------------------------------------------------------------ equivalence ----

def _drug_name(resource: Mapping[str, Any], drug: Callable[[Mapping[str, Any]], str | None]
               ) -> str:
    name = drug(resource)
    if name is None:
        raise _Unknown("the glucocorticoid is not one with a known dexamethasone equivalence")
    if name not in _tables().equivalent_mg:
        raise _Unknown(f"no dexamethasone equivalence for {name}")
    return name


def _as_dexamethasone(name: str, mg: Fraction, per_cycle: bool, notes: list[Message]
                      ) -> Fraction:
    tables = _tables()
    dex = mg * tables.equivalent_mg[tables.basis] / tables.equivalent_mg[name]
    if name != tables.basis:
        key = ("glucocorticoid_per_cycle_as_dexamethasone" if per_cycle
               else "glucocorticoid_as_dexamethasone")
        notes.append(Message.of(key, drug=name, mg=_fmt(mg), basis=tables.basis,
                                dexamethasone=_fmt(dex)))
    return dex


# ------------------------------------------------------------------------------------ cycle ----

def _cycle_days(kept: list[tuple[str, Mapping[str, Any]]], default: int | None,
                notes: list[Message]) -> int:
    stated: dict[int, list[str]] = {}
    for ref, resource in kept:
        for days, how in sorted(_stated_cycles(resource)):
            stated.setdefault(days, []).append(ref)
            notes.append(Message.of(how, days=days, ref=ref))
    if len(stated) > 1:
        each = "; ".join(f"{days} days in {', '.join(dict.fromkeys(refs))}"
                         for days, refs in sorted(stated.items()))
        raise _Unknown(f"the orders state different cycle lengths: {each}")
    if stated:
        return next(iter(stated))
    return _default_cycle(default, notes)


def _default_cycle(default: int | None, notes: list[Message]) -> int:
    if default is not None:
        if isinstance(default, bool) or not isinstance(default, int) or default < 1:
            raise ValueError("default_cycle_days must be a positive whole number of days")
        notes.append(Message.of("cycle_given_by_caller", days=default))
        return default
    tables = _tables()
    notes.append(Message.of("cycle_assumed", days=tables.default_cycle_days,
                            why=tables.default_cycle_why))
    return tables.default_cycle_days


def _dosages(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if resource.get("resourceType") == ADMINISTRATION:
        return [_map(resource.get("dosage"))]
    field = "dosageInstruction" if resource.get("resourceType") == "MedicationRequest" else "dosage"
    return [_map(d) for d in _list(resource.get(field))]


def _stated_cycles(resource: Mapping[str, Any]) -> set[tuple[int, str]]:
    """(days, how it was read: a message key) for each cycle length the resource states."""
    dosages = _dosages(resource)
    texts = [text for d in dosages if (text := _text(d))]  # no text states no cycle
    # read with or without text: a timing that cannot be read fails here as it always has
    intervals = {i for d in dosages if (i := _dosing_interval(d)) is not None}
    found = {(days, "cycle_from_text") for text in texts
             for days in _cycles_in_text(text, intervals)}
    outer = [days for d in dosages if (days := _outer_cycle(d, dosages)) is not None]
    repeats = {days for d in dosages if (days := _repeat_cycle(d)) is not None}
    return (found | {(days, "cycle_from_outer_timing") for days in outer}
            | {(days, "cycle_from_repeat_period") for days in repeats})


_EXPLICIT_CYCLE = [  # (pattern, days per unit): the words say "cycle", so always a cycle
    (re.compile(p, re.IGNORECASE), unit) for p, unit in (
        (r"(\d+)\s*-?\s*days?\s+cycles?", 1),
        (r"cycles?\s*(?:length\s*)?(?:of|=|:|is)?\s*(\d+)\s*days?", 1),
        (r"(\d+)\s*-?\s*weeks?\s+cycles?", 7),
        (r"(\d+)\s*天\s*(?:为|是)?\s*(?:一|1)\s*(?:个)?\s*(?:疗程|周期)", 1),
        (r"(?:疗程|周期)\s*(?:为|:|：)?\s*(\d+)\s*天", 1),
        (r"(\d+)\s*周\s*(?:为|是)?\s*(?:一|1)\s*(?:个)?\s*(?:疗程|周期)", 7),
    )]
_BARE_CYCLE = [  # an interval: a cycle unless it restates the dosing interval
    (re.compile(p, re.IGNORECASE), unit) for p, unit in (
        (r"(?<![a-z])q\s*(\d+)\s*d(?:ays?)?(?![a-z])", 1),
        (r"(?<![a-z])q\s*(\d+)\s*w(?:ks?|eeks?)?(?![a-z])", 7),
        (r"every\s+(\d+)\s+days?", 1),
        (r"every\s+(\d+)\s+weeks?", 7),
        (r"每\s*(\d+)\s*天(?!\s*(?:一|1)\s*次)", 1),
        (r"每\s*(\d+)\s*周(?!\s*(?:一|1)\s*次)", 7),
    )]


def _cycles_in_text(text: str, dosing_intervals: set[Fraction]) -> set[int]:
    found = {int(m.group(1)) * unit for pattern, unit in _EXPLICIT_CYCLE
             for m in pattern.finditer(text)}
    for pattern, unit in _BARE_CYCLE:
        for m in pattern.finditer(text):
            days = int(m.group(1)) * unit
            if days > 1 and Fraction(days) not in dosing_intervals:
                found.add(days)
    return {days for days in found if days > 0}


def _dosing_interval(dosage: Mapping[str, Any]) -> Fraction | None:
    """Days between doses of a structured repeat, if it states one."""
    rate = _dosing_rate(dosage)
    return None if rate is None else 1 / rate


def _dosing_rate(dosage: Mapping[str, Any]) -> Fraction | None:
    """Doses per day of a structured repeat that states a period (never 0), else None."""
    repeat = _repeat(_map(dosage.get("timing")))
    try:
        if "period" not in repeat:
            return None
        return _rate(repeat)
    except _Unknown:
        return None


def _repeat_cycle(dosage: Mapping[str, Any]) -> int | None:
    """The period of a repeat that gives several administrations per period of at least
    ``repeat_period_min_days`` whole days: that period is the cycle (see the module doc)."""
    repeat = _repeat(_map(dosage.get("timing")))
    frequency = _num(repeat.get("frequency"))
    if frequency is None or frequency < 2 or "period" not in repeat:
        return None
    try:
        days = frequency / _rate(repeat)
    except _Unknown:
        return None
    if days.denominator != 1 or days < _tables().repeat_cycle_min_days:
        return None
    return int(days)


def _has_dose(dosage: Mapping[str, Any]) -> bool:
    return bool(_list(dosage.get("doseAndRate"))) or bool(_text_masses(_text(dosage)))


def _outer_cycle(dosage: Mapping[str, Any], dosages: list[Mapping[str, Any]]) -> int | None:
    """A dose-less entry whose only timing is a repeat period longer than every dosing interval
    of the entries that carry doses: it states the cycle those entries repeat in."""
    timing = _map(dosage.get("timing"))
    repeat = _map(timing.get("repeat"))
    others = [d for d in dosages if d is not dosage and _has_dose(d)]
    allowed = {"period", "periodUnit", "frequency"}
    if _has_dose(dosage) or not others or _list(timing.get("event")) or not repeat:
        return None
    if set(repeat) - allowed or _num(repeat.get("frequency")) not in (None, 1):
        return None
    try:
        days = 1 / _rate(repeat)
    except _Unknown:
        return None
    intervals = [i for d in others if (i := _dosing_interval(d)) is not None]
    if days.denominator != 1 or any(i >= days for i in intervals):
        return None
    return int(days)


# -------------------------------------------------------------------------------- orders ----

def _order_dex_mg(ref: str, resource: Mapping[str, Any],
                  drug: Callable[[Mapping[str, Any]], str | None], cycle: int,
                  notes: list[Message]) -> Fraction:
    if resource.get("resourceType") not in ORDER_TYPES:
        raise _Unknown("this resource type is not read for doses")
    name = _drug_name(resource, drug)
    mg = _order_mg(resource, cycle, notes)
    return _as_dexamethasone(name, mg, True, notes)


def _order_mg(resource: Mapping[str, Any], cycle: int, notes: list[Message]) -> Fraction:
    """mg of the ordered drug per cycle: each dosage entry's dose x its administrations."""
    dosages = _dosages(resource)
    entries = [d for d in dosages if _outer_cycle(d, dosages) is None]
    if not entries:
        raise _Unknown("no dosage instructions")
    anchor = _anchor(entries)
    total = Fraction(0)
    cursor: Fraction | None = Fraction(0)
    for group in _sequence_groups(entries):
        start, ends = cursor, []
        for dosage in group:
            _refuse_as_needed(dosage)
            per_dose = _dose_mg(dosage, resource, notes)
            count, end = _administrations(dosage, start, cycle, anchor, notes)
            total += per_dose * count
            ends.append(end)
        cursor = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    return total


def _sequence_groups(dosages: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Entries sharing a sequence number run together; a later number starts after them (FHIR
    Dosage.sequence). Entries without a number are taken as running together from day 1."""
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for dosage in dosages:
        seq = dosage.get("sequence")
        groups.setdefault(seq if isinstance(seq, int) else 0, []).append(dosage)
    return [groups[k] for k in sorted(groups)]


def _refuse_as_needed(dosage: Mapping[str, Any]) -> None:
    if dosage.get("asNeededBoolean") is True or "asNeededCodeableConcept" in dosage:
        raise _Unknown("taken as needed (PRN), so the number of doses per cycle is not known")


def _text(dosage: Mapping[str, Any]) -> str:
    parts = (_str(dosage.get("text")), _str(dosage.get("patientInstruction")))
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------- doses ----

def _dose_mg(dosage: Mapping[str, Any], resource: Mapping[str, Any], notes: list[Message]
             ) -> Fraction:
    """mg of the drug per administration."""
    entries = [_map(e) for e in _list(dosage.get("doseAndRate"))]
    ordered = [e for e in entries if _is_ordered(e)]
    chosen = [e for e in (ordered or entries) if "doseQuantity" in e or "doseRange" in e]
    if len(chosen) == 1:
        return _entry_mg(chosen[0], resource, notes)
    if chosen:
        doses = {_entry_mg(e, resource, notes) for e in chosen}
        if len(doses) > 1:
            raise _Unknown("the dosage gives several different doses")
        return doses.pop()
    if any("rateQuantity" in e or "rateRatio" in e for e in entries):
        raise _Unknown("only an infusion rate is given, not a dose")
    return _text_dose_mg(_text(dosage), notes)


def _is_ordered(entry: Mapping[str, Any]) -> bool:
    codings = _list(_map(entry.get("type")).get("coding"))
    return any(_map(c).get("code") == "ordered" for c in codings)


def _entry_mg(entry: Mapping[str, Any], resource: Mapping[str, Any], notes: list[Message]
              ) -> Fraction:
    if "doseQuantity" in entry:
        return _quantity_mg(_map(entry["doseQuantity"]), resource, notes)
    low, high = (_map(_map(entry["doseRange"]).get(k)) for k in ("low", "high"))
    if not low or not high or _quantity_mg(low, resource, notes) != _quantity_mg(high, resource,
                                                                                  notes):
        raise _Unknown("the dose is given as a range")
    return _quantity_mg(low, resource, notes)


def _quantity_mg(quantity: Mapping[str, Any], resource: Mapping[str, Any], notes: list[Message]
                 ) -> Fraction:
    value = _num(quantity.get("value"))
    if value is None or value <= 0:
        raise _Unknown("the dose has no amount")
    unit = _unit(quantity)
    if unit.kind == "mass":
        return value * unit.factor
    if unit.kind == "tablet":
        return value * _strength_mg(resource, notes)
    return value * unit.factor * _concentration(resource, notes)


def _unit(quantity: Mapping[str, Any]) -> _Unit:
    """Trust a coded unit over the display text: UCUM codes are case-sensitive ('Mg' is a
    megagram), display text is not."""
    tables = _tables()
    code, system = _str(quantity.get("code")), quantity.get("system")
    shown = code or _str(quantity.get("unit")) or "none"
    if code and system == tables.ucum_system:
        unit = tables.ucum.get(code)
    elif code and system == tables.snomed_system:
        unit = tables.snomed.get(code)
    else:
        unit = tables.words.get((_str(quantity.get("unit")) or code or "").strip().casefold())
    if unit is None:
        raise _Unknown(f"the dose unit '{shown}' is not a mass, a volume or a tablet count")
    return unit


def _product_names(resource: Mapping[str, Any]) -> list[str]:
    concept = _map(resource.get("medicationCodeableConcept"))
    names = [concept.get("text")] + [_map(c).get("display") for c in _list(concept.get("coding"))]
    return [n for n in names if isinstance(n, str)]


def _alternatives(kind: str) -> str:
    words = sorted((w for w, u in _tables().words.items() if u.kind == kind), key=len,
                   reverse=True)
    return "|".join(re.escape(w) for w in words)


@functools.cache
def _mass_pattern() -> re.Pattern[str]:
    # A mass not followed by "/": "4 MG" is a strength, "4 MG/ML" or "20 mg/m2" is not.
    return re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)\s*({_alternatives('mass')})(?![a-z])(?!\s*/)",
                      re.IGNORECASE)


def _masses(text: str) -> set[Fraction]:
    words = _tables().words
    return {Fraction(m.group(1)) * words[m.group(2).casefold()].factor
            for m in _mass_pattern().finditer(text)}


def _strength_mg(resource: Mapping[str, Any], notes: list[Message]) -> Fraction:
    names = _product_names(resource)
    if not names:
        raise _Unknown("the dose is in tablets and the product's strength is not stated")
    strengths = {mass for name in names for mass in _masses(name)}
    if len(strengths) != 1:
        raise _Unknown("the dose is in tablets and the product name does not state one "
                       "strength per tablet")
    strength = strengths.pop()
    notes.append(Message.of("tablet_strength", mg=_fmt(strength)))
    return strength


def _concentration(resource: Mapping[str, Any], notes: list[Message]) -> Fraction:
    pattern = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)\s*({_alternatives('mass')})\s*/\s*"
                         rf"(\d+(?:\.\d+)?)?\s*(?:{_alternatives('volume')})(?![a-z])",
                         re.IGNORECASE)
    words = _tables().words
    found = {Fraction(m.group(1)) * words[m.group(2).casefold()].factor
             / Fraction(m.group(3) or 1)
             for name in _product_names(resource) for m in pattern.finditer(name)}
    if len(found) != 1:
        raise _Unknown("the dose is a volume and no single mg/mL concentration is stated")
    mg_per_ml = found.pop()
    notes.append(Message.of("concentration", concentration=_fmt(mg_per_ml)))
    return mg_per_ml


@functools.cache
def _tablet_pattern() -> re.Pattern[str]:
    """A tablet count ("10 tablets", "10片") or a per-tablet strength ("4 mg tablets")."""
    tablet = rf"(?:{_alternatives('tablet')})(?![a-z])"
    return re.compile(rf"\d\s*{tablet}|(?:{_alternatives('mass')})\s*(?:/|per|每)?\s*{tablet}",
                      re.IGNORECASE)


_AS_DIRECTED = re.compile(r"\bas\s+(?:directed|instructed)\b|遵医嘱|按医嘱", re.IGNORECASE)


def _text_masses(text: str) -> set[Fraction]:
    return _masses(text) if text else set()


def _text_dose_mg(text: str, notes: list[Message]) -> Fraction:
    """The dose from the dosage text, when no structured dose is given."""
    if not text:
        raise _Unknown("no dose is stated")
    per_size = re.compile(rf"({_alternatives('mass')})\s*/\s*(?:kg|m2|m²|㎡)", re.IGNORECASE)
    if per_size.search(text):
        raise _Unknown("the dose is per kg or per m² of body size, which is not read here")
    if _tablet_pattern().search(text):
        # "4 mg tablets, take 10" would read as 4 mg: refuse rather than misread. A bare product
        # name ("地塞米松片 40 mg") is neither a count nor a strength and is read.
        raise _Unknown("the dosage text gives the dose in tablets")
    masses = _text_masses(text)
    if len(masses) > 1:
        raise _Unknown("the dosage text gives several different doses")
    if not masses:
        why = " ('as directed')" if _AS_DIRECTED.search(text) else ""
        raise _Unknown(f"no dose is stated{why}")
    dose = masses.pop()
    notes.append(Message.of("dose_from_text", mg=_fmt(dose)))
    return dose


# ------------------------------------------------------------------------ administrations ----

def _administrations(dosage: Mapping[str, Any], start: Fraction | None, cycle: int,
                     anchor: dt.date | None, notes: list[Message]) -> tuple[int, Fraction | None]:
    """How many times one dosage entry is given in the cycle, and the day (from the start of
    the cycle, exclusive) on which it ends, so that the next sequence can start there."""
    timing = _map(dosage.get("timing"))
    events = _list(timing.get("event"))
    repeat = _repeat(timing)
    if events:
        if {"frequency", "period", "dayOfWeek"} & set(repeat):
            raise _Unknown("the timing has both event dates and a repeat rule")
        return _count_events(events, _anchored(anchor), cycle, notes)
    if _is_structured(repeat):
        return _count_repeat(repeat, start, cycle, anchor, notes, _text(dosage))
    if timing.get("code"):
        raise _Unknown("the timing code is not one this mapper reads")
    return _count_text_days(_text(dosage), cycle, notes)


def _repeat(timing: Mapping[str, Any]) -> dict[str, Any]:
    """timing.repeat, with the period of a Timing.code shortcut when the repeat states none."""
    repeat = dict(_map(timing.get("repeat")))
    if "period" in repeat:
        return repeat
    tables = _tables()
    for coding in _list(_map(timing.get("code")).get("coding")):
        coding = _map(coding)
        found = tables.codes.get(str(coding.get("code")))
        if coding.get("system") == tables.code_system and found:
            frequency, period, unit = found
            repeat.update(frequency=frequency, period=period, periodUnit=unit)
            break
    return repeat


def _is_structured(repeat: Mapping[str, Any]) -> bool:
    keys = {"frequency", "period", "dayOfWeek", "timeOfDay", "when", "count"}
    return bool(keys & set(repeat))


def _anchor(dosages: Iterable[Mapping[str, Any]]) -> dt.date | None:
    """Day 1 of the cycle when the order is dated: its earliest event or bounds start."""
    dates = []
    for dosage in dosages:
        timing = _map(dosage.get("timing"))
        dates += [_date(e) for e in _list(timing.get("event"))]
        bounds = _map(_map(timing.get("repeat")).get("boundsPeriod"))
        if "start" in bounds:
            dates.append(_date(bounds["start"]))
    return min(dates, default=None)


def _anchored(anchor: dt.date | None) -> dt.date:
    # _anchor() takes in every event date and every bounds start, so None means one is missing
    if anchor is None:
        raise _Unknown("a date is missing")
    return anchor


def _count_events(events: list[Any], anchor: dt.date, cycle: int, notes: list[Message]
                  ) -> tuple[int, Fraction]:
    offsets = [(_date(e) - anchor).days for e in events]
    inside = [o for o in offsets if o < cycle]
    if len(inside) < len(offsets):
        notes.append(Message.of("administrations_in_later_cycle",
                                count=len(offsets) - len(inside), day=cycle))
    return len(inside), Fraction(max(offsets) + 1)


def _count_repeat(repeat: Mapping[str, Any], start: Fraction | None, cycle: int,
                  anchor: dt.date | None, notes: list[Message], text: str = ""
                  ) -> tuple[int, Fraction | None]:
    span_start, span_end = _span(repeat, start, anchor, notes)
    count = _num(repeat.get("count"))
    if _list(repeat.get("dayOfWeek")):
        return _count_weekdays(repeat, span_start, span_end, cycle, anchor, notes), span_end
    if "period" not in repeat and count is not None and not _list(repeat.get("timeOfDay")):
        notes.append(Message.of("administrations_by_count", count=_fmt(count)))
        return int(count), None
    rate = _rate(repeat)
    if span_end is None and count is not None:
        span_end = span_start + count / rate
    if span_end is None and _period_days(repeat) < _tables().open_whole_cycle_min_days:
        return _open_schedule_days(text, rate, span_start, cycle, notes)
    length = _length_in_cycle(span_start, span_end, cycle, notes)
    # The first dose is on the first day of the span; later ones follow at the dosing interval.
    given = length * rate
    doses = math.ceil(given)
    if given.denominator != 1:
        notes.append(Message.of("first_administration_day"))
    if count is not None:
        doses = min(doses, int(count))
    return doses, span_end


def _length_in_cycle(start: Fraction, end: Fraction | None, cycle: int, notes: list[Message]
                     ) -> Fraction:
    if end is None:
        notes.append(Message.of("schedule_without_end", days=cycle))
        end = Fraction(cycle)
    elif end > cycle:
        notes.append(Message.of("schedule_past_cycle", day=cycle))
    return max(Fraction(0), min(end, Fraction(cycle)) - start)


def _span(repeat: Mapping[str, Any], start: Fraction | None, anchor: dt.date | None,
          notes: list[Message]) -> tuple[Fraction, Fraction | None]:
    """Where the entry runs, in days from the start of the cycle (end exclusive, None = open)."""
    if "boundsPeriod" in repeat:
        bounds = _map(repeat["boundsPeriod"])
        day1 = _anchored(anchor)
        first = Fraction((_date(bounds.get("start")) - day1).days)
        if "end" not in bounds:
            return first, None
        return first, Fraction((_date(bounds["end"]) - day1).days + 1)  # FHIR: end inclusive
    if "boundsRange" in repeat:
        return _range_span(_map(repeat["boundsRange"]), notes)
    if start is None:
        raise _Unknown("an earlier sequence has no end, so when a later one starts is not known")
    if "boundsDuration" in repeat:
        return start, start + _days(_map(repeat["boundsDuration"]))
    return start, None


def _range_span(bounds: Mapping[str, Any], notes: list[Message]) -> tuple[Fraction, Fraction]:
    # FHIR defines boundsRange as a range of lengths; order sets use it for days of the cycle.
    low = _days(_map(bounds["low"])) if "low" in bounds else Fraction(0)
    if "high" not in bounds:
        raise _Unknown("the bounds range has no upper end")
    high = _days(_map(bounds["high"]))
    if high <= low:
        raise _Unknown("the bounds range ends before it starts")
    notes.append(Message.of("bounds_as_cycle_days"))
    return low, high


def _days(quantity: Mapping[str, Any]) -> Fraction:
    tables = _tables()
    value = _num(quantity.get("value"))
    code = _str(quantity.get("code"))
    if code is None or code not in tables.seconds:
        code = tables.time_words.get((_str(quantity.get("unit")) or "").strip().casefold())
    if value is None or value < 0 or code is None:
        raise _Unknown("a duration has no amount or no unit of time")
    return value * _unit_days(code)


def _unit_days(code: object) -> Fraction:
    seconds = _tables().seconds.get(str(code))
    if seconds is None:
        raise _Unknown("the period is not in seconds, minutes, hours, days or weeks (months and "
                       "years have no fixed length in days)")
    return _seconds_as_days(seconds)


@functools.cache
def _seconds_as_days(seconds: int) -> Fraction:
    return Fraction(seconds, 86400)


def _rate(repeat: Mapping[str, Any]) -> Fraction:
    """Administrations per day."""
    frequency, period = _num(repeat.get("frequency")), _num(repeat.get("period"))
    for key, value in (("frequencyMax", frequency), ("periodMax", period)):
        if key in repeat and _num(repeat[key]) != value:
            raise _Unknown("how often it is given is stated as a range")
    per_day = len(_list(repeat.get("timeOfDay"))) or len(_list(repeat.get("when")))
    if period is None:
        if per_day and frequency is None:
            return Fraction(per_day)
        raise _Unknown("the timing has no period, so how often it is given is not stated")
    if period <= 0 or (frequency is not None and frequency <= 0):
        raise _Unknown("the timing has a zero or negative frequency or period")
    # FHIR: with no frequency, the action occurs once per period
    return (frequency or 1) / (period * _unit_days(repeat.get("periodUnit")))


def _count_weekdays(repeat: Mapping[str, Any], start: Fraction, end: Fraction | None,
                    cycle: int, anchor: dt.date | None, notes: list[Message]) -> int:
    days = {str(d).lower() for d in _list(repeat.get("dayOfWeek"))}
    if not days <= set(WEEKDAYS):
        raise _Unknown("the timing names a day of the week that is not mon-sun")
    per_day = len(_list(repeat.get("timeOfDay"))) or 1
    length = _length_in_cycle(start, end, cycle, notes)
    if anchor is not None and start.denominator == 1 and length.denominator == 1:
        first = anchor + dt.timedelta(days=int(start))
        dates = (first + dt.timedelta(days=i) for i in range(int(length)))
        return per_day * sum(WEEKDAYS[d.weekday()] in days for d in dates)
    if length % 7 == 0:
        return per_day * len(days) * int(length / 7)
    raise _Unknown("it is given on set weekdays over a span that is not whole weeks, and no "
                   "date fixes the weekday the cycle starts on")


# ------------------------------------------------------------------------- text schedules ----

_DASH = r"(?:-|–|—|~|～|至|to)"
_SEP = r"\s*(?:,|，|、|;|；|&|\band\b|和|及)\s*"
_MARK = r"(?:(?<![a-z0-9])(?:days?|d)\s*|第\s*)"
# A day number is not a dose ("9-12, 20 mg"), nor a cycle length ("28 days", "28天为一周期").
_NOT_DAY = r"(?!\s*(?:{units}|-?\s*days?\b|天\s*(?:为|是|一|1|个)|周|weeks?\b|d\b))"
_MULTI_DAILY = re.compile(r"\b(?:bid|tid|qid|b\.i\.d|t\.i\.d|twice|three times|q\d+h)\b|"
                          r"(?:每日|每天|一日|日)\s*[2-4两二三四]\s*次", re.IGNORECASE)


@functools.cache
def _day_list_pattern() -> re.Pattern[str]:
    units = _alternatives("mass") + "|" + _alternatives("volume")
    number = r"\d{1,2}(?![\d.])" + _NOT_DAY.format(units=units)
    item = rf"{number}(?:\s*{_DASH}\s*(?:d(?:ays?)?\s*)?{number})?\s*天?"
    return re.compile(rf"{_MARK}{item}(?:{_SEP}{_MARK}?{item})*", re.IGNORECASE)


def _text_days(text: str) -> list[int]:
    """Days of the cycle listed in the text: "days 1-4, 9-12" or "第1-4天" -> [1..4, 9..12]."""
    days: set[int] = set()
    for found in _day_list_pattern().finditer(text):
        for m in re.finditer(rf"(\d+)(?:\s*{_DASH}\s*(?:d(?:ays?)?\s*)?(\d+))?", found.group(),
                             re.IGNORECASE):
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            if first < 1 or last < first:
                raise _Unknown("the dosage text lists days of the cycle that do not make sense")
            days.update(range(first, last + 1))
    return sorted(days)


def _count_text_days(text: str, cycle: int, notes: list[Message]) -> tuple[int, Fraction]:
    """Administrations from days of the cycle in the text, when no structured timing is given."""
    days = _text_days(text)
    if not days:
        raise _Unknown("no timing: how many times it is given per cycle is not stated")
    if _MULTI_DAILY.search(text):
        raise _Unknown("the dosage text gives more than one dose a day, which is not read here")
    if days[-1] > cycle:
        # the text contradicts the cycle length: one of the two is misread or mistyped
        raise _Unknown(f"the dosage text lists days after the end of the {cycle}-day cycle")
    notes.append(Message.of("schedule_from_text", count=len(days)))
    return len(days), Fraction(days[-1])


def _period_days(repeat: Mapping[str, Any]) -> Fraction:
    """The repeat's period in days (times of day alone repeat daily); 8 per 21 d is 21."""
    period = _num(repeat.get("period"))
    return Fraction(1) if period is None else period * _unit_days(repeat.get("periodUnit"))


def _open_schedule_days(text: str, rate: Fraction, start: Fraction, cycle: int,
                        notes: list[Message]) -> tuple[int, Fraction]:
    """A schedule repeating in a period shorter than a week with no end ("20 mg daily"):
    the days of the cycle come from the dosage text ("第1-4天、第9-12天"), or the count is unknown.
    Every day of the cycle is never assumed: pulsed dexamethasone is ordered this way."""
    days = _text_days(text)
    if not days:
        raise _Unknown("the timing repeats with no end, count or duration and no days of the "
                       "cycle are stated, so how many doses fall in a cycle is not known (every "
                       "day of the cycle is not assumed)")
    if days[-1] > cycle:
        raise _Unknown(f"the dosage text lists days after the end of the {cycle}-day cycle")
    if days[0] <= start:
        raise _Unknown("the dosage text lists days before this part of the schedule starts")
    if rate.denominator != 1:
        raise _Unknown("the dosage text lists days of the cycle but the timing is not a whole "
                       "number of doses a day")
    notes.append(Message.of("schedule_days_from_text", count=len(days) * int(rate)))
    return len(days) * int(rate), Fraction(days[-1])


# ---------------------------------------------------------- MedicationAdministration lists ----

def _administered_dex_mg(administrations: list[tuple[str, Mapping[str, Any]]],
                         drug: Callable[[Mapping[str, Any]], str | None], cycle: int,
                         notes: list[Message]) -> tuple[Fraction, list[str], list[str]]:
    """Dexamethasone-equivalent mg given in the `cycle` days ending on the latest administration
    (the most recent cycle window), with the references counted and the failures."""
    dated, failures = [], []
    for ref, resource in administrations:
        try:
            dated.append((_administered_on(resource), ref, resource))
        except _Unknown as exc:
            failures.append(f"{ref}: {exc}")
    if not dated:
        return Fraction(0), [], failures
    latest = max(day for day, _, _ in dated)
    first = latest - dt.timedelta(days=cycle - 1)
    inside = [(ref, r) for day, ref, r in dated if day >= first]
    total, counted = Fraction(0), []
    for ref, resource in inside:
        own: list[Message] = []
        try:
            mg = _administered_mg(_map(resource.get("dosage")), resource, own)
            total += _as_dexamethasone(_drug_name(resource, drug), mg, False, own)
        except _Unknown as exc:
            failures.append(f"{ref}: {exc}")
        else:
            counted.append(ref)
            notes.extend(note.on(ref) for note in own)
    if len(inside) < len(dated):
        notes.append(Message.of("administrations_up_to_latest_earlier", days=cycle,
                                count=len(dated) - len(inside)))
    else:
        notes.append(Message.of("administrations_up_to_latest", days=cycle))
    return total, counted, failures


def _administered_mg(dosage: Mapping[str, Any], resource: Mapping[str, Any], notes: list[Message]
                     ) -> Fraction:
    """mg given at one administration (MedicationAdministration.dosage.dose)."""
    if "dose" in dosage:
        return _quantity_mg(_map(dosage["dose"]), resource, notes)
    if "rateQuantity" in dosage or "rateRatio" in dosage:
        raise _Unknown("only an infusion rate is recorded, not a dose")
    return _text_dose_mg(_text(dosage), notes)


def _administered_on(resource: Mapping[str, Any]) -> dt.date:
    if "effectiveDateTime" in resource:
        return _date(resource["effectiveDateTime"])
    return _date(_map(resource.get("effectivePeriod")).get("start"))


def order_dose(resource: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(mg per administration, administrations per day) of an order's first dosage.

    For the order hooks' dose checks (TRT-02..04); either is None when the order does not
    state it in a form this module reads. Tablets count only with a stated strength.
    """
    dosages = _dosages(resource)
    if not dosages:
        return None, None
    dosage = dosages[0]
    try:
        mg: float | None = float(_dose_mg(dosage, resource, []))
    except _Unknown:
        mg = None
    rate = _dosing_rate(dosage)
    return mg, (float(rate) if rate else None)


# Anti-Xa international units, as LMWH orders state them: "4100 IU", "[iU]", "AXaIU", "UNT".
_IU_UNITS = frozenset({"iu", "[iu]", "u", "unt", "axaiu", "axa iu", "iu axa", "国际单位"})
_IU_WORD = r"(?:axa\s*iu|iu\s*axa|\[iu\]|iu|unt|u|国际单位)"


def _iu_per_ml(resource: Mapping[str, Any]) -> float | None:
    """One strength in IU per mL stated by the product name: "12500 UNT/ML", "0.4ml:4100AXaIU",
    "4100 IU/0.4 mL"; None when none or several are stated."""
    per = re.compile(rf"(\d+(?:\.\d+)?)\s*{_IU_WORD}\s*/\s*(\d+(?:\.\d+)?)?\s*ml",
                     re.IGNORECASE)
    volume_first = re.compile(rf"(\d+(?:\.\d+)?)\s*ml\s*[:：]\s*(\d+(?:\.\d+)?)\s*{_IU_WORD}",
                              re.IGNORECASE)
    found: set[float] = set()
    for name in _product_names(resource):
        found |= {float(m.group(1)) / float(m.group(2) or 1) for m in per.finditer(name)}
        found |= {float(m.group(2)) / float(m.group(1)) for m in volume_first.finditer(name)
                  if float(m.group(1)) > 0}
    return found.pop() if len(found) == 1 else None


def order_units(resource: Mapping[str, Any]) -> float | None:
    """Anti-Xa international units per administration of an LMWH order's first dosage: a dose in
    IU, or in mL with one IU/mL strength in the product name; None otherwise (the order checks
    then cannot class the dose, and say nothing of it)."""
    dosages = _dosages(resource)
    if not dosages:
        return None
    rates = _list(_map(dosages[0]).get("doseAndRate"))
    quantity = next((_map(_map(r).get("doseQuantity")) for r in rates
                     if _map(r).get("doseQuantity")), None)
    if not quantity:
        return None
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().casefold()
    if unit in _IU_UNITS:
        return float(value)
    if unit in ("ml", "mL".casefold()):
        per_ml = _iu_per_ml(resource)
        return None if per_ml is None else round(float(value) * per_ml, 3)
    return None
