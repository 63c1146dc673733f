"""The point-score engine shared by Wells DVT, Wells PE, the MM VTE score and the bleeding score.

Each row of a score table is read three-valued: present, absent, or unknown. ``points`` adds the
present rows only, so it is the documented total; ``min_points`` and ``max_points`` add what the
unknown rows could contribute, and each tier scheme reports the category of the documented total,
the best and the worst case, and which single unknown item would move the category when
confirmed ("high risk if BMI >= 25 is confirmed").

An unknown number may still be known to be one of a few values (``Fact.possible``: a birth year
without the day leaves two ages). A band row then reads every possible value: present when all
fall in it, absent when none does, unknown otherwise; and a group of exclusive bands that holds
every possible value counts its lowest possible band, the others staying unknown for the
difference (age 75 or 76: "60-75" +1 counted, "> 75" could add 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from vte_rules.facts import UNKNOWN, Message, PatientFacts
from vte_rules.tables import Interval, Label, Row, Table, Tier

Status = Literal["present", "absent", "unknown"]


@dataclass(frozen=True)
class ItemResult:
    """How one row of a table read this patient's facts."""

    rule: str
    label: Label
    points: float
    status: Status
    source: str
    evidence: tuple[str, ...] = ()
    value: bool | float | str | None = None
    reason: str | None = None
    assumption: tuple[Message, ...] | None = None
    group: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class CouldBe:
    """Confirming ``rules`` (unknown now) would put the patient in ``category``.

    ``together`` False: any one of ``rules`` is enough. True: no single one is; only several of
    them confirmed together reach ``category`` (the card must not say "A or B").
    """

    category: str
    rules: tuple[str, ...]
    together: bool = False


@dataclass(frozen=True)
class TierResult:
    scheme: str
    category: str
    label: Label
    rule: str
    best_case: str
    worst_case: str
    could_be: tuple[CouldBe, ...]
    notes: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        """True when no unknown item can change the category."""
        return self.best_case == self.category == self.worst_case


@dataclass(frozen=True)
class ScoreAssessment:
    table: str
    points: float
    min_points: float
    max_points: float
    items: tuple[ItemResult, ...]
    tiers: Mapping[str, TierResult]
    notes: tuple[str, ...]

    @property
    def contributing(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.status == "present" and i.points)

    @property
    def unknown(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.status == "unknown")

    @property
    def tier(self) -> TierResult:
        """The table's first (main) tier scheme."""
        return next(iter(self.tiers.values()))

    @property
    def category(self) -> str:
        return self.tier.category


@dataclass(frozen=True)
class _Reader:
    """A row compiled once: how it reads the facts, and the fields of its results that depend
    only on the row (an assessment reads some 50 to 70 rows)."""

    factors: tuple[str, ...]
    kind: Literal["any_of", "range", "equals", "flag"]
    range: Interval
    equals: str | None
    fields: Mapping[str, object]
    unknown: ItemResult  # the result for a factor that was never set (`UNKNOWN`)


def _item(fields: Mapping[str, object], status: Status, evidence: tuple[str, ...],
          value: bool | float | str | None, reason: str | None,
          assumption: tuple[Message, ...] | None) -> ItemResult:
    """An ItemResult from its row's fields and this reading's: the generated ``__init__`` of a
    frozen dataclass sets each field through ``object.__setattr__``, three times slower."""
    item = object.__new__(ItemResult)
    found = item.__dict__
    found.update(fields)
    found["status"], found["evidence"], found["value"] = status, evidence, value
    found["reason"], found["assumption"] = reason, assumption
    return item


def _compile(row: Row) -> _Reader:
    crit = row.criterion
    unknown = ItemResult(row.rule, row.label, row.points, "unknown", row.source,
                         reason=UNKNOWN.reason, assumption=UNKNOWN.assumption, group=row.group,
                         note=row.note)
    kind: Literal["any_of", "range", "equals", "flag"] = (
        "any_of" if crit.any_of else "range" if crit.range is not None
        else "equals" if crit.equals is not None else "flag")
    return _Reader(crit.factors, kind, crit.range or Interval(), crit.equals, dict(vars(unknown)),
                   unknown)


