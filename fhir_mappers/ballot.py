"""Votes from many resources for one factor, resolved three-valued.

Several resources can speak to one factor (a DVT and a PE Condition both establish a history of
VTE). A true/false factor is True when any vote says True, unknown when none does but one is
unknown, and False only when every vote is False. A number keeps the one vote cast for it (the
readers pick the latest valid value before voting).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from vte_rules.facts import Fact, Message, Value


@dataclass(frozen=True)
class Vote:
    value: Value | None
    evidence: tuple[str, ...] = ()
    reason: str | None = None
    assumption: Message | tuple[Message, ...] | None = None
    date: dt.date | None = None
    unit: str | None = None
    possible: tuple[float, ...] | None = None  # an unknown number's possible values (Fact)


@dataclass
class Ballot:
    votes: dict[str, list[Vote]] = field(default_factory=dict)

    def cast(self, factor: str, vote: Vote) -> None:
        self.votes.setdefault(factor, []).append(vote)

    def has_true(self, factor: str) -> bool:
        return any(v.value is True for v in self.votes.get(factor, ()))

    def voted(self, factor: str) -> bool:
        return factor in self.votes

    def resolve(self) -> dict[str, Fact]:
        return {factor: _resolve(votes) for factor, votes in self.votes.items()}


# Votes that are the same for every chart (module constants), by id, with their fact: a factor
# holding one of them alone resolves to that fact, made once. The vote is kept with its fact,
# so its id is never another object's.
_SETTLED: dict[int, tuple[Vote, Fact]] = {}


def settled(vote: Vote) -> Vote:
    """``vote``, registered as one that is the same for every chart (what a received list
    without the drug or the diagnosis says), so that its fact is made once, here."""
    _SETTLED[id(vote)] = (vote, _resolve([vote]))
    return vote


def _join(parts: list[str | None]) -> str | None:
    kept = list(dict.fromkeys(p for p in parts if p))
    return "; ".join(kept) or None


def _assumed(votes: list[Vote]) -> tuple[Message, ...] | None:
    """What the votes assumed, each message once."""
    said = [m for v in votes for m in ((v.assumption,) if isinstance(v.assumption, Message)
                                       else v.assumption or ())]
    return tuple(dict.fromkeys(said)) or None


def _merge(votes: list[Vote], value: Value | None) -> Fact:
    evidence = tuple(dict.fromkeys(e for v in votes for e in v.evidence))
    dates = [v.date for v in votes if v.date]
    return Fact(value, evidence, votes[0].unit, max(dates) if dates else None,
                _join([v.reason for v in votes]) if value is None else None,
                _assumed(votes))


def _assumed_by(vote: Vote) -> tuple[Message, ...] | None:
    """What one vote assumed, each message once (`_assumed` of that vote alone)."""
    said = vote.assumption
    if said is None or isinstance(said, Message):
        return None if said is None else (said,)
    return tuple(dict.fromkeys(said)) or None


def _resolve(votes: list[Vote]) -> Fact:
    if len(votes) == 1:
        known = _SETTLED.get(id(votes[0]))
        if known is not None and known[0] is votes[0]:
            return known[1]
    if len(votes) == 1 or not all(isinstance(v.value, bool) or v.value is None for v in votes):
        vote = votes[-1]
        return Fact(vote.value, vote.evidence, vote.unit, vote.date, vote.reason,
                    _assumed_by(vote), vote.possible if vote.value is None else None)
    true = [v for v in votes if v.value is True]
    if true:
        return _merge(true, True)
    unknown = [v for v in votes if v.value is None]
    if unknown:
        return _merge(unknown, None)
    return _merge(votes, False)
