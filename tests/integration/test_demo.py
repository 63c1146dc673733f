"""`vte-cds demo` from a user's point of view: start it, read the URLs, get a card, stop it.
(`tests/integration/test_bin_run.py` runs it as `bin/run` on its default port.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from cds_service.fhir.embedded import free_loopback_port


def test_demo_serves_cards_for_the_loaded_patients_and_stops_cleanly(tmp_path):
    port = free_loopback_port()
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "demo", "--port",
                             str(port), "--workdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines: dict[str, str] = {}
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while "Authentication" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, _, value = line.partition("  ")
            lines[key.strip()] = value.strip()
        assert lines["Demo page"] == f"http://127.0.0.1:{port}/"
        fhir = lines["FHIR server"].split()[0]
        assert "syn-mm-high" in lines["Patients"]
        assert lines["Authentication"].startswith("OFF: the service listens on 127.0.0.1 only")
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


def test_demo_on_a_port_in_use_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "cds_service.cli", "demo", "--port",
                                 str(port), "--workdir", str(tmp_path)], capture_output=True,
                                text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"vte-cds demo: cannot listen on 127.0.0.1:{port} (Address already in use): stop what "
        "listens there, or choose another port with --port (bin/run demo --port 8081)"]
