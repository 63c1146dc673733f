"""Benchmark: memory of a gunicorn worker under a mixed load, and start-up time.

Run: ``.venv/bin/python -m bench.memory [--requests 10000 --every 1000]``.

Memory: the service runs under gunicorn with one worker (so every request lands in the process
being measured). Its VmRSS (/proc/<pid>/status) is read after 50 requests ("cold") and after a
warm-up of ``--warmup`` requests (default 2,000: enough to fill the service's 1,000-entry
in-memory assessment cache, a bounded cost shown separately); that is the baseline. Then it is
read every ``--every`` requests up to ``--requests``. The requests cycle through five kinds:
patient-view (myeloma on lenalidomide + dexamethasone), patient-view (low-risk calf vein
thrombosis), order-sign with a draft (an IVC filter for that patient), a bad request (invalid
JSON, 400) and a feedback POST (a new outcome time each, so each is a new row). Growth
per ``--every`` requests (least-squares slope) and in total are reported; "flat" means a drift of
no more than a few MB. The run is also bounded by ``--max-seconds``.

Start-up: the time from spawning gunicorn to the first 200 on ``GET /healthz``, for the service
and (baseline) for bench/bare_app.py, median of ``--startup-repeats``; and, in a fresh
interpreter, the time to import ``cds_service.app`` and to run ``create_app()`` once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.serving import (
    LOOPBACK,
    ROOT,
    Gunicorn,
    print_table,
    request,
    rss_kib,
    service_env,
)
from tests.cds_service.scenarios import (
    cmvt_low_risk,
    ivc_filter_order_for_cmvt,
    myeloma_on_lenalidomide_dexamethasone,
)

CLIENTS = 4  # keep-alive connections sending the mix
FLAT_MB = 5.0  # total drift below this is "flat"
COLD = 50  # RSS is also read after this many requests, before the rest of the warm-up
# The warm-up fills the service's in-memory AssessmentCache (1,000 entries, cds_service/state.py):
# 3 of the 5 kinds of request store an assessment, so ~1,700 requests fill it. Growth before
# that is the bounded cache, shown separately ("cold" -> "warm").
WARMUP = 2000

_CREATE_APP = """\
import json, os, time
t0 = time.perf_counter()
from cds_service.app import create_app
t1 = time.perf_counter()
create_app()
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "create_app_ms": (t2 - t1) * 1000}))
"""


def _mix(card_uuid: str) -> list[tuple[str, Any, int]]:
    """(path, body or a function of the request index giving it, expected status)."""
    start = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

    def feedback(i: int) -> bytes:
        when = (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps({"feedback": [{"card": card_uuid, "outcome": "accepted",
                                         "outcomeTimestamp": when}]}).encode()

    return [
        ("/cds-services/vte-patient-view",
         json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode(), 200),
        ("/cds-services/vte-patient-view", json.dumps(cmvt_low_risk()).encode(), 200),
        ("/cds-services/vte-order-sign", json.dumps(ivc_filter_order_for_cmvt()).encode(), 200),
        ("/cds-services/vte-patient-view", b'{"hook": "patient-view", not json', 400),
        ("/cds-services/vte-patient-view/feedback", feedback, 200),
    ]


def _send(port: int, mix: list[tuple[str, Any, int]], first: int, count: int,
          stride: int) -> tuple[int, dict[int, int]]:
    """Requests first, first+stride, ... (count of them) on one keep-alive connection."""
    unexpected, statuses = 0, dict[int, int]()
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        for n in range(count):
            i = first + n * stride
            path, body, expected = mix[i % len(mix)]
            data = body(i) if callable(body) else body
            try:
                status, _ = request(port, "POST", path, data, conn=conn)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            statuses[status] = statuses.get(status, 0) + 1
            unexpected += status != expected
    finally:
        conn.close()
    return unexpected, statuses


def _block(port: int, mix: list[tuple[str, Any, int]], offset: int, count: int) -> int:
    """``count`` requests numbered from ``offset``, over CLIENTS connections; unexpected count."""
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(_send, port, mix, offset + c, len(range(c, count, CLIENTS)),
                               CLIENTS) for c in range(CLIENTS)]
        return sum(f.result()[0] for f in futures)


def soak(requests: int = 10_000, every: int = 1000, warmup: int = WARMUP,
         max_seconds: float = 300.0, threads: int = 4) -> dict[str, Any]:
    with Gunicorn("service", workers=1, threads=threads) as server:
        (pid,) = server.worker_pids()
        status, raw = request(server.port, "POST", "/cds-services/vte-patient-view",
                              json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode())
        if status != 200:
            raise RuntimeError(f"patient-view answered {status}")
        mix = _mix(json.loads(raw)["cards"][0]["uuid"])
        first = min(COLD, warmup)
        unexpected = _block(server.port, mix, 0, first)
        cold = rss_kib(pid)
        unexpected += _block(server.port, mix, first, warmup - first)
        points = [(0, rss_kib(pid))]
        started = time.perf_counter()
        sent = 0
        while sent < requests and time.perf_counter() - started < max_seconds:
            count = min(every, requests - sent)
            unexpected += _block(server.port, mix, warmup + sent, count)
            sent += count
            points.append((sent, rss_kib(pid)))
        elapsed = time.perf_counter() - started
    return {"points": points, "cold": cold, "unexpected": unexpected, "every": every,
            "warmup": warmup, "seconds": elapsed, "requests": sent, "threads": threads}


def _slope_per(points: list[tuple[int, int]], every: int) -> float:
    """Least-squares RSS growth (KiB) per ``every`` requests."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * every


