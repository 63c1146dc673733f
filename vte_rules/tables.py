"""Load and check the clinical tables (``vte_rules/tables/*.toml``).

Every number the rules use lives in these files, each row with its rule id and its source. The
loader refuses a table, at start-up, when:

- a row has no ``source`` or no ``rule`` id;
- a row names a factor that is not in the factor catalogue, or tests it the wrong way (a range
  on a true/false factor, a choice that the factor does not have);
- two rows of one band group overlap (for example two age bands covering the same age);
- the tiers of a score overlap or leave a gap: every total the items can reach, in steps of
  the table's ``points_step``, must fall in exactly one tier.

`TableError` is the one exception it raises; its message names the file and the row.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


class TableError(ValueError):
    """A clinical table is malformed; the service must not start with it."""


@dataclass(frozen=True)
class Label:
    en: str
    zh: str

    def text(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en

    @classmethod
    def of(cls, raw: Mapping[str, Any], **fields: object) -> Label:
        """A message from a table (``{en = ..., zh = ...}``), its ``{placeholders}`` filled."""
        return cls(str(raw["en"]).format(**fields), str(raw["zh"]).format(**fields))


@dataclass(frozen=True)
class FactorSpec:
    name: str
    kind: str
    label: Label
    unit: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Interval:
    """A range of a number; bounds that are None are open-ended."""

    lo: float | None = None
    lo_inclusive: bool = True
    hi: float | None = None
    hi_inclusive: bool = True

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (x == self.lo and not self.lo_inclusive)):
            return False
        return not (self.hi is not None
                    and (x > self.hi or (x == self.hi and not self.hi_inclusive)))

    def describe(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>=' if self.lo_inclusive else '>'} {_fmt(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<=' if self.hi_inclusive else '<'} {_fmt(self.hi)}")
        return " and ".join(parts) or "any value"

    def overlaps(self, other: Interval) -> bool:
        lo, lo_inc = _max_lo(self, other)
        hi, hi_inc = _min_hi(self, other)
        if lo is None or hi is None:
            return True
        return lo < hi or (lo == hi and lo_inc and hi_inc)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _max_lo(a: Interval, b: Interval) -> tuple[float | None, bool]:
    if a.lo is None:
        return b.lo, b.lo_inclusive
    if b.lo is None or a.lo > b.lo:
        return a.lo, a.lo_inclusive
    if b.lo > a.lo:
        return b.lo, b.lo_inclusive
    return a.lo, a.lo_inclusive and b.lo_inclusive


def _min_hi(a: Interval, b: Interval) -> tuple[float | None, bool]:
    if a.hi is None:
        return b.hi, b.hi_inclusive
    if b.hi is None or a.hi < b.hi:
        return a.hi, a.hi_inclusive
    if b.hi < a.hi:
        return b.hi, b.hi_inclusive
    return a.hi, a.hi_inclusive and b.hi_inclusive


def parse_interval(raw: Mapping[str, Any], where: str) -> Interval:
    """``{ge = 60, le = 75}``, ``{gt = 75}``, ``{lt = 50}`` ... as an `Interval`."""
    unknown = set(raw) - {"gt", "ge", "lt", "le"}
    if unknown or not raw:
        raise TableError(f"{where}: a range takes gt/ge and lt/le, got {sorted(raw)}")
    if ("gt" in raw and "ge" in raw) or ("lt" in raw and "le" in raw):
        raise TableError(f"{where}: a range has at most one lower and one upper bound")
    for key, bound in raw.items():
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise TableError(f"{where}: range bound {key} must be a number")
    lo = raw.get("ge", raw.get("gt"))
    hi = raw.get("le", raw.get("lt"))
    if lo is not None and hi is not None and lo > hi:
        raise TableError(f"{where}: empty range {dict(raw)}")
    return Interval(
        None if lo is None else float(lo), "gt" not in raw,
        None if hi is None else float(hi), "lt" not in raw,
    )


@dataclass(frozen=True)
class Criterion:
    """How a row reads the facts.

    Exactly one of: ``factor`` alone (a true/false factor is present), ``factor`` + ``range``
    (a number in the range), ``factor`` + ``equals`` (a choice), or ``any_of`` (any of several
    true/false factors is present).
    """

    factors: tuple[str, ...]
    range: Interval | None = None
    equals: str | None = None

    @property
    def any_of(self) -> bool:
        return len(self.factors) > 1

    def within(self, x: float) -> bool:
        """Whether a number falls in this row's range (rows without a range never match)."""
        return self.range is not None and self.range.contains(x)

    def describe(self) -> str:
        if self.range is not None:
            return f"{self.factors[0]} {self.range.describe()}"
        if self.equals is not None:
            return f"{self.factors[0]} = {self.equals}"
        return " or ".join(self.factors)


