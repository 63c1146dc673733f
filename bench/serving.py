"""Shared by the HTTP benchmarks: gunicorn processes on loopback, a tiny HTTP client, tables.

``Gunicorn("service" | "bare", workers=, threads=, env=)`` starts either the real service
(``python -m cds_service.cli serve ...``, i.e. ``vte-cds serve``) or bench/bare_app.py with the
very same gunicorn arguments (``cds_service.cli.gunicorn_argv``: configuration module, worker
class, worker connections, no access log), on a free 127.0.0.1 port, waits (bounded) for
``GET /healthz`` to answer 200 and records how long that took. ``stop()`` ends it (SIGINT, then
SIGKILL to its own process group after a bound), and is called by ``__exit__`` and at
interpreter exit, so no benchmark leaves a server behind. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from cds_service.cli import gunicorn_argv

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
TODAY = "2026-11-27"
READY_TIMEOUT = 60.0  # seconds for /healthz to answer 200
STOP_TIMEOUT = 10.0  # seconds between SIGINT and SIGKILL
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _detach() -> None:
    """In the child before exec: its own session (so its process group holds only it and its
    workers), and SIGINT when the benchmark process dies, even by SIGKILL (Linux prctl)."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(workdir: Path, allowlist: str = "") -> dict[str, str]:
    """The environment of a benchmarked service: auth off, fixed date, a private SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VTE_CDS_")}
    env.update({
        "VTE_CDS_AUTH": "off",
        "VTE_CDS_TODAY": TODAY,
        "VTE_CDS_FHIR_ALLOWLIST": allowlist,
        "VTE_CDS_DATABASE_URL": f"sqlite:///{workdir}/fb.db",
        "NO_PROXY": f"{LOOPBACK},localhost", "no_proxy": f"{LOOPBACK},localhost",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def request(port: int, method: str, path: str, body: bytes | None = None,
            timeout: float = 30.0, conn: http.client.HTTPConnection | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request to 127.0.0.1:port (on ``conn`` when given, kept alive); status and body."""
    own = conn is None
    connection = conn or http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        connection.request(method, path, body=body, headers=hdrs)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def post_json(port: int, path: str, doc: Any, timeout: float = 30.0) -> tuple[int, Any]:
    status, raw = request(port, "POST", path, json.dumps(doc).encode(), timeout)
    return status, json.loads(raw) if raw.strip() else None


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (gunicorn's workers of a master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # the command name may hold spaces: the fields after its closing parenthesis
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Gunicorn:
    """The real service or the bare app under gunicorn on 127.0.0.1 (a context manager)."""

    def __init__(self, app: str, *, workers: int = 2, threads: int = 4,
                 env: dict[str, str] | None = None, workdir: Path | None = None,
                 gunicorn_args: str = "") -> None:
        if app not in ("service", "bare"):
            raise ValueError("app must be 'service' or 'bare'")
        self.app, self.workers, self.threads = app, workers, threads
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix=f"bench-{app}-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.env = dict(env or service_env(self.workdir))
        self.env.pop("GUNICORN_CMD_ARGS", None)
        if gunicorn_args:  # extra gunicorn settings, e.g. "--worker-connections 16"
            self.env["GUNICORN_CMD_ARGS"] = gunicorn_args
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = float("nan")
        self.log_path = self.workdir / f"gunicorn-{app}.log"

    def command(self) -> list[str]:
        where = ["--host", LOOPBACK, "--port", str(self.port), "--workers", str(self.workers),
                 "--threads", str(self.threads)]
        if self.app == "service":
            return [sys.executable, "-m", "cds_service.cli", "serve", *where]
        argv = gunicorn_argv(LOOPBACK, self.port, self.workers, self.threads,
                             app="bench.bare_app:app")
        return [sys.executable, "-m", *argv]

    def start(self) -> Gunicorn:
        self.port = free_port()
        atexit.register(self.stop)
        with self.log_path.open("ab") as log:
            spawned = time.perf_counter()
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=_detach)
        deadline = spawned + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(self.port, "GET", "/healthz", timeout=2.0)[0] == 200:
                    self.startup_seconds = time.perf_counter() - spawned
                    self._wait_workers()
                    return self
            time.sleep(0.01)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"{self.app} did not answer /healthz within {READY_TIMEOUT:g} s:\n"
                           f"{tail}")

    def _wait_workers(self) -> None:
        """/healthz answered from one worker; give the others (bounded) time to boot too."""
        deadline = time.perf_counter() + READY_TIMEOUT
        while len(self.worker_pids()) < self.workers and time.perf_counter() < deadline:
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc is not None else []

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = self.log_path.read_text("utf-8", errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown of master and workers
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its own session: only its workers
                proc.wait(5)
        if proc is not None:
            # workers that outlived their master (should not happen) are in the same group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        atexit.unregister(self.stop)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                notes: Sequence[str] = ()) -> None:
    """A plain aligned table: the first column left-aligned, the others right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n== {title}")
    line = [headers[0].ljust(widths[0])] + [h.rjust(w) for h, w in zip(headers[1:], widths[1:],
                                                                         strict=True)]
    print("  ".join(line))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                      zip(row[1:], widths[1:], strict=True)]))
    for note in notes:
        print(f"   {note}")
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(
            value) < 10 else f"{value:.1f}"
    return str(value)
