"""Three gunicorn workers of the real service (``vte-cds serve --workers 3``) share everything
that outlives a request through the store: a card's link opens in another worker, a SMART launch
completes across workers, and a token used once in one worker is refused by the others.

Which worker answers is not left to chance: before each request every worker but one is stopped
(SIGSTOP, for a moment; SIGCONT after), so the one left takes the connection. Each link is made by
one worker and opened by another; each step of the SMART launch lands on another worker. With
state in worker memory, every one of these would fail (a link opens 404, the callback answers
"launch expired", the replay passes). Once on SQLite (the default), once on PostgreSQL.

Authentication is on: the issuer's key is made here and given inline. The EHR (its SMART
configuration, token endpoint and FHIR server) is a loopback HTTP server of this test. Traffic goes
only to 127.0.0.1; every server process is killed before the test ends.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from bench.serving import LOOPBACK, free_port, service_env
from bench.soak import KillableService
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    pg_admin,
    pg_schema,
    pg_url,
)
from tests.cds_service.test_smart_api import SMART_PATIENT, smart_resources

WORKERS = 3
LINKS = 40
ISS = "https://ehr.example"
ACCESS_TOKEN = "EHR-ACCESS-TOKEN-4d2a"
BACKENDS_GONE_S = 10.0


# --- the EHR: SMART configuration, token endpoint, FHIR server ---------------------------------


class Ehr(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _EhrHandler)
        self.base = f"http://{LOOPBACK}:{self.server_address[1]}"
        self.fhir = f"{self.base}/fhir"
        self.resources = smart_resources()
        self.seen: list[tuple[str, str, str | None]] = []  # method, path, Authorization


class _EhrHandler(BaseHTTPRequestHandler):
    server: Ehr

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(("POST", self.path, self.headers.get("Authorization")))
        if self.path != "/token":
            self._answer(404, {})
            return
        self._answer(200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                           "expires_in": 3600, "scope": "launch patient/*.read",
                           "patient": SMART_PATIENT})

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        parts = urlsplit(self.path)
        if parts.path == "/fhir/.well-known/smart-configuration":
            self._answer(200, {"authorization_endpoint": f"{self.server.base}/authorize",
                               "token_endpoint": f"{self.server.base}/token",
                               "capabilities": ["launch-ehr"],
                               "code_challenge_methods_supported": ["S256"]})
            return
        rest = parts.path.removeprefix("/fhir/")
        resources = self.server.resources
        if "/" in rest:
            rtype, rid = rest.split("/", 1)
            found = [r for r in resources if r["resourceType"] == rtype and r["id"] == rid]
            self._answer(200 if found else 404,
                         found[0] if found else {"resourceType": "OperationOutcome"})
            return
        patient = parse_qs(parts.query).get("patient", [""])[0]
        hits = [r for r in resources if r["resourceType"] == rest and
                (r.get("subject") or r.get("patient") or {}).get("reference")
                == f"Patient/{patient}"]
        self._answer(200, {"resourceType": "Bundle", "type": "searchset",
                           "entry": [{"resource": r} for r in hits]})


@contextlib.contextmanager
def ehr_server() -> Iterator[Ehr]:
    server = Ehr()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- the service and its workers ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    url = request.getfixturevalue("pg_url")
    schema = request.getfixturevalue("pg_schema")
    admin = request.getfixturevalue("pg_admin")
    yield url
    # The schema is dropped after this: wait (bounded) until the workers' sessions have ended.
    deadline = time.monotonic() + BACKENDS_GONE_S
    while time.monotonic() < deadline and admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (schema,)).fetchone()[0]:
        time.sleep(0.1)


@pytest.fixture(scope="module")
def issuer_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def ehr():
    with ehr_server() as server:
        yield server


@pytest.fixture
def service(database_url, tmp_path, issuer_key, ehr):
    port = free_port()
    jwk = {**ECAlgorithm.to_jwk(issuer_key.public_key(), as_dict=True), "kid": "k1",
           "alg": "ES384", "use": "sig"}
    env = service_env(tmp_path, allowlist=ehr.fhir)
    env.update({
        "VTE_CDS_AUTH": "on",
        "VTE_CDS_TRUSTED_ISSUERS": json.dumps({ISS: {"jwks": {"keys": [jwk]}}}),
        "VTE_CDS_PUBLIC_URL": f"http://{LOOPBACK}:{port}",
        "VTE_CDS_DATABASE_URL": database_url,
        "VTE_CDS_TODAY": TODAY,
    })
    server = KillableService(port, env, tmp_path / "gunicorn.log", workers=WORKERS, threads=2)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def only(server: KillableService, worker: int) -> Iterator[None]:
    """Every worker but ``worker`` stopped: it alone takes the next connections."""
    others = [pid for pid in server.worker_pids() if pid != worker]
    try:
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def call(port: int, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request on a new connection, closed after the answer."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=20)
    try:
        sent = {"Connection": "close", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=sent)
        answer = conn.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        conn.close()


def token(issuer_key, port: int) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": f"http://{LOOPBACK}:{port}/cds-services/vte-patient-view",
              "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, issuer_key, algorithm="ES384", headers={"kid": "k1"})


def hook_call(server: KillableService, bearer: str) -> tuple[int, Any]:
    body = myeloma_on_lenalidomide_dexamethasone()
    body["hookInstance"] = str(uuid.uuid4())
    status, _, raw = call(server.port, "POST", "/cds-services/vte-patient-view", body,
                          {"Authorization": f"Bearer {bearer}"})
    return status, json.loads(raw)


def session_cookie(headers: http.client.HTTPMessage) -> str:
    (cookie,) = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("session=")]
    assert "Path=/smart" in cookie
    return cookie.split(";", 1)[0]


# --- the test ----------------------------------------------------------------------------------


def test_three_workers_share_links_smart_launches_and_the_jti_record(service, issuer_key, ehr):
    workers = service.worker_pids()
    assert len(workers) == WORKERS
    for pid in workers:  # each worker answers alone: the pinning works, every worker has booted
        with only(service, pid):
            assert call(service.port, "GET", "/healthz")[0] == 200

    # Links: link i is made by worker i % 3 and opened by worker (i + 1) % 3.
    links: dict[int, list[str]] = {pid: [] for pid in workers}
    for i in range(LINKS):
        with only(service, workers[i % WORKERS]):
            status, answer = hook_call(service, token(issuer_key, service.port))
        assert status == 200, answer
        (card,) = answer["cards"]
        (url,) = [x["url"] for x in card["links"] if x["type"] == "absolute"]
        links[workers[(i + 1) % WORKERS]].append(urlsplit(url).path)
    opened = 0
    for pid, paths in links.items():
        with only(service, pid):
            for path in paths:
                status, _, raw = call(service.port, "GET", path,
                                      headers={"Accept": "application/json"})
                if status == 200 and "mm_vte" in json.loads(raw)["scores"]:
                    opened += 1
    assert opened == LINKS

    # A SMART launch: launch on worker 0, the authorization server's answer on worker 1, the
    # app's calls on workers 2 and 0.
    with only(service, workers[0]):
        status, headers, _ = call(service.port, "GET", "/smart/launch?" + urlencode(
            {"iss": ehr.fhir, "launch": "launch-7"}))
    assert status == 302
    location = headers["Location"]
    assert location.startswith(f"{ehr.base}/authorize?")
    state = parse_qs(urlsplit(location).query)["state"][0]
    with only(service, workers[1]):
        status, headers, body = call(
            service.port, "GET", "/smart/callback?" + urlencode({"code": "c1", "state": state}),
            headers={"Cookie": session_cookie(headers)})
    assert (status, headers["Location"]) == (302, "/smart/app"), body
    cookie = session_cookie(headers)
    with only(service, workers[2]):
        status, _, raw = call(service.port, "GET", "/smart/api/context",
                              headers={"Cookie": cookie})
    assert (status, json.loads(raw)) == (200, {"launch": True, "patient": SMART_PATIENT,
                                               "fhirServer": ehr.fhir, "demo": False})
    with only(service, workers[0]):
        status, _, raw = call(service.port, "POST", "/smart/api/assess",
                              {"patient": SMART_PATIENT}, {"Cookie": cookie})
    assert status == 200, raw
    assert json.loads(raw)["scores"]["mm_vte"]["points"] == 9.0
    reads = [auth for method, path, auth in ehr.seen if path.startswith("/fhir/") and
             ".well-known" not in path]
    assert reads
    assert set(reads) == {f"Bearer {ACCESS_TOKEN}"}

    # A token used once in worker 0 is refused by workers 1 and 2, while fresh ones pass there.
    used = token(issuer_key, service.port)
    with only(service, workers[0]):
        assert hook_call(service, used)[0] == 200
    for pid in workers[1:]:
        with only(service, pid):
            status, answer = hook_call(service, used)
            assert (status, answer["message"]) == (401, "token has already been used")
            assert hook_call(service, token(issuer_key, service.port))[0] == 200
