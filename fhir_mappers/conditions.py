"""Conditions (problem list, diagnoses) and family history.

- ``verificationStatus`` refuted or entered-in-error: ignored (said as an info issue).
- ``clinicalStatus`` active/recurrence/relapse: the concept's ``present`` factors are True;
  inactive/remission/resolved: only its ``history`` factors are. A missing clinicalStatus is read
  as active, with a warning.
- ``within_days``: a present condition older than that is ``older`` (false or unknown).
- When Conditions were received and nothing set a factor that the policy marks
  ``absent_if_not_found``, the factor is False with the assumption "not on the problem list".
- Myeloma: earliest onset gives months since diagnosis; ICD-10-CM C90.00/.01/.02 give response
  and relapse where coded (remission is not necessarily CR, so C90.01 leaves CR unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_mappers import dates
from fhir_mappers.ballot import Vote
from fhir_mappers.codes import load_map
from fhir_mappers.collect import reference
from fhir_mappers.context import Context
from fhir_mappers.model import DataIssue

_DAYS_PER_MONTH = 30.4375  # calendar average, to turn a date difference into months


def _status(concept: Any) -> str | None:
    if isinstance(concept, Mapping):
        for coding in concept.get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def _onset(cond: Mapping[str, Any]) -> dt.date | None:
    return dates.first(cond, "onsetDateTime", "onsetPeriod", "recordedDate")


def read(ctx: Context, conditions: Iterable[Mapping[str, Any]]) -> None:
    rules = ctx.policy["conditions"]
    cmap = load_map("conditions")
    mm_onsets: list[tuple[dt.date, str]] = []
    for raw in conditions:
        matches = cmap.match(raw.get("code"))
        if not matches:
            continue
        ref = reference(raw)
        if _status(raw.get("verificationStatus")) in rules["refuted_verification"]:
            ctx.issues.append(DataIssue(ref, "refuted or entered in error; not used", "info"))
            continue
        cond = ctx.accept(raw)
        if cond is None:
            continue
        status = _status(cond.get("clinicalStatus"))
        if status is None:
            ctx.issues.append(DataIssue(ref, "no clinicalStatus; read as active", "warning"))
            status = "active"
        for concept in dict.fromkeys(m.concept for m in matches):
            _vote_concept(ctx, concept, status, cond, ref)
            if concept == "multiple_myeloma" and _onset(cond):
                mm_onsets.append((_onset(cond) or ctx.as_of, ref))
    _absent(ctx)
    _mm_months(ctx, mm_onsets)


def _vote_concept(ctx: Context, concept: str, status: str, cond: Mapping[str, Any],
                  ref: str) -> None:
    rules = ctx.policy["conditions"]
    entry = rules["concepts"].get(concept)
    if entry is None:
        return
    onset = _onset(cond)
    if status in rules["history_status"]:
        for factor in entry.get("history", ()):
            ctx.vote(factor, Vote(True, (ref,), date=onset))
        for factor in entry.get("sets_false", ()):
            ctx.vote(factor, Vote(False, (ref,), date=onset))
        return
    if status not in rules["active_status"]:
        return
    window = entry.get("within_days")
    old = window is not None and (onset is None or dates.age_days(onset, ctx.as_of) > window)
    for factor in entry.get("present", ()):
        if not old:
            ctx.vote(factor, Vote(True, (ref,), date=onset))
        elif entry.get("older") == "unknown":
            ctx.vote(factor, Vote(None, (ref,), date=onset, reason=f"on record, but not "
                                  f"documented as within the last {window} days"))
        else:
            ctx.vote(factor, Vote(False, (ref,), date=onset,
                                  assumption=f"recorded more than {window} days ago"))
    for factor in entry.get("history", ()):
        if factor not in entry.get("present", ()):
            ctx.vote(factor, Vote(True, (ref,), date=onset))
    for factor in entry.get("sets_false", ()):
        ctx.vote(factor, Vote(False, (ref,), date=onset))


def _absent(ctx: Context) -> None:
    if not ctx.received("Condition"):
        return
    for entry in ctx.policy["conditions"]["concepts"].values():
        if not entry.get("absent_if_not_found"):
            continue
        for factor in (*entry.get("present", ()), *entry.get("history", ())):
            if not ctx.ballot.voted(factor):
                ctx.vote(factor, Vote(False, assumption="not on the problem list"))


def _mm_months(ctx: Context, onsets: list[tuple[dt.date, str]]) -> None:
    if not onsets:
        return
    day, ref = min(onsets)
    months = round(dates.age_days(day, ctx.as_of) / _DAYS_PER_MONTH, 1)
    ctx.vote("months_since_mm_diagnosis", Vote(max(months, 0.0), (ref,), date=day, unit="mo",
                                               assumption="from the earliest myeloma onset "
                                                          "or recorded date"))


def read_family(ctx: Context, histories: Iterable[Mapping[str, Any]]) -> None:
    """FamilyMemberHistory with a VTE condition: family history of VTE (never set False)."""
    cmap = load_map("conditions")
    vte = {"dvt", "dvt_proximal", "dvt_distal", "cmvt", "pe", "history_of_vte"}
    for raw in histories:
        if raw.get("status") == "entered-in-error":
            continue
        codes = [c.get("code") for c in raw.get("condition") or [] if isinstance(c, Mapping)]
        if any(m.concept in vte for code in codes for m in cmap.match(code)):
            fmh = ctx.accept(raw)
            if fmh is not None:
                ctx.vote("family_history_of_vte", Vote(True, (reference(fmh),)))
