"""`vte-cds check-ehr`: an integrator's first question, "why is my EHR refused?", answered line
by line for a request captured from the public CDS Hooks sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import responses

from cds_service.cli import main
from cds_service.security.issuers import SANDBOX_ISSUER, SANDBOX_JWKS_URL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks-sandbox"
CAPTURE = FIXTURES / "01-cds-services_vte-patient-view.json"
SANDBOX_JWKS = json.loads((FIXTURES / "sandbox-jwks.json").read_text("utf-8"))
SANDBOX = json.dumps({SANDBOX_ISSUER: {"profile": "cds-hooks-sandbox"}})
CAPTURED_SERVICE = "http://127.0.0.1:5001"
CAPTURED_AT = json.loads(CAPTURE.read_text("utf-8"))["captured_at_epoch"]
KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


def report(capsys, *options: str,
           capture: Path = CAPTURE) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit status, and each line's status and text by check name."""
    code = main(["check-ehr", str(capture), *options])
    out = capsys.readouterr().out
    token = json.loads(capture.read_text("utf-8"))["headers"]["Authorization"].split()[1]
    assert token not in out
    lines = {}
    for line in out.splitlines():
        status, name, text = line[:5].strip(), line[6:16].strip(), line[17:]
        lines[name] = (status, text)
    return code, lines


@pytest.fixture
def sandbox_keys():
    with responses.RequestsMock() as served:
        served.get(SANDBOX_JWKS_URL, json=SANDBOX_JWKS)
        yield served


def test_a_captured_sandbox_request_passes_every_check_at_its_capture_time(capsys,
                                                                            sandbox_keys):
    code, lines = report(capsys, "--issuers", SANDBOX, "--public-url", CAPTURED_SERVICE,
                         "--at", "capture")
    assert code == 0
    assert list(lines) == ["token", "issuer", "algorithm", "jku", "key set", "kid", "signature",
                           "aud", "clock", "lifetime", "sub"]
    assert {name: status for name, (status, _) in lines.items()} == {
        **dict.fromkeys(lines, "ok"), "sub": "--"}
    assert lines["issuer"][1] == f"{SANDBOX_ISSUER} is trusted (profile cds-hooks-sandbox)"
    assert lines["key set"][1] == f"{SANDBOX_JWKS_URL} answered with 1 signing key(s)"
    assert lines["kid"][1] == f"{KID} found"
    assert lines["aud"][1].startswith(
        f"{CAPTURED_SERVICE}/cds-services/vte-patient-view is the URL called")
    assert lines["clock"][1] == ("checked at 2026-12-02T05:58:51Z: issued now, expires in 300 s; "
                                 "leeway 30 s")
    assert lines["lifetime"][1] == "300 s (at most 300 s for the cds-hooks-sandbox profile)"
    assert lines["sub"][1].startswith("(none): not checked")


def test_the_clock_line_fails_past_exp_and_says_how_to_evaluate_at_another_time(capsys,
                                                                               sandbox_keys):
    code, lines = report(capsys, "--issuers", SANDBOX, "--public-url", CAPTURED_SERVICE,
                         "--at", str(CAPTURED_AT + 400))
    assert code == 1
    status, text = lines["clock"]
    assert status == "FAIL"
    assert text.startswith("token has expired (checked at 2026-12-02T06:05:31Z: issued 400 s "
                           "before, expires 100 s before")
    assert text.endswith("--at evaluates at another time")
    assert lines["signature"][0] == "ok"


def test_an_iso_time_for_at_is_read_as_utc(capsys, sandbox_keys):
    code, lines = report(capsys, "--issuers", SANDBOX, "--public-url", CAPTURED_SERVICE,
                         "--at", "2026-12-02T06:00:00")
    assert (code, lines["clock"][0]) == (0, "ok")
    assert "issued 69 s before, expires in 231 s" in lines["clock"][1]


def test_a_public_url_other_than_the_one_called_fails_the_aud_line(capsys, sandbox_keys):
    code, lines = report(capsys, "--issuers", SANDBOX, "--public-url",
                         "https://cds.hospital.example", "--at", "capture")
    assert code == 1
    assert lines["aud"] == ("FAIL", (
        f"{CAPTURED_SERVICE}/cds-services/vte-patient-view is not the URL called, "
        "https://cds.hospital.example/cds-services/vte-patient-view (public URL "
        "https://cds.hospital.example plus the path); set VTE_CDS_PUBLIC_URL to what the EHR "
        "calls"))


def test_without_a_public_url_aud_is_not_checked_and_says_so(capsys, sandbox_keys):
    code, lines = report(capsys, "--issuers", SANDBOX, "--at", "capture")
    assert code == 0
    assert lines["aud"][0] == "--"
    assert "give --public-url" in lines["aud"][1]


