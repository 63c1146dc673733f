"""Soak: a mixed load on the gunicorn-served service, a SIGKILL of the whole server mid-run.

Run: ``python -m bench.soak [--minutes 10 --clients 8 --database-url URL]``.

``--clients`` threads (keep-alive ``http.client`` connections to 127.0.0.1) send, for a bounded
time, a cycle of: patient-view (myeloma on lenalidomide + dexamethasone; low-risk calf vein
thrombosis), order-sign with a draft (an IVC filter), and three bad requests (malformed JSON, a
request for another hook, an unknown service). Every hook call carries a new ``hookInstance``, so
its cards have new uuids; for every card received, the client at once POSTs one feedback entry
(accepted with the first suggestion, or overridden with the first coded reason, alternately) with
an ``outcomeTimestamp`` no other entry of the run has, so each is a new row. A feedback answered
``200 {"recorded": 1}`` is *acknowledged* and its key (service, card uuid, outcome, instant) kept.

At ``--kill-at`` (half) of the run the gunicorn master and its workers are SIGKILLed together
(gunicorn runs in a session of its own, so ``os.killpg`` reaches exactly them), then the service is
started again on the same port and database and the load goes on. Requests in flight at the kill
or sent while the port is closed fail with connection errors: they are counted apart (not 5xx, not
acknowledged). At the end the feedback table is read directly: every acknowledged key must be in
it (``lost`` must be 0); rows written but never acknowledged (in flight at the kill) are "extra".

Worker VmRSS (/proc) is sampled every ``--sample-every`` seconds, before the kill and after the
restart separately. The pass criteria (no 5xx, bad requests all 4xx, no acknowledged row lost, no
connection error outside the kill, cards again after the restart) are printed and set the exit
status. Traffic goes only to 127.0.0.1; every server started is killed (its whole process group)
when the run ends, on an error too.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import http.client
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.serving import LOOPBACK, ROOT, children, free_port, print_table, rss_kib, service_env
from tests.cds_service.scenarios import (
    cmvt_low_risk,
    ivc_filter_order_for_cmvt,
    myeloma_on_lenalidomide_dexamethasone,
)

READY_TIMEOUT = 60.0  # seconds for a (re)started server to answer /healthz
STOP_TIMEOUT = 10.0  # seconds between SIGINT and SIGKILL of the group at the end
GONE_TIMEOUT = 10.0  # seconds for a killed group to disappear
REQUEST_TIMEOUT = 15.0  # socket timeout of one request
ERROR_PAUSE = 0.05  # a client's pause after a connection error (the port may be closed)
MAX_REQUESTS_PER_CLIENT = 2_000_000  # a count bound besides the time bound
OUTCOME_BASE = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)

HOOK_KINDS = ("pv-myeloma", "pv-cmvt", "order-sign")
BAD_KINDS = ("bad-json", "wrong-hook", "unknown-service")
KINDS = (*HOOK_KINDS, "feedback", *BAD_KINDS)
CYCLE = ("pv-myeloma", "pv-cmvt", "order-sign", "bad-json", "pv-myeloma", "wrong-hook",
         "pv-cmvt", "unknown-service", "order-sign")
CONN_ERROR = 0  # the status recorded for a request that got no HTTP answer

FeedbackKey = tuple[str, str, str, dt.datetime]  # service id, card uuid, outcome, instant (UTC)


# --- the server ------------------------------------------------------------------------------


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


class KillableService:
    """``python -m cds_service.cli serve`` (gunicorn) on a fixed 127.0.0.1 port, in a session of
    its own: ``kill()`` SIGKILLs master and workers at once, ``start()`` again reuses the port."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, *, workers: int = 2,
                 threads: int = 4) -> None:
        self.port, self.env, self.log_path = port, env, log_path
        self.workers, self.threads = workers, threads
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgids: list[int] = []  # every group ever started, to check none is left
        atexit.register(self.stop)

    def start(self) -> float:
        """Spawn and wait (bounded) for /healthz and all workers; the seconds it took."""
        if self.proc is not None:
            raise RuntimeError("already running")
        command = [sys.executable, "-m", "cds_service.cli", "serve", "--host", LOOPBACK,
                   "--port", str(self.port), "--workers", str(self.workers),
                   "--threads", str(self.threads)]
        spawned = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.pgids.append(self.proc.pid)
        deadline = spawned + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2.0)
                try:
                    conn.request("GET", "/healthz")
                    response = conn.getresponse()
                    response.read()
                finally:
                    conn.close()
                if response.status == 200:
                    while len(self.worker_pids()) < self.workers and \
                            time.monotonic() < deadline:
                        time.sleep(0.05)
                    return time.monotonic() - spawned
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"the service did not answer /healthz within {READY_TIMEOUT:g} s on "
                           f"port {self.port}:\n{tail}")

    def worker_pids(self) -> list[int]:
        proc = self.proc
        return children(proc.pid) if proc is not None else []

    def kill(self) -> None:
        """SIGKILL the master and its workers together; wait (bounded) until they are gone."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(GONE_TIMEOUT)
        deadline = time.monotonic() + GONE_TIMEOUT
        while group_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if group_pids(proc.pid):
            raise RuntimeError(f"process group {proc.pid} survived SIGKILL")

    def stop(self) -> None:
        """End the server: SIGINT (gunicorn's quick shutdown), SIGKILL of its group after a
        bound, and a last SIGKILL of every group this object started (no orphan worker)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(GONE_TIMEOUT)
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + GONE_TIMEOUT
        while any(group_pids(g) for g in self.pgids) and time.monotonic() < deadline:
            time.sleep(0.02)
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text("utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"


# --- the load --------------------------------------------------------------------------------


def _with_instance(body: dict[str, Any]) -> bytes:
    body["hookInstance"] = str(uuid.uuid4())
    return json.dumps(body).encode()


def _hook_body(kind: str) -> tuple[str, bytes]:
    """(path, body) of a request of ``kind``, with a new hookInstance."""
    if kind == "pv-myeloma":
        return "/cds-services/vte-patient-view", _with_instance(
            myeloma_on_lenalidomide_dexamethasone())
    if kind == "pv-cmvt":
        return "/cds-services/vte-patient-view", _with_instance(cmvt_low_risk())
    if kind == "order-sign":
        return "/cds-services/vte-order-sign", _with_instance(ivc_filter_order_for_cmvt())
    if kind == "bad-json":
        return "/cds-services/vte-patient-view", b'{"hook": "patient-view", "context": {,'
    if kind == "wrong-hook":  # an order-sign request to the patient-view service
        return "/cds-services/vte-patient-view", _with_instance(ivc_filter_order_for_cmvt())
    if kind == "unknown-service":
        return "/cds-services/vte-no-such-service", _with_instance(
            myeloma_on_lenalidomide_dexamethasone())
    raise ValueError(kind)


def expected_status(kind: str) -> int:
    return {"bad-json": 400, "wrong-hook": 400, "unknown-service": 404}.get(kind, 200)


@dataclass
class Stats:
    """What the clients saw; every method is called under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # phase, kind, st
    errors: Counter[str] = field(default_factory=Counter)  # connection error classes
    conn_errors: list[tuple[str, float, float]] = field(default_factory=list)  # kind, start, end
    acked: set[FeedbackKey] = field(default_factory=set)
    attempted: set[FeedbackKey] = field(default_factory=set)
    not_one: int = 0  # feedback answered 200 with something other than {"recorded": 1}
    cardless: Counter[str] = field(default_factory=Counter)  # phase: patient-view 200, no card
    cards_after_restart: int = 0
    bad_bodies: int = 0  # a 2xx whose body is not the JSON its route promises
    client_failures: list[str] = field(default_factory=list)


class Load:
    """The client threads and the timeline they share with the controller."""

    def __init__(self, port: int, clients: int, deadline: float) -> None:
        self.port, self.clients, self.deadline = port, clients, deadline
        self.stats = Stats()
        self.stop = threading.Event()
        self.kill_time = float("inf")  # monotonic time of the SIGKILL
        self.ready_time = float("inf")  # monotonic time the restarted server was ready
        self._outcomes = itertools.count()
        self.threads = [threading.Thread(target=self._client, args=(i,), name=f"soak-{i}",
                                         daemon=True) for i in range(clients)]

    def phase(self, started: float) -> str:
        return "before" if started < self.kill_time else "after"

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"client threads still running after {timeout:g} s: {alive}")

    def _running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def _client(self, index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            for n in range(MAX_REQUESTS_PER_CLIENT):
                if not self._running():
                    break
                kind = CYCLE[(index + n) % len(CYCLE)]
                path, body = _hook_body(kind)
                conn, status, answer = self._send(conn, kind, path, body)
                if status == 200 and kind in HOOK_KINDS:
                    conn = self._after_cards(conn, kind, path, answer)
        except Exception as exc:  # reported in the result, never swallowed
            with self.stats.lock:
                self.stats.client_failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            if conn is not None:
                conn.close()

    def _send(self, conn: http.client.HTTPConnection | None, kind: str, path: str,
              body: bytes) -> tuple[http.client.HTTPConnection | None, int, Any]:
        """POST on the keep-alive connection (a new one when needed); records the status."""
        started = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=REQUEST_TIMEOUT)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            ended = time.monotonic()
            if conn is not None:
                conn.close()
            with self.stats.lock:
                self.stats.statuses[(self.phase(started), kind, CONN_ERROR)] += 1
                self.stats.errors[type(exc).__name__] += 1
                self.stats.conn_errors.append((kind, started, ended))
            time.sleep(ERROR_PAUSE)
            return None, CONN_ERROR, None
        answer: Any = None
        with contextlib.suppress(ValueError):
            answer = json.loads(raw) if raw.strip() else None
        with self.stats.lock:
            self.stats.statuses[(self.phase(started), kind, status)] += 1
        return conn, status, answer

    def _after_cards(self, conn: http.client.HTTPConnection | None, kind: str, path: str,
                     answer: Any) -> http.client.HTTPConnection | None:
        """Check the hook answer; feedback for each card just received."""
        cards = answer.get("cards") if isinstance(answer, dict) else None
        if not isinstance(cards, list):
            with self.stats.lock:
                self.stats.bad_bodies += 1
            return conn
        phase = self.phase(time.monotonic())
        with self.stats.lock:
            if not cards and kind != "pv-cmvt":
                self.stats.cardless[phase] += 1
            if cards and time.monotonic() > self.ready_time:
                self.stats.cards_after_restart += 1
        service = path.rsplit("/", 1)[1]
        for card in cards:
            if not self._running():
                break
            conn = self._feedback(conn, service, card)
        return conn

    def _feedback(self, conn: http.client.HTTPConnection | None, service: str,
                  card: dict[str, Any]) -> http.client.HTTPConnection | None:
        n = next(self._outcomes)
        when = OUTCOME_BASE + dt.timedelta(microseconds=n * 1000 + 1)  # unique per entry
        entry: dict[str, Any] = {"card": card["uuid"],
                                 "outcomeTimestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        suggestions, reasons = card.get("suggestions") or [], card.get("overrideReasons") or []
        if n % 2 == 0 or not reasons:
            entry["outcome"] = "accepted"
            if suggestions:
                entry["acceptedSuggestions"] = [{"id": suggestions[0]["uuid"]}]
        else:
            entry["outcome"] = "overridden"
            entry["overrideReason"] = {"reason": reasons[0], "userComment": "soak"}
        key: FeedbackKey = (service, str(card["uuid"]).lower(), entry["outcome"], when)
        with self.stats.lock:
            self.stats.attempted.add(key)
        body = json.dumps({"feedback": [entry]}).encode()
        conn, status, answer = self._send(conn, "feedback", f"/cds-services/{service}/feedback",
                                          body)
        if status == 200:
            with self.stats.lock:
                # the answer also says whether a "not now" snoozed the card kind
                if isinstance(answer, dict) and answer.get("recorded") == 1:
                    self.stats.acked.add(key)
                else:
                    self.stats.not_one += 1
        return conn


# --- memory ----------------------------------------------------------------------------------


class RssSampler:
    """Every ``every`` seconds, VmRSS of the current server's workers, tagged with the phase."""

    def __init__(self, server: KillableService, load: Load, every: float) -> None:
        self.server, self.load, self.every = server, load, every
        self.samples: list[tuple[str, float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.every + 5)

    def sample(self) -> None:
        now = time.monotonic()
        if self.load.kill_time <= now < self.load.ready_time:
            return  # between the kill and the restarted server's readiness
        kib = {}
        for pid in self.server.worker_pids():
            with contextlib.suppress(OSError, RuntimeError):
                kib[pid] = rss_kib(pid)
        if len(kib) == self.server.workers:
            self.samples.append((self.load.phase(now), now, kib))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()


def rss_by_phase(samples: list[tuple[str, float, dict[int, int]]]) -> dict[str, dict[str, Any]]:
    """Per phase: workers' total VmRSS (MB) first / at mid-phase / last, and the samples."""
    out: dict[str, dict[str, Any]] = {}
    for phase in ("before", "after"):
        mine = [(t, sum(k.values()) / 1024, k) for p, t, k in samples if p == phase]
        if not mine:
            continue
        first, last = mine[0], mine[-1]
        mid_t = (first[0] + last[0]) / 2
        middle = min(mine, key=lambda s: abs(s[0] - mid_t))
        per_worker = {pid: (first[2][pid] / 1024, last[2].get(pid, 0) / 1024)
                      for pid in first[2]}
        out[phase] = {"start_mb": first[1], "mid_mb": middle[1], "end_mb": last[1],
                      "growth_mb": last[1] - first[1],
                      "second_half_growth_mb": last[1] - middle[1],
                      "seconds": last[0] - first[0], "samples": len(mine),
                      "per_worker_mb": per_worker}
    return out


# --- the database ----------------------------------------------------------------------------


def stored_feedback(database_url: str) -> set[FeedbackKey]:
    """Every (service, card uuid, outcome, instant) in the feedback table, read directly."""
    sql = "SELECT service_id, card_uuid, outcome, outcome_at FROM cds_feedback"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute(sql).fetchall()
        finally:
            conn.close()
        return {(s, str(c).lower(), o, dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
                 .replace(tzinfo=dt.UTC)) for s, c, o, t in rows}
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as pg:
        rows = pg.execute(sql).fetchall()
    return {(s, str(c).lower(), o, t.astimezone(dt.UTC)) for s, c, o, t in rows}


# --- the run ---------------------------------------------------------------------------------


@dataclass
class SoakResult:
    seconds: float
    clients: int
    database: str
    statuses: Counter[tuple[str, str, int]]
    errors: Counter[str]
    conn_errors_at_kill: int
    conn_errors_elsewhere: int
    acknowledged: int
    attempted: int
    found: int  # acknowledged rows found in the table
    lost: list[FeedbackKey]
    extra: int  # rows of this run in the table that were never acknowledged
    not_one: int
    cardless: Counter[str]
    bad_bodies: int
    cards_after_restart: int
    probe_after_restart: int  # cards in the controller's own patient-view after the restart
    startup_seconds: tuple[float, float]
    outage_seconds: float
    rss: dict[str, dict[str, Any]]
    pgids: list[int]
    client_failures: list[str]

    def count(self, *, kinds: tuple[str, ...] = KINDS,
              where: Callable[[int], bool] = lambda s: True) -> int:
        return sum(n for (_, kind, status), n in self.statuses.items()
                   if kind in kinds and where(status))

    @property
    def server_errors(self) -> int:
        return self.count(where=lambda s: s >= 500)

    @property
    def bad_not_4xx(self) -> int:
        return self.count(kinds=BAD_KINDS, where=lambda s: s != CONN_ERROR and not 400 <= s < 500)

    @property
    def unexpected(self) -> int:
        """Answers (not connection errors) whose status is not the one the kind expects."""
        return sum(n for (_, kind, status), n in self.statuses.items()
                   if status != CONN_ERROR and status != expected_status(kind))

    def failures(self) -> list[str]:
        problems = []
        if self.server_errors:
            problems.append(f"{self.server_errors} answers were 5xx")
        if self.bad_not_4xx:
            problems.append(f"{self.bad_not_4xx} bad requests were not answered 4xx")
        if self.lost:
            problems.append(f"{len(self.lost)} acknowledged feedback rows are not in the table")
        if self.conn_errors_elsewhere:
            problems.append(f"{self.conn_errors_elsewhere} connection errors outside the kill")
        if self.probe_after_restart < 1 or self.cards_after_restart < 1:
            problems.append("no card after the restart")
        if self.not_one:
            problems.append(f"{self.not_one} feedback answers were 200 but not {{recorded: 1}}")
        if self.bad_bodies or sum(self.cardless.values()):
            problems.append(f"{self.bad_bodies} hook answers without a cards list, "
                            f"{sum(self.cardless.values())} without the expected card")
        if self.client_failures:
            problems.append(f"client threads failed: {self.client_failures[:3]}")
        return problems


def run_soak(database_url: str, seconds: float, *, clients: int = 8, kill_at: float = 0.5,
             workers: int = 2, threads: int = 4, sample_every: float = 1.0,
             workdir: Path | None = None, port: int | None = None) -> SoakResult:
    """The whole soak: start, load, SIGKILL the group at ``kill_at`` x ``seconds``, restart on
    the same port and database, load to the end, stop, read the table. Every server process is
    gone when this returns or raises."""
    if not 0 < seconds <= 7200 or not 1 <= clients <= 64 or not 0.1 <= kill_at <= 0.9:
        raise ValueError("need 0 < seconds <= 7200, 1 <= clients <= 64, 0.1 <= kill_at <= 0.9")
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        env = service_env(workdir)
        env["VTE_CDS_DATABASE_URL"] = database_url
        server = KillableService(port or free_port(), env, workdir / "gunicorn-soak.log",
                                 workers=workers, threads=threads)
        cleanup.callback(server.stop)
        first_start = server.start()
        began = time.monotonic()
        load = Load(server.port, clients, began + seconds)
        cleanup.callback(load.join, REQUEST_TIMEOUT + 10)  # also sets load.stop
        sampler = RssSampler(server, load, sample_every)
        cleanup.callback(sampler.stop)
        sampler.sample()
        load.start()
        sampler.start()
        time.sleep(max(0.0, began + seconds * kill_at - time.monotonic()))
        load.kill_time = time.monotonic()
        server.kill()
        restart = server.start()
        load.ready_time = time.monotonic()
        sampler.sample()  # the restarted workers, as early as possible
        probe = _probe_cards(server.port)
        time.sleep(max(0.0, load.deadline - time.monotonic()))
        load.join(REQUEST_TIMEOUT + 10)
        elapsed = time.monotonic() - began
        sampler.sample()
        sampler.stop()
        server.stop()
        stored = stored_feedback(database_url)  # before the work folder (maybe the db) goes
    stats = load.stats
    at_kill = sum(1 for _, s, e in stats.conn_errors
                  if s <= load.ready_time and e >= load.kill_time)
    return SoakResult(
        seconds=elapsed, clients=clients, database=database_url.split(":", 1)[0],
        statuses=stats.statuses, errors=stats.errors, conn_errors_at_kill=at_kill,
        conn_errors_elsewhere=len(stats.conn_errors) - at_kill,
        acknowledged=len(stats.acked), attempted=len(stats.attempted),
        found=len(stats.acked & stored), lost=sorted(stats.acked - stored),
        extra=len((stats.attempted & stored) - stats.acked), not_one=stats.not_one,
        cardless=stats.cardless, bad_bodies=stats.bad_bodies,
        cards_after_restart=stats.cards_after_restart, probe_after_restart=probe,
        startup_seconds=(first_start, restart), outage_seconds=load.ready_time - load.kill_time,
        rss=rss_by_phase(sampler.samples), pgids=list(server.pgids),
        client_failures=stats.client_failures)


def _probe_cards(port: int) -> int:
    """The controller's own patient-view right after the restart: how many cards came back."""
    _, body = _hook_body("pv-myeloma")
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("POST", "/cds-services/vte-patient-view", body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    if response.status != 200:
        return 0
    cards = json.loads(raw).get("cards")
    return len(cards) if isinstance(cards, list) else 0


# --- the report ------------------------------------------------------------------------------


def report(res: SoakResult) -> None:
    statuses = sorted({s for (_, _, s) in res.statuses})
    heads = [("conn err" if s == CONN_ERROR else str(s)) for s in statuses]
    rows = []
    for phase in ("before", "after"):
        for kind in KINDS:
            counts = [res.statuses.get((phase, kind, s), 0) for s in statuses]
            if any(counts):
                rows.append([f"{phase} kill: {kind} (expect {expected_status(kind)})",
                             *counts, sum(counts)])
    totals = [sum(n for (_, _, st), n in res.statuses.items() if st == s) for s in statuses]
    rows.append(["all", *totals, sum(totals)])
    total = sum(totals)
    print_table(
        f"soak: {res.clients} clients, {res.seconds:.0f} s, {res.database}, "
        f"{total / res.seconds:.0f} req/s; SIGKILL of master + workers at mid-run",
        ["requests by kind", *heads, "total"], rows,
        [f"5xx: {res.server_errors} (must be 0); bad requests not 4xx: {res.bad_not_4xx} "
         f"(must be 0); other unexpected statuses: {res.unexpected - res.server_errors}",
         f"connection errors: {res.conn_errors_at_kill} at the kill (in flight or during the "
         f"{res.outage_seconds:.1f} s outage), {res.conn_errors_elsewhere} elsewhere (must be "
         f"0); by class: {dict(res.errors)}",
         f"start-up {res.startup_seconds[0]:.1f} s, restart {res.startup_seconds[1]:.1f} s; "
         f"cards after the restart: probe {res.probe_after_restart}, clients "
         f"{res.cards_after_restart}"])
    print_table(
        "feedback: acknowledged (200 {recorded: 1}) vs rows in the table after the SIGKILL",
        ["feedback", "rows"],
        [["sent (each a new key)", res.attempted], ["acknowledged", res.acknowledged],
         ["acknowledged and found in the table", res.found],
         ["acknowledged and LOST (must be 0)", len(res.lost)],
         ["in the table, never acknowledged (in flight at the kill)", res.extra]],
        [f"lost keys (first 5): {res.lost[:5]}"] if res.lost else [])
    rows = []
    for phase, label in (("before", "before the kill"), ("after", "after the restart")):
        r = res.rss.get(phase)
        if r is None:
            rows.append([label, "-", "-", "-", "-", "-", 0])
            continue
        rows.append([label, f"{r['start_mb']:.1f}", f"{r['mid_mb']:.1f}", f"{r['end_mb']:.1f}",
                     f"{r['growth_mb']:+.1f}", f"{r['second_half_growth_mb']:+.1f}",
                     r["samples"]])
    print_table("memory: VmRSS of the gunicorn workers (sum), per phase",
                ["phase", "start MB", "mid MB", "end MB", "growth MB", "2nd half MB",
                 "samples"], rows,
                ["per worker (start -> end MB): " + "; ".join(
                    f"{phase}: " + ", ".join(f"{a:.1f}->{b:.1f}"
                                             for a, b in r["per_worker_mb"].values())
                    for phase, r in res.rss.items()),
                 "start = the first sample with every worker up (before the load, and right "
                 "after the restart while the clients reconnect); growth over a phase includes "
                 "the assessment cache (1,000 entries per worker) filling, so the 2nd half "
                 "(mid -> end) is the drift to read"])
    problems = res.failures()
    print("\nRESULT: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="fraction of the run at which gunicorn is SIGKILLed (0.5)")
    parser.add_argument("--database-url", default="",
                        help="feedback store (default: a SQLite file in a temporary folder); "
                             "a postgresql:// URL must be on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sample-every", type=float, default=2.0, help="RSS sampling, seconds")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= 120:
        parser.error("--minutes must be in (0, 120]")
    if not 0.1 <= args.kill_at <= 0.9 or not 1 <= args.clients <= 64:
        parser.error("need --kill-at in [0.1, 0.9] and --clients in [1, 64]")
    if not 0.1 <= args.sample_every <= 60:
        parser.error("--sample-every must be in [0.1, 60]")
    with tempfile.TemporaryDirectory(prefix="soak-main-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/feedback.db"
        result = run_soak(url, args.minutes * 60, clients=args.clients, kill_at=args.kill_at,
                          workers=args.workers, threads=args.threads,
                          sample_every=args.sample_every, workdir=Path(tmp))
    report(result)
    return 1 if result.failures() else 0


if __name__ == "__main__":
    raise SystemExit(main())
