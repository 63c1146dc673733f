"""``/metrics`` of ``vte-cds serve`` with two gunicorn workers (prometheus-client's multiprocess
mode): one scrape adds up what both workers did, a killed worker's counts stay while its gauge goes
with it, and the run's metrics folder (one per run, made by ``serve`` and given to gunicorn with
the ``child_exit`` hook that strikes ended workers off) is removed when the service stops. The
service logs in JSON (``VTE_CDS_LOG_FORMAT=json``): every line it writes, gunicorn's included, is
one JSON object.

Which worker did what is read from the metrics folder itself: each worker writes its own files
(``counter_<pid>.db``, ``gauge_livesum_<pid>.db``). The FHIR server is a loopback server of this
test that holds one query until the test lets it go. Traffic goes only to 127.0.0.1; the service
is stopped before the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from bench.serving import Gunicorn, free_port, service_env
from cds_service import cli
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.reliability.served import FakeFhir, answer, bundle, call

HOOK = "/cds-services/vte-patient-view"
HOOK_ROUTE = "/cds-services/<service_id>"
WORKERS = 2
MAX_CALLS = 200
BATCH = 8
WAIT_S = 20.0


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """Set to let the held FHIR query answer."""
    release = threading.Event()
    yield release
    release.set()


@pytest.fixture
def served(tmp_path, held) -> Iterator[tuple[Gunicorn, FakeFhir, str, Path]]:
    """The service with JSON logs and its temporary folder in ``tmp_path``; a FHIR base that
    holds its query until ``held`` is set."""
    with FakeFhir() as fhir:
        def hold(handler: BaseHTTPRequestHandler, path: str) -> None:
            held.wait(WAIT_S)
            answer(handler, 200, bundle())

        base = fhir.base(hold)
        env = service_env(tmp_path, fhir.allowlist())
        env.update({"VTE_CDS_LOG_FORMAT": "json", "VTE_CDS_TODAY": TODAY,
                    "VTE_CDS_FHIR_TIMEOUT": str(WAIT_S), "TMPDIR": str(tmp_path)})
        server = Gunicorn("service", workers=WORKERS, threads=4, env=env, workdir=tmp_path)
        with server:
            yield server, fhir, base, tmp_path


def metrics_folder(tmp: Path) -> Path:
    [folder] = tmp.glob("vte-cds-metrics-*")
    return folder


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = call(port, "GET", "/metrics")
    assert response.status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def hooks_answered(samples) -> float:
    return samples.get(("vte_cds_http_requests_total",
                        (("method", "POST"), ("route", HOOK_ROUTE), ("status", "200"))), 0.0)


def in_progress(samples) -> float:
    return samples[("vte_cds_http_requests_in_progress", ())]


def per_worker(folder: Path, kind: str, name: str) -> dict[int, float]:
    """pid -> the value of sample ``name`` (summed over its labels) in that worker's own file."""
    found = {}
    for path in folder.glob(f"{kind}_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        found[pid] = sum(s.value for metric in MultiProcessCollector.merge([str(path)])
                         for s in metric.samples if s.name == name)
    return found


def hook_calls(port: int, count: int) -> None:
    body = myeloma_on_lenalidomide_dexamethasone()
    with ThreadPoolExecutor(BATCH) as pool:  # each on its own connection
        statuses = list(pool.map(lambda _: call(port, "POST", HOOK, body).status, range(count)))
    assert statuses == [200] * count


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {WAIT_S:g} s"
        time.sleep(0.05)


def test_metrics_add_up_both_workers_and_drop_a_killed_workers_gauge(served, held):
    server, fhir, base, tmp = served
    port, folder = server.port, metrics_folder(tmp)
    workers = set(server.worker_pids())
    assert len(workers) == WORKERS

    # Requests until both workers have answered some: one scrape counts them all.
    sent = 0
    while True:
        hook_calls(port, BATCH)
        sent += BATCH
        served_by = per_worker(folder, "counter", "vte_cds_http_requests_total")
        if all(served_by.get(pid, 0) > 0 for pid in workers) or sent >= MAX_CALLS:
            break
    assert all(served_by.get(pid, 0) > 0 for pid in workers), served_by
    samples = scrape(port)
    assert hooks_answered(samples) == sent
    assert samples[("vte_cds_hook_duration_seconds_count",
                    (("service", "vte-patient-view"), ("status", "200")))] == sent
    assert in_progress(samples) == 0

    # A hook call held at the FHIR server is in progress on one worker; kill that worker.
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"]["conditions"] = None
    body["fhirServer"] = base

    def stall() -> None:
        with suppress(OSError):  # the worker is killed under it
            call(port, "POST", HOOK, body, timeout=WAIT_S)

    stalled = threading.Thread(target=stall, daemon=True)
    stalled.start()
    wait_for(lambda: fhir.seen_under(base), "the held query reached the FHIR server")
    assert in_progress(scrape(port)) == 1
    [holder] = [pid for pid, value in per_worker(
        folder, "gauge_livesum", "vte_cds_http_requests_in_progress").items() if value == 1]
    assert holder in workers
    os.kill(holder, signal.SIGKILL)
    wait_for(lambda: not (folder / f"gauge_livesum_{holder}.db").exists(),
             "the killed worker's gauge file was removed")
    wait_for(lambda: len(set(server.worker_pids()) - {holder}) == WORKERS,
             "gunicorn replaced the killed worker")
    held.set()
    stalled.join(WAIT_S)

    samples = scrape(port)
    assert in_progress(samples) == 0
    assert hooks_answered(samples) == sent  # what the killed worker counted is still counted
    assert (folder / f"counter_{holder}.db").exists()

    log = server.log_path
    server.stop()
    assert not folder.exists()  # the run's metrics folder goes with the service
    lines = [line for line in log.read_text("utf-8").splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(doc) for doc in parsed)
    done = [doc for doc in parsed if doc["logger"] == "vte_cds.request"
            and doc.get("route") == HOOK_ROUTE and doc["status"] == 200]
    assert len(done) >= sent
    assert all(doc["method"] == "POST" and doc["ms"] > 0 for doc in done)
    assert any(doc["logger"] == "gunicorn.error" and "SIGKILL" in doc["message"]
               for doc in parsed)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_gives_gunicorn_a_metrics_folder_for_the_run_and_takes_it_back(
        monkeypatch, tmp_path, log_format):
    seen: list[tuple[list[str], str, bool]] = []

    def run() -> None:
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        seen.append((list(sys.argv), folder, Path(folder).is_dir()))

    monkeypatch.setenv("VTE_CDS_AUTH", "off")
    monkeypatch.setenv("VTE_CDS_LOG_FORMAT", log_format)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    monkeypatch.setattr("gunicorn.app.wsgiapp.run", run)
    monkeypatch.setattr(sys, "argv", ["vte-cds"])
    assert cli.main(["serve", "--port", str(free_port()), "--access-log"]) == 0
    [(argv, folder, existed)] = seen
    assert existed
    assert Path(folder).parent == tmp_path
    assert not Path(folder).exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert argv[argv.index("--config") + 1] == "python:cds_service.gunicorn_config"
    if log_format == "json":  # gunicorn's lines in JSON, and the app's request lines only
        assert argv[argv.index("--logger-class") + 1] == "cds_service.gunicorn_config.JsonLogger"
        assert "--access-logfile" not in argv
    else:
        assert "--logger-class" not in argv
        assert "--access-logfile" in argv
