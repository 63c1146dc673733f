"""A vote that is the same for every chart resolves to the fact an equal vote resolves to.

``ballot.settled`` makes the fact of such a vote (a received list without the drug or the
diagnosis) once; every factor holding it, alone or with other votes, must resolve as it would
with an equal vote made afresh.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from fhir_mappers import ballot, cancer, care, conditions, medications  # noqa: F401 - settle theirs
from fhir_mappers.ballot import Ballot, Vote, settled
from vte_rules.facts import Message

SETTLED = [vote for vote, _ in ballot._SETTLED.values()]
OTHERS = [Vote(True, ("Condition/a",), date=dt.date(2026, 1, 2)),
          Vote(None, ("Condition/b",), reason="could not be read"),
          Vote(False, ("Condition/c",), assumption=Message.of("recorded_resolved")),
          Vote(3.5, ("Observation/d",), unit="mg")]


def _resolved(*votes: Vote) -> object:
    box = Ballot()
    for vote in votes:
        box.cast("factor", vote)
    return box.resolve()["factor"]


def test_the_readers_settle_their_constant_votes():
    assert len(SETTLED) >= 8


@pytest.mark.parametrize("vote", SETTLED, ids=lambda v: repr(v.assumption))
def test_a_settled_vote_resolves_as_an_equal_fresh_vote(vote):
    fresh = dataclasses.replace(vote)
    assert fresh is not vote
    assert _resolved(vote) == _resolved(fresh)
    for other in OTHERS:
        assert _resolved(vote, other) == _resolved(fresh, other)
        assert _resolved(other, vote) == _resolved(other, fresh)


def test_a_vote_equal_to_a_settled_one_is_resolved_afresh():
    vote = settled(Vote(False, assumption=Message.of("no_cancer")))
    fresh = Vote(False, assumption=Message.of("no_cancer"))
    assert _resolved(fresh) == _resolved(vote)
    assert _resolved(fresh) is not _resolved(vote)
