"""HAProxy in front of several ``vte-cds serve`` instances on 127.0.0.1, and traffic through it.

Used by tests/reliability/test_balancer.py and ``python -m bench.balanced``.

``find_haproxy()`` finds the binary of the Debian package ``haproxy`` (``bin/test`` installs it
when run as root; ``install=True`` does the same for a benchmark). ``HAProxy(port, servers)``
writes a configuration for loopback and runs haproxy in the foreground (``-db``) as a child of
this process: round robin over the servers; a health check ``GET /readyz`` every ``check_ms``
(a server leaves the rotation after ``fall`` failed checks and comes back after ``rise``; a check
may take 2 s, so that an instance slowed by load is not taken for a dead one); a
request whose connection to a server cannot be made is sent to another (``retry-on
conn-failure``, ``option redispatch``), so only requests already sent to an instance that dies
can fail, and those are never retried (a hook call's token must not be used twice). Every answer
carries ``X-Served-By: <server name>``. ``state()`` reads the servers' status and request counts
from haproxy's stats socket.

``start_instances(ports, env)`` starts ``vte-cds serve`` instances (``bench.soak.KillableService``,
each in a session of its own, so one can be SIGKILLed whole) in parallel. ``Traffic`` is closed
loop client threads through the balancer: a patient-view call (myeloma, complete prefetch, a new
``hookInstance``), then feedback for its first card with an ``outcomeTimestamp`` of its own; every
answer is kept with its start, end, status and server, and every feedback answered 200 with
``"recorded": 1`` is *acknowledged* and its key kept, to be found in the table afterwards
(``bench.soak.stored_feedback``).

Only 127.0.0.1 is contacted. ``stop()`` ends haproxy (SIGTERM, then SIGKILL after a bound) and is
also registered at exit; the instances stop as ``KillableService`` does.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import csv
import datetime as dt
import http.client
import io
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.serving import LOOPBACK, _detach, free_port
from bench.soak import OUTCOME_BASE, FeedbackKey, KillableService
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

HAPROXY_PACKAGE = "haproxy"
READY_TIMEOUT = 20.0  # seconds for haproxy to listen and see every server UP
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
REQUEST_TIMEOUT = 15.0  # socket timeout of one request through the balancer
ERROR_PAUSE = 0.02  # a client's pause after a failed request
SERVED_BY = "X-Served-By"
HOOK_PATH = "/cds-services/vte-patient-view"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"
NO_ANSWER = 0  # the status recorded for a request that got no HTTP answer

Headers = Callable[[str], dict[str, str]]  # request path -> extra headers (a bearer token)


def find_haproxy(install: bool = False) -> str | None:
    """Path of haproxy (also looked for in /usr/sbin, which a user's PATH may lack); with
    ``install``, running as root with apt-get, the Debian package is installed when missing."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("haproxy not found: apt-get install -y haproxy (root)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "install", "-y", "-q", HAPROXY_PACKAGE], ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", HAPROXY_PACKAGE]):
        try:
            done = subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            break
        if step[1] == "install" and done.returncode == 0:
            break
    return find_haproxy(install=False)


def haproxy_config(port: int, servers: Sequence[tuple[str, int]], stats_socket: Path, *,
                   check_ms: int = 500, fall: int = 2, rise: int = 1) -> str:
    """The configuration: ``port`` on 127.0.0.1 in front of ``servers`` (name, port)."""
    lines = [
        "global",
        "    maxconn 2048",
        f"    stats socket {stats_socket} mode 600 level admin",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-keep-alive 10s",
        # A check answered late by a busy instance is not a failure: only a refused or dead
        # connection (what a killed instance gives at once) or a 503 takes it out.
        "    timeout check 2s",
        "    retries 2",
        "    retry-on conn-failure",
        "    option redispatch 1",
        "",
        "frontend vte_cds",
        f"    bind {LOOPBACK}:{port}",
        "    default_backend instances",
        "",
        "backend instances",
        "    balance roundrobin",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        f"    default-server inter {check_ms}ms fastinter {check_ms}ms downinter {check_ms}ms "
        f"fall {fall} rise {rise}",
        f"    http-response set-header {SERVED_BY} %[srv_name]",
        *(f"    server {name} {LOOPBACK}:{server_port} check" for name, server_port in servers),
        "",
    ]
    return "\n".join(lines)


