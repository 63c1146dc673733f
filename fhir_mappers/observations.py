"""Observations: laboratory values, vital signs, and findings recorded for the rules.

- Only ``final``, ``amended`` and ``corrected`` results count.
- Per measurement, the latest value with a usable unit wins; values with an unknown unit are
  reported and skipped; the winner older than the policy's ``max_age_days`` makes the factor
  unknown ("latest platelet count is 40 days old"), never absent.
- eGFR is computed from creatinine (CKD-EPI 2021) only when no eGFR is on record, and says so;
  BMI from weight and height likewise.
- D-dimer "raised" follows the laboratory's interpretation, else its reference range, else the
  policy's default cut-off (said as an assumption).
- Lupus anticoagulant and anticardiolipin are tests: positive or negative comes from the coded
  result (SNOMED CT Positive/Negative), the laboratory's flag (POS/NEG, H/N), or the result
  written as a word (阳性/阴性), or as such a word inside a longer text ("阳性（LA1/LA2 标准化比值
  1.48）", "Positive (ratio 1.48)"), conservatively: a negation, a doubt or words of both
  polarities leave it unknown (``policy.toml`` ``[interpretation]``); never from a number. A
  test a laboratory codes in its own system is found by its name (狼疮抗凝物), and the fact says
  so. A result that cannot be read is unknown, never absent.
- Observations coded in the policy's finding system set the factor named by the code: the way
  clinicians and the SMART app record Wells signs and ultrasound measurements.
- A venous ultrasound report sent under a hospital's own code carries its measurements as
  components named in words (血栓长度 3.8 cm, 血栓最大直径 7.5 mm, 受累静脉支数 2): a component
  whose name is exactly one of the policy's ``[ultrasound_components]`` names, with a quantity in
  the stated unit (or one it converts), sets that measurement; the newest report within the
  finding age wins, and the fact says it was found by its name. The report's words are read
  only for "thrombus close to the proximal veins" (``proximity.py``); a distance to the
  popliteal vein, for which the seed gives no threshold, is not read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappers import dates, egfr, units
from fhir_mappers.ballot import Vote
from fhir_mappers.codes import load_map
from fhir_mappers.collect import reference
from fhir_mappers.context import Context, policy
from fhir_mappers.model import DataIssue
from vte_rules.facts import Message
from vte_rules.tables import load_factor_catalogue

VALID_STATUS = frozenset({"final", "amended", "corrected"})
_FLAGS = policy()["interpretation"]
_POSITIVE = frozenset(_FLAGS["positive"])
_NEGATIVE = frozenset(_FLAGS["negative"])
_MARKED = frozenset(_FLAGS["marked"])
_D_DIMER = ("d_dimer", "d_dimer_feu", "d_dimer_ddu")
_FEU = {"d_dimer_feu": True, "d_dimer_ddu": False}  # the D-dimer basis a LOINC concept states
_SEROLOGY = {"lupus_anticoagulant": "lupus_anticoagulant",
             "anticardiolipin": "anticardiolipin_antibody"}
_POSITIVE_WORDS = frozenset(w.casefold() for w in _FLAGS["positive_text"])
# an ultrasound component's name, without spaces and lower case -> the measurement it gives
_COMPONENT_NAMES = {"".join(n.split()).lower(): factor
                    for factor, spec in policy()["ultrasound_components"].items()
                    for n in spec["names"]}
_NEGATIVE_WORDS = frozenset(w.casefold() for w in _FLAGS["negative_text"])
_IN_TEXT = {**{w.casefold(): True for w in _FLAGS["positive_in_text"]},
            **{w.casefold(): False for w in _FLAGS["negative_in_text"]}}
_READ_IN_TEXT = Message.of("result_word_in_text")


def _words_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Any of the words, the longest first; a Latin word only as a whole word."""
    parts = [rf"(?<![a-z]){re.escape(w)}(?![a-z])" if re.match("[a-z]", w) else re.escape(w)
             for w in sorted({w.casefold() for w in words}, key=len, reverse=True)]
    return re.compile("|".join(parts))


_RESULT_WORDS = _words_pattern(_IN_TEXT)
_HEDGES = _words_pattern(_FLAGS["hedges_in_text"])