@dataclass(frozen=True)
class Row:
    """One row of a score or decision table."""

    rule: str
    criterion: Criterion
    label: Label
    source: str
    points: float = 0.0
    group: str | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tier:
    category: str
    range: Interval
    label: Label
    rule: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Table:
    """A loaded table: header, rows, and (for scores) one or more tier schemes."""

    id: str
    version: str
    source: str
    rows: tuple[Row, ...]
    tiers: Mapping[str, tuple[Tier, ...]]
    points_step: float
    notes: tuple[str, ...]
    rules: tuple[str, ...]
    data: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def row(self, rule: str) -> Row:
        for row in self.rows:
            if row.rule == rule:
                return row
        raise KeyError(rule)

    def rule_ids(self) -> set[str]:
        ids = {row.rule for row in self.rows} | set(self.rules)
        ids |= {tier.rule for scheme in self.tiers.values() for tier in scheme}
        return ids


def _label(raw: Any, where: str) -> Label:
    if not isinstance(raw, Mapping) or not raw.get("en") or not raw.get("zh"):
        raise TableError(f"{where}: label needs both en and zh")
    return Label(str(raw["en"]), str(raw["zh"]))


def _read_toml(name: str) -> dict[str, Any]:
    path = resources.files("vte_rules") / "tables" / f"{name}.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TableError(f"{name}.toml: no such table") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TableError(f"{name}.toml: {exc}") from exc


@functools.cache
def load_factor_catalogue() -> Mapping[str, FactorSpec]:
    raw = _read_toml("factors")
    specs: dict[str, FactorSpec] = {}
    for name, entry in raw.get("factors", {}).items():
        where = f"factors.toml [{name}]"
        kind = entry.get("kind")
        if kind not in ("bool", "number", "choice"):
            raise TableError(f"{where}: kind must be bool, number or choice")
        choices = tuple(entry.get("choices", ()))
        if (kind == "choice") != bool(choices):
            raise TableError(f"{where}: choices go with kind = choice, and only there")
        specs[name] = FactorSpec(name, kind, _label(entry.get("label"), where),
                                 entry.get("unit"), choices)
    return specs


def _criterion(raw: Mapping[str, Any], where: str,
               catalogue: Mapping[str, FactorSpec]) -> Criterion:
    if ("factor" in raw) == ("any_of" in raw):
        raise TableError(f"{where}: a row names either factor or any_of")
    names = (raw["factor"],) if "factor" in raw else tuple(raw["any_of"])
    for name in names:
        if name not in catalogue:
            raise TableError(f"{where}: unknown factor {name!r}")
    if "any_of" in raw:
        if len(names) < 2 or any(catalogue[n].kind != "bool" for n in names):
            raise TableError(f"{where}: any_of lists two or more true/false factors")
        return Criterion(names)
    spec = catalogue[names[0]]
    if "range" in raw:
        if spec.kind != "number":
            raise TableError(f"{where}: range on non-number factor {spec.name!r}")
        return Criterion(names, range=parse_interval(raw["range"], where))
    if "equals" in raw:
        if spec.kind != "choice" or raw["equals"] not in spec.choices:
            raise TableError(f"{where}: {spec.name!r} has no choice {raw['equals']!r}")
        return Criterion(names, equals=str(raw["equals"]))
    if spec.kind != "bool":
        raise TableError(f"{where}: {spec.name!r} is a {spec.kind}; give a range or equals")
    return Criterion(names)


_ROW_KEYS = {"rule", "factor", "any_of", "range", "equals", "points", "label", "source",
             "group", "note"}


def _row(raw: Mapping[str, Any], where: str, catalogue: Mapping[str, FactorSpec]) -> Row:
    if not raw.get("source"):
        raise TableError(f"{where}: row has no source")
    if not raw.get("rule"):
        raise TableError(f"{where}: row has no rule id")
    where = f"{where} ({raw['rule']})"
    points = raw.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, int | float):
        raise TableError(f"{where}: points must be a number")
    extra = {k: v for k, v in raw.items() if k not in _ROW_KEYS}
    return Row(str(raw["rule"]), _criterion(raw, where, catalogue),
               _label(raw.get("label"), where), str(raw["source"]), float(points),
               raw.get("group"), raw.get("note"), extra)


