"""One connection to the configured database, and the transactions every store runs on it.

``open_database(url)`` opens:

- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (parent folders are created;
  WAL journal, so readers never wait for a writer and several gunicorn workers share the file;
  ``synchronous=FULL`` when ``durable``, so a commit is on disk when the call returns);
- ``postgresql://...`` (psycopg 3; ``connect_timeout`` defaults to 2 s and every statement is cut
  at 5 s; a per-deployment schema is chosen with the libpq ``options=-csearch_path=...``
  parameter).

``Database.run(work, write=..., failure=...)`` runs ``work(sql)`` in one transaction;
``run_statement(query, params, failure=...)`` runs one statement, which is its own transaction: on
SQLite the write lock is then held inside that one call to the library, never while this process
runs Python between statements (where its thread may wait for the interpreter lock behind the
worker's other threads while every other process waits for the database). Queries are
written with ``?`` placeholders on either database. Any database failure becomes
``StoreUnavailable`` (503) carrying ``failure``, the caller's sentence for what could not be done;
the log line names the error type and SQLSTATE only, as database messages can quote row values.
A ``Database`` is thread-safe: one connection, used by one transaction at a time. A PostgreSQL
connection that went stale (server restart, idle cut) is replaced, and the transaction run again
once, on the new one.

Every ``run`` ends within ``STORE_DEADLINE_S`` (6 s), answered or failed as ``StoreUnavailable``:

- a caller waits for the connection while the transaction using it is younger than ``STALL_S``
  (0.5 s), and not at all once it is older: a store that stopped answering costs one request
  thread per process, never all of them (hooks keep their threads while feedback waits);
- PostgreSQL: libpq's ``connect_timeout`` (2 s) and the server's ``statement_timeout`` (5 s)
  bound a slow server; a frozen one (a stopped process, whose kernel still acknowledges every
  packet) enforces neither, so a watchdog shuts the connection's socket down at the deadline,
  the call fails, and the connection is replaced (the transaction is not run again);
- SQLite: the busy timeout (5 s) bounds the wait for another process's write.

``create_tables(db, statements, lock_key, failure)`` runs ``CREATE ... IF NOT EXISTS`` statements
so that several instances starting at once do not trip over each other.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cds_service.errors import StoreUnavailable
from cds_service.instruments import STORE_ERRORS

PG_CONNECT_TIMEOUT_S = 2
PG_STATEMENT_TIMEOUT_MS = 5000
SQLITE_BUSY_TIMEOUT_MS = 5000
STORE_DEADLINE_S = 6.0
STALL_S = 0.5

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
    return _failed(failure, "deadline" if isinstance(exc, _Cut) else "failed")


def _closed() -> StoreUnavailable:
    return _failed("the store is closed", "closed")


def _busy(failure: str) -> StoreUnavailable:
    _log.warning("store unavailable: busy (a transaction has run for over %g s)", STALL_S)
    return _failed(failure, "busy")


def _failed(failure: str, error: str) -> StoreUnavailable:
    """The error a caller sees, counted (``vte_cds_store_errors_total``) by its kind: ``failed``
    (the database refused or could not be reached), ``deadline`` (cut by the watchdog),
    ``busy`` (behind a stuck transaction), ``closed``."""
    STORE_ERRORS.labels(error).inc()
    return StoreUnavailable(failure, reason=error)


class _Gate:
    """One transaction at a time on the one connection. A caller waits for its turn only while
    the transaction before it is young (``STALL_S``) and its own deadline is ahead."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._since: float | None = None

    @contextmanager
    def turn(self, deadline: float, failure: str) -> Iterator[None]:
        with self._cond:
            while self._since is not None:
                now = time.monotonic()
                until = min(self._since + STALL_S, deadline)
                if now >= until:
                    raise _busy(failure)
                self._cond.wait(until - now)
            self._since = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._since = None
                self._cond.notify()


