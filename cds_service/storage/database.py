"""One connection to the configured database, and the transactions every store runs on it.

``open_database(url)`` opens:

- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (parent folders are created;
  WAL journal, so readers never wait for a writer and several gunicorn workers share the file;
  ``synchronous=FULL`` when ``durable``, so a commit is on disk when the call returns);
- ``postgresql://...`` (psycopg 3; ``connect_timeout`` defaults to 2 s and every statement is cut
  at 5 s; a per-deployment schema is chosen with the libpq ``options=-csearch_path=...``
  parameter).

``Database.run(work, write=..., failure=...)`` runs ``work(sql)`` in one transaction. Queries are
written with ``?`` placeholders on either database. Any database failure becomes
``StoreUnavailable`` (503) carrying ``failure``, the caller's sentence for what could not be done;
the log line names the error type and SQLSTATE only, as database messages can quote row values.
A ``Database`` is thread-safe: one connection, used under a lock. A PostgreSQL connection that
went stale (server restart, idle cut) is replaced, and the transaction run again once, on the new
one.

``create_tables(db, statements, lock_key, failure)`` runs ``CREATE ... IF NOT EXISTS`` statements
so that several instances starting at once do not trip over each other.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cds_service.errors import StoreUnavailable

PG_CONNECT_TIMEOUT_S = 2
PG_STATEMENT_TIMEOUT_MS = 5000
SQLITE_BUSY_TIMEOUT_MS = 5000

Dialect = Literal["sqlite", "postgresql"]
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Rows(Protocol):
    """What a statement gives back, on either database."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Sql(Protocol):
    """The transaction ``work`` runs in: ``execute`` with ``?`` placeholders."""

    def execute(self, query: str, params: Sequence[object] = ()) -> Rows: ...


def unavailable(exc: Exception, failure: str) -> StoreUnavailable:
    # The class and SQLSTATE say what went wrong; database messages can quote row values.
    _log.warning("store unavailable: %s (sqlstate %s)",
                 type(exc).__name__, getattr(exc, "sqlstate", None))
    return StoreUnavailable(failure)


def _closed() -> StoreUnavailable:
    return StoreUnavailable("the store is closed")


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    def run(self, work: Callable[[Sql], _T], *, write: bool = False, failure: str) -> _T:
        """``work`` in one transaction; StoreUnavailable(``failure``) if the database fails."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; further calls raise StoreUnavailable."""

    def __enter__(self) -> Database:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def open_database(url: str, *, failure: str, durable: bool = True) -> Database:
    """The database ``url`` names; ``ValueError`` for an unknown scheme or a bad URL,
    StoreUnavailable(``failure``) when it cannot be opened."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"), failure=failure, durable=durable)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, failure=failure)
    # The URL itself is not repeated: it may carry a password.
    raise ValueError("store URL must start with sqlite:/// or postgresql://")


def create_tables(db: Database, statements: Sequence[str], lock_key: int, failure: str) -> None:
    def create(sql: Sql) -> None:
        if db.dialect == "postgresql":
            # Run concurrently, CREATE TABLE IF NOT EXISTS can fail with a unique violation on
            # pg_type: instances starting together take turns.
            sql.execute("SELECT pg_advisory_xact_lock(?)", (lock_key,))
        for statement in statements:
            sql.execute(statement)

    db.run(create, write=True, failure=failure)


# --- SQLite ----------------------------------------------------------------------------------


class _SqliteSql:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, query: str, params: Sequence[object] = ()) -> Rows:
        return self._conn.execute(query, tuple(params))


def _switch_to_wal(conn: sqlite3.Connection) -> Any:
    """Switch a new database to WAL. Switching needs a moment of exclusive access, which the
    busy timeout does not cover, so instances starting together retry it (bounded)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteDatabase(Database):
    dialect: Dialect = "sqlite"

    def __init__(self, path: str, *, failure: str, durable: bool = True) -> None:
        if not path or path == ":memory:":
            raise ValueError("a SQLite store needs a file path")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise unavailable(exc, failure) from exc
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.Lock()
        try:
            mode = _switch_to_wal(conn)
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError("journal_mode WAL refused")
            # NORMAL in WAL mode survives a crash of the process, not of the machine.
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        except sqlite3.Error as exc:
            self.close()
            raise unavailable(exc, failure) from exc

    def run(self, work: Callable[[Sql], _T], *, write: bool = False, failure: str) -> _T:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise _closed()
            try:
                # IMMEDIATE takes the write lock up front, so a busy database waits for the busy
                # timeout instead of failing at the first write.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(_SqliteSql(conn))
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise unavailable(exc, failure) from exc
            return result

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# --- PostgreSQL ------------------------------------------------------------------------------

_PgConnection = psycopg.Connection[tuple[Any, ...]]
_PgCursor = psycopg.Cursor[tuple[Any, ...]]


class _PostgresSql:
    def __init__(self, cur: _PgCursor) -> None:
        self._cur = cur

    def execute(self, query: str, params: Sequence[object] = ()) -> Rows:
        # Our queries hold no literal '?' and no '%'.
        return self._cur.execute(cast(Any, query.replace("?", "%s")), tuple(params))


class PostgresDatabase(Database):
    dialect: Dialect = "postgresql"

    def __init__(self, url: str, *, failure: str) -> None:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error:
            raise ValueError("the PostgreSQL store URL is malformed") from None
        if params.get("connect_timeout") is None:
            url = make_conninfo(url, connect_timeout=PG_CONNECT_TIMEOUT_S)
        self._conninfo = url
        self._conn: _PgConnection | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.run(lambda sql: sql.execute("SELECT 1").fetchone(), failure=failure)

    def _connect(self) -> _PgConnection:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.execute(f"SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS}")
        return conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run(self, work: Callable[[Sql], _T], *, write: bool = False, failure: str) -> _T:
        with self._lock:
            if self._closed:
                raise _closed()
            while True:
                reused = self._conn is not None and not self._conn.closed
                try:
                    if not reused:
                        self._discard()
                        self._conn = self._connect()
                    conn = cast(_PgConnection, self._conn)
                    with conn.transaction(), conn.cursor() as cur:
                        return work(_PostgresSql(cur))
                except psycopg.OperationalError as exc:
                    lost = reused and self._conn is not None and self._conn.broken
                    self._discard()
                    # A connection that went stale fails at its first statement, before anything
                    # commits (and feedback written twice is counted once): run again, once, on
                    # a new one. A statement cut by the timeout is not run again.
                    if not lost:
                        raise unavailable(exc, failure) from exc
                except psycopg.Error as exc:
                    raise unavailable(exc, failure) from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._discard()
