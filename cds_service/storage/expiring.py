"""Values that expire: one table, ``vte_state``, keyed by (kind, key), in the configured database.

Each row holds an opaque value (bytes) and the time it expires (seconds since the epoch). The
store enforces expiry: a row whose time has come is never returned, and rows are purged by kind,
at most once a minute per process, by the next write of that kind. Operations:

- ``put``: write a value, replacing any (links, sessions, snoozes);
- ``add``: write a value only if none is there, or the one there has expired; True when written.
  Two workers or instances adding the same key at once: exactly one gets True (``jti`` replays,
  the shared secrets);
- ``get``, ``delete``;
- ``put_many``: several rows of any kinds in one statement, all or none (a hook call writes its
  card's link and indexes its cards this way); ``get_many``: the live rows of one kind among
  several keys, in one query (the patient's snoozes).

A write is one statement, its own transaction (``Database.run_statement``), except when the
kind's purge is due, which runs first on its own: on SQLite no write lock is held while Python
runs between statements.

Every call takes ``now`` from its caller, so that a caller on a fixed clock (the tests that replay
captured tokens at their capture time) sees the expiry it expects; the purge of a kind uses the
time its own callers give. Every failure is ``StoreUnavailable`` carrying the caller's sentence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence

from cds_service.storage.database import Database, Sql, create_tables

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
Row = tuple[str, str, bytes, float]  # kind, key, value, expires_at
_GET = f"SELECT value FROM {TABLE} WHERE kind = ? AND key = ? AND expires_at > ?"
_GET_MANY = (f"SELECT key, value FROM {TABLE} WHERE kind = ? AND key IN ({{keys}})"
             " AND expires_at > ?")
_UPSERT_ROWS = (f"INSERT INTO {TABLE} (kind, key, value, expires_at) VALUES {{values}}"
                " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at")
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

    def put(self, kind: str, key: str, value: bytes, expires_at: float, *, now: float,
            failure: str = UNAVAILABLE) -> None:
        self.put_many([(kind, key, value, expires_at)], now=now, failure=failure)

    def put_many(self, rows: Iterable[Row], *, now: float, failure: str = UNAVAILABLE) -> None:
        """Write ``rows`` (kind, key, value, expires_at), replacing any, in one statement; the
        last of two rows with the same kind and key wins."""
        unique = list({(row[0], row[1]): row for row in rows}.values())
        if not unique:
            return
        for kind in dict.fromkeys(row[0] for row in unique):
            if self.purge_due(kind, now):
                self.purge(kind, now=now, failure=failure)
        values = ", ".join(["(?, ?, ?, ?)"] * len(unique))
        self._db.run_statement(_UPSERT_ROWS.format(values=values),
                               [field for row in unique for field in row], failure=failure)

    def get_many(self, kind: str, keys: Sequence[str], *, now: float,
                 failure: str = UNAVAILABLE) -> dict[str, bytes]:
        """The live values of ``kind`` among ``keys``, by key (a key with none is absent)."""
        if not keys:
            return {}
        query = _GET_MANY.format(keys=", ".join(["?"] * len(keys)))
        rows = self._db.run(lambda sql: sql.execute(query, (kind, *keys, now)).fetchall(),
                            failure=failure)
        return {str(key): bytes(value) for key, value in rows}

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

