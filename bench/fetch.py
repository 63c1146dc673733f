"""Benchmark: a hook with no prefetch, the service fetching from a real FHIR server.

Run: ``.venv/bin/python -m bench.fetch [--calls 10 --delay-ms 50]``.

The myeloma scenario's resources are loaded into an embedded sekmet-fhir server
(cds_service/fhir/embedded.py). Between the service and sekmet sits a counting reverse proxy on
127.0.0.1 (a ThreadingHTTPServer in this process) that forwards each GET, records its start and
end, and can add an artificial delay per request. The service (gunicorn, ``vte-cds serve``) has
only the proxy in its allow-list. ``POST /cds-services/vte-patient-view`` is then called with
``fhirServer`` set and no prefetch, ``--calls`` times one after another, in three modes:

- complete prefetch (the baseline: no FHIR round trip at all);
- no prefetch: every key fetched through the proxy;
- no prefetch with ``--delay-ms`` added by the proxy to every FHIR request.

Per mode (medians over the calls): FHIR round trips per hook, the most requests in flight at
once, the hook's latency seen by the client, the slowest single FHIR query, the sum of the query
latencies, and latency/slowest (about 1 plus the mapping time when the queries run in parallel;
close to latency/sum when they run one after another). The target is that latency tracks the
slowest query, not the sum.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.serving import LOOPBACK, Gunicorn, post_json, print_table, service_env
from cds_service.fhir.embedded import FhirServer
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone

PATH = "/cds-services/vte-patient-view"
UPSTREAM_TIMEOUT = 30.0


def resources_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource of a scenario's prefetch (as tests/integration does)."""
    out = [body["prefetch"]["patient"]]
    for key, value in body["prefetch"].items():
        if key != "patient":
            out.extend(e["resource"] for e in value.get("entry", []))
    return out


