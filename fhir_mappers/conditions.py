"""Conditions (problem list, diagnoses) and family history.

- ``verificationStatus`` refuted or entered-in-error: ignored (said as an info issue).
- ``clinicalStatus`` active/recurrence/relapse: the concept's ``present`` factors are True;
  inactive/remission/resolved: only its ``history`` factors are. A missing clinicalStatus is read
  as active, with a warning.
- ``within_days``: a present condition older than that is ``older`` (false or unknown).
- ``by_date``: the condition counts by its dates, whatever its status (a bleed within 3 months
  counts for Table 6 whether the Condition is still active or already resolved).
- ``replaces``: a more specific concept of the same code wins (a calf muscular vein thrombosis
  code sits under the DVT codes; it is not also a proximal or axial DVT).
- Text: an entry whose code matches nothing (a hospital's local code system) is read from its
  diagnosis name for the policy's ``text_names`` ("多发性骨髓瘤"); a coded entry's text may make
  its code more specific (``text_refines``: "肌间静脉" on a DVT code). A fact read so says so in
  its assumption. Text that is negated, suspected or past (``text_not_read_when``: "疑似",
  "排除", "rule out") is not read: the code still counts, and an entry with no recognised code
  stays unreadable.
- ``at_least_days``: a present condition must have begun at least that long ago (bed-ridden for
  more than 72 h); a newer or undated one is unknown.
- VTE episodes: the newest active DVT, PE or CMVT is the index event (the one the cards are
  about); an active entry whose onset lies more than ``episodes.separate_days`` before it, and
  every resolved or inactive one, is a prior episode. Only prior episodes and personal-history
  codes make a history of VTE.
- Absence: when Conditions were received, a factor the policy marks ``absent_if_not_found`` is
  False ("not on the problem list") only if every entry could be read. An entry with no
  recognised code, or one skipped as invalid FHIR, makes those factors unknown instead, and says
  which entry it was; an ICD-10 entry is read for every concept that has ICD-10 ranges (they
  cover whole categories).
- Cancer: entries are kept for `fhir_mappers.cancer`, which decides activity once the
  medications are known.
- Myeloma: earliest onset gives months since diagnosis; ICD-10-CM C90.00/.01/.02 give response
  and relapse where coded (remission is not necessarily CR, so C90.01 leaves CR unknown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappers import dates
from fhir_mappers.ballot import Vote, settled
from fhir_mappers.codes import CodeMap, is_icd10, load_map
from fhir_mappers.collect import reference
from fhir_mappers.context import CancerEntry, Context, policy
from fhir_mappers.model import DataIssue
from vte_rules.facts import Message

_DAYS_PER_MONTH = 30.4375  # calendar average, to turn a date difference into months
VTE_CONCEPTS = frozenset({"dvt", "dvt_proximal", "dvt_distal", "cmvt", "pe"})


@dataclass(frozen=True)
class EntryConcepts:
    """What a Condition's code says, and what its text added (see the module doc)."""

    concepts: frozenset[str]
    from_text: frozenset[str] = frozenset()
    coded: bool = False
    text_not_read: bool = False

    def assumption(self, concept: str) -> Message | None:
        """What a fact of ``concept`` assumed: that it was read from text, if it was."""
        if concept not in self.from_text:
            return None
        return Message.of("condition_refined_by_text" if self.coded else "condition_from_text")


@dataclass(frozen=True)
class _Episode:
    ref: str
    concepts: frozenset[str]
    active: bool
    onset: dt.date | None
    assumption: Message | None = None


def _status(concept: Any) -> str | None:
    if isinstance(concept, Mapping):
        for coding in concept.get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def _onset(cond: Mapping[str, Any]) -> dt.date | None:
    return dates.first(cond, "onsetDateTime", "onsetPeriod", "recordedDate")


def _abated(cond: Mapping[str, Any]) -> dt.date | None:
    return dates.first(cond, "abatementDateTime", "abatementPeriod")


def concepts_of(cmap: CodeMap, code: Any) -> EntryConcepts:
    """The concepts of a Condition's code and text, the most specific kept (``replaces``)."""
    rules = _rules()
    coded = {m.concept for m in cmap.match(code) if not m.by.startswith("text:")}
    texts = _texts(code)
    not_read = any(_negated_or_uncertain(t) for t in texts)
    named = set() if not_read else {c for t in texts for c in cmap.match_text(t)}
    if coded:
        text = {c for c in named & set(rules["text_refines"]) if coded & _replaced(c)}
    else:
        text = named & set(rules["text_names"])
    found = coded | text
    for concept in list(found):
        found -= _replaced(concept)
    return EntryConcepts(frozenset(found), frozenset(text & found), bool(coded), not_read)


def _replaced(concept: str) -> frozenset[str]:
    return _REPLACES.get(concept, frozenset())


_REPLACES = {name: frozenset(entry.get("replaces", ()))
             for name, entry in policy()["conditions"]["concepts"].items()}


def _negated_or_uncertain(text: str) -> bool:
    lowered = text.lower()
    return any(marker.lower() in lowered for marker in _rules()["text_not_read_when"])


