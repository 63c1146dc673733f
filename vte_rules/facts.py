"""Patient facts: every factor the rules use, each True, False, a number, a choice, or unknown.

A factor that is not in a `PatientFacts` is unknown. Unknown is never read as absent: the
scores treat it as "could be present" and report the best and the worst case.

Each known value keeps the evidence that established it (FHIR references such as
``Observation/abc``) and, for numbers, the unit and the date of the measurement, so that a card
can say why. The factor catalogue (names, kinds, units) is data: ``tables/factors.toml``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from vte_rules.tables import FactorSpec, load_factor_catalogue

Value = bool | float | str
_T = TypeVar("_T")
FactorKind = Literal["bool", "number", "choice"]


class FactError(ValueError):
    """A fact names no catalogued factor, or its value does not fit the factor's kind."""


@dataclass(frozen=True)
class Message:
    """One thing assumed to read a value, as a message key and its fields, never a sentence.

    The mapper and the rules say what they assumed this way ("cycle length not recorded: 28
    days assumed" is ``Message("cycle_assumed", (("days", "28"), ("why", ...)))``), so that
    every view words it in its reader's language: the hook layer holds the wording
    (``hooks/locale``, ``msgctxt "reading"``). ``about`` names the resource the statement is
    about (``MedicationRequest/dex-1``) when there are several.
    """

    key: str
    fields: tuple[tuple[str, str], ...] = ()
    about: str | None = None

    @classmethod
    def of(cls, key: str, about: str | None = None, **fields: object) -> Message:
        return cls(key, tuple((name, str(value)) for name, value in fields.items()), about)

    def on(self, about: str) -> Message:
        """The same statement, said about the resource ``about``."""
        return Message(self.key, self.fields, about)


#: A text a facts document gives as its assumption (the CLI, the assessment API) is kept as
#: written: ``Message(GIVEN, (("text", ...),))``.
GIVEN = "given"


@dataclass(frozen=True)
class Fact:
    """One factor's value for one patient.

    ``value`` is None when the factor is unknown; ``reason`` then says why (for example
    "dexamethasone ordered but the dose per cycle could not be computed"). ``assumption`` is set
    when the value was inferred by a rule rather than read from the record as such (BLEED-16,
    a cycle length not recorded): what was assumed, one :class:`Message` each, never empty.
    ``possible``, for an unknown number, lists the values it can still take (a birth year without
    the day leaves two ages): a table row reads it value by value (present when every one falls
    in its band, absent when none does, unknown otherwise).
    """

    value: Value | None
    evidence: tuple[str, ...] = ()
    unit: str | None = None
    date: dt.date | None = None
    reason: str | None = None
    assumption: tuple[Message, ...] | None = None
    possible: tuple[float, ...] | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


UNKNOWN = Fact(None, reason="not documented")