@dataclass(frozen=True)
class Reading:
    kind: str
    value: float
    unit: str
    date: dt.date
    ref: str
    assumptions: tuple[Message, ...]
    resource: Mapping[str, Any]


def _when(obs: Mapping[str, Any]) -> dt.date | None:
    return dates.first(obs, "effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")


def _kind(concept: str) -> str:
    return "d_dimer" if concept in _D_DIMER else concept


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _finite(value: Any) -> float | None:
    """A JSON number as a float; None for one no float can hold (a 400-digit integer)."""
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reading(ctx: Context, obs: Mapping[str, Any], concept: str) -> Reading | None:
    ref = reference(obs)
    qty = obs.get("valueQuantity")
    day = _when(obs)
    if not isinstance(qty, Mapping) or not isinstance(qty.get("value"), int | float):
        ctx.issues.append(DataIssue(ref, f"{concept}: no numeric valueQuantity"))
        return None
    if day is None:
        ctx.issues.append(DataIssue(ref, f"{concept}: no effective date"))
        return None
    value = _finite(qty["value"])
    if value is None:
        ctx.issues.append(DataIssue(ref, f"{concept}: value out of range"))
        return None
    feu = _FEU.get(concept)
    result = units.normalise(_kind(concept), value, _text(qty.get("unit")),
                             _text(qty.get("code")), _text(qty.get("system")), feu=feu)
    if isinstance(result, units.UnitProblem):
        ctx.issues.append(DataIssue(ref, f"{concept}: {result.reason}"))
        return None
    return Reading(_kind(concept), result.value, result.unit, day, ref, result.assumptions, obs)


def _newest_readings(ctx: Context, candidates: Mapping[str, list[tuple[dt.date, str,
                                                                          Mapping[str, Any]]]],
                     ) -> dict[str, Reading]:
    """Per kind, the newest result with a usable unit whose resource passes validation.

    Units are read and resources validated newest first, stopping at the first that works:
    a lab history is mostly older results that would lose anyway.
    """
    best: dict[str, Reading] = {}
    for kind, found in candidates.items():
        for _, concept, raw in sorted(found, key=lambda c: c[0], reverse=True):
            reading = _reading(ctx, raw, concept)
            if reading is not None and ctx.accept(raw) is not None:
                best[kind] = reading
                break
    return best


def _fresh(ctx: Context, kind: str, reading: Reading) -> bool:
    limit = int(ctx.policy["measurements"][kind]["max_age_days"])
    return dates.age_days(reading.date, ctx.as_of) <= limit


def _stale_vote(ctx: Context, kind: str, reading: Reading) -> Vote:
    limit = ctx.policy["measurements"][kind]["max_age_days"]
    age = dates.age_days(reading.date, ctx.as_of)
    return Vote(None, (reading.ref,), reason=f"latest {kind.replace('_', ' ')} is {age} days "
                f"old (older than {limit} days is not used)", date=reading.date)


def _value_vote(reading: Reading) -> Vote:
    return Vote(reading.value, (reading.ref,), assumption=reading.assumptions or None,
                date=reading.date, unit=reading.unit)


def read(ctx: Context, observations: Iterable[Mapping[str, Any]]) -> None:
    observations = list(observations)
    cmap = load_map("observations")
    system = ctx.policy["findings"]["system"]
    candidates: dict[str, list[tuple[dt.date, str, Mapping[str, Any]]]] = {}
    serology: list[tuple[str, Mapping[str, Any], bool]] = []
    for raw in observations:
        status = raw.get("status")
        if not isinstance(status, str) or status not in VALID_STATUS:
            continue
        matches = cmap.match(raw.get("code"))
        if not matches:
            if _finding_code(raw, system):
                obs = ctx.accept(raw)
                if obs is not None:
                    _finding(ctx, obs, system)
            continue
        if not ctx.same_patient(raw):
            continue
        for m in matches:
            if m.concept in _SEROLOGY:
                serology.append((m.concept, raw, m.by.startswith("text:")))
                continue
            day = _when(raw)
            if day is None:
                ctx.issues.append(DataIssue(reference(raw), f"{m.concept}: no effective date"))
                continue
            candidates.setdefault(_kind(m.concept), []).append((day, m.concept, raw))
    _ultrasound_components(ctx, observations)
    readings = _newest_readings(ctx, candidates)
    latest = readings
    _measurements(ctx, latest)
    _egfr(ctx, latest)
    _bmi(ctx, latest)
    _d_dimer(ctx, latest.get("d_dimer"))
    _serology(ctx, serology)


