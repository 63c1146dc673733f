""""Not now": a clinician overrides a patient-view card with the reason ``not_now``
(``hooks/override_reasons.toml``) and that card kind stays quiet for that patient for
``VTE_CDS_SNOOZE_HOURS`` hours (default 24), on every worker and instance, across restarts.

CDS Hooks feedback names only the card's uuid, so when a patient-view card is issued the store
keeps card uuid -> keyed patient hash (``Snoozes.patient_key``: HMAC, never the readable id) for
``CARD_INDEX_HOURS``. Feedback with ``not_now`` looks the card up and snoozes its kind for that
hash. Order cards concern one drafted order and are never snoozed.

The hook path never fails because of this: if the store cannot be read or written, the cards are
shown (a snooze is a convenience; a missing safety card is not) and the failure is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from flask import current_app

from cds_service.errors import StoreUnavailable
from cds_service.state import components
from cds_service.storage.links import KIND as LINK_KIND
from cds_service.storage.links import SAVE_FAILED, SealedLink
from cds_service.storage.snoozes import KIND as SNOOZE_KIND
from cds_service.storage.snoozes import Snoozes
from hooks.base import card_kind
from hooks.cards import SNOOZE_REASON

SNOOZABLE = frozenset({"mm-prophylaxis", "cmvt", "vte-treatment"})
CARD_INDEX = "card-patient"
CARD_INDEX_HOURS = 72
DEFAULT_HOURS = 24.0
_READ_FAILED = "the snoozes could not be read"
_INDEX_FAILED = "the card index could not be written"

log = logging.getLogger("vte_cds")


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(components().shared.clock(), dt.UTC)


def hours() -> float:
    return float(current_app.config.get("SNOOZE_HOURS") or DEFAULT_HOURS)


def settle(cards: list[dict[str, Any]], patient_id: str,
           link: SealedLink | None = None) -> list[dict[str, Any]]:
    """The cards minus snoozed patient-view kinds. Writes the cards' assessment ``link`` (when
    one was made) and records each shown patient-view card's patient hash, so that its feedback
    can snooze it, in one statement; the snoozes are read before it, in one query.

    When the store fails: with a link to save, StoreUnavailable (a card must not carry a link
    that does not open); with none, the cards are shown unfiltered and the failure logged."""
    kinds = {card_kind(c["uuid"]) for c in cards} & SNOOZABLE
    if not kinds and link is None:
        return cards
    parts = components()
    now = _now()
    kept, key = cards, None
    if kinds:
        try:
            store = parts.shared.expiring(_READ_FAILED)
            key = parts.snoozes.patient_key(patient_id)
            rows = {Snoozes.row_key(kind, key): kind for kind in sorted(kinds)}
            found = store.get_many(SNOOZE_KIND, list(rows), now=now.timestamp(),
                                   failure=_READ_FAILED)
            snoozed = {rows[row] for row in found}
            kept = [c for c in cards if card_kind(c["uuid"]) not in snoozed]
        except (StoreUnavailable, ValueError) as exc:
            log.warning("snooze store unavailable, cards shown unfiltered: %s", exc)
            kept, key = cards, None
    expires = (now + dt.timedelta(hours=CARD_INDEX_HOURS)).timestamp()
    writes = [] if link is None else [(LINK_KIND, link.key, link.value, link.expires_at)]
    if key is not None:
        writes += [(CARD_INDEX, c["uuid"], key.encode("ascii"), expires) for c in kept
                   if card_kind(c["uuid"]) in kinds]
    failure = SAVE_FAILED if link is not None else _INDEX_FAILED
    try:
        parts.shared.expiring(failure).put_many(writes, now=now.timestamp(), failure=failure)
    except StoreUnavailable as exc:
        if link is not None:
            raise
        log.warning("snooze store unavailable, cards shown unfiltered: %s", exc)
    return kept


def from_feedback(entries: Iterable[Any]) -> int:
    """Snooze the kinds of cards overridden with ``not_now``; how many snoozes were set. A
    card the index does not know (issued by another deployment, or long ago) is skipped."""
    parts = components()
    count = 0
    for entry in entries:
        reason = entry.override_reason
        if entry.outcome != "overridden" or reason is None or reason.code != SNOOZE_REASON:
            continue
        kind = card_kind(entry.card)
        if kind not in SNOOZABLE:
            continue
        now = _now()
        found = parts.shared.expiring("the snooze could not be saved").get(
            CARD_INDEX, entry.card, now=now.timestamp())
        if found is None:
            continue
        parts.snoozes.snooze(kind, found.decode("ascii"), now + dt.timedelta(hours=hours()),
                             now=now)
        count += 1
    return count