def _tier(raw: Mapping[str, Any], where: str) -> Tier:
    for key in ("category", "range", "rule", "source"):
        if key not in raw:
            raise TableError(f"{where}: tier needs {key}")
    return Tier(str(raw["category"]), parse_interval(raw["range"], where),
                _label(raw.get("label"), where), str(raw["rule"]), str(raw["source"]),
                raw.get("note"))


def _check_groups(rows: Iterable[Row], name: str) -> None:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        if row.group:
            groups.setdefault(row.group, []).append(row)
    for group, members in groups.items():
        factors = {m.criterion.factors for m in members}
        if len(factors) != 1 or any(m.criterion.range is None for m in members):
            raise TableError(f"{name}.toml: group {group!r} must be ranges of one factor")
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                ra, rb = a.criterion.range, b.criterion.range
                if ra is not None and rb is not None and ra.overlaps(rb):
                    raise TableError(
                        f"{name}.toml: {a.rule} and {b.rule} overlap in group {group!r}")


def reachable_totals(rows: Iterable[Row], step: float) -> list[float]:
    """Every total the rows can add up to, from all-absent to all-present, in `step`s."""
    lo = hi = 0.0
    seen_groups: dict[str, tuple[float, float]] = {}
    for row in rows:
        if row.group:
            g_lo, g_hi = seen_groups.get(row.group, (0.0, 0.0))
            seen_groups[row.group] = (min(g_lo, row.points), max(g_hi, row.points))
        else:
            lo += min(0.0, row.points)
            hi += max(0.0, row.points)
    for g_lo, g_hi in seen_groups.values():
        lo += g_lo
        hi += g_hi
    count = round((hi - lo) / step)
    return [lo + i * step for i in range(count + 1)]


def _check_tiers(name: str, scheme: str, tiers: tuple[Tier, ...], rows: tuple[Row, ...],
                 step: float) -> None:
    for row in rows:
        if not math.isclose(row.points / step, round(row.points / step)):
            raise TableError(f"{name}.toml: {row.rule} points {row.points} not a multiple of "
                             f"points_step {step}")
    for total in reachable_totals(rows, step):
        hits = [t.category for t in tiers if t.range.contains(total)]
        if len(hits) == 0:
            raise TableError(f"{name}.toml: tiers {scheme!r} leave a gap at {_fmt(total)}")
        if len(hits) > 1:
            raise TableError(f"{name}.toml: tiers {scheme!r} overlap at {_fmt(total)}: {hits}")


def parse_table(name: str, raw: Mapping[str, Any],
                catalogue: Mapping[str, FactorSpec]) -> Table:
    """Check and build a table from its parsed TOML (`load_table` reads the file)."""
    for key in ("id", "version", "source"):
        if not raw.get(key):
            raise TableError(f"{name}.toml: header needs {key}")
    rows = tuple(_row(r, f"{name}.toml row {i + 1}", catalogue)
                 for i, r in enumerate(raw.get("items", ())))
    _check_groups(rows, name)
    step = float(raw.get("points_step", 1))
    tiers: dict[str, tuple[Tier, ...]] = {}
    for scheme, entries in raw.get("tiers", {}).items():
        tiers[scheme] = tuple(_tier(t, f"{name}.toml tiers.{scheme}[{i}]")
                              for i, t in enumerate(entries))
        _check_tiers(name, scheme, tiers[scheme], rows, step)
    skip = {"id", "version", "source", "items", "tiers", "points_step", "notes", "rules"}
    return Table(str(raw["id"]), str(raw["version"]), str(raw["source"]), rows, tiers, step,
                 tuple(raw.get("notes", ())), tuple(raw.get("rules", ())),
                 {k: v for k, v in raw.items() if k not in skip})


@functools.cache
def load_table(name: str) -> Table:
    """Load ``tables/<name>.toml`` once per process."""
    return parse_table(name, _read_toml(name), load_factor_catalogue())


TABLE_NAMES = ("wells_dvt", "wells_pe", "mm_vte", "bleeding", "drug_risk", "regimens",
               "prophylaxis", "adjustments", "duration", "treatment", "cmvt")


def load_all() -> dict[str, Table]:
    """Load and check every table; call at start-up so that a bad table stops the service."""
    return {name: load_table(name) for name in TABLE_NAMES}