def _measurements(ctx: Context, latest: Mapping[str, Reading]) -> None:
    for kind, rule in ctx.policy["measurements"].items():
        factor = rule.get("factor")
        if not factor or kind not in latest:
            continue
        reading = latest[kind]
        ctx.vote(factor, _value_vote(reading) if _fresh(ctx, kind, reading)
                 else _stale_vote(ctx, kind, reading))


def _sex(ctx: Context) -> str | None:
    votes = ctx.ballot.votes.get("sex", [])
    value = votes[-1].value if votes else None
    return value if isinstance(value, str) else None


def _age(ctx: Context) -> float | None:
    """The age for CKD-EPI; of several possible ages (a birth year only), the oldest, as a
    birthDate's first day gives (a year changes the equation's result by under 1 %)."""
    votes = ctx.ballot.votes.get("age_years", [])
    value = votes[-1].value if votes else None
    if value is None and votes and votes[-1].possible:
        return max(votes[-1].possible)
    return float(value) if isinstance(value, int | float) else None


def _egfr(ctx: Context, latest: Mapping[str, Reading]) -> None:
    """No eGFR on record: compute it from a fresh creatinine (CKD-EPI 2021) and say so."""
    if "egfr" in latest or "creatinine" not in latest:
        return
    creat = latest["creatinine"]
    if not _fresh(ctx, "creatinine", creat):
        ctx.vote("egfr", _stale_vote(ctx, "creatinine", creat))
        return
    age, sex = _age(ctx), _sex(ctx)
    value = egfr.ckd_epi_2021(creat.value, age, sex) if age is not None and sex else None
    if value is None:
        ctx.vote("egfr", Vote(None, (creat.ref,), reason="creatinine on record but eGFR "
                              "could not be computed (age or sex missing, or under 18)"))
        return
    ctx.vote("egfr", Vote(round(value, 1), (creat.ref,), date=creat.date,
                          unit="mL/min/1.73m2",
                          assumption=Message.of("egfr_from_creatinine",
                                                creatinine=f"{creat.value:g}")))


def _bmi(ctx: Context, latest: Mapping[str, Reading]) -> None:
    if "bmi" in latest or "weight" not in latest or "height" not in latest:
        return
    weight, height = latest["weight"], latest["height"]
    if not (_fresh(ctx, "weight", weight) and _fresh(ctx, "height", height)):
        return
    metres = height.value / 100
    ctx.vote("bmi", Vote(round(weight.value / (metres * metres), 1), (weight.ref, height.ref),
                         date=weight.date, unit="kg/m2",
                         assumption=Message.of("bmi_computed")))


def _codes(values: Any) -> set[str]:
    found: set[str] = set()
    items = values if isinstance(values, list) else [values]
    for concept in items:
        if not isinstance(concept, Mapping):
            continue
        codings = concept.get("coding")
        for coding in codings if isinstance(codings, list) else []:
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                found.add(coding["code"])
    return found


def _upper_limit(ctx: Context, reading: Reading) -> tuple[float | None, Message | None]:
    ranges = reading.resource.get("referenceRange")
    for rng in ranges if isinstance(ranges, list) else []:
        high = rng.get("high") if isinstance(rng, Mapping) else None
        limit = _finite(high.get("value")) if isinstance(high, Mapping) else None
        if isinstance(high, Mapping) and limit is not None:
            norm = units.normalise("d_dimer", limit, _text(high.get("unit")),
                                   _text(high.get("code")), _text(high.get("system")), feu=None)
            if isinstance(norm, units.Normalised):
                return norm.value, None
    rule = ctx.policy["measurements"]["d_dimer"]
    limit = float(rule["default_upper_limit_mg_l_feu"])
    return limit, Message.of("d_dimer_default_cut_off", limit=f"{limit:g}",
                             ng_ml=f"{limit * 1000:g}")


