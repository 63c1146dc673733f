"""Estimated GFR from serum creatinine: the CKD-EPI 2021 race-free equation.

Inker LA et al., N Engl J Med 2021;385:1737-49. The coefficients, with their source, are data in
``egfr.toml``; this module holds no clinical number. Pure: standard library only.
"""

from __future__ import annotations

import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["EgfrTableError", "ckd_epi_2021", "source"]


class EgfrTableError(ValueError):
    """``egfr.toml`` is malformed."""


@dataclass(frozen=True, slots=True)
class _Sex:
    kappa: float
    alpha: float
    factor: float


@dataclass(frozen=True, slots=True)
class _Equation:
    constant: float
    exponent_above_kappa: float
    age_base: float
    min_age_years: float
    sexes: Mapping[str, _Sex]
    source: str


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EgfrTableError(f"egfr.toml {where}: {key} must be a number")
    if not math.isfinite(value):
        raise EgfrTableError(f"egfr.toml {where}: {key} must be finite")
    return float(value)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EgfrTableError(f"egfr.toml: {key} must be non-empty text")
    return value


def _parse(raw: Mapping[str, Any]) -> _Equation:
    sexes_raw = raw.get("sex")
    if not isinstance(sexes_raw, Mapping) or not sexes_raw:
        raise EgfrTableError("egfr.toml: no [sex.*] coefficients")
    sexes: dict[str, _Sex] = {}
    for name, entry in sexes_raw.items():
        where = f"[sex.{name}]"
        if not isinstance(entry, Mapping):
            raise EgfrTableError(f"egfr.toml {where}: expected a table")
        sex = _Sex(*(_number(entry, k, where) for k in ("kappa", "alpha", "factor")))
        if sex.kappa <= 0 or sex.factor <= 0:
            raise EgfrTableError(f"egfr.toml {where}: kappa and factor must be positive")
        sexes[name] = sex
    _text(raw, "min_age_source")
    return _Equation(_number(raw, "constant", "top level"),
                     _number(raw, "exponent_above_kappa", "top level"),
                     _number(raw, "age_base", "top level"),
                     _number(raw, "min_age_years", "top level"),
                     sexes, _text(raw, "source"))


@functools.cache
def _equation() -> _Equation:
    text = resources.files("fhir_mappers").joinpath("egfr.toml").read_text(encoding="utf-8")
    try:
        return _parse(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise EgfrTableError(f"egfr.toml: {exc}") from exc


def source() -> str:
    """The citation for the equation, for a card's evidence."""
    return _equation().source


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: str) -> float | None:
    """eGFR in mL/min/1.73m2 by the CKD-EPI 2021 creatinine equation, unrounded.

    *creatinine_mg_dl* is IDMS-traceable serum creatinine in mg/dL (convert with
    ``units.normalise("creatinine", ...)`` first). *sex* is the FHIR administrative gender code.

    Returns None, rather than a number that would look trustworthy, when the equation does not
    apply:

    - *sex* is not exactly ``"male"`` or ``"female"``: the equation has coefficients for those
      two only, and picking one for ``"other"`` or ``"unknown"`` would move the estimate by
      several mL/min/1.73m2 on a guess;
    - *age_years* is under 18 (``min_age_years`` in egfr.toml): the equation was developed and
      validated in adults, and children need a paediatric equation (CKiD / Schwartz);
    - either number is not finite, or creatinine is not above zero (no physiological value, and
      the equation is undefined at zero).

    Rounding to a whole number, as laboratories report it, is left to the caller.
    """
    eq = _equation()
    coeff = eq.sexes.get(sex)
    if coeff is None:
        return None
    if not (math.isfinite(creatinine_mg_dl) and math.isfinite(age_years)):
        return None
    if creatinine_mg_dl <= 0 or age_years < eq.min_age_years:
        return None
    ratio = creatinine_mg_dl / coeff.kappa
    return (eq.constant
            * math.pow(min(ratio, 1.0), coeff.alpha)
            * math.pow(max(ratio, 1.0), eq.exponent_above_kappa)
            * math.pow(eq.age_base, age_years)
            * coeff.factor)
