"""The store every worker and instance share, opened on first use, and the secrets they share.

``SharedStore(url, store_key)`` opens the ``ExpiringStore`` on the configured database when it is
first needed (a database that is down at start-up does not stop the service; each use tries
again), with ``synchronous=NORMAL`` on SQLite: what it holds lives an hour or so, and a crash of
the machine may lose the last writes, never corrupt the file.

``secret(name)`` is 32 bytes that every worker and instance agree on:

- derived from ``VTE_CDS_STORE_KEY`` (HMAC-SHA256 of the name) when that setting is given: the
  key then lives apart from the database, and a copy of the database alone reveals nothing sealed;
- otherwise made once, at random, and kept in the store (kind ``secret``, never expiring); the
  first worker to ask writes it and every other reads that one. A warning says so: then whoever
  reads the whole database can also unseal it.

``seal(data)`` and ``unseal(token)`` encrypt and authenticate with Fernet (AES-128-CBC and
HMAC-SHA256) under ``secret("seal")``; ``unseal`` gives None for a token sealed under another key
(the setting changed) or altered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken

from cds_service.errors import StoreUnavailable
from cds_service.storage.database import open_database
from cds_service.storage.expiring import UNAVAILABLE, ExpiringStore

FOREVER = 253402300799.0  # 9999-12-31T23:59:59Z
SECRET_KIND = "secret"
_log = logging.getLogger(__name__)


class SharedStore:
    def __init__(self, url: str, store_key: str = "", *,
                 clock: Callable[[], float] = time.time) -> None:
        self._url = url
        self._store_key = store_key.encode("utf-8")
        self.clock = clock
        self._store: ExpiringStore | None = None
        self._secrets: dict[str, bytes] = {}
        self._fernet: Fernet | None = None
        self._warned = False
        self._lock = threading.Lock()

    def expiring(self, failure: str) -> ExpiringStore:
        """The store, opened now if it is not yet; StoreUnavailable(``failure``) if it cannot."""
        with self._lock:
            if self._store is None:
                self._store = ExpiringStore(open_database(self._url, failure=failure,
                                                          durable=False))
            return self._store

    def secret(self, name: str, failure: str = UNAVAILABLE) -> bytes:
        """The shared secret ``name``; StoreUnavailable(``failure``) when the store cannot say."""
        found = self._secrets.get(name)
        if found is not None:
            return found
        if self._store_key:
            value = hmac.new(self._store_key, f"vte-cds {name}".encode(), hashlib.sha256).digest()
        else:
            value = self._kept_secret(name, failure)
        with self._lock:
            return self._secrets.setdefault(name, value)

    def _kept_secret(self, name: str, failure: str) -> bytes:
        store = self.expiring(failure)
        now = self.clock()
        store.add(SECRET_KIND, name, secrets.token_bytes(32), FOREVER, now=now, failure=failure)
        value = store.get(SECRET_KIND, name, now=now, failure=failure)
        if not self._warned:
            self._warned = True
            _log.warning("VTE_CDS_STORE_KEY is not set: the keys that seal links and sessions "
                         "are kept in the store itself (see docs/security.md)")
        if value is None or len(value) != 32:
            raise StoreUnavailable(failure)
        return value

    def _cipher(self, failure: str) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(base64.urlsafe_b64encode(self.secret("seal", failure)))
        return self._fernet

    def seal(self, data: bytes, failure: str = UNAVAILABLE) -> bytes:
        return self._cipher(failure).encrypt(data)

    def unseal(self, token: bytes, failure: str = UNAVAILABLE) -> bytes | None:
        try:
            return self._cipher(failure).decrypt(token)
        except InvalidToken:
            return None

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def digest(*parts: str) -> str:
    """A row key that does not show what it was made from (a link token, a session id, a jti)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