def _d_dimer(ctx: Context, reading: Reading | None) -> None:
    if reading is None:
        return
    if not _fresh(ctx, "d_dimer", reading):
        stale = _stale_vote(ctx, "d_dimer", reading)
        ctx.vote("d_dimer_raised", stale)
        ctx.vote("d_dimer_markedly_raised", stale)
        return
    flags = _codes(reading.resource.get("interpretation"))
    if flags & (_POSITIVE | _NEGATIVE):
        raised = bool(flags & _POSITIVE)
        how = Message.of("laboratory_interpretation")
    else:
        limit, assumed = _upper_limit(ctx, reading)
        raised = limit is not None and reading.value > limit
        how = assumed or Message.of("laboratory_reference_range")
    ctx.vote("d_dimer_raised", Vote(raised, (reading.ref,), assumption=how, date=reading.date))
    if not raised:
        ctx.vote("d_dimer_markedly_raised", Vote(False, (reading.ref,), date=reading.date))
    elif flags & _MARKED:
        ctx.vote("d_dimer_markedly_raised", Vote(True, (reading.ref,), date=reading.date,
                                                 assumption=Message.of("laboratory_critical")))
    else:
        ctx.vote("d_dimer_markedly_raised", Vote(None, (reading.ref,), date=reading.date,
                                                 reason="D-dimer raised; no cut-off defines "
                                                        "'markedly raised'"))


def _serology(ctx: Context, results: list[tuple[str, Mapping[str, Any], bool]]) -> None:
    latest: dict[str, tuple[dt.date, Mapping[str, Any], bool]] = {}
    for concept, result, by_name in results:
        day = _when(result) or dt.date.min
        if concept not in latest or day > latest[concept][0]:
            latest[concept] = (day, result, by_name)
    for concept, (day, raw, by_name) in latest.items():
        obs = ctx.accept(raw)
        if obs is None:
            ctx.vote(_SEROLOGY[concept], Vote(None, (reference(raw),), date=day,
                                              reason="result skipped (invalid FHIR)"))
            continue
        value, reason, in_text = _qualitative(obs)
        notes = ((Message.of("test_found_by_name"),) if by_name else ()) + (
            (_READ_IN_TEXT,) if in_text and value is not None else ())
        ctx.vote(_SEROLOGY[concept], Vote(value, (reference(obs),), date=day, reason=reason,
                                          assumption=notes or None))


def _qualitative(obs: Mapping[str, Any]) -> tuple[bool | None, str | None, bool]:
    """Positive or negative from the coded result, the flag or the result's words, and whether
    words inside a longer text were read."""
    flags = _codes(obs.get("interpretation")) | _codes(obs.get("valueCodeableConcept"))
    words: set[bool] = set()
    in_text = False
    for text in _result_texts(obs):
        if text in _POSITIVE_WORDS or text in _NEGATIVE_WORDS:
            words.add(text in _POSITIVE_WORDS)
            continue
        found = {_IN_TEXT[m.group()] for m in _RESULT_WORDS.finditer(text)}
        if found and _HEDGES.search(_RESULT_WORDS.sub(" ", text)):
            return None, ("result text negates, doubts or qualifies its word: not read as "
                          "positive or negative"), False
        words |= found
        in_text = in_text or bool(found)
    positive = bool(flags & _POSITIVE or True in words)
    negative = bool(flags & _NEGATIVE or False in words)
    if positive and negative:
        return None, "result recorded as both positive and negative", False
    if not positive and not negative:
        return None, "result not coded as positive or negative", False
    return positive, None, in_text


def _result_texts(obs: Mapping[str, Any]) -> set[str]:
    texts = [obs.get("valueString"), _map_get(obs.get("valueCodeableConcept"), "text")]
    flags = obs.get("interpretation")
    texts += [_map_get(f, "text") for f in (flags if isinstance(flags, list) else [flags])]
    return {t.strip().casefold() for t in texts if isinstance(t, str)}


def _map_get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _finding_code(obs: Mapping[str, Any], system: str) -> str | None:
    code = obs.get("code")
    codings = code.get("coding") if type(code) is dict or isinstance(code, Mapping) else None
    for coding in codings if isinstance(codings, list) else []:
        if (type(coding) is dict or isinstance(coding, Mapping)) and \
                coding.get("system") == system:
            value = coding.get("code")
            return value if isinstance(value, str) else None
    return None


