"""Benchmark: does ``vte-cds serve`` keep answering others while many clients send slowly?

Run: ``.venv/bin/python -m bench.slow_clients [--clients 64 --seconds 20 --mode both]``.

The service runs exactly as ``vte-cds serve`` starts it (gunicorn, 2 workers x 4 threads, on
127.0.0.1). ``--clients`` connections then send slowly, one byte every ``--interval`` seconds:

- ``headers``: a request line, then header bytes that never end (slowloris);
- ``body``: complete headers announcing a 100,000-byte body, then the body a byte at a time;
- ``both``: half of each.

A slow client the service cuts off (408 after ``VTE_CDS_CLIENT_HEADER_TIMEOUT`` or
``..._BODY_TIMEOUT``) connects again at once, so the pressure never lets up. Meanwhile
``--probes`` other clients send ordinary requests back to back (patient-view for the myeloma
scenario with a complete prefetch, and ``GET /healthz``), each given ``--probe-timeout`` seconds.
Printed: clients, mode, duration, probes sent, the share answered (a 200 within the timeout) and
their p50 and p99, and how many 408s the slow clients received; the same probes without slow
clients first, in the same run, as the baseline.

``run()`` is what tests/reliability/test_slow_clients.py calls. All traffic stays on 127.0.0.1 and
the server is stopped when the run ends.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.serving import LOOPBACK, Gunicorn, percentile, print_table
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

HOOK = "/cds-services/vte-patient-view"
BODY_BYTES = 100_000


@dataclass
class Result:
    mode: str
    clients: int
    seconds: float
    sent: int = 0
    answered: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    refused_408: int = 0
    connected: int = 0

    @property
    def share(self) -> float:
        return self.answered / self.sent if self.sent else float("nan")

    def p(self, pct: float) -> float:
        return percentile(sorted(self.latencies), pct) * 1000


class SlowClient(threading.Thread):
    """One connection sending a byte every ``interval`` seconds; again when cut off."""

    def __init__(self, port: int, mode: str, interval: float, stop: threading.Event,
                 result: Result, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.port, self.mode, self.interval, self.stop = port, mode, interval, stop
        self.result, self.lock = result, lock

    def _head(self) -> tuple[bytes, bytes]:
        """What is sent at once, and what then trickles."""
        if self.mode == "headers":
            return (f"POST {HOOK} HTTP/1.1\r\nHost: {LOOPBACK}\r\n".encode(),
                    b"X-Slow: " + b"a" * 100_000)
        return (f"POST {HOOK} HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {BODY_BYTES}\r\n\r\n".encode(), b"{" + b" " * BODY_BYTES)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=5) as sock:
                    with self.lock:
                        self.result.connected += 1
                    self._trickle(sock)
            except OSError:
                self.stop.wait(0.05)

    def _trickle(self, sock: socket.socket) -> None:
        first, rest = self._head()
        sock.sendall(first)
        sock.setblocking(False)
        for i in range(len(rest)):
            if self.stop.wait(self.interval):
                return
            try:
                answer = sock.recv(4096)
            except BlockingIOError:
                answer = None
            if answer is not None:  # an answer (or the end): the service cut this client off
                if b" 408 " in answer.split(b"\r\n", 1)[0]:
                    with self.lock:
                        self.result.refused_408 += 1
                return
            try:
                sock.send(rest[i:i + 1])
            except BlockingIOError:
                continue
            except OSError:
                return


def _probe(port: int, until: float, timeout: float, result: Result,
           lock: threading.Lock) -> None:
    body = json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()
    turn = 0
    while time.monotonic() < until:
        turn += 1
        method, path, data = ("POST", HOOK, body) if turn % 2 else ("GET", "/healthz", None)
        started = time.monotonic()
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
        try:
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            response = conn.getresponse()
            response.read()
            status: int | str = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        with lock:
            result.sent += 1
            if status == 200 and elapsed <= timeout:
                result.answered += 1
                result.latencies.append(elapsed)
            else:
                result.failures[str(status)] = result.failures.get(str(status), 0) + 1


def measure(port: int, *, clients: int, mode: str, seconds: float, interval: float = 0.2,
            probes: int = 2, probe_timeout: float = 5.0, settle: float = 1.0) -> Result:
    """Slow clients and probes against a running service on ``port``."""
    result = Result(mode, clients, seconds)
    lock, stop = threading.Lock(), threading.Event()
    kinds = ["headers", "body"] if mode == "both" else [mode]
    slow = [SlowClient(port, kinds[i % len(kinds)], interval, stop, result, lock)
            for i in range(clients)]
    for client in slow:
        client.start()
    deadline = time.monotonic() + 10
    while result.connected < clients and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle if clients else 0)  # every slow client has begun trickling
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=_probe, args=(port, until, probe_timeout, result, lock),
                                daemon=True) for _ in range(probes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + probe_timeout + 5)
    stop.set()
    for client in slow:
        client.join(5)
    return result


def run(*, clients: int = 64, seconds: float = 20.0, mode: str = "both", interval: float = 0.2,
        probes: int = 2, probe_timeout: float = 5.0, baseline: bool = True,
        settings: dict[str, str] | None = None) -> list[Result]:
    """Start ``vte-cds serve``, measure the baseline (no slow client) and ``mode``; stop it."""
    server = Gunicorn("service")
    server.env.update({f"VTE_CDS_{k}": v for k, v in (settings or {}).items()})
    with server:
        results = []
        if baseline:
            results.append(measure(server.port, clients=0, mode="none",
                                   seconds=min(seconds, 5.0), probes=probes,
                                   probe_timeout=probe_timeout))
        results.append(measure(server.port, clients=clients, mode=mode, seconds=seconds,
                               interval=interval, probes=probes, probe_timeout=probe_timeout))
        return results


def report(results: list[Result], probe_timeout: float) -> None:
    rows = [[r.mode, r.clients, r.seconds, r.sent, f"{100 * r.share:.1f} %", r.p(50), r.p(99),
             r.refused_408, ", ".join(f"{k}: {v}" for k, v in sorted(r.failures.items())) or "-"]
            for r in results]
    print_table("slow_clients: others answered while clients send slowly",
                ["slow clients", "n", "s", "probes", "answered", "p50 ms", "p99 ms",
                 "408 sent", "failed"], rows,
                [f"answered: a 200 within {probe_timeout:g} s; probes alternate patient-view "
                 "(myeloma, complete prefetch) and GET /healthz, back to back",
                 "service: vte-cds serve (2 workers x 4 threads) on 127.0.0.1"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.slow_clients", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--mode", choices=["headers", "body", "both"], default="both")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between two bytes of a slow client (0.2)")
    parser.add_argument("--probes", type=int, default=2, help="probe clients (2)")
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    results = run(clients=args.clients, seconds=args.seconds, mode=args.mode,
                  interval=args.interval, probes=args.probes, probe_timeout=args.probe_timeout)
    report(results, args.probe_timeout)
    return 0


def summary(results: list[Result]) -> dict[str, Any]:
    """The figures as data (for a test's failure message)."""
    return {r.mode: {"clients": r.clients, "sent": r.sent, "share": r.share,
                     "p99_ms": r.p(99), "failures": r.failures, "408": r.refused_408}
            for r in results}


if __name__ == "__main__":
    raise SystemExit(main())