class HAProxy:
    """haproxy on 127.0.0.1:``port`` (a free one when 0) in front of ``servers`` (name, port)."""

    def __init__(self, binary: str, servers: Sequence[tuple[str, int]], *, port: int = 0,
                 check_ms: int = 500, fall: int = 2, rise: int = 1) -> None:
        self.binary, self.servers = binary, list(servers)
        self.port = port or free_port()
        # A short path of its own: a unix socket path must fit in 108 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="vte-haproxy-"))
        self.socket_path = self.workdir / "stats.sock"
        self.config_path = self.workdir / "haproxy.cfg"
        self.log_path = self.workdir / "haproxy.log"
        self.config_path.write_text(haproxy_config(self.port, self.servers, self.socket_path,
                                                   check_ms=check_ms, fall=fall, rise=rise))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def check_config(self) -> None:
        done = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config_path)],
                              capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {done.stderr[-800:]}")

    def start(self) -> HAProxy:
        """Run haproxy; wait (bounded) until it answers on its port and every server is UP."""
        self.check_config()
        atexit.register(self.stop)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_detach)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                states = self.state()
                if states and all(s["status"] == "UP" for s in states.values()):
                    return self
            time.sleep(0.05)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"haproxy did not see every server UP within {READY_TIMEOUT:g} s:\n"
                           f"{tail}")

    def command(self, line: str) -> str:
        """One command on the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5.0)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", errors="replace")

    def state(self) -> dict[str, dict[str, str]]:
        """Server name -> its row of ``show stat`` (``status``: UP, DOWN, ``stot``: requests)."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {row["svname"]: row for row in rows
                if row.get("pxname") == "instances" and row["svname"] != "BACKEND"}

    def wait_down(self, name: str, since: float, timeout: float = 10.0) -> float:
        """Seconds from ``since`` (monotonic) until haproxy reports ``name`` DOWN (polled every
        10 ms; nan when it did not within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, KeyError):
                if self.state()[name]["status"].startswith("DOWN"):
                    return time.monotonic() - since
            time.sleep(0.01)
        return float("nan")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text("utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        atexit.unregister(self.stop)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_instances(ports: Sequence[int], env: dict[str, str], workdir: Path, *,
                    workers: int = 2, threads: int = 4) -> list[KillableService]:
    """``vte-cds serve`` on each port, started in parallel; every one stopped if one fails."""
    instances = [KillableService(port, env, workdir / f"instance-{i}.log", workers=workers,
                                 threads=threads) for i, port in enumerate(ports)]
    with concurrent.futures.ThreadPoolExecutor(len(instances)) as pool:
        started = [pool.submit(instance.start) for instance in instances]
        errors = [f.exception() for f in started]
    if any(errors):
        for instance in instances:
            instance.stop()
        raise RuntimeError(f"an instance did not start: {next(e for e in errors if e)}")
    return instances


# --- traffic through the balancer ------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: str  # "hook" or "feedback"
    started: float  # time.monotonic()
    ended: float
    status: int  # NO_ANSWER when no HTTP answer came
    server: str  # X-Served-By; "" when none


@dataclass
class Traffic:
    """``clients`` threads, each on its own keep-alive connection to 127.0.0.1:``port``: a
    patient-view call, then feedback for its first card; until ``stop()``."""

    port: int
    clients: int
    headers: Headers = lambda _path: {}
    answers: list[Answer] = field(default_factory=list)
    acked: set[FeedbackKey] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._outcomes = itertools.count()
        self._threads = [threading.Thread(target=self._client, name=f"traffic-{i}", daemon=True)
                         for i in range(self.clients)]

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = REQUEST_TIMEOUT + 5) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"client threads still running after {timeout:g} s: {alive}")

    def _client(self) -> None:
        conn: http.client.HTTPConnection | None = None
        try:
            while not self._stop.is_set():
                body = myeloma_on_lenalidomide_dexamethasone()
                body["hookInstance"] = str(uuid.uuid4())
                conn, status, answer = self._post(conn, "hook", HOOK_PATH, body)
                cards = answer.get("cards") if isinstance(answer, dict) else None
                if status == 200 and cards and not self._stop.is_set():
                    conn = self._feedback(conn, cards[0])
                elif status != 200:
                    time.sleep(ERROR_PAUSE)
        except Exception as exc:  # reported with the results, never swallowed
            with self._lock:
                self.failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            if conn is not None:
                conn.close()

    def _feedback(self, conn: http.client.HTTPConnection | None,
                  card: dict[str, Any]) -> http.client.HTTPConnection | None:
        when = OUTCOME_BASE + dt.timedelta(microseconds=next(self._outcomes) * 1000 + 1)
        entry = {"card": card["uuid"], "outcome": "accepted",
                 "outcomeTimestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        conn, status, answer = self._post(conn, "feedback", FEEDBACK_PATH, {"feedback": [entry]})
        if status == 200 and isinstance(answer, dict) and answer.get("recorded") == 1:
            key: FeedbackKey = ("vte-patient-view", str(card["uuid"]).lower(), "accepted", when)
            with self._lock:
                self.acked.add(key)
        return conn

    def _post(self, conn: http.client.HTTPConnection | None, kind: str, path: str,
              doc: Any) -> tuple[http.client.HTTPConnection | None, int, Any]:
        headers = {"Content-Type": "application/json", **self.headers(path)}
        started = time.monotonic()
        status, server, raw = NO_ANSWER, "", b""
        try:
            if conn is None:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=REQUEST_TIMEOUT)
            conn.request("POST", path, body=json.dumps(doc).encode(), headers=headers)
            response = conn.getresponse()
            raw = response.read()
            status, server = response.status, response.headers.get(SERVED_BY, "")
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            conn = None
        with self._lock:
            self.answers.append(Answer(kind, started, time.monotonic(), status, server))
        answer: Any = None
        if status == 200:
            with contextlib.suppress(ValueError):
                answer = json.loads(raw)
        return conn, status, answer


@dataclass(frozen=True)
class RouteAround:
    """What the clients saw when ``killed`` was SIGKILLed at ``at`` (monotonic)."""

    in_flight_failed: int  # requests started before the kill and not answered 200
    failed_after: int  # requests started after the kill and not answered 200
    failed_statuses: dict[int, int]  # the failures by status (NO_ANSWER: no HTTP answer)
    last_failure_s: float  # kill -> end of the last request not answered 200 (0 if none)
    served_by_killed_after: int  # answers from the killed server to requests started after
    answered_after: int  # requests started after the kill and answered 200

    @classmethod
    def of(cls, answers: Sequence[Answer], killed: str, at: float) -> RouteAround:
        failed = [a for a in answers if a.status != 200 and a.ended >= at]
        after = [a for a in answers if a.started >= at]
        return cls(
            in_flight_failed=sum(1 for a in failed if a.started < at),
            failed_after=sum(1 for a in failed if a.started >= at),
            failed_statuses=dict(Counter(a.status for a in failed)),
            last_failure_s=max((a.ended - at for a in failed), default=0.0),
            served_by_killed_after=sum(1 for a in after if a.server == killed),
            answered_after=sum(1 for a in after if a.status == 200))