def _texts(code: Any) -> list[str]:
    if not isinstance(code, Mapping):
        return []
    out = [code["text"]] if isinstance(code.get("text"), str) else []
    codings = code.get("coding")
    for coding in codings if isinstance(codings, list) else []:
        if isinstance(coding, Mapping) and isinstance(coding.get("display"), str):
            out.append(coding["display"])
    return out


def _rules() -> Mapping[str, Any]:
    rules: Mapping[str, Any] = policy()["conditions"]
    return rules


def read(ctx: Context, conditions: Iterable[Mapping[str, Any]]) -> None:
    rules = ctx.policy["conditions"]
    cmap = load_map("conditions")
    mm_onsets: list[tuple[dt.date, str]] = []
    episodes: list[_Episode] = []
    for raw in conditions:
        reading = concepts_of(cmap, raw.get("code"))
        found = set(reading.concepts)
        ref = reference(raw)
        if _status(raw.get("verificationStatus")) in rules["refuted_verification"]:
            if found:
                ctx.issues.append(DataIssue(ref, "refuted or entered in error; not used",
                                            "info"))
            continue
        if not found:
            _unread(ctx, raw, cmap, reading)
            continue
        cond = ctx.accept(raw)
        if cond is None:
            if ctx.same_patient(raw):
                _skipped(ctx, ref, found)
            continue
        status = _status(cond.get("clinicalStatus"))
        if status is None:
            ctx.issues.append(DataIssue(ref, "no clinicalStatus; read as active", "warning"))
            status = "active"
        onset = _onset(cond)
        vte = frozenset(found & VTE_CONCEPTS)
        if vte and status in (*rules["active_status"], *rules["history_status"]):
            how = next((a for c in sorted(vte) if (a := reading.assumption(c))), None)
            episodes.append(_Episode(ref, vte, status in rules["active_status"], onset, how))
        for concept in sorted(found - VTE_CONCEPTS):
            _vote_concept(ctx, concept, status, cond, ref, reading.assumption(concept))
        if found & set(rules["cancer_concepts"]):
            ctx.cancers.append(CancerEntry(ref, frozenset(found), status, onset,
                                           _abated(cond)))
        if "multiple_myeloma" in found and onset:
            mm_onsets.append((onset, ref))
    _episodes(ctx, episodes)
    _absent(ctx)
    _mm_months(ctx, mm_onsets)


def _unread(ctx: Context, raw: Mapping[str, Any], cmap: CodeMap,
            reading: EntryConcepts) -> None:
    """An entry that matched no concept: which factors it could still be, now unknown."""
    cond = ctx.accept(raw)
    if cond is None:
        if ctx.same_patient(raw):
            _skipped(ctx, reference(raw), set())
        return
    ref = reference(cond)
    icd = any(is_icd10(c.get("system"), c.get("code")) for c in _codings(cond.get("code")))
    read_by_icd = cmap.icd_concepts() if icd else set()
    could_be = [name for name, entry in ctx.policy["conditions"]["concepts"].items()
                if entry.get("absent_if_not_found") and name not in read_by_icd]
    if not could_be:
        return
    why = "no ICD-10 range for it" if icd else "code system or code not recognised"
    if reading.text_not_read:
        why = "its text is negated, suspected or past, so it is not read"
    _unknown(ctx, ref, could_be, f"condition could not be read ({why}); the factors it could "
             "record are unknown, not absent")


def _skipped(ctx: Context, ref: str, found: set[str]) -> None:
    """An entry skipped as invalid FHIR: whatever it records is unknown, never absent."""
    concepts = ctx.policy["conditions"]["concepts"]
    could_be = [name for name, entry in concepts.items()
                if entry.get("absent_if_not_found") or name in found]
    _unknown(ctx, ref, could_be, "condition skipped (invalid FHIR); the factors it could record "
             "are unknown, not absent")


def _unknown(ctx: Context, ref: str, could_be: list[str], why: str) -> None:
    ctx.unread_conditions.append(ref)
    ctx.issues.append(DataIssue(ref, why, "warning"))
    for name in could_be:
        entry = ctx.policy["conditions"]["concepts"][name]
        for factor in _factors(entry):
            ctx.vote(factor, Vote(None, (ref,), reason=f"{ref} could not be read"))


def _factors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*entry.get("present", ()), *entry.get("history", ()),
                                *entry.get("while_active", ()), *entry.get("unknown", ()))))


def _codings(code: Any) -> list[Mapping[str, Any]]:
    if not isinstance(code, Mapping):
        return []
    return [c for c in code.get("coding") or [] if isinstance(c, Mapping)]


