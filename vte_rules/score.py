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

from vte_rules.facts import Fact, Message, PatientFacts
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


def _combine(facts: PatientFacts, names: tuple[str, ...]) -> tuple[bool | None, tuple[Fact, ...]]:
    """Three-valued OR: present if any is, absent only if all are known absent."""
    values = [(facts.flag(n), facts[n]) for n in names]
    present = tuple(f for v, f in values if v is True)
    if present:
        return True, present
    if all(v is False for v, _ in values):
        return False, tuple(f for _, f in values)
    return None, tuple(f for v, f in values if v is None)


def read_row(row: Row, facts: PatientFacts) -> ItemResult:
    """Read one row against the facts, three-valued."""
    crit = row.criterion
    fact: Fact
    if crit.any_of:
        flag, used = _combine(facts, crit.factors)
        evidence = tuple(e for f in used for e in f.evidence) if flag is not None else ()
        reason = None if flag is not None else "; ".join(
            sorted({f.reason or "not documented" for f in used}))
        assumption = tuple(dict.fromkeys(m for f in used for m in f.assumption or ())) or None
        status: Status = "unknown" if flag is None else ("present" if flag else "absent")
        return ItemResult(row.rule, row.label, row.points, status, row.source, evidence, flag,
                          reason, assumption, row.group, row.note)
    fact = facts[crit.factors[0]]
    if fact.value is None:
        status = _among(crit.range, fact.possible) if crit.range and fact.possible else "unknown"
    elif crit.range is not None:
        assert isinstance(fact.value, float)
        status = "present" if crit.range.contains(fact.value) else "absent"
    elif crit.equals is not None:
        status = "present" if fact.value == crit.equals else "absent"
    else:
        status = "present" if fact.value is True else "absent"
    return ItemResult(row.rule, row.label, row.points, status, row.source, fact.evidence,
                      fact.value, fact.reason if status == "unknown" else None,
                      fact.assumption, row.group, row.note)


def _among(band: Interval, possible: tuple[float, ...]) -> Status:
    """A band read against the values an unknown number can still take."""
    inside = sum(band.contains(p) for p in possible)
    return "present" if inside == len(possible) else "absent" if not inside else "unknown"


def _band_floors(rows: tuple[Row, ...], items: tuple[ItemResult, ...], facts: PatientFacts
                 ) -> tuple[ItemResult, ...]:
    """A band group whose number is unknown but each of its possible values falls in one of the
    group's bands (age 75 or 76: "60-75" or "> 75") adds at least its lowest possible band: that
    band is counted, and the others stay unknown, each adding only the difference (_units)."""
    out = list(items)
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        if item.group:
            groups.setdefault(item.group, []).append(i)
    for members in groups.values():
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


@dataclass(frozen=True)
class _Unit:
    """An unknown item, or an unknown band group, and what each outcome would add."""

    outcomes: tuple[tuple[str, float], ...]

    @property
    def least(self) -> float:
        return min(0.0, *(p for _, p in self.outcomes))

    @property
    def most(self) -> float:
        return max(0.0, *(p for _, p in self.outcomes))


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
            units.append(_Unit(((item.rule, item.points),)))
    units.extend(_Unit(tuple((m.rule, m.points - counted.get(group, 0.0)) for m in members))
                 for group, members in groups.items())
    return units


def category_of(tiers: tuple[Tier, ...], total: float) -> Tier:
    for tier in tiers:
        if tier.range.contains(total):
            return tier
    raise ValueError(f"no tier holds {total}")  # the loader proved this cannot happen


def _tier_result(scheme: str, tiers: tuple[Tier, ...], points: float, lo: float, hi: float,
                 units: list[_Unit], point_notes: list[Mapping[str, object]]) -> TierResult:
    here = category_of(tiers, points)
    could: dict[str, list[str]] = {}
    for unit in units:
        for rule, delta in unit.outcomes:
            moved = category_of(tiers, points + delta).category
            if moved != here.category:
                could.setdefault(moved, []).append(rule)
    worst = category_of(tiers, hi).category
    best = category_of(tiers, lo).category
    together: set[str] = set()
    if worst != here.category and worst not in could:
        could[worst] = [r for u in units for r, p in u.outcomes if p > 0]
        together.add(worst)
    if best != here.category and best not in could:
        could[best] = [r for u in units for r, p in u.outcomes if p < 0]
        together.add(best)
    notes = tuple(str(n["note"]) for n in point_notes
                  if n.get("scheme", scheme) == scheme and float(str(n["points"])) == points)
    return TierResult(scheme, here.category, here.label, here.rule, best, worst,
                      tuple(CouldBe(c, tuple(dict.fromkeys(r)), c in together)
                            for c, r in could.items()),
                      (here.note, *notes) if here.note else notes)


def assess_table(table: Table, facts: PatientFacts) -> ScoreAssessment:
    """Score ``facts`` against a point table and place the result in each tier scheme (once
    per table for these facts: the assessment and its plans ask again)."""
    kept, found = facts.cached((assess_table, id(table)),
                               lambda: (table, _assess_table(table, facts)))
    return found if kept is table else _assess_table(table, facts)


def _assess_table(table: Table, facts: PatientFacts) -> ScoreAssessment:
    items = _band_floors(table.rows, tuple(read_row(row, facts) for row in table.rows), facts)
    points = sum(i.points for i in items if i.status == "present")
    units = _units(items)
    lo = points + sum(u.least for u in units)
    hi = points + sum(u.most for u in units)
    point_notes = list(table.data.get("point_notes", ()))
    tiers = {scheme: _tier_result(scheme, t, points, lo, hi, units, point_notes)
             for scheme, t in table.tiers.items()}
    return ScoreAssessment(table.ref, points, lo, hi, items, tiers, table.notes)
