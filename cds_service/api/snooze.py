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
from cds_service.storage.expiring import Transaction
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

log = logging.getLogger("vte_cds")


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(components().shared.clock(), dt.UTC)


def hours() -> float:
    return float(current_app.config.get("SNOOZE_HOURS") or DEFAULT_HOURS)


def settle(cards: list[dict[str, Any]], patient_id: str,
           link: SealedLink | None = None) -> list[dict[str, Any]]:
    """The cards minus snoozed patient-view kinds, in one store transaction that also writes the
    cards' assessment ``link`` (when one was made) and records each shown patient-view card's
    patient hash so that its feedback can snooze it.

    When the store fails: with a link to save, StoreUnavailable (a card must not carry a link
    that does not open); with none, the cards are shown unfiltered and the failure logged."""
    kinds = {card_kind(c["uuid"]) for c in cards} & SNOOZABLE
    if not kinds and link is None:
        return cards
    parts = components()
    try:
        key = parts.snoozes.patient_key(patient_id) if kinds else None
        rows = {} if key is None else {kind: Snoozes.row_key(kind, key) for kind in kinds}
    except (StoreUnavailable, ValueError) as exc:
        log.warning("snooze store unavailable, cards shown unfiltered: %s", exc)
        key, rows = None, {}
    now = _now()
    expires = (now + dt.timedelta(hours=CARD_INDEX_HOURS)).timestamp()

    def work(tx: Transaction) -> list[dict[str, Any]]:
        if link is not None:
            tx.put(LINK_KIND, link.key, link.value, link.expires_at)
        if key is None:
            return cards
        snoozed = {kind for kind, row in rows.items() if tx.get(SNOOZE_KIND, row) is not None}
        kept = [c for c in cards if card_kind(c["uuid"]) not in snoozed]
        for card in kept:
            if card_kind(card["uuid"]) in rows:
                tx.put(CARD_INDEX, card["uuid"], key.encode("ascii"), expires)
        return kept

    failure = SAVE_FAILED if link is not None else "the card index could not be written"
    try:
        return parts.shared.expiring(failure).transaction(work, now=now.timestamp(),
                                                          failure=failure)
    except StoreUnavailable as exc:
        if link is not None:
            raise
        log.warning("snooze store unavailable, cards shown unfiltered: %s", exc)
        return cards


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
