"""Patient, Procedure, Device, Encounter and AllergyIntolerance.

- Patient: age in completed years on the assessment date; administrative sex.
- Procedure (completed): major surgery within the policy's window, and within 4 weeks (Wells
  PE); a plaster cast; a central venous catheter insertion. A planned major surgery
  (``preparation``) within the window: WDVT-03.
- Device (active): a central venous catheter in place. Absent only when Devices were received.
- Encounter (in progress) in intensive care: ICU admission. Absent when Encounters were received.
- AllergyIntolerance (active, not refuted) to a drug in the medication map: listed for the hooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_mappers import dates
from fhir_mappers.ballot import Vote, settled
from fhir_mappers.codes import load_map
from fhir_mappers.collect import reference
from fhir_mappers.context import Context
from fhir_mappers.model import DataIssue, ServiceUse
from vte_rules.facts import Message

_SEX = {"male": "male", "female": "female", "other": "other"}
# What a received list without the device or stay says (the same every time: built once)
_NO_CATHETER = settled(Vote(False, assumption=Message.of("no_central_venous_catheter")))
_NO_INTENSIVE_CARE = settled(Vote(False, assumption=Message.of("no_intensive_care")))


def read_patient(ctx: Context, patients: Iterable[Mapping[str, Any]]) -> None:
    for raw in patients:
        patient = ctx.accept(raw)
        if patient is None:
            continue
        ref = reference(patient)
        born = dates.parse(patient.get("birthDate"))
        if born is not None and born <= ctx.as_of:
            ctx.vote("age_years", _age_vote(patient.get("birthDate"), born, ctx.as_of, ref))
        elif patient.get("birthDate") is not None:
            ctx.issues.append(DataIssue(ref, "birthDate unreadable or in the future",
                                        "warning"))
        sex = _SEX.get(str(patient.get("gender")))
        if sex:
            ctx.vote("sex", Vote(sex, (ref,)))
        return


def _age_vote(text: object, born: dt.date, as_of: dt.date, ref: str) -> Vote:
    """Age in completed years; a birthDate without its day (``1950``, ``1950-06``) leaves several
    possible ages: the age is then unknown with those ages, which the rules read band by band
    (a band every possible age falls in is known; one they straddle is not)."""
    oldest = dates.completed_years(born, as_of)
    youngest = dates.completed_years(min(dates.last_day(text) or born, as_of), as_of)
    if youngest == oldest:
        return Vote(float(oldest), (ref,), unit="a")
    return Vote(None, (ref,), unit="a", possible=tuple(map(float, range(youngest, oldest + 1))),
                reason=f"birthDate gives no day of birth: {youngest} to {oldest} years old on "
                       f"{as_of.isoformat()}")


def _performed(proc: Mapping[str, Any]) -> Any:
    return dates.first(proc, "performedDateTime", "performedPeriod")


_READ_CONCEPTS = frozenset({"major_surgery", "central_venous_catheter", "plaster_cast",
                            "compression", "duplex_ultrasound", "ivc_filter"})


def read_procedures(ctx: Context, procedures: Iterable[Mapping[str, Any]]) -> None:
    """A completed procedure in the surgery window that no value set classifies (an unknown
    code, or "surgery" with no kind) could be major surgery: the factor is unknown, not absent,
    and the procedure is listed among the entries that could not be read. So is major surgery
    whose date is not recorded."""
    cmap = load_map("procedures")
    rules = ctx.policy["procedures"]
    surgery_days = int(rules["surgery_within_days"])
    four_weeks = int(rules["immobilisation_or_surgery_within_days"])
    for raw in procedures:
        concepts = {m.concept for m in cmap.match(raw.get("code"))}
        concepts |= {m.concept for m in cmap.match(raw.get("category"))}
        if not concepts & _READ_CONCEPTS:
            _unclassified(ctx, raw, surgery_days)
            continue
        proc = ctx.accept(raw)
        if proc is None:
            continue
        ref, status, day = reference(proc), proc.get("status"), _performed(proc)
        age = dates.age_days(day, ctx.as_of) if day else None
        if status == "preparation" and "major_surgery" in concepts:
            planned = age is not None and -surgery_days <= age <= 0
            if planned:
                ctx.vote("major_surgery_planned_within_1_month", Vote(True, (ref,), date=day))
            continue
        if status == "completed" and day is None and "major_surgery" in concepts:
            _unknown_surgery(ctx, ref, "major surgery with no date recorded")
            continue
        if status != "completed" or age is None or age < 0:
            continue
        if "major_surgery" in concepts and age <= surgery_days:
            ctx.vote("major_surgery_within_1_month", Vote(True, (ref,), date=day))
        if "major_surgery" in concepts and age <= four_weeks:
            ctx.vote("immobilisation_or_surgery_within_4_weeks", Vote(True, (ref,), date=day))
        if "plaster_cast" in concepts and age <= surgery_days:
            ctx.vote("lower_limb_paralysis_or_plaster", Vote(True, (ref,), date=day))
        if "central_venous_catheter" in concepts:
            ctx.vote("central_venous_catheter", Vote(True, (ref,), date=day,
                                                        assumption=Message.of(
                                                            "catheter_not_removed")))
    if ctx.received("Procedure") and not ctx.ballot.voted("major_surgery_within_1_month"):
        ctx.vote("major_surgery_within_1_month",
                 Vote(False, assumption=Message.of("no_major_surgery", days=surgery_days)))


def _unclassified(ctx: Context, raw: Mapping[str, Any], surgery_days: int) -> None:
    """A procedure no value set names: unknown for major surgery when it was done (or could
    have been done) within the window; ignored when it was plainly earlier or not done."""
    if not isinstance(raw, Mapping) or raw.get("status") != "completed":
        return
    proc = ctx.accept(raw)
    if proc is None:
        return
    day = _performed(proc)
    age = dates.age_days(day, ctx.as_of) if day else None
    if age is not None and not 0 <= age <= surgery_days:
        return
    why = ("no date recorded" if age is None else
           f"done {age} days ago, kind not recognised")
    _unknown_surgery(ctx, reference(proc), why)


def _unknown_surgery(ctx: Context, ref: str, why: str) -> None:
    ctx.issues.append(DataIssue(ref, f"procedure could not be classified ({why}); whether "
                                "it was major surgery is unknown, not absent", "warning"))
    for factor in ("major_surgery_within_1_month", "immobilisation_or_surgery_within_4_weeks"):
        ctx.vote(factor, Vote(None, (ref,), reason=f"{ref} could not be classified"))


def read_devices(ctx: Context, devices: Iterable[Mapping[str, Any]]) -> None:
    cmap = load_map("procedures")
    present = ctx.policy["devices"]["present_status"]
    for raw in devices:
        if "central_venous_catheter" not in {m.concept for m in cmap.match(raw.get("type"))}:
            continue
        device = ctx.accept(raw)
        if device is not None and device.get("status") in present:
            ctx.vote("central_venous_catheter", Vote(True, (reference(device),)))
    if ctx.received("Device") and not ctx.ballot.voted("central_venous_catheter"):
        ctx.vote("central_venous_catheter", _NO_CATHETER)


def _words(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(_words(v) for k, v in value.items() if k in (
            "text", "display", "code", "coding", "type", "class", "location", "serviceType",
            "physicalType"))
    if isinstance(value, list):
        return " ".join(_words(v) for v in value)
    return value.lower() if isinstance(value, str) else ""


def read_encounters(ctx: Context, encounters: Iterable[Mapping[str, Any]]) -> None:
    rules = ctx.policy["encounters"]
    cmap = load_map("procedures")
    for raw in encounters:
        if raw.get("status") not in rules["current_status"]:
            continue
        text = _words({k: raw.get(k) for k in ("class", "type", "serviceType", "location")})
        coded = any(m.concept == "icu" for k in ("type", "serviceType")
                    for m in cmap.match(raw.get(k)))
        if not coded and not any(w in text for w in rules["icu_words"]):
            continue
        enc = ctx.accept(raw)
        if enc is not None:
            ctx.vote("icu_admission", Vote(True, (reference(enc),)))
    if ctx.received("Encounter") and not ctx.ballot.voted("icu_admission"):
        ctx.vote("icu_admission", _NO_INTENSIVE_CARE)


def read_allergies(ctx: Context, allergies: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    cmap = load_map("medications")
    found: list[tuple[str, str]] = []
    for raw in allergies:
        verification = raw.get("verificationStatus")
        codes = [c.get("code") for c in (verification or {}).get("coding") or []] \
            if isinstance(verification, Mapping) else []
        if set(codes) & {"refuted", "entered-in-error"}:
            continue
        substances = [raw.get("code")] + [r.get("substance") for r in raw.get("reaction") or []
                                          if isinstance(r, Mapping)]
        concepts = {m.concept for s in substances for m in cmap.match(s)}
        if not concepts:
            continue
        allergy = ctx.accept(raw)
        if allergy is not None:
            found.extend((c, reference(allergy)) for c in sorted(concepts))
    return found


def read_service_requests(ctx: Context,
                          requests: Iterable[Mapping[str, Any]]) -> list[ServiceUse]:
    """Draft and active ServiceRequests for filters, scans and compression."""
    cmap = load_map("procedures")
    found = []
    for raw in requests:
        if raw.get("status") not in ("draft", "active"):
            continue
        concepts = tuple(dict.fromkeys(m.concept for m in cmap.match(raw.get("code"))))
        if not concepts:
            continue
        service = ctx.accept(raw)
        if service is not None:
            found.append(ServiceUse(reference(service), concepts, str(service.get("status"))))
    return found
