"""Thrombus close to the proximal veins (CMVT-02), from the words of a report or a diagnosis.

The CMVT review lists "肌间静脉血栓位置靠近近端静脉" among the features for which anticoagulation
is advised, with no distance. An EHR has no code for it; the ultrasound report says it in words.
What is read (``policy.toml`` ``[near_proximal_veins]``), in an Observation's ``valueString`` or
``note`` (within the finding age) and in a Condition's ``code.text`` or ``note``:

- a word of nearness before a proximal vein (靠近腘静脉, 邻近股静脉, "close to the popliteal
  vein", "adjacent to the femoral vein");
- a word of reaching before a proximal vein or its junction (延伸至腓肠肌静脉汇入腘静脉处,
  "extending to the popliteal junction").

One clause (between commas, semicolons or full stops) is read at a time, and a clause that also
holds a negation or a doubt (未, 不, 远离, 可能, "not", "away from", "possibly", a question) is
not read. A distance alone ("距腘静脉0.5 cm") is never turned into "close": the seed gives no
threshold (docs/rules.md). Only "close" is voted, never "not close": a report that does not say
it leaves the feature unknown.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_mappers import dates
from fhir_mappers.ballot import Vote
from fhir_mappers.collect import reference
from fhir_mappers.context import Context, policy
from vte_rules.facts import Message

FACTOR = "thrombus_near_proximal_veins"
_CLAUSE = re.compile(r"[，。；;,!！\n]|\.(?!\d)")
_READ = Message.of("near_proximal_from_text")


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(a nearness or reaching word before a proximal vein, a negation or doubt)."""
    table = policy()["near_proximal_veins"]
    near = _alternatives([*table["near"], *table["reaching"]])
    veins = _alternatives(table["veins"])
    gap = int(table["max_words_between"])
    found = re.compile(rf"(?<![a-z])(?:{near})(?![a-z])[^，。；;,]{{0,{gap}}}?(?:{veins})",
                       re.IGNORECASE)
    latin = [w for w in table["not_read_when"] if re.match("[a-z]", w)]
    other = [w for w in table["not_read_when"] if not re.match("[a-z]", w)]
    guard = rf"(?<![a-z])(?:{_alternatives(latin)})(?![a-z])|{_alternatives(other)}"
    return found, re.compile(guard, re.IGNORECASE)


def says_near(text: str) -> bool:
    """True when one clause of the text says the thrombus is close to or reaches a proximal
    vein and holds no negation or doubt."""
    found, guard = _patterns()
    return any(found.search(c) and not guard.search(c) for c in _CLAUSE.split(text))


def _notes(resource: Mapping[str, Any]) -> list[Any]:
    notes = resource.get("note")
    return [n.get("text") for n in notes if isinstance(n, Mapping)] \
        if isinstance(notes, list) else []


def _observation_texts(obs: Mapping[str, Any]) -> list[str]:
    texts = [obs.get("valueString"), *_notes(obs)]
    return [t for t in texts if isinstance(t, str)]


def _condition_texts(cond: Mapping[str, Any]) -> list[str]:
    code = cond.get("code")
    texts = [code.get("text") if isinstance(code, Mapping) else None, *_notes(cond)]
    return [t for t in texts if isinstance(t, str)]


def read(ctx: Context, observations: Iterable[Mapping[str, Any]],
         conditions: Iterable[Mapping[str, Any]]) -> None:
    limit = int(ctx.policy["findings"]["max_age_days"])
    refs: list[str] = []
    latest: dt.date | None = None
    for raw in observations:
        if raw.get("status") not in ("final", "amended", "corrected"):
            continue
        day = dates.first(raw, "effectiveDateTime", "effectivePeriod", "issued")
        if day is None or not 0 <= dates.age_days(day, ctx.as_of) <= limit:
            continue
        if any(says_near(t) for t in _observation_texts(raw)) and ctx.same_patient(raw):
            refs.append(reference(raw))
            latest = max(day, latest or day)
    for raw in conditions:
        status = raw.get("verificationStatus")
        codes = [c.get("code") for c in (status.get("coding") or [])
                 if isinstance(c, Mapping)] if isinstance(status, Mapping) else []
        if set(codes) & {"refuted", "entered-in-error"}:
            continue
        if any(says_near(t) for t in _condition_texts(raw)) and ctx.same_patient(raw):
            refs.append(reference(raw))
    if refs:
        ctx.vote(FACTOR, Vote(True, tuple(refs), date=latest, assumption=_READ))
