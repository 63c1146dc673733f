"""Logs and metrics hold the service id, the hook instance, counts and timings: never a token, a
patient id, a birth date, a name or a lab value.

Every logger is captured at DEBUG over a full run of every named scenario through all three
hooks, the card links, feedback (with a comment naming the patient), /assessments, and the error
paths (malformed requests, FHIR faults, refused tokens, an unhandled exception), plus Werkzeug's
request log from a real loopback server. The full run and the error paths log in JSON
(``VTE_CDS_LOG_FORMAT=json``, each record formatted as it is written, inside its request), and
their ``/metrics`` output is searched too. Lab values are nudged to distinctive decimals
(52 -> 52.000137) so that finding one in a log cannot be a coincidence.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import make_server

from cds_service.logs import JsonFormatter
from tests.cds_service.scenarios import SCENARIOS, TODAY
from tests.reliability.support import SERVICES, closed_port, make_app, scenario_request

ROOT = Path(__file__).resolve().parents[2]
FHIR = "http://fhir.test/fhir"
FHIR_TOKEN = "ehr-fhir-token-9a7f3c21e8"
NAME = "Xiuying"
COMMENT = f"Mrs Wang {NAME} is on warfarin already, see her 2026 admission"
ISS = "https://ehr.example.org"
LOGGERS = ("", "vte_cds", "cds_service", "cds_service.security.keys", "cds_service.storage",
           "hooks", "fhir_mappers", "vte_rules", "werkzeug", "flask", "urllib3", "requests")


def identifying(body: dict) -> tuple[dict, set[str]]:
    """The request with a named patient and distinctive lab values, and the strings that must
    never be logged: the patient id, birth date, name and every lab value."""
    body = copy.deepcopy(body)
    secrets = {body["context"]["patientId"], NAME}
    patient = body["prefetch"]["patient"]
    patient["name"] = [{"family": "Wang", "given": [NAME]}]
    secrets.add(patient["birthDate"])
    for entry in body["prefetch"]["observations"]["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if quantity is not None:
            quantity["value"] = round(quantity["value"] + 0.000137, 6)
            secrets.add(str(quantity["value"]))
    return body, secrets


@pytest.fixture
def logs(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    json_lines = logging.StreamHandler(io.StringIO())
    json_lines.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(json_lines)
    caplog.json_lines = json_lines.stream
    yield caplog
    logging.getLogger().removeHandler(json_lines)


def logged_text(caplog) -> str:
    lines = [caplog.json_lines.getvalue()]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def assert_nothing_secret(caplog, secrets: set[str]) -> None:
    assert caplog.records, "nothing was logged: the capture is not working"
    text = logged_text(caplog)
    found = sorted(s for s in secrets if s and s in text)
    assert not found, f"logged: {found}"


def assert_metrics_hold_nothing_secret(client, secrets: set[str]) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    assert "vte_cds_hook_duration_seconds_count" in text
    found = sorted(s for s in secrets if s and s in text)
    assert not found, f"in /metrics: {found}"


def ehr_key_and_app(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", alg="ES384", use="sig")
    app = make_app(tmp_path, AUTH="on", TRUSTED_ISSUERS={ISS: {"jwks": {"keys": [public]}}},
                   LOG_CARDS=True)
    return key, app


def jwt_for(key, path: str, **overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "ehr-client", "aud": f"https://cds.example{path}", "iat": now,
              "exp": now + 300, "jti": str(uuid.uuid4())}
    headers = {"kid": "k1", "typ": "JWT", **overrides.pop("headers", {})}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="ES384", headers=headers)


def test_a_full_run_of_every_scenario_logs_no_phi_and_no_token(tmp_path, logs):
    app = make_app(tmp_path, LOG_CARDS=True, FHIR_ALLOWLIST=FHIR, FHIR_MAX_PAGES=2,
                   LOG_FORMAT="json")
    client = app.test_client()
    secrets = {FHIR_TOKEN, COMMENT, "Wang"}
    link_tokens: set[str] = set()
    for name in sorted(SCENARIOS):
        for service in SERVICES:
            body, private = identifying(scenario_request(name, service))
            secrets |= private
            body["fhirServer"] = FHIR
            body["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer"}
            response = client.post(f"/cds-services/{service}", json=body)
            assert response.status_code == 200
            for card in response.json["cards"]:
                for link in card.get("links", []):
                    if "/assessments/view/" not in link["url"]:
                        continue  # the SMART app link needs an EHR launch
                    path = link["url"].removeprefix("https://cds.example")
                    link_tokens.add(path.rsplit("/", 1)[-1])
                    assert client.get(path).status_code == 200
                    assert client.get(path, headers={"Accept": "application/json"}).json
                feedback = {"feedback": [
                    {"card": card["uuid"], "outcome": "overridden",
                     "outcomeTimestamp": "2026-11-27T09:30:00Z",
                     "overrideReason": {"reason": {"system": "urn:vte-cds:override-reason",
                                                   "code": "patient_declined"},
                                        "userComment": COMMENT}}]}
                assert client.post(f"/cds-services/{service}/feedback",
                                   json=feedback).status_code == 200
            if service == "vte-patient-view":
                assert client.post(f"/assessments?as_of={TODAY}", json=body).status_code == 200
                entries = [{"resource": v} if v["resourceType"] != "Bundle" else e
                           for v in body["prefetch"].values()
                           for e in (v.get("entry", []) if v["resourceType"] == "Bundle"
                                     else [None])]
                bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
                assert client.post("/assessments", json=bundle).status_code == 200
    assert link_tokens
    assert '"route": "/assessments/view/<token>", "status": 200' in logs.json_lines.getvalue()
    assert_nothing_secret(logs, secrets | link_tokens)
    assert_metrics_hold_nothing_secret(client, secrets | link_tokens)


def test_error_paths_log_no_phi_and_no_token(tmp_path, logs):
    app = make_app(tmp_path, FHIR_ALLOWLIST=FHIR, FHIR_MAX_PAGES=2, MAX_BODY_BYTES=200_000,
                   LOG_FORMAT="json")
    client = app.test_client()
    body, secrets = identifying(scenario_request("myeloma_on_lenalidomide_dexamethasone",
                                                 "vte-patient-view"))
    pid = body["context"]["patientId"]
    secrets |= {FHIR_TOKEN, COMMENT}
    hook = "/cds-services/vte-patient-view"

    def variant(**changes):
        changed = copy.deepcopy(body)
        for path, value in changes.items():
            target = changed
            keys = path.split("__")
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value
        return changed

    bad = [
        variant(hookInstance=f"{pid}-{NAME}-" + "x" * 100),
        variant(context__patientId=f"{pid}-" + "y" * 80),
        variant(context=f"patient {pid} born {body['prefetch']['patient']['birthDate']}"),
        variant(prefetch=[body["prefetch"]["patient"]]),
        variant(hook="order-sign"),
        variant(fhirServer=123),
        variant(prefetch__conditions=None, fhirServer=FHIR,
                fhirAuthorization={"token": FHIR_TOKEN}),
    ]
    for request_body in bad:
        assert client.post(hook, json=request_body).status_code == 400
    assert client.post(hook, data=json.dumps(body)[:-5],
                       content_type="application/json").status_code == 400
    assert client.post(f"/cds-services/{pid}", json=body).status_code == 404
    huge = variant(padding=NAME * 40_000)
    assert client.post(hook, json=huge).status_code == 413
    no_data = variant(prefetch__conditions=None)
    assert client.post(hook, json=no_data).status_code == 412
    elsewhere = variant(prefetch__conditions=None, fhirServer="http://169.254.169.254/fhir",
                        fhirAuthorization={"access_token": FHIR_TOKEN})
    assert client.post(hook, json=elsewhere).status_code == 403
    # an unhandled exception: logged as its type and route only
    overflow = copy.deepcopy(body)
    overflow["prefetch"]["observations"]["entry"][1]["resource"]["valueQuantity"]["value"] = \
        10**400
    # an out-of-range lab value is a data issue, not an error: the card is still answered
    assert client.post(hook, data=json.dumps(overflow),
                       content_type="application/json").status_code == 200
    # the FHIR server fails every way
    fetch = variant(prefetch__conditions=None, fhirServer=FHIR,
                    fhirAuthorization={"access_token": FHIR_TOKEN})
    endless = {"resourceType": "Bundle", "type": "searchset",
               "link": [{"relation": "next", "url": f"{FHIR}/Condition?page=2"}]}
    offsite = {"resourceType": "Bundle", "type": "searchset",
               "link": [{"relation": "next", "url": "http://elsewhere.test/fhir/x"}]}
    faults = [{"body": requests.Timeout(f"read timed out for {pid}")},
              {"body": requests.ConnectionError(f"refused {FHIR_TOKEN}")},
              {"status": 401, "json": {"issue": [{"diagnostics": f"bad token {FHIR_TOKEN}"}]}},
              {"status": 500, "body": f"stack trace mentioning {pid}"},
              {"body": f"<html>{pid}</html>"}, {"json": endless}, {"json": offsite}]
    for fault in faults:
        with responses.RequestsMock() as mock:
            mock.add(responses.GET, re.compile(r"http://fhir\.test/fhir/.*"), **fault)
            assert client.post(hook, json=fetch).status_code == 412
    # feedback refused
    wrong = {"feedback": [{"card": "not-a-uuid", "outcome": "overridden",
                           "outcomeTimestamp": "2026-11-27T09:30:00Z",
                           "overrideReason": {"userComment": COMMENT * 100}}]}
    assert client.post(f"{hook}/feedback", json=wrong).status_code == 400
    assert client.post(f"/assessments?as_of={pid}", json=body).status_code == 400
    assert_nothing_secret(logs, secrets)
    assert_metrics_hold_nothing_secret(client, secrets)


def test_refused_tokens_log_no_token_and_no_phi(tmp_path, logs):
    key, app = ehr_key_and_app(tmp_path)
    client = app.test_client()
    body, secrets = identifying(scenario_request("cmvt_low_risk", "vte-patient-view"))
    path = "/cds-services/vte-patient-view"
    good = jwt_for(key, path)
    other = ec.generate_private_key(ec.SECP384R1())
    bad = [jwt_for(key, path, exp=int(time.time()) - 3600),
           jwt_for(key, path, aud="https://elsewhere.example/"),
           jwt_for(other, path),
           jwt_for(key, path, iss="https://attacker.example"),
           jwt_for(key, path, headers={"jku": "http://127.0.0.1:9/jwks.json"}),
           good + "x", "not.a.jwt", "a" * 20_000]
    assert client.post(path, json=body, headers={"Authorization": f"Bearer {good}"}) \
        .status_code == 200
    statuses = [client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
                .status_code for token in [good, *bad]]
    assert all(status in (401, 403) for status in statuses)
    with closed_port() as port:  # the issuer's key URL is down: logged without the token
        down = make_app(tmp_path, AUTH="on", TRUSTED_ISSUERS={
            ISS: {"jwks_url": f"http://127.0.0.1:{port}/jwks.json"}}).test_client()
        token = jwt_for(key, path)
        assert down.post(path, json=body,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 401
    secrets |= {good, token, *(t for t in bad if len(t) > 20)}
    secrets |= {t.split(".")[1] for t in (good, token)}  # the claims part alone
    assert_nothing_secret(logs, secrets)


def test_werkzeug_request_log_of_a_real_server_holds_no_phi(tmp_path, logs):
    app = make_app(tmp_path, LOG_CARDS=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    secrets = {FHIR_TOKEN}
    try:
        with requests.Session() as http:
            for name in sorted(SCENARIOS):
                _, service = SCENARIOS[name]
                body, private = identifying(scenario_request(name, service))
                secrets |= private
                body["fhirAuthorization"] = {"access_token": FHIR_TOKEN}
                answer = http.post(f"{base}/cds-services/{service}", json=body, timeout=10,
                                   headers={"Authorization": f"Bearer {FHIR_TOKEN}"})
                assert answer.status_code == 200
            assert http.post(f"{base}/cds-services/x", data="{", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert any(r.name == "werkzeug" for r in logs.records)
    assert_nothing_secret(logs, secrets)


def test_an_unhandled_error_on_an_assessment_link_does_not_log_the_link(tmp_path, logs):
    """The page fails on a lone surrogate (an open 5xx finding); the error log names the route,
    not the path that holds the link token."""
    client = make_app(tmp_path).test_client()
    body = scenario_request("myeloma_on_lenalidomide_dexamethasone", "vte-patient-view")
    body["prefetch"]["observations"]["entry"][0]["resource"]["id"] = "egfr-\udfff"
    response = client.post("/cds-services/vte-patient-view", data=json.dumps(body),
                           content_type="application/json")
    path = response.json["cards"][0]["links"][0]["url"].removeprefix("https://cds.example")
    client.get(path, headers={"Accept": "text/html"})
    assert_nothing_secret(logs, {path.rsplit("/", 1)[-1]})


@pytest.fixture(scope="module")
def gunicorn_log(tmp_path_factory):
    """``vte-cds serve --access-log`` on loopback: a hook call, its card link, then SIGTERM;
    everything it wrote to stdout and stderr."""
    folder = tmp_path_factory.mktemp("gunicorn")
    with closed_port() as port:
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "VTE_CDS_AUTH": "off", "VTE_CDS_TODAY": TODAY,
               "VTE_CDS_PUBLIC_URL": base, "VTE_CDS_LOG_CARDS": "true",
               "VTE_CDS_DATABASE_URL": f"sqlite:///{folder}/fb.db",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                           os.environ.get("PYTHONPATH")]))}
        out = (folder / "out.txt").open("w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port),
             "--workers", "1", "--threads", "2", "--access-log"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    body, secrets = identifying(scenario_request("myeloma_on_lenalidomide_dexamethasone",
                                                 "vte-patient-view"))
    body["fhirAuthorization"] = {"access_token": FHIR_TOKEN}
    secrets.add(FHIR_TOKEN)
    link = ""
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, "vte-cds serve exited"
            assert time.monotonic() < deadline, "vte-cds serve did not start in 30 s"
            time.sleep(0.2)
        answer = requests.post(f"{base}/cds-services/vte-patient-view", json=body, timeout=10)
        assert answer.status_code == 200
        link = answer.json()["cards"][0]["links"][0]["url"]
        assert requests.get(link, timeout=10).status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    out.seek(0)
    text = out.read()
    out.close()
    return text, secrets, link.rsplit("/", 1)[-1]


def test_gunicorn_logs_hold_no_phi_and_no_token(gunicorn_log):
    text, secrets, _ = gunicorn_log
    assert "POST /cds-services/<service_id>" in text  # the access log is on (routes only)
    found = sorted(s for s in secrets if s in text)
    assert not found, f"logged: {found}"


def test_gunicorn_access_log_holds_no_assessment_link(gunicorn_log):
    text, _, token = gunicorn_log
    assert token
    assert token not in text
