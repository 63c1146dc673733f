"""`vte-cds demo` from a user's point of view: start it, read the URLs, get a card, stop it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from cds_service.embedded_fhir import free_loopback_port


def test_demo_serves_cards_for_the_loaded_patients_and_stops_cleanly(tmp_path):
    port = free_loopback_port()
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "demo", "--port",
                             str(port), "--workdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while "Patients" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.partition("  ")
            lines[key.strip()] = value.strip()
        assert lines["Demo page"] == f"http://127.0.0.1:{port}/"
        fhir = lines["FHIR server"].split()[0]
        assert "syn-mm-high" in lines["Patients"]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = {"hook": "patient-view", "hookInstance": "demo-test",
                "context": {"patientId": "syn-mm-high", "userId": "Practitioner/1"},
                "fhirServer": fhir}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/cds-services/vte-patient-view",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with opener.open(request, timeout=30) as response:
            cards = json.load(response)["cards"]
        assert cards[0]["summary"].startswith("High VTE risk (score 10)")
        with opener.open(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"vte-cds demo" in page.read()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0
