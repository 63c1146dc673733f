"""``vte-cds demo`` (and ``bin/run`` with no arguments): the service beside an embedded FHIR
server, with the synthetic patients.

Everything binds 127.0.0.1. The FHIR server (sekmet-fhir) and its data live in a temporary
folder (or ``--workdir``); the service runs with authentication off, which is safe only because
nothing but this machine can reach it, and it says so. Ctrl-C (or SIGTERM) stops both.
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
HOST = "127.0.0.1"  # never anything else: authentication is off


def _wait(url: str, timeout: float, service: subprocess.Popen[bytes]) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.poll() is None:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def run(port: int, workdir: str | None, out: TextIO) -> int:
    from cds_service.app import check_settings
    from cds_service.cli import port_problem
    from cds_service.fhir.embedded import FhirServer, sekmet_problem
    from cds_service.synthetic.loader import load_into

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does, cleaning up both

    signal.signal(signal.SIGTERM, _stop)
    problem = sekmet_problem()
    if problem is not None:
        sys.stderr.write(f"vte-cds demo needs the embedded FHIR server ({problem}); install it "
                         "with pip install 'vte-cds[demo]' (bin/run does)\n")
        return 2
    check_settings({"AUTH": "off"})  # the settings the demo does not set itself
    busy = port_problem(HOST, port)
    if busy is not None:
        sys.stderr.write(f"vte-cds demo: {busy} (bin/run demo --port 8081)\n")
        return 2
    root = Path(workdir or tempfile.mkdtemp(prefix="vte-cds-demo-"))
    with FhirServer(root / "fhir", inbound_validation="warn") as fhir:
        with requests.Session() as session:
            session.trust_env = False
            patients = load_into(fhir.base_url, session)
        env = {**os.environ, "VTE_CDS_AUTH": "off", "VTE_CDS_FHIR_ALLOWLIST": fhir.base_url,
               "VTE_CDS_UI_FHIR_URL": fhir.base_url, "VTE_CDS_TODAY": DEMO_DATE,
               "VTE_CDS_PUBLIC_URL": f"http://{HOST}:{port}",
               "VTE_CDS_DATABASE_URL": f"sqlite:///{root / 'feedback.db'}"}
        service = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host",
                                    HOST, "--port", str(port)], env=env)
        try:
            if not _wait(f"http://{HOST}:{port}/healthz", 30, service):
                out.write("vte-cds demo: the service did not start (its error is above)\n")
                return service.poll() or 1
            service_url = f"http://{HOST}:{port}"
            out.write("vte-cds demo: started, on this machine only (127.0.0.1)\n"
                      f"FHIR server     {fhir.base_url}  (sekmet-fhir, {len(patients)} "
                      "synthetic patients)\n"
                      f"Demo page       {service_url}/\n"
                      f"Discovery       {service_url}/cds-services\n"
                      f"Patients        {', '.join(patients)}\n"
                      f"Feedback store  {env['VTE_CDS_DATABASE_URL']}  (VTE_CDS_DATABASE_URL="
                      "this, then bin/run feedback-report)\n"
                      "Authentication  OFF: the service listens on 127.0.0.1 only, so no other "
                      "machine can call it. To serve an EHR, run bin/run serve with "
                      "VTE_CDS_TRUSTED_ISSUERS (README, For integrators).\n"
                      "Ctrl-C stops the service and the FHIR server.\n")
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