def _check_value(spec: FactorSpec, name: str, value: Value) -> Value:
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise FactError(f"factor {name!r} is true/false, got {value!r}")
        return value
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FactError(f"factor {name!r} is a number, got {value!r}")
        return float(value)
    if not isinstance(value, str) or value not in spec.choices:
        raise FactError(f"factor {name!r} is one of {list(spec.choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class PatientFacts(Mapping[str, Fact]):
    """An immutable set of facts, checked against the factor catalogue.

    Index by factor name; a factor that was never set reads as `UNKNOWN`.
    """

    _facts: Mapping[str, Fact] = field(default_factory=dict)
    as_of: dt.date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", {})
        catalogue = load_factor_catalogue()
        checked: dict[str, Fact] = {}
        for name, fact in self._facts.items():
            spec = catalogue.get(name)
            if spec is None:
                raise FactError(f"unknown factor {name!r}")
            if fact.value is not None:
                value = _check_value(spec, name, fact.value)
                if value is not fact.value:
                    fact = Fact(value, fact.evidence, fact.unit or spec.unit, fact.date,
                                fact.reason, fact.assumption)
            checked[name] = fact
        object.__setattr__(self, "_facts", checked)

    @classmethod
    def of(cls, as_of: dt.date | None = None, **values: Value | Fact | None) -> PatientFacts:
        """Build facts from plain values (tests, the assessment API); None means unknown."""
        facts = {
            name: v if isinstance(v, Fact) else Fact(v, reason=None if v is not None else
                                                   "not documented")
            for name, v in values.items()
        }
        return cls(facts, as_of)

    def with_facts(self, **facts: Fact) -> PatientFacts:
        """A copy with some facts replaced or added (only those are checked: the rest were)."""
        added = PatientFacts(facts, self.as_of)
        merged = object.__new__(PatientFacts)
        object.__setattr__(merged, "_facts", {**self._facts, **added._facts})
        object.__setattr__(merged, "as_of", self.as_of)
        object.__setattr__(merged, "_memo", {})
        return merged

    def cached(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, run once per key for these facts (they never change): an assessment
        asks for the derived facts and each score table several times."""
        memo: dict[Hashable, Any] = self._memo  # type: ignore[attr-defined]
        if key not in memo:
            memo[key] = compute()
        found: _T = memo[key]
        return found

    def __getitem__(self, name: str) -> Fact:
        found = self._facts.get(name)
        if found is not None:
            return found  # catalogued: every fact was checked when these facts were built
        if name not in load_factor_catalogue():
            raise FactError(f"unknown factor {name!r}")
        return UNKNOWN

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def flag(self, name: str) -> bool | None:
        """The three-valued reading of a true/false factor."""
        value = self[name].value
        if value is None or isinstance(value, bool):
            return value
        raise FactError(f"factor {name!r} is not true/false")

    def number(self, name: str) -> float | None:
        value = self[name].value
        if value is None or (isinstance(value, float) and not isinstance(value, bool)):
            return value
        raise FactError(f"factor {name!r} is not a number")


def _parse_fact(name: str, raw: object) -> Fact:
    if raw is None or isinstance(raw, bool | int | float | str):
        return Fact(raw, reason=None if raw is not None else "not documented")
    if not isinstance(raw, Mapping):
        raise FactError(f"factor {name!r}: expected a value or an object with 'value'")
    unknown = set(raw) - {"value", "evidence", "unit", "date", "reason", "assumption"}
    if unknown:
        raise FactError(f"factor {name!r}: unexpected keys {sorted(unknown)}")
    evidence = raw.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) for e in evidence):
        raise FactError(f"factor {name!r}: evidence must be a list of references")
    date = raw.get("date")
    try:
        parsed_date = dt.date.fromisoformat(date[:10]) if isinstance(date, str) else None
    except ValueError as exc:
        raise FactError(f"factor {name!r}: date {date!r} is not YYYY-MM-DD") from exc
    value = raw.get("value")
    if value is not None and not isinstance(value, bool | int | float | str):
        raise FactError(f"factor {name!r}: value must be true/false, a number or a text")
    given = raw.get("assumption")
    if given is not None and not isinstance(given, str):
        raise FactError(f"factor {name!r}: assumption must be a text")
    return Fact(value, tuple(evidence), raw.get("unit"), parsed_date, raw.get("reason"),
                (Message.of(GIVEN, text=given),) if given else None)


def facts_from_json(doc: Mapping[str, object]) -> PatientFacts:
    """``{"as_of": "YYYY-MM-DD", "facts": {name: value | {value, evidence, unit, date}}}``."""
    raw = doc.get("facts")
    if not isinstance(raw, Mapping):
        raise FactError("'facts' must be an object of factor name to value")
    as_of = doc.get("as_of")
    try:
        day = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else None
    except ValueError as exc:
        raise FactError(f"as_of {as_of!r} is not YYYY-MM-DD") from exc
    return PatientFacts({str(k): _parse_fact(str(k), v) for k, v in raw.items()}, day)