class CountingProxy(ThreadingHTTPServer):
    """GET-forwarding reverse proxy: records (path, start, end, status) per request.

    Links in the answers that name the upstream base are rewritten to the proxy's base, so that
    paging stays on the allow-listed proxy.
    """

    daemon_threads = True

    def __init__(self, upstream_base: str, delay: float = 0.0) -> None:
        super().__init__((LOOPBACK, 0), _ProxyHandler)
        self.upstream = urlsplit(upstream_base)
        self.upstream_base = upstream_base.encode()
        self.base_url = f"http://{LOOPBACK}:{self.server_address[1]}{self.upstream.path}"
        self.delay = delay
        self.records: list[tuple[str, float, float, int]] = []
        self.lock = threading.Lock()
        self.local = threading.local()
        self.thread = threading.Thread(target=self.serve_forever, name="proxy", daemon=True)

    def upstream_connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.upstream.hostname or LOOPBACK,
                                              self.upstream.port, timeout=UPSTREAM_TIMEOUT)
            self.local.conn = conn
        return conn

    def take(self) -> list[tuple[str, float, float, int]]:
        with self.lock:
            out, self.records = self.records, []
        return out

    def __enter__(self) -> CountingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service's requests.Session expects
    # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK would hold the body back ~40 ms and the proxy would measure itself
    disable_nagle_algorithm = True
    server: CountingProxy

    def do_GET(self) -> None:
        start = time.perf_counter()
        proxy = self.server
        if proxy.delay:
            time.sleep(proxy.delay)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("accept", "authorization", "accept-encoding")}
        status, data, ctype = 502, b"", "application/fhir+json"
        for attempt in range(2):  # an idle keep-alive connection may have been closed upstream
            conn = proxy.upstream_connection(fresh=attempt > 0)
            try:
                conn.request("GET", self.path, headers=headers)
                resp = conn.getresponse()
                status, data = resp.status, resp.read()
                ctype = resp.getheader("Content-Type", ctype)
                encoding = resp.getheader("Content-Encoding")
                break
            except (OSError, http.client.HTTPException):
                continue
        else:
            encoding = None
        if not encoding:
            data = data.replace(proxy.upstream_base, proxy.base_url.encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        with proxy.lock:
            proxy.records.append((self.path, start, time.perf_counter(), status))

    def log_message(self, format: str, *args: Any) -> None:
        pass


def max_in_flight(records: list[tuple[str, float, float, int]]) -> int:
    events = sorted([(s, 1) for _, s, _, _ in records] + [(e, -1) for _, _, e, _ in records])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def _measure(call: Callable[[], tuple[int, Any]], proxy: CountingProxy,
             calls: int) -> dict[str, float]:
    rows = []
    for _ in range(calls):
        proxy.take()
        start = time.perf_counter()
        status, answer = call()
        latency = time.perf_counter() - start
        records = proxy.take()
        if status != 200 or not answer.get("cards"):
            raise RuntimeError(f"hook answered {status}: {str(answer)[:300]}")
        if any(r[3] != 200 for r in records):
            raise RuntimeError(f"a FHIR query failed: {[(r[0], r[3]) for r in records]}")
        durations = [end - begin for _, begin, end, _ in records]
        slowest = max(durations, default=0.0)
        rows.append({"round_trips": len(records), "in_flight": max_in_flight(records),
                     "latency_ms": latency * 1000, "slowest_ms": slowest * 1000,
                     "sum_ms": sum(durations) * 1000,
                     "latency_over_slowest": latency / slowest if slowest else float("nan"),
                     "latency_over_sum": latency / sum(durations) if durations else float("nan")})
    return {key: statistics.median(r[key] for r in rows) for key in rows[0]}


def run(calls: int = 10, delay_ms: float = 50.0, warmup: int = 3,
        threads: int = 4) -> dict[str, Any]:
    full = myeloma_on_lenalidomide_dexamethasone()
    fetched = copy.deepcopy(full)
    del fetched["prefetch"]
    fetched["fhirAuthorization"] = {"access_token": "bench-token", "token_type": "Bearer",
                                    "expires_in": 300, "scope": "patient/*.read",
                                    "subject": "cds-service"}
    results: dict[str, Any] = {"calls": calls, "delay_ms": delay_ms}
    with tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp, \
            FhirServer(Path(tmp) / "fhir") as fhir:
        fhir.load(resources_of(full))
        with CountingProxy(fhir.base_url) as proxy:
            fetched["fhirServer"] = proxy.base_url
            env = service_env(Path(tmp), allowlist=proxy.base_url)
            # one worker: every call goes to the same (warm) process and FHIR client
            with Gunicorn("service", workers=1, threads=threads, env=env,
                          workdir=Path(tmp)) as server:
                def with_prefetch() -> tuple[int, Any]:
                    return post_json(server.port, PATH, full)

                def without() -> tuple[int, Any]:
                    return post_json(server.port, PATH, fetched)

                status, expected = with_prefetch()
                status2, got = without()
                if status != 200 or status2 != 200 or [c["summary"] for c in got["cards"]] != [
                        c["summary"] for c in expected["cards"]]:
                    raise RuntimeError(f"fetched cards differ from prefetched ones: {status} "
                                       f"{status2} {str(got)[:300]}")
                for _ in range(warmup):
                    with_prefetch()
                    without()
                results["prefetch"] = _measure(with_prefetch, proxy, calls)
                results["fetch"] = _measure(without, proxy, calls)
                proxy.delay = delay_ms / 1000
                without()
                proxy.take()
                results["fetch_delay"] = _measure(without, proxy, calls)
                proxy.delay = 0.0
    return results


def report(res: dict[str, Any]) -> None:
    def row(name: str, r: dict[str, float]) -> list[Any]:
        return [name, f"{r['round_trips']:.0f}", f"{r['in_flight']:.0f}",
                f"{r['latency_ms']:.1f}", f"{r['slowest_ms']:.1f}", f"{r['sum_ms']:.1f}",
                "-" if r["round_trips"] == 0 else f"{r['latency_over_slowest']:.2f}",
                "-" if r["round_trips"] == 0 else f"{r['latency_over_sum']:.2f}"]

    base, fetch, delayed = res["prefetch"], res["fetch"], res["fetch_delay"]
    over = delayed["latency_ms"] - base["latency_ms"]
    print_table(
        f"fetch: vte-patient-view myeloma without prefetch, via a counting proxy to sekmet-fhir "
        f"(median of {res['calls']} calls)",
        ["mode", "FHIR round trips", "max in flight", "hook ms", "slowest query ms",
         "sum of queries ms", "hook/slowest", "hook/sum"],
        [row("complete prefetch (baseline)", base), row("no prefetch", fetch),
         row(f"no prefetch, +{res['delay_ms']:g} ms per query", delayed)],
        [f"with +{res['delay_ms']:g} ms: hook - baseline = {over:.1f} ms = "
         f"{over / delayed['slowest_ms']:.2f} x slowest query, "
         f"{over / delayed['sum_ms']:.2f} x sum (target: latency tracks the slowest, ~1 x)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fetch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=10, help="measured calls per mode")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    if not 0 < args.calls <= 1000 or not 0 <= args.delay_ms <= 5000:
        parser.error("--calls must be in (0, 1000] and --delay-ms in [0, 5000]")
    report(run(args.calls, args.delay_ms, args.warmup, args.threads))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
