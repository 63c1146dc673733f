"""Benchmark: three instances of the service against one behind HAProxy, and how long the
balancer takes to route around an instance that is SIGKILLed.

Run: ``.venv/bin/python -m bench.balanced [--seconds 12 --clients 32 --out FILE]`` (results as JSON
in bench/results/balanced.json by default).

Every instance is ``vte-cds serve`` (gunicorn, ``--workers`` 2 x ``--threads`` 4) on 127.0.0.1,
authentication off, sharing one PostgreSQL schema made for this run and dropped after it
(``--database-url``, default the test server ``postgresql://postgres@127.0.0.1:5432/test``):
several instances need PostgreSQL, and each hook call writes its card's link to the store. The
balancer is HAProxy as bench/balancer.py configures it (round robin, ``GET /readyz`` checked every
0.5 s, out after 2 failed checks, a refused connection sent to another instance).

Throughput, in one run, each configuration on fresh processes, the same load: ``POST
/cds-services/vte-patient-view`` (myeloma, complete prefetch) from ``--clients`` keep-alive
connections, closed loop, for ``--seconds`` split into ``--rounds`` on fresh connections after a
warm-up (wrk when available, as bench/http_load.py; else its Python client):

- one instance, called directly (what the balancer costs);
- one instance behind HAProxy: the **baseline**;
- three instances behind HAProxy: req/s, p50 and p99 against the baseline, and each instance's
  share of the requests (haproxy's counters).

Also CPU per request of the workers (all instances) and of haproxy, from /proc.

Route-around, on the three instances: ``--kill-clients`` threads send patient-view calls and
feedback for each first card through the balancer (bench.balancer.Traffic); after
``--kill-after`` seconds one instance's master and workers are SIGKILLed together; the load goes
on for ``--kill-seconds`` more. Reported: requests that failed (in flight on the killed instance;
started after the kill), the time from the kill to the last failed request, the time until
haproxy marks the instance DOWN, req/s and p99 before and after, and acknowledged feedback rows
missing from the table (must be 0).

Results go to ``--out`` as JSON and are printed as tables. Nothing is asserted. Only 127.0.0.1 is
contacted; every process started is stopped when the run ends, on an error too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg

from bench.balancer import (
    HOOK_PATH,
    HAProxy,
    RouteAround,
    Traffic,
    find_haproxy,
    start_instances,
)
from bench.http_load import find_wrk, run_python_client, run_wrk
from bench.serving import (
    ROOT,
    cpu_seconds,
    free_port,
    percentile,
    print_table,
    request,
    rss_kib,
    service_env,
)
from bench.soak import KillableService, stored_feedback
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

DEFAULT_PG = os.environ.get("VTE_CDS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_OUT = ROOT / "bench" / "results" / "balanced.json"
CHECK_MS = 500
NAMES = ("a", "b", "c")
BASELINE = "one instance behind HAProxy"


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(
        {"options": f"-csearch_path={schema}", "application_name": schema})) if q)
    return urlunsplit(parts._replace(query=query))


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A schema of this run's own; the store URL on it. Dropped at the end."""
    name = f"bench_balanced_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield with_schema(url, name)
        finally:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (name,)).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.1)
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@contextmanager
def cluster(count: int, env: dict[str, str], workdir: Path, haproxy: str | None, *,
            workers: int, threads: int) -> Iterator[tuple[list[KillableService], HAProxy | None]]:
    """``count`` instances, behind HAProxy when ``haproxy`` is given; all stopped after."""
    workdir = workdir / f"cluster-{count}-{uuid.uuid4().hex[:6]}"
    workdir.mkdir()
    ports = [free_port() for _ in range(count)]
    instances = start_instances(ports, env, workdir, workers=workers, threads=threads)
    balancer = None
    try:
        if haproxy:
            balancer = HAProxy(haproxy, list(zip(NAMES, ports, strict=False)),
                               check_ms=CHECK_MS).start()
        yield instances, balancer
    finally:
        if balancer is not None:
            balancer.stop()
        for instance in instances:
            instance.stop()


def _worker_pids(instances: Sequence[KillableService]) -> list[int]:
    return [pid for instance in instances for pid in instance.worker_pids()]


