"""Bring a FHIR ``Quantity`` to the one unit each VTE risk factor is scored in.

``normalise(kind, value, unit, code, system)`` returns a :class:`Normalised` value in the target
unit of *kind*, or a :class:`UnitProblem` saying why it could not: an unknown unit is a problem,
never a guess. The units accepted and every conversion factor, with its source, are data in
``units.toml``; this module holds no clinical number.

Reading order: the UCUM ``code`` when ``system`` is UCUM, then the human ``unit`` string. A UCUM
code that is present but not recognised is a problem (the display text does not overrule it); a
display unit that contradicts a recognised code is a problem too. Matching is exact after
typographic clean-up (white space, micro sign, superscript digits, litre ``l`` = ``L`` as UCUM
allows); other case differences are accepted only with an assumption noted, and never for units
whose case carries meaning (``G/L`` = 10^9/L, ``g/L`` = grams per litre).

Pure: standard library only, no I/O beyond reading the packaged TOML once.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from vte_rules.facts import Message

__all__ = [
    "UCUM_SYSTEM",
    "Normalised",
    "UnitProblem",
    "UnitsTableError",
    "d_dimer_feu_from_loinc",
    "kinds",
    "normalise",
]

UCUM_SYSTEM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class Normalised:
    """A value in the target unit of its kind.

    ``original`` is the unit text that was read (the UCUM code when that was used, otherwise the
    display unit; empty for a dimensionless value sent without a unit). ``assumptions`` lists
    anything taken on trust, for the card to show.
    """

    value: float
    unit: str
    original: str
    assumptions: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class UnitProblem:
    """Why a value could not be normalised; ``unit`` is the offending unit text, if any."""

    kind: str
    unit: str | None
    reason: str


class UnitsTableError(ValueError):
    """``units.toml`` is malformed."""


# ------------------------------------------------------------------------------------ table


@dataclass(frozen=True, slots=True)
class _Conversion:
    spellings: tuple[str, ...]
    multiply: float | None
    divide: float | None
    case_sensitive: frozenset[str]
    source: str

    def apply(self, value: float) -> float:
        if self.divide is not None:
            return value / self.divide
        if self.multiply is not None:
            return value * self.multiply
        return value


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    target: str
    missing_unit_ok: bool
    needs_basis: bool
    exact: Mapping[str, _Conversion]
    # case-folded spelling -> conversion; None when two conversions fold to the same text
    folded: Mapping[str, _Conversion | None]
    # each spelling as the table writes it -> its reading (what _read gives it), when the kind
    # needs no FEU/DDU basis: the text a lab sends is most often one of them
    listed: Mapping[str, _Reading]


@dataclass(frozen=True, slots=True)
class _DDimer:
    ddu_to_feu: float
    assumption: str  # a message key: what the card says when DDU was converted
    feu_loinc: frozenset[str]
    ddu_loinc: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Table:
    kinds: Mapping[str, _Kind]
    # case-folded case-sensitive spelling -> (spelling, kind): no case-blind match lands here
    strict_folds: Mapping[str, tuple[str, str]]
    d_dimer: _DDimer


_TYPOGRAPHY = str.maketrans({"\u00b5": "u", "\u03bc": "u", "\u00b2": "2", "\u00b3": "3"})
# A litre atom (l, ml, dl, ul) standing alone between non-letters: UCUM reads l and L alike.
_LITRE = re.compile(r"(?<![A-Za-z])([mdu]?)l(?![A-Za-z])")
_BASIS = re.compile(r"\s*[\[({]?\s*\b(FEU|DDU)\b\s*[\])}]?", re.IGNORECASE)


def _typographic(text: str) -> str:
    compact = "".join(text.translate(_TYPOGRAPHY).split())
    return _LITRE.sub(lambda m: f"{m.group(1)}L", compact)


def _positive(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise UnitsTableError(f"{where}: expected a number, got {raw!r}")
    number = float(raw)
    if not math.isfinite(number) or number <= 0:
        raise UnitsTableError(f"{where}: factor must be a positive finite number")
    return number


def _text(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise UnitsTableError(f"{where}: expected non-empty text")
    return raw


def _conversion(raw: Any, where: str) -> _Conversion:
    if not isinstance(raw, Mapping):
        raise UnitsTableError(f"{where}: expected a table")
    unknown = set(raw) - {"spellings", "multiply", "divide", "case_sensitive", "source"}
    if unknown:
        raise UnitsTableError(f"{where}: unknown keys {sorted(unknown)}")
    spellings = raw.get("spellings")
    if not isinstance(spellings, list) or not spellings:
        raise UnitsTableError(f"{where}: spellings must be a non-empty list")
    if "multiply" in raw and "divide" in raw:
        raise UnitsTableError(f"{where}: give multiply or divide, not both")
    multiply = _positive(raw["multiply"], f"{where}.multiply") if "multiply" in raw else None
    divide = _positive(raw["divide"], f"{where}.divide") if "divide" in raw else None
    listed = tuple(_text(s, f"{where}.spellings") for s in spellings)
    case_sensitive = raw.get("case_sensitive", [])
    if not isinstance(case_sensitive, list) or not set(case_sensitive) <= set(listed):
        raise UnitsTableError(f"{where}: case_sensitive must list some of its spellings")
    return _Conversion(listed, multiply, divide, frozenset(case_sensitive),
                       _text(raw.get("source"), f"{where}.source"))


def _kind(name: str, raw: Any, strict_folds: dict[str, tuple[str, str]]) -> _Kind:
    where = f"units.toml [kinds.{name}]"
    if not isinstance(raw, Mapping):
        raise UnitsTableError(f"{where}: expected a table")
    conversions = [_conversion(c, f"{where}.units[{i}]")
                   for i, c in enumerate(raw.get("units", ()))]
    if not conversions:
        raise UnitsTableError(f"{where}: no units")
    factors = [(c.multiply, c.divide) for c in conversions]
    if len(set(factors)) != len(factors):
        raise UnitsTableError(f"{where}: two unit entries share a factor; merge their spellings")
    exact: dict[str, _Conversion] = {}
    folded: dict[str, _Conversion | None] = {}
    for conv in conversions:
        for spelling in conv.spellings:
            key = _typographic(spelling)
            if key in exact:
                raise UnitsTableError(f"{where}: {spelling!r} is listed twice")
            exact[key] = conv
            if spelling in conv.case_sensitive:
                strict_folds[key.casefold()] = (spelling, name)
            elif folded.get(key.casefold(), conv) is not conv:
                folded[key.casefold()] = None
            else:
                folded[key.casefold()] = conv
    for flag in ("missing_unit_ok", "needs_basis"):
        if not isinstance(raw.get(flag, False), bool):
            raise UnitsTableError(f"{where}: {flag} must be true or false")
    needs_basis = raw.get("needs_basis", False)
    listed = {} if needs_basis else {spelling: _Reading(conv, spelling, None, ())
                                     for conv in conversions for spelling in conv.spellings}
    return _Kind(name, _text(raw.get("target"), f"{where}.target"),
                 raw.get("missing_unit_ok", False), needs_basis, exact, folded, listed)


def _codes(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not raw:
        raise UnitsTableError(f"{where}: expected a non-empty list of codes")
    return frozenset(_text(c, where) for c in raw)


def _parse_table(raw: Mapping[str, Any]) -> _Table:
    """Check and index a parsed ``units.toml``; raises :class:`UnitsTableError`."""
    kinds_raw = raw.get("kinds")
    if not isinstance(kinds_raw, Mapping) or not kinds_raw:
        raise UnitsTableError("units.toml: no [kinds]")
    strict_folds: dict[str, tuple[str, str]] = {}
    kinds_ = {name: _kind(name, spec, strict_folds) for name, spec in kinds_raw.items()}
    dd = raw.get("d_dimer")
    if not isinstance(dd, Mapping):
        raise UnitsTableError("units.toml: no [d_dimer]")
    _text(dd.get("ddu_to_feu_source"), "units.toml [d_dimer].ddu_to_feu_source")
    _text(dd.get("loinc_source"), "units.toml [d_dimer].loinc_source")
    d_dimer = _DDimer(_positive(dd.get("ddu_to_feu"), "units.toml [d_dimer].ddu_to_feu"),
                      _text(dd.get("ddu_assumption"), "units.toml [d_dimer].ddu_assumption"),
                      _codes(dd.get("feu_loinc"), "units.toml [d_dimer].feu_loinc"),
                      _codes(dd.get("ddu_loinc"), "units.toml [d_dimer].ddu_loinc"))
    if d_dimer.feu_loinc & d_dimer.ddu_loinc:
        raise UnitsTableError("units.toml [d_dimer]: a LOINC code cannot be both FEU and DDU")
    return _Table(kinds_, strict_folds, d_dimer)


@functools.cache
def _table() -> _Table:
    text = resources.files("fhir_mappers").joinpath("units.toml").read_text(encoding="utf-8")
    try:
        return _parse_table(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise UnitsTableError(f"units.toml: {exc}") from exc


def kinds() -> tuple[str, ...]:
    """The kinds :func:`normalise` accepts."""
    return tuple(_table().kinds)


# ----------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class _Reading:
    conversion: _Conversion
    text: str
    feu: bool | None  # FEU (True) / DDU (False) stated in the text, for D-dimer
    assumptions: tuple[Message, ...]


def _read(spec: _Kind, text: str, what: str) -> _Reading | str:
    """Match one unit text against *spec*; a string is the reason it did not match."""
    listed = spec.listed.get(text)
    return listed if listed is not None else _read_text(spec, text, what)


def _read_text(spec: _Kind, text: str, what: str) -> _Reading | str:
    """`_read`, by cleaning the text up and looking it up."""
    feu: bool | None = None
    rest = text
    if spec.needs_basis:
        stated = {m.group(1).upper() for m in _BASIS.finditer(text)}
        if len(stated) > 1:
            return f"{what} {text!r} names both FEU and DDU"
        feu = None if not stated else stated == {"FEU"}
        rest = _BASIS.sub("", text)
    key = _typographic(rest)
    if not key:
        return f"{what} {text!r} gives no unit"
    conv = spec.exact.get(key)
    if conv is not None:
        return _Reading(conv, text, feu, ())
    folded = key.casefold()
    strict = _table().strict_folds.get(folded)
    if strict is not None:
        spelling, owner = strict
        return (f"unrecognised {what} {text!r} for {spec.name}; letter case matters here "
                f"({spelling!r} for {owner} is not the same unit), so it is not ignored")
    if folded in spec.folded:
        conv = spec.folded[folded]
        if conv is None:
            return f"{what} {text!r} is ambiguous for {spec.name} once letter case is ignored"
        note = Message.of("unit_letter_case", what="ucum_code" if what == "UCUM code" else "unit",
                          unit=repr(text), spelling=repr(conv.spellings[0]))
        return _Reading(conv, text, feu, (note,))
    return f"unrecognised {what} {text!r} for {spec.name}"


def _given(text: str | None) -> str | None:
    return text if text is not None and text.strip() else None


def d_dimer_feu_from_loinc(loinc_code: str | None) -> bool | None:
    """The ``feu`` hint for :func:`normalise` from an Observation's LOINC code.

    True for the FEU code, False for the DDU code, None for any other code (basis not stated).
    """
    if loinc_code is None:
        return None
    dd = _table().d_dimer
    code = loinc_code.strip()
    if code in dd.feu_loinc:
        return True
    if code in dd.ddu_loinc:
        return False
    return None


def normalise(kind: str, value: float, unit: str | None, code: str | None,
              system: str | None, *, feu: bool | None = None) -> Normalised | UnitProblem:
    """Convert *value* to the target unit of *kind*, or say why not.

    *unit* is ``Quantity.unit`` (display text), *code* and *system* are ``Quantity.code`` and
    ``Quantity.system``; the code is read only when the system is UCUM. *feu* is for D-dimer
    only: True / False when the Observation's LOINC code says FEU / DDU (see
    :func:`d_dimer_feu_from_loinc`), None when it does not say.

    Raises ValueError for a *kind* not in :func:`kinds` or an *feu* hint on another kind: those
    are programming errors, not data problems.
    """
    table = _table()
    spec = table.kinds.get(kind)
    if spec is None:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(table.kinds)}")
    if feu is not None and not spec.needs_basis:
        raise ValueError(f"the feu hint applies to D-dimer only, not to {kind!r}")
    unit_text, code_text = _given(unit), _given(code)
    shown = unit_text if unit_text is not None else code_text
    number = float(value)
    if not math.isfinite(number):
        return UnitProblem(kind, shown, f"value {value!r} is not a finite number")
    if number < 0:
        return UnitProblem(kind, shown, f"value {value!r} is negative")

    readings: list[_Reading] = []
    if code_text is not None and system == UCUM_SYSTEM:
        primary = _read(spec, code_text, "UCUM code")
        if isinstance(primary, str):
            return UnitProblem(kind, code_text, primary)
        readings.append(primary)
        if unit_text is not None:
            display = _read(spec, unit_text, "unit")
            if isinstance(display, _Reading):
                if display.conversion is not primary.conversion:
                    return UnitProblem(kind, unit_text, f"unit {unit_text!r} contradicts "
                                       f"UCUM code {code_text!r}")
                readings.append(display)
    elif unit_text is not None:
        primary = _read(spec, unit_text, "unit")
        if isinstance(primary, str):
            return UnitProblem(kind, unit_text, primary)
        readings.append(primary)
    elif code_text is not None:
        return UnitProblem(kind, code_text, f"unit code {code_text!r} is from system "
                           f"{system!r}, not UCUM, and no unit text was given")
    elif spec.missing_unit_ok:
        return Normalised(number, spec.target, "", ())
    else:
        return UnitProblem(kind, None, f"no unit given for {kind}")

    first = readings[0]
    result = first.conversion.apply(number)
    assumptions = list(first.assumptions)
    if spec.needs_basis:
        basis = _basis(kind, readings, feu, assumptions, table.d_dimer)
        if isinstance(basis, UnitProblem):
            return basis
        if not basis:
            result *= table.d_dimer.ddu_to_feu
            assumptions.append(Message.of(table.d_dimer.assumption,
                                          factor=f"{table.d_dimer.ddu_to_feu:g}"))
    if not math.isfinite(result):
        return UnitProblem(kind, first.text, f"value {value!r} overflows when converted")
    return Normalised(result, spec.target, first.text, tuple(assumptions))


def _basis(kind: str, readings: list[_Reading], hint: bool | None, assumptions: list[Message],
           dd: _DDimer) -> bool | UnitProblem:
    """FEU (True) or DDU (False) from the unit texts and the LOINC hint, which must agree."""
    stated = {r.feu for r in readings if r.feu is not None}
    text = readings[0].text
    if len(stated) > 1:
        return UnitProblem(kind, text, "UCUM code and unit disagree on FEU versus DDU")
    if stated:
        basis = stated.pop()
        if hint is not None and hint != basis:
            return UnitProblem(kind, text, f"unit {text!r} says {'FEU' if basis else 'DDU'} "
                               f"but the LOINC code says {'FEU' if hint else 'DDU'}")
        return basis
    if hint is None:
        codes = ", ".join(sorted(dd.feu_loinc | dd.ddu_loinc))
        return UnitProblem(kind, text, f"cannot tell FEU from DDU: unit {text!r} does not say "
                           f"and the LOINC code is not one of {codes}")
    assumptions.append(Message.of("d_dimer_basis_from_code", basis="FEU" if hint else "DDU",
                                  unit=repr(text)))
    return hint
