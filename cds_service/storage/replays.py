"""The ``jti`` replay record: a token is accepted once across every worker and instance.

``first_use((iss, jti), until, now)`` is True for the first call with that pair and False for
every later one until ``until`` (the token's ``exp`` plus the clock leeway), after which no check
would let the token through anyway. The row's key is a SHA-256 of issuer and ``jti``; nothing of
the token is kept. When the store cannot answer, the call is refused (StoreUnavailable, 503):
a token is never let through unchecked.
"""

from __future__ import annotations

from cds_service.storage.shared import SharedStore, digest

KIND = "jti"
_FAILED = "the store is unavailable: the token could not be checked for replay; try again"


class StoreReplays:
    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared

    def first_use(self, key: tuple[str, str], until: float, now: float) -> bool:
        return self.shared.expiring(_FAILED).add(KIND, digest(*key), b"", until, now=now,
                                                 failure=_FAILED)
