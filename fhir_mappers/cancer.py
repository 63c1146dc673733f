"""Active cancer from the problem list and the current medications.

Title: active cancer (Wells DVT WDVT-01, Wells PE WPE-06, Table 6 BLEED-10, the CMVT review's
"active cancer" feature and low-risk exclusion).
Source: the seeds name "active cancer" without defining it. The reading here is the one the
Wells and IMPROVE scores use (policy ``[cancer]``): diagnosed or treated within the last 6
months, metastatic, or a haematological malignancy not in remission.
Variables: Condition entries of the ``malignancy``, ``metastatic_cancer``,
``haematological_malignancy`` and ``cancer_treatment`` value sets; current antineoplastic
medications.
Missing values: a cancer on the problem list with none of the above documented is unknown, not
absent ("whether it is active is not documented"); a list with entries that could not be read
leaves it unknown (conditions.py); only a fully read problem list without a cancer is absent.
Notes: myeloma is not decided here: BLEED-16 (vte_rules.derive) judges it from its treatment
and response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from fhir_mappers import dates
from fhir_mappers.ballot import Vote, settled
from fhir_mappers.context import CancerEntry, Context
from fhir_mappers.model import MedicationUse
from vte_rules.facts import Message

_CURRENT = ("active", "intended", "in-progress", "completed")
# what a fully read problem list without a cancer says
_NO_CANCER = settled(Vote(False, assumption=Message.of("no_cancer")))


def decide(ctx: Context, uses: Iterable[MedicationUse]) -> None:
    window = int(ctx.policy["cancer"]["within_days"])
    therapy = tuple(u.reference for u in uses if not u.draft and "antineoplastic" in u.concepts
                    and u.status in _CURRENT)
    for entry in ctx.cancers:
        ctx.vote("active_cancer", _entry_vote(ctx, entry, therapy, window))
    if therapy and not ctx.cancers:
        ctx.vote("active_cancer", Vote(None, therapy, reason="an antineoplastic drug is "
                                       "current but no cancer is on the problem list"))
    if ctx.received("Condition") and not ctx.ballot.voted("active_cancer"):
        ctx.vote("active_cancer", _NO_CANCER)


def _recent(ctx: Context, day: dt.date | None, window: int) -> bool:
    return day is not None and dates.age_days(day, ctx.as_of) <= window


def _entry_vote(ctx: Context, entry: CancerEntry, therapy: tuple[str, ...],
                window: int) -> Vote:
    rules = ctx.policy["conditions"]
    ref = (entry.reference,)
    if entry.status in rules["history_status"]:
        if _recent(ctx, entry.abated, window):
            return Vote(True, ref, date=entry.abated,
                        assumption=Message.of("recorded_as_status_within",
                                              status=entry.status, days=window))
        return Vote(False, ref, date=entry.abated or entry.onset,
                    assumption=Message.of("recorded_as_status", status=entry.status))
    if entry.status not in rules["active_status"]:
        return Vote(None, ref, reason=f"cancer recorded with status {entry.status}")
    if "metastatic_cancer" in entry.concepts:
        return Vote(True, ref, date=entry.onset, assumption=Message.of("metastatic"))
    if "haematological_malignancy" in entry.concepts:
        return Vote(True, ref, date=entry.onset,
                    assumption=Message.of("haematological_not_in_remission"))
    if "cancer_treatment" in entry.concepts and _recent(ctx, entry.onset, window):
        return Vote(True, ref, date=entry.onset, assumption=Message.of("chemotherapy_recorded"))
    if therapy:
        return Vote(True, ref + therapy, date=entry.onset,
                    assumption=Message.of("on_antineoplastic_treatment"))
    if _recent(ctx, entry.onset, window):
        return Vote(True, ref, date=entry.onset,
                    assumption=Message.of("diagnosed_within", days=window))
    return Vote(None, ref, date=entry.onset, reason="cancer on the problem list; whether it "
                "was treated in the last 6 months or has spread is not documented")
