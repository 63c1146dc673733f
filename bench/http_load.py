"""Benchmark: the service over HTTP under gunicorn, against a bare Flask endpoint.

Run: ``.venv/bin/python -m bench.http_load [--seconds 20 --clients 32 --workers 2 --threads 4]``.

Both apps are served by gunicorn on 127.0.0.1 with the same command line (the one ``vte-cds
serve`` runs, ``cds_service.cli.gunicorn_argv``: worker class, workers, threads, worker
connections, no access log): the real service answering ``POST /cds-services/vte-patient-view``
with the myeloma scenario (complete prefetch, tests/cds_service/scenarios.py), and
bench/bare_app.py, which parses the same JSON body and answers a fixed small JSON. Each gets a
short warm-up, then ``--seconds`` of closed-loop load from ``--clients`` keep-alive connections,
split into ``--rounds`` runs on fresh connections, the two apps' runs alternating (so that the
machine's other load weighs on both alike: the ratios are what to read). gunicorn's gthread
workers keep a connection for its life, and when 32 connections arrive at once one worker
sometimes accepts nearly all of them (halving throughput), so the table gives the median round,
the range, and how much of the workers' CPU the busiest worker took. Also: p50 and p99 latency,
the workers' CPU time per request (and its range over the rounds), and the service/bare ratios.

Load generator: ``wrk`` (Debian package ``wrk``; installed with apt-get when missing and running
as root, unless ``--no-install``) with a Lua script that POSTs the body and prints the latency
percentiles; otherwise (or with ``--client python``) a multi-process http.client keep-alive
client. Targets: worker CPU per request <= 2.5 x the bare endpoint's, p99 < 100 ms at 32
clients, throughput >= 60% of the bare endpoint's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.serving import LOOPBACK, Gunicorn, cpu_seconds, percentile, print_table, request
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

PATH = "/cds-services/vte-patient-view"
TARGET_RATIO = 0.60
TARGET_CPU_RATIO = 2.5
TARGET_P99_MS = 100.0
WRK_TIMEOUT_S = 5

_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


# ------------------------------------------------------------------ load generators

def find_wrk(install: bool) -> str | None:
    """Path of wrk; installs the Debian package when missing, allowed and running as root."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk not found: apt-get install -y wrk (root; --no-install to skip)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "install", "-y", "-q", "wrk"], ["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "wrk"]):
        try:
            done = subprocess.run(step, env=env, capture_output=True, timeout=300, check=False)
        except subprocess.TimeoutExpired:
            break
        if step[1] == "install" and done.returncode == 0:
            break
    return shutil.which("wrk")


def run_wrk(wrk: str, url: str, body: bytes, seconds: float, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, body_file = Path(tmp) / "post.lua", Path(tmp) / "body.json"
        script.write_text(_LUA)
        body_file.write_bytes(body)
        threads = max(1, min(2, clients))
        cmd = [wrk, "-t", str(threads), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
               "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(script), url]
        done = subprocess.run(cmd, env={**os.environ, "BENCH_BODY_FILE": str(body_file)},
                              capture_output=True, text=True, timeout=seconds + 60, check=False)
    found = re.search(r"^BENCH_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-800:]}"
                           f"{done.stderr[-800:]}")
    raw = json.loads(found.group(1))
    return {"requests": raw["requests"], "seconds": raw["duration_us"] / 1e6,
            "rps": raw["requests"] / (raw["duration_us"] / 1e6),
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "errors": raw["errors"] + raw["non2xx"]}


def _client_thread(port: int, path: str, body: bytes, deadline: float,
                   max_requests: int) -> tuple[list[float], int]:
    latencies, errors = [], 0
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=WRK_TIMEOUT_S)
    try:
        while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
            start = time.perf_counter()
            try:
                status, _ = request(port, "POST", path, body, conn=conn)
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, port, timeout=WRK_TIMEOUT_S)
                continue
            if status != 200:
                errors += 1
            latencies.append(time.perf_counter() - start)
    finally:
        conn.close()
    return latencies, errors