class _Watchdog:
    """Shuts down the socket of a PostgreSQL transaction still running at its deadline.

    One daemon thread per database, armed and disarmed around each transaction (no thread per
    call). Shutting the socket down (not closing it: the descriptor stays libpq's) wakes libpq
    with an end of stream, so the call fails as any lost connection does."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: tuple[float, int] | None = None
        self._cut = False
        self._stopped = False
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, fd: int) -> None:
        with self._cond:
            self._armed, self._cut = (deadline, fd), False
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, daemon=True,
                                                name="store-watchdog")
                self._thread.start()
            self._cond.notify()

    def disarm(self) -> bool:
        """Stop watching; whether the socket was cut."""
        with self._cond:
            self._armed = None
            return self._cut

    def stop(self) -> None:
        with self._cond:
            self._armed, self._stopped = None, True
            self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._armed is None:
                    self._cond.wait()
                    continue
                deadline, fd = self._armed
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                _shut_down(fd)
                self._armed, self._cut = None, True


def _shut_down(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return  # already closed
    with sock, suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Database(ABC):
    dialect: Dialect

    @abstractmethod
    def run(self, work: Callable[[Sql], _T], *, write: bool = False, failure: str) -> _T:
        """``work`` in one transaction; StoreUnavailable(``failure``) if the database fails."""

    def run_statement(self, query: str, params: Sequence[object], *, failure: str) -> int:
        """One statement on its own; how many rows it changed."""
        return self.run(lambda sql: sql.execute(query, params).rowcount, write=True,
                        failure=failure)

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
        self._gate = _Gate()
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
        with self._gate.turn(time.monotonic() + STORE_DEADLINE_S, failure):
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

    def run_statement(self, query: str, params: Sequence[object], *, failure: str) -> int:
        with self._gate.turn(time.monotonic() + STORE_DEADLINE_S, failure):
            conn = self._conn
            if conn is None:
                raise _closed()
            try:
                # autocommit (isolation_level=None): the statement is its own transaction
                return conn.execute(query, tuple(params)).rowcount
            except sqlite3.Error as exc:
                raise unavailable(exc, failure) from exc

    def close(self) -> None:
        try:
            with self._gate.turn(time.monotonic() + STORE_DEADLINE_S, "the store is closing"):
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        except StoreUnavailable:
            pass  # a transaction is stuck: the connection goes with the process


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
        self._gate = _Gate()
        self._watchdog = _Watchdog()
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
        deadline = time.monotonic() + STORE_DEADLINE_S
        with self._gate.turn(deadline, failure):
            if self._closed:
                raise _closed()
            while True:
                reused = self._conn is not None and not self._conn.closed
                try:
                    if not reused:
                        self._discard()
                        self._conn = self._connect()
                    return self._transaction(cast(_PgConnection, self._conn), work, deadline)
                except psycopg.OperationalError as exc:
                    cut = isinstance(exc, _Cut)
                    lost = reused and not cut and self._conn is not None and self._conn.broken
                    self._discard()
                    # A connection that went stale fails at its first statement, before anything
                    # commits (and feedback written twice is counted once): run again, once, on
                    # a new one. A statement cut by the timeout is not run again.
                    if not lost:
                        raise unavailable(exc, failure) from exc
                except psycopg.Error as exc:
                    raise unavailable(exc, failure) from exc

    def _transaction(self, conn: _PgConnection, work: Callable[[Sql], _T],
                     deadline: float) -> _T:
        """``work`` in a transaction, its socket shut down if it runs past ``deadline``."""
        if time.monotonic() >= deadline:
            raise _Cut("no time left for the transaction")
        self._watchdog.arm(deadline, conn.pgconn.socket)
        try:
            with conn.transaction(), conn.cursor() as cur:
                result = work(_PostgresSql(cur))
        except psycopg.OperationalError as exc:
            if self._watchdog.disarm():
                raise _Cut("the transaction ran past the store's deadline") from exc
            raise
        finally:
            self._watchdog.disarm()
        return result

    def close(self) -> None:
        self._closed = True  # a call already waiting for its turn fails
        try:
            with self._gate.turn(time.monotonic() + STORE_DEADLINE_S, "the store is closing"):
                self._discard()
        except StoreUnavailable:
            return  # a transaction is stuck: the watchdog cuts it, the connection goes with it
        self._watchdog.stop()


class _Cut(psycopg.OperationalError):
    """A transaction the watchdog cut off at the deadline (never run again)."""