_READERS: dict[int, tuple[Row, _Reader]] = {}


def _reader(row: Row) -> _Reader:
    found = _READERS.get(id(row))
    if found is None or found[0] is not row:
        found = _READERS[id(row)] = (row, _compile(row))
    return found[1]


def _read_any_of(reader: _Reader, facts: PatientFacts) -> ItemResult:
    """Three-valued OR: present if any is, absent only if all are known absent."""
    used = [facts[n] for n in reader.factors]
    flags = [facts.flag(n) for n in reader.factors]
    present = [f for v, f in zip(flags, used, strict=True) if v is True]
    if present:
        flag: bool | None = True
        used = present
    elif all(v is False for v in flags):
        flag = False
    else:
        flag = None
        used = [f for v, f in zip(flags, used, strict=True) if v is None]
    evidence = tuple(e for f in used for e in f.evidence) if flag is not None else ()
    reason = None if flag is not None else "; ".join(
        sorted({f.reason or "not documented" for f in used}))
    assumption = tuple(dict.fromkeys(m for f in used for m in f.assumption or ())) or None
    status: Status = "unknown" if flag is None else ("present" if flag else "absent")
    return _item(reader.fields, status, evidence, flag, reason, assumption)


def read_row(row: Row, facts: PatientFacts) -> ItemResult:
    """Read one row against the facts, three-valued."""
    return _read(_reader(row), facts)


def _read(reader: _Reader, facts: PatientFacts) -> ItemResult:
    if reader.kind == "any_of":
        return _read_any_of(reader, facts)
    fact = facts[reader.factors[0]]
    if fact is UNKNOWN:
        return reader.unknown
    value = fact.value
    status: Status
    if value is None:
        status = (_among(reader.range, fact.possible) if reader.kind == "range" and fact.possible
                  else "unknown")
    elif reader.kind == "range":
        assert isinstance(value, float)
        status = "present" if reader.range.contains(value) else "absent"
    elif reader.kind == "equals":
        status = "present" if value == reader.equals else "absent"
    else:
        status = "present" if value is True else "absent"
    return _item(reader.fields, status, fact.evidence, value,
                 fact.reason if status == "unknown" else None, fact.assumption)


def _among(band: Interval, possible: tuple[float, ...]) -> Status:
    """A band read against the values an unknown number can still take."""
    inside = sum(band.contains(p) for p in possible)
    return "present" if inside == len(possible) else "absent" if not inside else "unknown"


def _band_floors(rows: tuple[Row, ...], items: tuple[ItemResult, ...], facts: PatientFacts,
                 groups: tuple[tuple[int, ...], ...]) -> tuple[ItemResult, ...]:
    """A band group whose number is unknown but each of its possible values falls in one of the
    group's bands (age 75 or 76: "60-75" or "> 75") adds at least its lowest possible band: that
    band is counted, and the others stay unknown, each adding only the difference (_units).
    ``groups``: the positions of each band group's rows."""
    out = list(items)
    for members in groups:
        unknown = [i for i in members if items[i].status == "unknown"]
        bands = [rows[i].criterion.range for i in unknown]
        factors = {rows[i].criterion.factors for i in unknown}
        if (not unknown or any(items[i].status == "present" for i in members)
                or len(factors) != 1 or any(b is None for b in bands)):
            continue
        possible = facts[next(iter(factors))[0]].possible or ()
        if not possible or not all(any(b.contains(p) for b in bands if b) for p in possible):
            continue
        low = min(unknown, key=lambda i: items[i].points)
        out[low] = replace(items[low], status="present")
    return tuple(out)


# An unknown item, or an unknown band group: what each outcome would add, and the least and
# the most it can add.
_Unit = tuple[tuple[tuple[str, float], ...], float, float]
# A table's notes on particular totals: (scheme, or None for every scheme; total; note).
_PointNotes = tuple[tuple[object, float, str], ...]


def _unit(outcomes: tuple[tuple[str, float], ...]) -> _Unit:
    return outcomes, min(0.0, *(p for _, p in outcomes)), max(0.0, *(p for _, p in outcomes))