def _client_process(args: tuple[int, str, bytes, float, int, int]) -> tuple[list[float], int]:
    port, path, body, seconds, threads, max_requests = args
    deadline = time.perf_counter() + seconds
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda _: _client_thread(port, path, body, deadline, max_requests),
                              range(threads)))
    return [x for lat, _ in parts for x in lat], sum(err for _, err in parts)


def run_python_client(port: int, path: str, body: bytes, seconds: float,
                      clients: int) -> dict[str, Any]:
    """Fallback: ``clients`` keep-alive connections spread over a few processes."""
    processes = min(clients, 4)
    per = [clients // processes + (1 if i < clients % processes else 0)
           for i in range(processes)]
    max_requests = 1_000_000  # per connection: the time bound is what ends a run
    ctx = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with ctx.Pool(processes) as pool:
        parts = pool.map(_client_process,
                         [(port, path, body, seconds, n, max_requests) for n in per])
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in parts for x in lat)
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "max_ms": (latencies[-1] * 1000) if latencies else float("nan"),
            "errors": sum(err for _, err in parts)}


# ------------------------------------------------------------------ the benchmark

def _round(server: Gunicorn, body: bytes, seconds: float, clients: int,
           wrk: str | None) -> dict[str, Any]:
    """One run of ``seconds`` on fresh connections, with the CPU the workers used meanwhile."""
    workers = server.worker_pids()
    before = [cpu_seconds(p) for p in workers]
    if wrk:
        part = run_wrk(wrk, server.url + PATH, body, seconds, clients)
    else:
        part = run_python_client(server.port, PATH, body, seconds, clients)
    used = [cpu_seconds(p) - b for p, b in zip(workers, before, strict=True)]
    part["cpu_s"] = sum(used)
    part["busiest_share"] = max(used) / sum(used) if sum(used) else float("nan")
    return part


def _summary(parts: list[dict[str, Any]]) -> dict[str, Any]:
    rps = [p["rps"] for p in parts]
    requests = sum(p["requests"] for p in parts)
    cpu = [p["cpu_s"] / max(1, p["requests"]) * 1000 for p in parts]
    return {"rounds": parts, "rps": statistics.median(rps), "rps_min": min(rps),
            "rps_max": max(rps), "p50_ms": statistics.median(p["p50_ms"] for p in parts),
            "p99_ms": statistics.median(p["p99_ms"] for p in parts),
            "p99_max_ms": max(p["p99_ms"] for p in parts),
            "busiest_share": max(p["busiest_share"] for p in parts),
            "requests": requests, "errors": sum(p["errors"] for p in parts),
            "cpu_ms_per_request": sum(p["cpu_s"] for p in parts) / max(1, requests) * 1000,
            "cpu_ms_min": min(cpu), "cpu_ms_max": max(cpu)}


