"""Settings as a user meets them, through the real command in a fresh process: a wrong setting stops
`vte-cds serve` with status 2 and one line naming the variable and the way out (before gunicorn
starts a worker), and the commands that serve nothing need no serving setting at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.fhir.embedded import free_loopback_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patient-view-myeloma-rd.json"
ISSUER = "https://ehr.example.org"


def vte_cds(*args: str, cwd: Path, timeout: float = 60,
            **settings: str) -> subprocess.CompletedProcess[str]:
    """``vte-cds ARGS`` with only the given ``VTE_CDS_*`` settings, as on a fresh machine."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VTE_CDS_")}
    env.update({f"VTE_CDS_{name}": value for name, value in settings.items()})
    return subprocess.run([sys.executable, "-m", "cds_service.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_serve_with_authentication_on_and_no_issuer_says_which_setting_and_the_way_out(tmp_path):
    line = one_line(vte_cds("serve", "--port", str(free_loopback_port()), cwd=tmp_path))
    assert line.startswith("vte-cds: VTE_CDS_TRUSTED_ISSUERS names no issuer, and "
                           "authentication is on")
    assert "docs/security.md" in line
    assert "bin/run with no arguments" in line


@pytest.mark.parametrize(
    ("settings", "starts"),
    [
        ({"AUTH": "maybe"}, "VTE_CDS_AUTH must be on or off"),
        ({"TRUSTED_ISSUERS": "{not json"}, "VTE_CDS_TRUSTED_ISSUERS is not valid JSON"),
        ({"TRUSTED_ISSUERS": '{"https://ehr.example.org": {"profile": "epik"}}'},
         "VTE_CDS_TRUSTED_ISSUERS is wrong: issuer 'https://ehr.example.org': unknown profile"),
        ({"TRUSTED_ISSUERS": '{"https://ehr.example.org": {"jwks_url": "http://ehr.example.org/k"}}'},
         "VTE_CDS_TRUSTED_ISSUERS is wrong: issuer 'https://ehr.example.org': JWKS URL"),
        ({"AUTH": "off", "FHIR_TIMEOUT": "soon"}, "VTE_CDS_FHIR_TIMEOUT must be a number"),
        ({"AUTH": "off", "FHIR_MAX_PAGES": "0"}, "VTE_CDS_FHIR_MAX_PAGES must be a whole number"),
        ({"AUTH": "off", "DATABASE_URL": "mysql://db/feedback"},
         "VTE_CDS_DATABASE_URL names no feedback store"),
        ({"AUTH": "off", "LANGUAGE": "fr"}, "VTE_CDS_LANGUAGE must be en or zh"),
        ({"AUTH": "off", "TODAY": "2026-13-01"}, "VTE_CDS_TODAY must be a date"),
        ({"AUTH": "off", "PUBLIC_URL": "cds.hospital.org"},
         "VTE_CDS_PUBLIC_URL is not an http(s) base URL"),
        ({"AUTH": "off", "FHIR_ALLOWLIST": "https://fhir.example/r4,ftp://files.example"},
         "VTE_CDS_FHIR_ALLOWLIST holds an entry"),
        ({"AUTH": "off", "MAX_BODY_BYTES": "lots"}, "VTE_CDS_MAX_BODY_BYTES must be"),
        ({"AUTH": "off", "LOG_CARDS": "sometimes"}, "VTE_CDS_LOG_CARDS must be true or false"),
        ({"AUTH": "off", "STORE_KEY": "short-secret"},
         "VTE_CDS_STORE_KEY must be at least 32 characters"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, dict) else None,
)
def test_every_wrong_setting_stops_serve_with_one_line(tmp_path, settings, starts):
    line = one_line(vte_cds("serve", "--port", str(free_loopback_port()), cwd=tmp_path,
                            **settings))
    assert line.startswith(f"vte-cds: {starts}")
    assert ". Fix: " in line


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(vte_cds("serve", "--port", str(port), cwd=tmp_path, AUTH="off"))
    assert line.startswith(f"vte-cds: cannot listen on 127.0.0.1:{port}")
    assert "--port" in line


def test_serve_with_a_trusted_issuer_starts_gunicorn_workers_that_check_tokens(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    public = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())),
              "kid": "k1", "alg": "ES384", "use": "sig"}
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("VTE_CDS_")}
    env.update(VTE_CDS_TRUSTED_ISSUERS=json.dumps({ISSUER: {"jwks": {"keys": [public]}}}),
               VTE_CDS_PUBLIC_URL=base, VTE_CDS_TODAY="2026-11-27",
               VTE_CDS_DATABASE_URL=f"sqlite:///{tmp_path}/feedback.db")
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--port",
                             str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with opener.open(f"{base}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "vte-cds serve exited"
                time.sleep(0.3)
        url = f"{base}/cds-services/vte-patient-view"
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "aud": url, "iat": now, "exp": now + 300,
                            "jti": f"serve-{now}"}, key, algorithm="ES384",
                           headers={"kid": "k1", "typ": "JWT"})
        call = urllib.request.Request(url, data=EXAMPLE.read_bytes(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with opener.open(call, timeout=30) as answer:
            assert json.load(answer)["cards"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        log = proc.stderr.read()
        proc.stderr.close()
    assert "Traceback" not in log


def test_feedback_report_on_a_fresh_machine_needs_no_setting(tmp_path):
    result = vte_cds("feedback-report", cwd=tmp_path)
    assert (result.returncode, result.stderr, json.loads(result.stdout)) == (0, "", [])


# Settings that would stop `serve` but that these commands do not read.
SERVING_SETTINGS_GONE_WRONG = {"AUTH": "maybe", "TRUSTED_ISSUERS": "{not json",
                               "FHIR_TIMEOUT": "soon", "PUBLIC_URL": "nowhere",
                               "LANGUAGE": "fr"}


@pytest.mark.parametrize("command", [["feedback-report"], ["tables"], ["demo-assess"],
                                     ["assess", str(EXAMPLE), "--as-of", "2026-11-27"]],
                         ids=lambda command: command[0])
def test_commands_that_serve_nothing_read_no_serving_setting(tmp_path, command):
    result = vte_cds(*command, cwd=tmp_path, **SERVING_SETTINGS_GONE_WRONG)
    assert result.returncode == 0, result.stderr
    assert result.stdout
    assert "VTE_CDS" not in result.stderr


def test_feedback_report_with_a_wrong_store_url_says_so_in_one_line(tmp_path):
    line = one_line(vte_cds("feedback-report", cwd=tmp_path, DATABASE_URL="mysql://db/x"))
    assert line.startswith("vte-cds: VTE_CDS_DATABASE_URL names no feedback store")
