"""Values that expire: one table, ``vte_state``, keyed by (kind, key), in the configured database.

Each row holds an opaque value (bytes) and the time it expires (seconds since the epoch). The
store enforces expiry: a row whose time has come is never returned, and rows are purged by kind,
at most once a minute per process, by the next write of that kind. Operations:

- ``put``: write a value, replacing any (links, sessions, snoozes);
- ``add``: write a value only if none is there, or the one there has expired; True when written.
  Two workers or instances adding the same key at once: exactly one gets True (``jti`` replays,
  the shared secrets);
- ``get``, ``delete``;
- ``transaction``: several ``get`` and ``put`` of any kinds in one transaction (one round trip to
  the gate and the database; a hook call writes its card's link, reads the patient's snoozes and
  indexes its cards this way). All of them happen, or none.

Every call takes ``now`` from its caller, so that a caller on a fixed clock (the tests that replay
captured tokens at their capture time) sees the expiry it expects; the purge of a kind uses the
time its own callers give. Every failure is ``StoreUnavailable`` carrying the caller's sentence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cds_service.storage.database import Database, Sql, create_tables

_T = TypeVar("_T")

TABLE = "vte_state"
PURGE_EVERY_S = 60.0
_SCHEMA_LOCK_KEY = 0x7674_6563_6473_0002
_DDL = {
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (kind TEXT NOT NULL, key TEXT NOT NULL,"
        " value BLOB NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (kind, key))"),
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (kind TEXT NOT NULL, key TEXT NOT NULL,"
        " value BYTEA NOT NULL, expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (kind, key))"),
}
_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_expiry ON {TABLE} (kind, expires_at)"
_UPSERT = (f"INSERT INTO {TABLE} (kind, key, value, expires_at) VALUES (?, ?, ?, ?)"
           " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value,"
           " expires_at = excluded.expires_at")
_ADD = f"{_UPSERT} WHERE {TABLE}.expires_at <= ?"
_GET = f"SELECT value FROM {TABLE} WHERE kind = ? AND key = ? AND expires_at > ?"
_DELETE = f"DELETE FROM {TABLE} WHERE kind = ? AND key = ?"
_PURGE = f"DELETE FROM {TABLE} WHERE kind = ? AND expires_at <= ?"
UNAVAILABLE = "the store is unavailable"


class ExpiringStore:
    """(kind, key) -> value until an expiry time, shared by every worker and instance."""

    def __init__(self, db: Database, *, purge_every: float = PURGE_EVERY_S) -> None:
        self._db = db
        self._purge_every = purge_every
        self._next_purge: dict[str, float] = {}
        self._lock = threading.Lock()
        try:
            create_tables(db, [_DDL[db.dialect], _INDEX], _SCHEMA_LOCK_KEY, UNAVAILABLE)
        except BaseException:
            db.close()
            raise

    def purge_due(self, kind: str, now: float) -> bool:
        with self._lock:
            due = self._next_purge.get(kind, float("-inf")) <= now
            if due:
                self._next_purge[kind] = now + self._purge_every
            return due

    def _write(self, kind: str, now: float, work: Callable[[Sql], bool], failure: str) -> bool:
        purge = self.purge_due(kind, now)

        def run(sql: Sql) -> bool:
            if purge:
                sql.execute(_PURGE, (kind, now))
            return work(sql)

        return self._db.run(run, write=True, failure=failure)

    def transaction(self, work: Callable[[Transaction], _T], *, now: float,
                    failure: str = UNAVAILABLE) -> _T:
        """``work(tx)`` with ``tx.get`` and ``tx.put`` in one write transaction; what ``work``
        returns. A kind written in it is purged first when its purge is due."""
        return self._db.run(lambda sql: work(Transaction(self, sql, now)), write=True,
                            failure=failure)

    def put(self, kind: str, key: str, value: bytes, expires_at: float, *, now: float,
            failure: str = UNAVAILABLE) -> None:
        self._write(kind, now, lambda sql: sql.execute(
            _UPSERT, (kind, key, value, expires_at)).rowcount > 0, failure)

    def add(self, kind: str, key: str, value: bytes, expires_at: float, *, now: float,
            failure: str = UNAVAILABLE) -> bool:
        return self._write(kind, now, lambda sql: sql.execute(
            _ADD, (kind, key, value, expires_at, now)).rowcount > 0, failure)

    def get(self, kind: str, key: str, *, now: float, failure: str = UNAVAILABLE) -> bytes | None:
        row = self._db.run(lambda sql: sql.execute(_GET, (kind, key, now)).fetchone(),
                           failure=failure)
        return None if row is None else bytes(row[0])

    def delete(self, kind: str, key: str, *, failure: str = UNAVAILABLE) -> None:
        self._db.run(lambda sql: sql.execute(_DELETE, (kind, key)), write=True, failure=failure)

    def purge(self, kind: str, *, now: float, failure: str = UNAVAILABLE) -> int:
        """Delete the rows of ``kind`` expired at ``now``; how many went."""
        return self._db.run(lambda sql: sql.execute(_PURGE, (kind, now)).rowcount, write=True,
                            failure=failure)

    def close(self) -> None:
        self._db.close()


class Transaction:
    """``get`` and ``put`` inside one ``ExpiringStore.transaction``, at its ``now``."""

    def __init__(self, store: ExpiringStore, sql: Sql, now: float) -> None:
        self._store, self._sql, self.now = store, sql, now
        self._purged: set[str] = set()

    def get(self, kind: str, key: str) -> bytes | None:
        row = self._sql.execute(_GET, (kind, key, self.now)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, kind: str, key: str, value: bytes, expires_at: float) -> None:
        if kind not in self._purged:
            self._purged.add(kind)
            if self._store.purge_due(kind, self.now):
                self._sql.execute(_PURGE, (kind, self.now))
        self._sql.execute(_UPSERT, (kind, key, value, expires_at))