def _start_py_spy(out: str, pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy): no profile", flush=True)
        return None
    print(f"py-spy record -> {out} (worker {pid})", flush=True)
    return subprocess.Popen([spy, "record", "--nonblocking", "-d", str(max(1, round(seconds))),
                             "-o", out, "--pid", str(pid)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def run(seconds: float = 20.0, clients: int = 32, workers: int = 2, threads: int = 4,
        warmup: float = 2.0, client: str = "auto", install: bool = True,
        profile: str | None = None, rounds: int = 4, gunicorn_args: str = "") -> dict[str, Any]:
    wrk = find_wrk(install) if client in ("auto", "wrk") else None
    if client == "wrk" and not wrk:
        raise SystemExit("wrk is not available")
    body = json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()
    results: dict[str, Any] = {"generator": "wrk" if wrk else "python", "clients": clients,
                               "workers": workers, "threads": threads, "seconds": seconds,
                               "body_bytes": len(body), "rounds": rounds,
                               "gunicorn_args": gunicorn_args}
    with contextlib.ExitStack() as stack:
        servers = {app: stack.enter_context(Gunicorn(app, workers=workers, threads=threads,
                                                     gunicorn_args=gunicorn_args))
                   for app in ("bare", "service")}
        for app, server in servers.items():
            status, raw = request(server.port, "POST", PATH, body)
            if status != 200 or (app == "service" and not json.loads(raw)["cards"]):
                raise RuntimeError(f"{app}: sanity call answered {status}: {raw[:300]!r}")
            if warmup > 0:
                _round(server, body, warmup, clients, wrk)
        spy = None
        if profile and servers["service"].worker_pids():
            spy = _start_py_spy(profile, servers["service"].worker_pids()[0], 2 * seconds)
        parts: dict[str, list[dict[str, Any]]] = {"bare": [], "service": []}
        try:
            # Rounds alternate, so that whatever else the machine runs weighs on both alike.
            for _ in range(rounds):
                for app, server in servers.items():
                    parts[app].append(_round(server, body, seconds / rounds, clients, wrk))
        finally:
            if spy is not None:
                spy.wait(60)
        for app in servers:
            results[app] = _summary(parts[app])
    return results


def report(res: dict[str, Any]) -> None:
    bare, svc = res["bare"], res["service"]
    ratio = svc["rps"] / bare["rps"]
    cpu = svc["cpu_ms_per_request"] / bare["cpu_ms_per_request"]

    def row(name: str, r: dict[str, Any]) -> list[Any]:
        return [name, f"{r['rps']:.0f}", f"{r['rps_min']:.0f}-{r['rps_max']:.0f}",
                f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['p99_max_ms']:.1f}",
                f"{r['cpu_ms_per_request']:.2f}", f"{r['cpu_ms_min']:.2f}-{r['cpu_ms_max']:.2f}",
                f"{r['busiest_share']:.0%}", r["requests"],
                r["errors"]]

    print_table(
        f"http_load: {res['clients']} clients, {res['seconds']:g} s per app in {res['rounds']} "
        f"rounds (fresh connections each), gunicorn {res['workers']} workers x "
        f"{res['threads']} threads{' ' + res['gunicorn_args'] if res['gunicorn_args'] else ''}, "
        f"{res['generator']}, body {res['body_bytes']} B",
        ["endpoint", "req/s", "req/s range", "p50 ms", "p99 ms", "worst p99",
         "worker CPU ms/req", "CPU range", "busiest worker", "requests", "errors"],
        [row("bare Flask (baseline)", bare), row("vte-patient-view myeloma", svc),
         ["ratio service/bare", f"{ratio:.2f}", "", f"{svc['p50_ms'] / bare['p50_ms']:.1f}",
          f"{svc['p99_ms'] / bare['p99_ms']:.1f}", "",
          f"{cpu:.1f}", "", "", "", ""]],
        ["req/s, p50, p99: median of the rounds; busiest worker: the largest share of worker "
         "CPU one worker took in a round (50% = balanced over 2 workers)",
         f"target: worker CPU <= {TARGET_CPU_RATIO:g} x bare -> {cpu:.1f} x "
         f"({'met' if cpu <= TARGET_CPU_RATIO else 'missed'})",
         f"target: throughput >= {TARGET_RATIO:.0%} of bare -> {ratio:.0%} "
         f"({'met' if ratio >= TARGET_RATIO else 'missed'}); p99 < {TARGET_P99_MS:g} ms -> "
         f"{svc['p99_ms']:.1f} ms ({'met' if svc['p99_ms'] < TARGET_P99_MS else 'missed'})"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.http_load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured load per app")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured load first")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4,
                        help="split --seconds into this many runs, each on fresh connections")
    parser.add_argument("--gunicorn-args", default="",
                        help="extra gunicorn settings for both apps (GUNICORN_CMD_ARGS), e.g. "
                             "'--worker-connections 16'")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument("--profile", metavar="SVG",
                        help="py-spy flame graph of one service worker during the measured run")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 < args.clients <= 1024 or not 0 < args.rounds <= 20:
        parser.error("--seconds must be in (0, 600], --clients in (0, 1024], --rounds in "
                     "(0, 20]")
    report(run(args.seconds, args.clients, args.workers, args.threads, args.warmup,
               args.client, not args.no_install, args.profile, args.rounds,
               args.gunicorn_args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
