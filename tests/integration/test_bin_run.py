"""`bin/run` with no arguments, as on a fresh clone: the demo on http://127.0.0.1:8080/.

The port is the real default, 8080, so runs of this test on one machine take turns (a lock
file); if something else holds the port the test says so instead of guessing.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_service.cli import port_problem

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8080"


@pytest.fixture
def port_8080() -> Iterator[None]:
    with open(Path(tempfile.gettempdir()) / "vte-cds-port-8080.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = port_problem("127.0.0.1", 8080)
        if problem is not None:
            pytest.fail(f"bin/run's default port is taken, so its default cannot be tested: "
                        f"{problem}", pytrace=False)
        yield


def test_bin_run_with_no_arguments_serves_the_demo_on_loopback_8080(port_8080, tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("VTE_CDS_")}
    proc = subprocess.Popen([str(ROOT / "bin" / "run")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 300  # a first run installs the package
        assert proc.stdout is not None
        while "Authentication" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.partition("  ")
            lines[key.strip()] = value.strip()
        assert lines["Demo page"] == f"{BASE}/"
        assert lines["Discovery"] == f"{BASE}/cds-services"
        assert "22 synthetic patients" in lines["FHIR server"]
        assert lines["Authentication"].startswith("OFF: the service listens on 127.0.0.1 only")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{BASE}/", timeout=10) as page:
            assert b"vte-cds demo" in page.read()
        body = {"hook": "patient-view", "hookInstance": "bin-run-test",
                "context": {"patientId": "syn-mm-high", "userId": "Practitioner/1"},
                "fhirServer": lines["FHIR server"].split()[0]}
        call = urllib.request.Request(f"{BASE}/cds-services/vte-patient-view",
                                      data=json.dumps(body).encode(),
                                      headers={"Content-Type": "application/json"})
        with opener.open(call, timeout=30) as answer:
            assert json.load(answer)["cards"][0]["summary"].startswith("High VTE risk")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0