class Configuration:
    """One way of serving the load: a port to send it to, the instances behind it, and the
    rounds measured on it."""

    def __init__(self, name: str, port: int, instances: Sequence[KillableService],
                 balancer: HAProxy | None) -> None:
        self.name, self.port, self.instances, self.balancer = name, port, instances, balancer
        self.parts: list[dict[str, Any]] = []
        self.rss_mb = float("nan")
        self.served = dict.fromkeys(_served(balancer), 0)

    def generate(self, seconds: float, body: bytes, clients: int,
                 wrk: str | None) -> dict[str, Any]:
        if wrk:
            return run_wrk(wrk, f"http://127.0.0.1:{self.port}{HOOK_PATH}", body, seconds,
                           clients)
        return run_python_client(self.port, HOOK_PATH, body, seconds, clients)

    def warm(self, body: bytes, seconds: float, clients: int, wrk: str | None) -> None:
        status, raw = request(self.port, "POST", HOOK_PATH, body)
        if status != 200 or not json.loads(raw)["cards"]:
            raise RuntimeError(f"{self.name}: sanity call answered {status}: {raw[:300]!r}")
        self.generate(seconds, body, clients, wrk)

    def round(self, seconds: float, body: bytes, clients: int, wrk: str | None) -> None:
        workers = _worker_pids(self.instances)
        proxy = self.balancer.proc.pid if self.balancer is not None and self.balancer.proc \
            else None
        before = sum(cpu_seconds(p) for p in workers)
        proxy_before = cpu_seconds(proxy) if proxy else 0.0
        served_before = _served(self.balancer)
        part = self.generate(seconds, body, clients, wrk)
        part["cpu_s"] = sum(cpu_seconds(p) for p in workers) - before
        part["proxy_cpu_s"] = (cpu_seconds(proxy) - proxy_before) if proxy else 0.0
        for name, count in _served(self.balancer).items():
            self.served[name] += count - served_before.get(name, 0)
        self.parts.append(part)
        self.rss_mb = max(rss_kib(p) for p in workers) / 1024

    def summary(self) -> dict[str, Any]:
        parts = self.parts
        requests = sum(p["requests"] for p in parts)
        rps = [p["rps"] for p in parts]
        total = sum(self.served.values()) or 1
        return {"instances": len(self.instances), "balanced": self.balancer is not None,
                "rps": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
                "p50_ms": statistics.median(p["p50_ms"] for p in parts),
                "p99_ms": statistics.median(p["p99_ms"] for p in parts),
                "p99_max_ms": max(p["p99_ms"] for p in parts),
                "requests": requests, "errors": sum(p["errors"] for p in parts),
                "worker_cpu_ms_per_request":
                    sum(p["cpu_s"] for p in parts) / max(1, requests) * 1e3,
                "haproxy_cpu_ms_per_request":
                    sum(p["proxy_cpu_s"] for p in parts) / max(1, requests) * 1e3,
                "share": {n: c / total for n, c in self.served.items()},
                "largest_worker_rss_mb": self.rss_mb}


def _served(balancer: HAProxy | None) -> dict[str, int]:
    if balancer is None:
        return {}
    return {name: int(row["stot"] or 0) for name, row in balancer.state().items()}


