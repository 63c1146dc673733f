"""Run every benchmark once, one table each, with defaults that finish in about three minutes.

Run: ``.venv/bin/python -m bench.run_all`` (``--only http_load,fetch`` or ``--skip memory`` to
choose; ``--quick`` for a ~1 minute smoke run). Each benchmark compares against a baseline
measured in the same run (json.loads, a bare Flask endpoint, a complete prefetch, the warm RSS,
a bare gunicorn start, one instance behind HAProxy), so the ratios are what to compare across
machines. Nothing is asserted. Every server a benchmark starts (gunicorn, sekmet-fhir, the proxy,
haproxy) is stopped when it ends.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

from bench import balanced, fetch, http_load, map_chart, memory, slow_clients


def _map_chart(_: argparse.Namespace) -> None:
    print("\n== map_chart: json.loads vs json.loads + map_chart (median, same run)")
    map_chart.main()


def _http_load(args: argparse.Namespace) -> None:
    argv = ["--seconds", str(args.seconds), "--clients", str(args.clients)]
    http_load.main(argv + (["--no-install"] if args.no_install else []))


def _fetch(args: argparse.Namespace) -> None:
    fetch.main(["--calls", str(args.calls)])


def _memory(args: argparse.Namespace) -> None:
    memory.main(["--requests", str(args.requests), "--every", str(min(1000, args.requests))])


def _slow_clients(args: argparse.Namespace) -> None:
    slow_clients.main(["--seconds", str(args.seconds)])


def _balanced(args: argparse.Namespace) -> None:
    argv = ["--seconds", str(args.seconds), "--clients", str(args.clients)]
    balanced.main(argv + (["--no-install"] if args.no_install else []))


BENCHMARKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "map_chart": _map_chart, "http_load": _http_load, "fetch": _fetch, "memory": _memory,
    "slow_clients": _slow_clients, "balanced": _balanced}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated: " + ",".join(BENCHMARKS))
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    parser.add_argument("--quick", action="store_true",
                        help="shorter runs: 5 s of load, 5 calls, 3,000 requests")
    parser.add_argument("--seconds", type=float,
                        help="http_load: seconds per app; slow_clients: seconds of load; "
                             "balanced: seconds per configuration (20)")
    parser.add_argument("--clients", type=int, default=32,
                        help="http_load, balanced: connections (32)")
    parser.add_argument("--calls", type=int, help="fetch: calls per mode (10)")
    parser.add_argument("--requests", type=int, help="memory: requests after warm-up (10000)")
    parser.add_argument("--no-install", action="store_true",
                        help="never apt-get install wrk or haproxy")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (5.0 if args.quick else 20.0)
    args.calls = args.calls or (5 if args.quick else 10)
    args.requests = args.requests or (3000 if args.quick else 10_000)
    chosen = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    skipped = {n.strip() for n in args.skip.split(",") if n.strip()}
    unknown = (set(chosen) | skipped) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    print(f"vte-cds benchmarks: Python {platform.python_version()}, {platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
    started, failed = time.perf_counter(), []
    for name in chosen:
        if name in skipped:
            continue
        t0 = time.perf_counter()
        try:
            BENCHMARKS[name](args)
        except Exception as exc:  # one failing benchmark does not hide the others' figures
            failed.append(name)
            print(f"\n== {name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"   ({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nall done in {time.perf_counter() - started:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