def _finding(ctx: Context, obs: Mapping[str, Any], system: str) -> None:
    ref = reference(obs)
    factor = _finding_code(obs, system) or ""
    spec = load_factor_catalogue().get(factor)
    if spec is None:
        ctx.issues.append(DataIssue(ref, "finding names no known factor", "warning"))
        return
    day = _when(obs)
    limit = int(ctx.policy["findings"]["max_age_days"])
    if day is None or dates.age_days(day, ctx.as_of) > limit:
        ctx.vote(factor, Vote(None, (ref,), reason=f"finding older than {limit} days or "
                              "undated", date=day))
        return
    qty = obs.get("valueQuantity")
    sent = (qty.get("code") or qty.get("unit")) if isinstance(qty, Mapping) else None
    if sent and spec.unit and sent != spec.unit:
        ctx.issues.append(DataIssue(ref, f"finding {factor}: unit must be {spec.unit}",
                                    "warning"))
        return
    value = _finding_value(obs, spec.kind)
    if value is None or (spec.kind == "choice" and value not in spec.choices):
        ctx.issues.append(DataIssue(ref, f"finding {factor}: value is not a {spec.kind}",
                                    "warning"))
        return
    ctx.vote(factor, Vote(value, (ref,), date=day, unit=spec.unit))


def _finding_value(obs: Mapping[str, Any], kind: str) -> bool | float | str | None:
    if kind == "bool" and isinstance(obs.get("valueBoolean"), bool):
        return bool(obs["valueBoolean"])
    qty = obs.get("valueQuantity")
    if kind == "number":
        if isinstance(qty, Mapping) and isinstance(qty.get("value"), int | float):
            return _finite(qty["value"])
        if isinstance(obs.get("valueInteger"), int):
            return _finite(obs["valueInteger"])
    if kind == "choice":
        if isinstance(obs.get("valueString"), str):
            return str(obs["valueString"])
        codes = _codes(obs.get("valueCodeableConcept"))
        return next(iter(sorted(codes)), None)
    return None


def _names(code: Any) -> set[str]:
    """The words a component's code is given in: its text and each coding's display."""
    if not isinstance(code, Mapping):
        return set()
    found = {code.get("text")}
    codings = code.get("coding")
    found |= {c.get("display") for c in codings if isinstance(c, Mapping)} \
        if isinstance(codings, list) else set()
    return {"".join(n.split()).lower() for n in found if isinstance(n, str) and n.strip()}


def _component_value(component: Mapping[str, Any], spec: Mapping[str, Any]) -> float | None:
    qty = component.get("valueQuantity")
    if isinstance(qty, Mapping):
        value = _finite(qty.get("value"))
        unit = qty.get("code") or qty.get("unit")
        factor = 1.0 if unit == spec["unit"] else spec.get("convert", {}).get(unit)
        return None if value is None or factor is None else round(value * float(factor), 6)
    if spec["unit"] == "1" and isinstance(component.get("valueInteger"), int):
        return _finite(component["valueInteger"])
    return None


def _ultrasound_components(ctx: Context, observations: Iterable[Mapping[str, Any]]) -> None:
    table: Mapping[str, Mapping[str, Any]] = ctx.policy["ultrasound_components"]
    wanted = _COMPONENT_NAMES
    limit = int(ctx.policy["findings"]["max_age_days"])
    newest: dict[str, tuple[dt.date, float, str]] = {}
    for raw in observations:
        components = raw.get("component") if type(raw) is dict or isinstance(raw, Mapping) \
            else None
        if not isinstance(components, list) or raw.get("status") not in VALID_STATUS:
            continue
        named = [(wanted[n], c) for c in components if isinstance(c, Mapping)
                 for n in _names(c.get("code")) if n in wanted]
        if not named or not ctx.same_patient(raw):
            continue
        day = _when(raw)
        if day is None or not 0 <= dates.age_days(day, ctx.as_of) <= limit:
            continue
        ref = reference(raw)
        for factor, component in named:
            value = _component_value(component, table[factor])
            if value is None:
                ctx.issues.append(DataIssue(ref, f"{factor}: a component named as this "
                                            "measurement has no quantity in a known unit",
                                            "warning"))
                continue
            if factor not in newest or day > newest[factor][0]:
                newest[factor] = (day, value, ref)
    for factor, (day, value, ref) in newest.items():
        ctx.vote(factor, Vote(value, (ref,), date=day, unit=str(table[factor]["unit"]),
                              assumption=Message.of("measurement_found_by_name")))
