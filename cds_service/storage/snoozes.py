"""Snoozes: a clinician asks not to see one kind of card for one patient until a given time.

    snoozes = components().snoozes
    key = snoozes.patient_key(hook.patient_id)         # a keyed hash, never the readable id
    snoozes.snooze("mm-prophylaxis", key, until)       # until: an aware datetime
    snoozes.is_snoozed("mm-prophylaxis", key, now)     # True until `until`, then False

``patient_key(patient_id)`` is HMAC-SHA256 of the patient id under a key the workers and instances
share (``SharedStore.secret``), as 64 hex digits; ``snooze`` and ``is_snoozed`` refuse anything
else (ValueError), so a readable id cannot reach the store by mistake. Pass the same kind of id
each time (the hook's ``context.patientId``). A second ``snooze`` of the same card kind and
patient replaces the first (the later call says until when). The store drops a snooze when its
time has come. Card kinds are the service's own names (``hooks.base.card_kind``), at most 64
characters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from cds_service.storage.shared import SharedStore

KIND = "snooze"
_PATIENT_KEY = re.compile(r"[0-9a-f]{64}")
_CARD_KIND = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_FAILED = "the store is unavailable: the snooze could not be {}; try again"


def _seconds(moment: dt.datetime, name: str) -> float:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a datetime with a time zone")
    return moment.timestamp()


def _key(card_kind: str, patient_key: str) -> str:
    if not _CARD_KIND.fullmatch(card_kind):
        raise ValueError("card_kind must be 1 to 64 letters, digits or . _ : -")
    if not _PATIENT_KEY.fullmatch(patient_key):
        raise ValueError("patient_key must come from Snoozes.patient_key (64 hex digits)")
    return f"{card_kind}/{patient_key}"


class Snoozes:
    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared

    def patient_key(self, patient_id: str) -> str:
        secret = self.shared.secret("patient-key", _FAILED.format("read"))
        return hmac.new(secret, patient_id.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()

    def snooze(self, card_kind: str, patient_key: str, until: dt.datetime, *,
               now: dt.datetime | None = None) -> None:
        """``now``: the clock the caller reads (a fixed evaluation date in tests), which the
        store's purge of expired snoozes then follows; the store's clock when not given."""
        key, expires = _key(card_kind, patient_key), _seconds(until, "until")
        moment = self.shared.clock() if now is None else _seconds(now, "now")
        failure = _FAILED.format("saved")
        self.shared.expiring(failure).put(KIND, key, b"", expires, now=moment, failure=failure)

    @staticmethod
    def row_key(card_kind: str, patient_key: str) -> str:
        """The store key (kind ``KIND``) of a snooze, for a caller reading it in its own
        transaction; ValueError as ``is_snoozed``."""
        return _key(card_kind, patient_key)

    def is_snoozed(self, card_kind: str, patient_key: str, now: dt.datetime) -> bool:
        key, moment = _key(card_kind, patient_key), _seconds(now, "now")
        failure = _FAILED.format("read")
        return self.shared.expiring(failure).get(KIND, key, now=moment,
                                                 failure=failure) is not None