def test_a_client_id_allow_list_fails_the_sub_line_of_the_sandbox_which_sends_none(
    capsys, sandbox_keys
):
    issuers = json.dumps({SANDBOX_ISSUER: {"profile": "cds-hooks-sandbox", "sub": ["my-ehr"]}})
    code, lines = report(capsys, "--issuers", issuers, "--public-url", CAPTURED_SERVICE,
                         "--at", "capture")
    assert code == 1
    assert lines["sub"] == ("FAIL", "token sub is not a client id configured for its issuer: "
                                    "(none) is not among my-ehr")
    assert lines["signature"][0] == "ok"


def test_an_unreachable_key_set_fails_its_line_and_the_kid_line(capsys):
    with responses.RequestsMock() as served:
        served.get(SANDBOX_JWKS_URL, status=503)
        code, lines = report(capsys, "--issuers", SANDBOX, "--public-url", CAPTURED_SERVICE,
                             "--at", "capture")
    assert code == 1
    assert lines["key set"] == ("FAIL", f"{SANDBOX_JWKS_URL} unreachable: HTTP 503")
    assert lines["kid"] == ("FAIL", f"{KID} is in no key set (kids seen: none)")
    assert lines["signature"] == ("--", "not checked: no key")
    assert lines["clock"][0] == "ok"  # the other checks still run, on unverified claims


def test_a_kid_missing_from_the_key_set_lists_the_kids_found(capsys):
    with responses.RequestsMock() as served:
        served.get(SANDBOX_JWKS_URL, json={"keys": [{**SANDBOX_JWKS["keys"][0],
                                                     "kid": "rotated-away"}]})
        code, lines = report(capsys, "--issuers", SANDBOX, "--at", "capture")
    assert code == 1
    assert lines["kid"] == ("FAIL", f"{KID} is in no key set (kids seen: rotated-away)")


def test_an_edited_capture_fails_the_signature_line(capsys, sandbox_keys, tmp_path):
    capture = json.loads(CAPTURE.read_text("utf-8"))
    head, _, signature = capture["headers"]["Authorization"].split()[1].split(".")
    other = json.loads((FIXTURES / "03-cds-services_vte-order-select.json").read_text("utf-8"))
    body = other["headers"]["Authorization"].split()[1].split(".")[1]
    capture["headers"]["Authorization"] = f"Bearer {head}.{body}.{signature}"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(capture))
    code, lines = report(capsys, "--issuers", SANDBOX, "--at", "capture", capture=edited)
    assert code == 1
    assert lines["signature"] == ("FAIL", "token signature is invalid")


def test_an_issuer_not_configured_stops_the_report_at_the_issuer_line(capsys):
    epic = json.dumps({"https://fhir.hospital.example/api/FHIR/R4": {"profile": "epic"}})
    code, lines = report(capsys, "--issuers", epic, "--at", "capture")
    assert code == 1
    assert list(lines) == ["token", "issuer"]
    assert lines["issuer"] == ("FAIL", "token issuer is not trusted: "
                                       "https://sandbox.cds-hooks.org is not among "
                                       "https://fhir.hospital.example/api/FHIR/R4")


def test_no_issuer_at_all_is_one_line_and_status_2(capsys, monkeypatch):
    monkeypatch.delenv("VTE_CDS_TRUSTED_ISSUERS", raising=False)
    assert main(["check-ehr", str(CAPTURE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vte-cds: VTE_CDS_TRUSTED_ISSUERS names no issuer. Fix: give --issuers")
    assert len(err.splitlines()) == 1


def test_check_ehr_reads_the_service_settings_from_the_environment_as_a_user_runs_it(tmp_path):
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({SANDBOX_ISSUER: {"profile": "cds-hooks-sandbox",
                                                    "jwks": SANDBOX_JWKS}}))
    env = {name: value for name, value in os.environ.items() if not name.startswith("VTE_CDS_")}
    env.update(VTE_CDS_TRUSTED_ISSUERS=issuers.read_text(), VTE_CDS_PUBLIC_URL=CAPTURED_SERVICE)
    result = subprocess.run([sys.executable, "-m", "cds_service.cli", "check-ehr", str(CAPTURE),
                             "--at", "capture"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[4] == "ok    key set    the issuer's inline jwks"
    by_file = subprocess.run([sys.executable, "-m", "cds_service.cli", "check-ehr", str(CAPTURE),
                              "--issuers", f"@{issuers}", "--public-url", CAPTURED_SERVICE,
                              "--at", "capture"], env=env, capture_output=True, text=True,
                             timeout=60, check=False)
    assert by_file.stdout == result.stdout