def _units(items: tuple[ItemResult, ...]) -> list[_Unit]:
    """Unknown items as units; a band group is one unit (only one of its rows can apply)."""
    groups: dict[str, list[ItemResult]] = {}
    units: list[_Unit] = []
    # a counted band of the same group is replaced, not added to (the bands are exclusive)
    counted = {i.group: i.points for i in items if i.group and i.status == "present"}
    for item in items:
        if item.status != "unknown":
            continue
        if item.group:
            groups.setdefault(item.group, []).append(item)
        else:
            units.append(_unit(((item.rule, item.points),)))
    units.extend(_unit(tuple((m.rule, m.points - counted.get(group, 0.0)) for m in members))
                 for group, members in groups.items())
    return units


def category_of(tiers: tuple[Tier, ...], total: float) -> Tier:
    for tier in tiers:
        if tier.range.contains(total):
            return tier
    raise ValueError(f"no tier holds {total}")  # the loader proved this cannot happen


def _tier_result(scheme: str, tiers: tuple[Tier, ...], points: float, lo: float, hi: float,
                 units: list[_Unit], point_notes: _PointNotes) -> TierResult:
    here = category_of(tiers, points)
    could: dict[str, list[str]] = {}
    for outcomes, _, _ in units:
        for rule, delta in outcomes:
            moved = category_of(tiers, points + delta).category
            if moved != here.category:
                could.setdefault(moved, []).append(rule)
    worst = category_of(tiers, hi).category
    best = category_of(tiers, lo).category
    together: set[str] = set()
    if worst != here.category and worst not in could:
        could[worst] = [r for u in units for r, p in u[0] if p > 0]
        together.add(worst)
    if best != here.category and best not in could:
        could[best] = [r for u in units for r, p in u[0] if p < 0]
        together.add(best)
    notes = tuple(note for of, at, note in point_notes
                  if (of is None or of == scheme) and at == points)
    return TierResult(scheme, here.category, here.label, here.rule, best, worst,
                      tuple(CouldBe(c, tuple(dict.fromkeys(r)), c in together)
                            for c, r in could.items()),
                      (here.note, *notes) if here.note else notes)


@dataclass(frozen=True)
class _Compiled:
    """What scoring needs of a table, read once: its rows compiled, its notes on totals."""

    readers: tuple[_Reader, ...]
    point_notes: _PointNotes
    groups: tuple[tuple[int, ...], ...]  # the positions of each band group's rows


_COMPILED: dict[int, tuple[Table, _Compiled]] = {}


def _compiled(table: Table) -> _Compiled:
    found = _COMPILED.get(id(table))
    if found is None or found[0] is not table:
        notes = tuple((n.get("scheme"), float(str(n["points"])), str(n["note"]))
                      for n in table.data.get("point_notes", ()))
        groups: dict[str, list[int]] = {}
        for i, row in enumerate(table.rows):
            if row.group:
                groups.setdefault(row.group, []).append(i)
        found = _COMPILED[id(table)] = (table, _Compiled(
            tuple(_reader(row) for row in table.rows), notes,
            tuple(tuple(members) for members in groups.values())))
    return found[1]


def assess_table(table: Table, facts: PatientFacts) -> ScoreAssessment:
    """Score ``facts`` against a point table and place the result in each tier scheme (once
    per table for these facts: the assessment and its plans ask again)."""
    kept, found = facts.cached((assess_table, id(table)),
                               lambda: (table, _assess_table(table, facts)))
    return found if kept is table else _assess_table(table, facts)


def _assess_table(table: Table, facts: PatientFacts) -> ScoreAssessment:
    compiled = _compiled(table)
    items = _band_floors(table.rows, tuple(_read(reader, facts) for reader in compiled.readers),
                         facts, compiled.groups)
    points = sum(i.points for i in items if i.status == "present")
    units = _units(items)
    lo = points + sum(least for _, least, _ in units)
    hi = points + sum(most for _, _, most in units)
    tiers = {scheme: _tier_result(scheme, t, points, lo, hi, units, compiled.point_notes)
             for scheme, t in table.tiers.items()}
    return ScoreAssessment(table.ref, points, lo, hi, items, tiers, table.notes)