def startup(repeats: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for app in ("bare", "service"):
        times, rss = [], []
        for _ in range(repeats):
            with Gunicorn(app, workers=1, threads=4) as server:
                times.append(server.startup_seconds)
                rss.append(rss_kib(server.worker_pids()[0]))
        out[app] = {"startup_s": statistics.median(times), "rss_kib": statistics.median(rss)}
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bench-create-") as tmp:
            done = subprocess.run([sys.executable, "-c", _CREATE_APP], cwd=ROOT,
                                  env=service_env(Path(tmp)), capture_output=True, text=True,
                                  timeout=120, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    out["import_ms"] = statistics.median(r["import_ms"] for r in runs)
    out["create_app_ms"] = statistics.median(r["create_app_ms"] for r in runs)
    return out


def report_soak(res: dict[str, Any]) -> None:
    points, every = res["points"], res["every"]
    base = points[0][1]
    rows, previous = [], base
    for n, kib in points:
        rows.append([f"{n:,}", f"{kib / 1024:.1f}", f"{(kib - previous) / 1024:+.1f}",
                     f"{(kib - base) / 1024:+.1f}", f"{kib / base:.3f}"])
        previous = kib
    total = (points[-1][1] - base) / 1024
    slope = _slope_per(points, every) / 1024
    second_half = [p for p in points if p[0] >= points[-1][0] / 2]
    late = _slope_per(second_half, every) / 1024
    print_table(
        f"memory: one gunicorn worker ({res['threads']} threads), {res['requests']:,} mixed "
        f"requests after {res['warmup']} warm-up, {res['requests'] / res['seconds']:.0f} req/s",
        ["requests after warm-up", "VmRSS MB", "step MB", "vs warm MB", "ratio vs warm"], rows,
        [f"RSS after {min(COLD, res['warmup'])} requests {res['cold'] / 1024:.1f} MB, after the "
         f"warm-up {base / 1024:.1f} MB (the 1,000-entry assessment cache filling)",
         f"growth: {slope:+.2f} MB per {every:,} requests (second half: {late:+.2f}), total "
         f"{total:+.1f} MB -> {'flat' if abs(total) < FLAT_MB else 'NOT flat'} (target: drift "
         f"< {FLAT_MB:g} MB); unexpected statuses: {res['unexpected']}"])


def report_startup(res: dict[str, Any]) -> None:
    bare, svc = res["bare"], res["service"]
    print_table(
        "start-up: spawn gunicorn (1 worker) -> first 200 on /healthz (median)",
        ["app", "start-up s", "worker VmRSS MB"],
        [["bare Flask (baseline)", f"{bare['startup_s']:.2f}", f"{bare['rss_kib'] / 1024:.1f}"],
         ["vte-cds service", f"{svc['startup_s']:.2f}", f"{svc['rss_kib'] / 1024:.1f}"],
         ["ratio service/bare", f"{svc['startup_s'] / bare['startup_s']:.2f}",
          f"{svc['rss_kib'] / bare['rss_kib']:.2f}"]],
        [f"fresh interpreter: import cds_service.app {res['import_ms']:.0f} ms, create_app() "
         f"{res['create_app_ms']:.1f} ms"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=WARMUP,
                        help="requests before the baseline RSS (fills the assessment cache)")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--startup-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not 0 < args.every <= args.requests <= 1_000_000 or not 0 < args.max_seconds <= 3600:
        parser.error("need 0 < --every <= --requests <= 1e6 and --max-seconds in (0, 3600]")
    report_startup(startup(max(1, args.startup_repeats)))
    report_soak(soak(args.requests, args.every, args.warmup, args.max_seconds, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
