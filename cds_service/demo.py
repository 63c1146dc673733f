"""``vte-cds demo``: the service beside an embedded FHIR server, with the synthetic patients.

Everything binds 127.0.0.1. The FHIR server (sekmet-fhir) and its data live in a temporary
folder (or ``--workdir``); the service runs with authentication off, on loopback only, and says
so. Ctrl-C stops both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TextIO

import requests

DEMO_DATE = "2026-11-27"  # the synthetic patients' results are dated around this day


def _wait(url: str, timeout: float) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def run(port: int, workdir: str | None, out: TextIO) -> int:
    from cds_service.embedded_fhir import FhirServer, sekmet_problem
    from cds_service.synthetic.loader import load_into

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does, cleaning up both

    signal.signal(signal.SIGTERM, _stop)
    problem = sekmet_problem()
    if problem is not None:
        out.write(f"vte-cds demo needs the embedded FHIR server ({problem}); install it with "
                  "pip install 'vte-cds[demo]' (bin/run does)\n")
        return 2
    root = Path(workdir or tempfile.mkdtemp(prefix="vte-cds-demo-"))
    with FhirServer(root / "fhir", inbound_validation="warn") as fhir:
        with requests.Session() as session:
            session.trust_env = False
            patients = load_into(fhir.base_url, session)
        env = {**os.environ, "VTE_CDS_AUTH": "off", "VTE_CDS_FHIR_ALLOWLIST": fhir.base_url,
               "VTE_CDS_UI_FHIR_URL": fhir.base_url, "VTE_CDS_TODAY": DEMO_DATE,
               "VTE_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "VTE_CDS_DATABASE_URL": f"sqlite:///{root / 'feedback.db'}"}
        service = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host",
                                    "127.0.0.1", "--port", str(port)], env=env)
        try:
            if not _wait(f"http://127.0.0.1:{port}/healthz", 30):
                out.write("vte-cds demo: the service did not start\n")
                return 1
            out.write(f"FHIR server     {fhir.base_url}  ({len(patients)} patients)\n"
                      f"Demo page       http://127.0.0.1:{port}/\n"
                      f"Discovery       http://127.0.0.1:{port}/cds-services\n"
                      f"Patients        {', '.join(patients)}\n"
                      "Authentication is OFF (demo, loopback only). Ctrl-C stops.\n")
            out.flush()
            service.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if service.poll() is None:
                service.send_signal(signal.SIGTERM)
                try:
                    service.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    service.kill()
    return 0
