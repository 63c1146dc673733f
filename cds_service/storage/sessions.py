"""SMART app sessions, server side: what one launch needs between the browser's requests.

``save(sid, record, expires_at)`` keeps ``record`` (JSON data: fhirclient's state with the
access token, the FHIR server, the patient id) until ``expires_at`` (seconds since the epoch);
``load(sid)`` gives it back or None; ``drop(sid)`` ends it. The browser holds only the random
session id, in a signed cookie; the row's key is a SHA-256 of that id and its value is sealed
(``SharedStore.seal``), as it holds a bearer token for the EHR's FHIR server.
"""

from __future__ import annotations

import json
from typing import Any

from cds_service.storage.shared import SharedStore, digest

KIND = "smart-session"
_FAILED = ("the store is unavailable: the SMART session could not be {}; launch the app again "
           "in a moment")


class SmartSessions:
    def __init__(self, shared: SharedStore) -> None:
        self.shared = shared

    def save(self, sid: str, record: dict[str, Any], expires_at: float) -> None:
        failure = _FAILED.format("saved")
        sealed = self.shared.seal(json.dumps(record).encode("utf-8"), failure)
        self.shared.expiring(failure).put(KIND, digest(sid), sealed, expires_at,
                                          now=self.shared.clock(), failure=failure)

    def load(self, sid: str) -> dict[str, Any] | None:
        failure = _FAILED.format("read")
        found = self.shared.expiring(failure).get(KIND, digest(sid), now=self.shared.clock(),
                                                  failure=failure)
        data = None if found is None else self.shared.unseal(found, failure)
        record = None if data is None else json.loads(data)
        return record if isinstance(record, dict) else None

    def drop(self, sid: str) -> None:
        failure = _FAILED.format("ended")
        self.shared.expiring(failure).delete(KIND, digest(sid), failure=failure)

    def signing_key(self) -> bytes:
        """The key that signs the session cookie, the same in every worker and instance."""
        return self.shared.secret("smart-session-cookie", _FAILED.format("read"))
