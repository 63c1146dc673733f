"""A PostgreSQL that freezes, or a feedback table held locked, against the store and against the
service as deployed (``vte-cds serve`` under gunicorn on 127.0.0.1):

- every store call ends within ``STORE_DEADLINE_S``, answered or ``StoreUnavailable`` (503), even
  when the server is frozen (a stopped process: its kernel acknowledges every packet, so neither
  TCP timeouts nor the server's ``statement_timeout`` ever fire), and callers behind a stuck call
  give up within ``STALL_S`` instead of queueing;
- feedback to a frozen store is a 503 within the bound, and recorded again once it answers;
- hook calls keep their threads while feedback waits on a locked table.

The frozen server is a TCP proxy on 127.0.0.1 in front of the test PostgreSQL that stops
forwarding (and reading) when told, like ``kill -STOP``, without touching the shared server.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from urllib.parse import urlsplit

import pytest

from cds_service.errors import StoreUnavailable
from cds_service.storage.database import STALL_S, STORE_DEADLINE_S, open_database
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    pg_admin,
    pg_schema,
    pg_url,
)
from tests.reliability.served import call, service

SLACK = 1.5
TABLE = "cds_feedback"


class FreezingProxy:
    """127.0.0.1:<port> forwarding to PostgreSQL until `freeze`, then holding every connection
    open without moving a byte, until `thaw`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.moving = threading.Event()
        self.moving.set()
        self.stopping = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def freeze(self) -> None:
        self.moving.clear()

    def thaw(self) -> None:
        self.moving.set()

    def __enter__(self) -> FreezingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.moving.set()
        for sock in list(self._sockets):
            sock.close()
        self._server.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.1)
        try:
            while not self.stopping.is_set():
                if not self.moving.is_set():
                    self.moving.wait(0.1)  # frozen: nothing read, nothing sent
                    continue
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            return
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def through(proxy: FreezingProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else \
        f"127.0.0.1:{proxy.port}"
    return parts._replace(netloc=netloc).geturl()


@pytest.fixture
def proxy(pg_url):  # noqa: F811
    parts = urlsplit(pg_url)
    with FreezingProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as running:
        yield running


def timed(fn) -> tuple[float, Exception | None]:
    began = time.monotonic()
    try:
        fn()
    except Exception as exc:
        return time.monotonic() - began, exc
    return time.monotonic() - began, None


def in_threads(fn, count: int, wait: float) -> list:
    """``fn()`` in ``count`` daemon threads at once; what each returned within ``wait``
    seconds (a call still stuck then is missing: the test fails instead of hanging)."""
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(fn()), daemon=True)
               for _ in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + wait
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return results


def test_a_frozen_postgresql_fails_every_call_within_the_deadline(proxy, pg_url):  # noqa: F811
    db = open_database(through(proxy, pg_url), failure="the test could not write")
    db.run(lambda sql: sql.execute("SELECT 1").fetchone(), failure="warm")
    proxy.freeze()

    def select(failure: str):
        return lambda: timed(lambda: db.run(lambda sql: sql.execute("SELECT 1").fetchone(),
                                            failure=failure))

    first: list = []
    stuck = threading.Thread(target=lambda: first.append(select("the test could not read")()),
                             daemon=True)
    stuck.start()
    time.sleep(STALL_S + 0.2)
    behind = in_threads(select("behind"), 6, wait=2.0)
    stuck.join(STORE_DEADLINE_S + SLACK)
    assert first, "the call to the frozen server did not return within the deadline"
    elapsed, error = first[0]
    assert isinstance(error, StoreUnavailable)
    assert str(error) == "the test could not read"
    assert elapsed < STORE_DEADLINE_S + SLACK
    assert len(behind) == 6, "calls queued behind the stuck one"
    for elapsed, error in behind:
        assert isinstance(error, StoreUnavailable)
        assert elapsed < 0.2
    proxy.thaw()
    assert db.run(lambda sql: sql.execute("SELECT 2").fetchone(), failure="after")[0] == 2
    db.close()


def feedback_body() -> dict:
    return {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                          "outcomeTimestamp": "2026-11-27T09:30:00Z"}]}


def post_feedback(port: int):
    return call(port, "POST", "/cds-services/vte-patient-view/feedback", feedback_body(),
                timeout=STORE_DEADLINE_S + 10)


def test_feedback_to_a_frozen_store_is_503_within_the_bound_then_recorded_again(
        proxy, pg_url):  # noqa: F811
    with service(DATABASE_URL=through(proxy, pg_url)) as served:
        assert post_feedback(served.port).status == 200
        proxy.freeze()
        answers = in_threads(lambda: post_feedback(served.port), 16,
                             wait=STORE_DEADLINE_S + 12)
        proxy.thaw()
        assert len(answers) == 16
        for answer in answers:
            assert answer.status == 503, answer.text
            assert answer.json()["error"] == "store_unavailable"
            assert answer.seconds < STORE_DEADLINE_S + SLACK
        deadline = time.monotonic() + 10
        while (answer := post_feedback(served.port)).status != 200 and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer.status == 200
        assert answer.json()["recorded"] == 1


def test_hooks_keep_their_threads_while_feedback_waits_on_a_locked_table(
        pg_url, pg_admin, pg_schema):  # noqa: F811
    """The feedback table is held locked for longer than the deadline; 16 feedback calls wait on
    it at once (more than the service's 8 threads), and hook calls meanwhile are answered."""
    hook = json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()
    with service(DATABASE_URL=pg_url) as served:
        assert post_feedback(served.port).status == 200  # the table exists
        with pg_admin.transaction():
            pg_admin.execute(f"LOCK TABLE {pg_schema}.{TABLE} IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(16) as pool:
                waiting = [pool.submit(post_feedback, served.port) for _ in range(16)]
                time.sleep(0.3)
                hooks = [call(served.port, "POST", "/cds-services/vte-patient-view", hook)
                         for _ in range(10)]
                answers = [f.result() for f in waiting]
            time.sleep(0.1)
        assert [h.status for h in hooks] == [200] * 10
        assert max(h.seconds for h in hooks) < STALL_S + 1.0, [h.seconds for h in hooks]
        for answer in answers:
            assert answer.status == 503, answer.text
            assert answer.seconds < STORE_DEADLINE_S + SLACK
        assert post_feedback(served.port).status == 200