def route_around(instances: Sequence[KillableService], balancer: HAProxy,
                 database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Load through the balancer, SIGKILL of the last instance, load on; what the clients saw."""
    killed = NAMES[len(instances) - 1]
    traffic = Traffic(balancer.port, args.kill_clients).start()
    try:
        time.sleep(args.kill_after)
        at = time.monotonic()
        instances[-1].kill()
        marked_down_s = balancer.wait_down(killed, at)
        time.sleep(max(0.0, args.kill_seconds - (time.monotonic() - at)))
    finally:
        traffic.stop()
    answers = traffic.answers
    seen = RouteAround.of(answers, killed, at)
    first = min(a.started for a in answers)
    last = max(a.ended for a in answers)
    down = at + (marked_down_s if marked_down_s == marked_down_s else 0.0)

    def window(start: float, end: float) -> dict[str, float]:
        inside = [a for a in answers if start <= a.ended < end]
        latencies = sorted(a.ended - a.started for a in inside)
        return {"seconds": end - start,
                "rps": sum(1 for a in inside if a.status == 200) / max(1e-9, end - start),
                "p99_ms": percentile(latencies, 99) * 1e3}

    lost = traffic.acked - stored_feedback(database_url)
    return {"killed": killed, "clients": args.kill_clients, "requests": len(answers),
            "in_flight_failed": seen.in_flight_failed, "failed_after": seen.failed_after,
            "failed_statuses": {str(k): v for k, v in seen.failed_statuses.items()},
            "last_failure_ms": seen.last_failure_s * 1e3,
            "marked_down_ms": marked_down_s * 1e3,
            "served_by_killed_after": seen.served_by_killed_after,
            "before": window(first + 1.0, at), "until_down": window(at, down),
            "after": window(down, last),
            "acknowledged": len(traffic.acked), "lost": len(lost),
            "client_failures": traffic.failures}


def run(args: argparse.Namespace) -> dict[str, Any]:
    haproxy = find_haproxy(install=not args.no_install)
    if haproxy is None:
        raise SystemExit("haproxy is not available (Debian package haproxy)")
    wrk = find_wrk(not args.no_install) if args.client in ("auto", "wrk") else None
    body = json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()
    version = subprocess.run([haproxy, "-v"], capture_output=True, text=True,
                             check=False).stdout.split("\n", 1)[0]
    results: dict[str, Any] = {
        "benchmark": "bench.balanced", "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "haproxy": version, "load_average": os.getloadavg()[0]},
        "settings": {"clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
                     "workers": args.workers, "threads": args.threads,
                     "generator": "wrk" if wrk else "python", "check_ms": CHECK_MS,
                     "body_bytes": len(body)}}
    with tempfile.TemporaryDirectory(prefix="bench-balanced-") as tmp, \
            pg_schema(args.database_url) as database_url:
        env = service_env(Path(tmp))
        env["VTE_CDS_DATABASE_URL"] = database_url
        sizes = {"workers": args.workers, "threads": args.threads}
        with cluster(1, env, Path(tmp), haproxy, **sizes) as (one, lb1), \
                cluster(3, env, Path(tmp), haproxy, **sizes) as (three, lb3):
            if lb1 is None or lb3 is None:
                raise RuntimeError("a balancer did not start")
            configurations = [
                Configuration("one instance, direct", one[0].port, one, None),
                Configuration(BASELINE, lb1.port, one, lb1),
                Configuration("three instances behind HAProxy", lb3.port, three, lb3)]
            for configuration in configurations:
                configuration.warm(body, args.warmup, args.clients, wrk)
            # rounds interleaved: a change in the machine's other load hits every one alike
            for n in range(args.rounds):
                for configuration in configurations:
                    print(f"-- round {n + 1}: {configuration.name}", flush=True)
                    configuration.round(args.seconds / args.rounds, body, args.clients, wrk)
            print("-- SIGKILL of one of three instances under load", flush=True)
            results["route_around"] = route_around(three, lb3, database_url, args)
        runs = {c.name: c.summary() for c in configurations}
        results["throughput"] = runs
    base = runs[BASELINE]
    results["ratios"] = {name: {"rps": r["rps"] / base["rps"], "p99": r["p99_ms"] / base["p99_ms"]}
                         for name, r in runs.items()}
    return results


def report(res: dict[str, Any]) -> None:
    rows = []
    for name, r in res["throughput"].items():
        ratio = res["ratios"][name]
        share = " / ".join(f"{v:.0%}" for v in r["share"].values()) or "-"
        rows.append([name, f"{r['rps']:.0f}", f"{r['rps_min']:.0f}-{r['rps_max']:.0f}",
                     f"{ratio['rps']:.2f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                     f"{ratio['p99']:.2f}", f"{r['worker_cpu_ms_per_request']:.2f}",
                     f"{r['haproxy_cpu_ms_per_request']:.3f}", share, r["requests"],
                     r["errors"]])
    s = res["settings"]
    print_table(
        f"balanced: {s['clients']} clients, {s['seconds']:g} s per configuration in "
        f"{s['rounds']} rounds, each instance gunicorn {s['workers']} workers x {s['threads']} "
        f"threads, {s['generator']}, {res['machine']['cpus']} CPUs",
        ["configuration", "req/s", "range", "x base", "p50 ms", "p99 ms", "p99 x base",
         "worker CPU ms/req", "haproxy CPU ms/req", "share", "requests", "errors"], rows,
        ["baseline (x base = 1): one instance behind HAProxy, measured in this run; share: "
         "each instance's part of the requests (haproxy's counters)"])
    k = res["route_around"]
    print_table(
        f"route-around: SIGKILL of instance {k['killed']} of three under load "
        f"({k['clients']} clients: patient-view + feedback), health check every "
        f"{s['check_ms']} ms, out after 2 failures",
        ["measure", "value"],
        [["requests failed, in flight on the killed instance", k["in_flight_failed"]],
         ["requests failed, started after the kill", k["failed_after"]],
         ["failed requests by status (0: no answer)",
          ", ".join(f"{code}: {n}" for code, n in k["failed_statuses"].items()) or "-"],
         ["kill -> last failed request, ms", f"{k['last_failure_ms']:.0f}"],
         ["kill -> haproxy marks it DOWN, ms", f"{k['marked_down_ms']:.0f}"],
         ["answers from the killed instance after the kill", k["served_by_killed_after"]],
         ["req/s before / kill..DOWN / after",
          f"{k['before']['rps']:.0f} / {k['until_down']['rps']:.0f} / {k['after']['rps']:.0f}"],
         ["p99 ms before / kill..DOWN / after",
          f"{k['before']['p99_ms']:.0f} / {k['until_down']['p99_ms']:.0f} / "
          f"{k['after']['p99_ms']:.0f}"],
         ["feedback acknowledged / missing from the table",
          f"{k['acknowledged']} / {k['lost']}"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.balanced", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="measured load per configuration")
    parser.add_argument("--rounds", type=int, default=3,
                        help="split --seconds into this many runs, each on fresh connections")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--kill-clients", type=int, default=8)
    parser.add_argument("--kill-after", type=float, default=4.0,
                        help="seconds of load before the SIGKILL")
    parser.add_argument("--kill-seconds", type=float, default=6.0,
                        help="seconds of load after the SIGKILL")
    parser.add_argument("--database-url", default=DEFAULT_PG,
                        help="PostgreSQL server and database; a schema is made in it and dropped")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-install", action="store_true",
                        help="never apt-get install haproxy or wrk")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 < args.clients <= 1024 or \
            not 0 < args.rounds <= 20 or not 1 <= args.kill_clients <= 64:
        parser.error("--seconds in (0, 600], --clients in (0, 1024], --rounds in (0, 20], "
                     "--kill-clients in [1, 64]")
    given = sys.argv[1:] if argv is None else argv
    results = {"generated_by": " ".join([".venv/bin/python -m bench.balanced", *given]),
               **run(args)}
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