def _vote_concept(ctx: Context, concept: str, status: str, cond: Mapping[str, Any],
                  ref: str, how: Message | None = None) -> None:
    rules = ctx.policy["conditions"]
    entry = rules["concepts"].get(concept)
    if entry is None:
        return
    onset = _onset(cond)
    if entry.get("decided_elsewhere"):
        return
    if entry.get("by_date"):
        _vote_by_date(ctx, entry, status, cond, ref)
        return
    if entry.get("unknown"):
        for factor in entry["unknown"]:
            ctx.vote(factor, Vote(None, (ref,), reason=str(entry["unknown_reason"])))
        return
    if status in rules["history_status"]:
        for factor in entry.get("history", ()):
            ctx.vote(factor, Vote(True, (ref,), date=onset, assumption=how))
        for factor in entry.get("sets_false", ()):
            ctx.vote(factor, Vote(False, (ref,), date=onset))
        return
    if status not in rules["active_status"]:
        return
    window = entry.get("within_days")
    old = window is not None and (onset is None or dates.age_days(onset, ctx.as_of) > window)
    least = entry.get("at_least_days")
    new = least is not None and (onset is None or dates.age_days(onset, ctx.as_of) < least)
    for factor in entry.get("present", ()):
        if new:
            ctx.vote(factor, Vote(None, (ref,), date=onset, reason=f"on record, but not "
                                  f"documented as begun at least {least} days ago"))
        elif not old:
            ctx.vote(factor, Vote(True, (ref,), date=onset, assumption=how))
        elif entry.get("older") == "unknown":
            ctx.vote(factor, Vote(None, (ref,), date=onset, reason=f"on record, but not "
                                  f"documented as within the last {window} days"))
        else:
            ctx.vote(factor, Vote(False, (ref,), date=onset,
                                  assumption=Message.of("recorded_before", days=window)))
    for factor in entry.get("history", ()):
        if factor not in entry.get("present", ()):
            ctx.vote(factor, Vote(True, (ref,), date=onset, assumption=how))
    for factor in entry.get("sets_false", ()):
        ctx.vote(factor, Vote(False, (ref,), date=onset))


def _vote_by_date(ctx: Context, entry: Mapping[str, Any], status: str,
                  cond: Mapping[str, Any], ref: str) -> None:
    """A bleed counts when it began, or was still going on, within the window."""
    window = int(entry["within_days"])
    onset, abated = _onset(cond), _abated(cond)
    active = status in ctx.policy["conditions"]["active_status"]
    latest = ctx.as_of if active else (abated or onset)
    if latest is None:
        for factor in entry.get("present", ()):
            ctx.vote(factor, Vote(None, (ref,), reason="on record without a date"))
        return
    recent = dates.age_days(latest, ctx.as_of) <= window
    for factor in entry.get("present", ()):
        ctx.vote(factor, Vote(recent, (ref,), date=onset, assumption=None if recent else
                              Message.of("ended_before", days=window)))
    for factor in entry.get("while_active", ()):
        if active:
            ctx.vote(factor, Vote(recent, (ref,), date=onset))
        else:
            ctx.vote(factor, Vote(False, (ref,), date=abated or onset,
                                  assumption=Message.of("recorded_resolved")))


def _episodes(ctx: Context, episodes: list[_Episode]) -> None:
    """Tell the index VTE event from prior episodes (see the module doc)."""
    rules = ctx.policy["conditions"]
    gap = int(ctx.policy["episodes"]["separate_days"])
    active = [e for e in episodes if e.active]
    newest = max((e.onset or ctx.as_of for e in active), default=None)
    index = [e for e in active if newest is not None and
             (newest - (e.onset or ctx.as_of)).days <= gap]
    prior = [e for e in episodes if e not in index]
    for episode in index:
        for concept in sorted(episode.concepts):
            for factor in rules["concepts"][concept].get("present", ()):
                ctx.vote(factor, Vote(True, (episode.ref,), date=episode.onset,
                                      assumption=episode.assumption))
    for episode in prior:
        for concept in sorted(episode.concepts):
            for factor in rules["concepts"][concept].get("history", ()):
                ctx.vote(factor, Vote(True, (episode.ref,), date=episode.onset,
                                      assumption=episode.assumption))
    if index and (prior or ctx.ballot.has_true("history_of_vte")):
        refs = tuple(e.ref for e in (*index, *prior))
        ctx.vote("recurrent_vte", Vote(True, refs,
                                       assumption=Message.of("new_vte_with_earlier_episode")))


def _absent(ctx: Context) -> None:
    if not ctx.received("Condition"):
        return
    for factor in _ABSENT_IF_NOT_FOUND:
        if not ctx.ballot.voted(factor):
            ctx.vote(factor, _NOT_ON_PROBLEM_LIST)


# Read once: the factors a fully read problem list makes absent, in the policy's order.
_ABSENT_IF_NOT_FOUND = tuple(dict.fromkeys(
    factor for entry in policy()["conditions"]["concepts"].values()
    if entry.get("absent_if_not_found") and not entry.get("decided_elsewhere")
    for factor in _factors(entry)))
_NOT_ON_PROBLEM_LIST = settled(Vote(False, assumption=Message.of("not_on_problem_list")))


def _mm_months(ctx: Context, onsets: list[tuple[dt.date, str]]) -> None:
    if not onsets:
        return
    day, ref = min(onsets)
    months = round(dates.age_days(day, ctx.as_of) / _DAYS_PER_MONTH, 1)
    ctx.vote("months_since_mm_diagnosis", Vote(max(months, 0.0), (ref,), date=day, unit="mo",
                                               assumption=Message.of("myeloma_months_from")))


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
