"""Three instances of the real service behind a real load balancer, sharing the machine's
PostgreSQL: what one instance stores, any other serves.

Three ``vte-cds serve`` processes (gunicorn, 2 workers each) listen on 127.0.0.1, each on its own
port, with the same settings: authentication on (the issuer's key is made here and given inline),
``VTE_CDS_PUBLIC_URL`` the balancer's URL, one ``VTE_CDS_STORE_KEY``, and a PostgreSQL schema of
this run's own. HAProxy (Debian package ``haproxy``, started here with a generated configuration,
bench/balancer.py) balances round robin over them, checks ``GET /readyz`` every 0.5 s and names
the instance that answered in ``X-Served-By``. The EHR (SMART configuration, token endpoint, FHIR
server) is a loopback HTTP server of this test.

- 40 card links made on one instance all open through the balancer, mostly on the other two;
- a SMART launch completes through the balancer, its steps answered by different instances;
- a token used on one instance is refused by the other two and through the balancer;
- one instance SIGKILLed (master and workers at once) under load: only requests in flight on it
  fail (a 502 from haproxy, or the client's connection closed with no answer when haproxy had
  just sent the request on a kept-alive connection to it), all within a moment of the kill; the
  balancer sends everything else to the other two and takes the dead one out of the rotation
  (health checks), and every feedback acknowledged with ``200`` and ``"recorded": 1`` is a row
  of the table.

Skipped, saying why, only when haproxy cannot be found (``bin/test`` installs it as root).
Traffic goes only to 127.0.0.1; every process is stopped and the schema dropped at the end.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from bench.balancer import (
    HOOK_PATH,
    NO_ANSWER,
    SERVED_BY,
    HAProxy,
    RouteAround,
    Traffic,
    find_haproxy,
    start_instances,
)
from bench.serving import free_port, service_env
from bench.soak import KillableService, stored_feedback
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.test_feedback_store import PG_URL, with_query
from tests.cds_service.test_smart_api import SMART_PATIENT
from tests.reliability.test_workers_share_state import (
    ACCESS_TOKEN,
    ISS,
    Ehr,
    call,
    ehr_server,
    session_cookie,
)

HAPROXY = find_haproxy()
pytestmark = [
    pytest.mark.balancer,
    pytest.mark.skipif(HAPROXY is None, reason=(
        "haproxy not found (Debian package haproxy; bin/test installs it when run as root): "
        "this test runs three instances behind a real load balancer")),
]

NAMES = ("a", "b", "c")  # the instances, as haproxy names them in X-Served-By
WORKERS = 2
THREADS = 2
LINKS = 40
CHECK_MS = 500  # haproxy's health check interval; a server is out after 2 failed checks
CLIENTS = 6  # client threads of the load during the SIGKILL
LOAD_BEFORE_S = 3.0
LOAD_AFTER_S = 4.0
MARKED_DOWN_WITHIN_S = 3.0  # 2 checks of 0.5 s, each allowed its 1 s connect timeout, and slack
BACKENDS_GONE_S = 10.0
STORE_KEY = "balancer-test-store-key-0123456789abcdef"


@dataclass
class Cluster:
    instances: dict[str, KillableService]
    balancer: HAProxy
    ehr: Ehr
    issuer_key: ec.EllipticCurvePrivateKey
    database_url: str

    def token(self, path: str = HOOK_PATH) -> str:
        now = int(time.time())
        claims = {"iss": ISS, "aud": f"{self.balancer.url}{path}", "iat": now,
                  "exp": now + 300, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.issuer_key, algorithm="ES384", headers={"kid": "k1"})

    def bearer(self, path: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(path)}"}


@pytest.fixture(scope="module")
def schema() -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__}); start it "
                    "or set VTE_CDS_TEST_PG_URL.", pytrace=False)
    name = f"balancer_test_{uuid.uuid4().hex}"
    with admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield name, admin
        finally:
            # wait (bounded) until the instances' sessions (tagged with the schema) have ended
            deadline = time.monotonic() + BACKENDS_GONE_S
            while time.monotonic() < deadline and admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (name,)).fetchone()[0]:
                time.sleep(0.1)
            admin.execute(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture(scope="module")
def cluster(schema, tmp_path_factory) -> Iterator[Cluster]:
    name, _ = schema
    workdir = tmp_path_factory.mktemp("balancer")
    database_url = with_query(PG_URL, options=f"-csearch_path={name}", application_name=name)
    issuer_key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**ECAlgorithm.to_jwk(issuer_key.public_key(), as_dict=True), "kid": "k1",
           "alg": "ES384", "use": "sig"}
    ports = [free_port() for _ in NAMES]
    balancer = HAProxy(HAPROXY or "haproxy", list(zip(NAMES, ports, strict=True)),
                       check_ms=CHECK_MS)
    with ehr_server() as ehr:
        env = service_env(workdir, allowlist=ehr.fhir)
        env.update({
            "VTE_CDS_AUTH": "on",
            "VTE_CDS_TRUSTED_ISSUERS": json.dumps({ISS: {"jwks": {"keys": [jwk]}}}),
            "VTE_CDS_PUBLIC_URL": balancer.url,
            "VTE_CDS_DATABASE_URL": database_url,
            "VTE_CDS_STORE_KEY": STORE_KEY,
            "VTE_CDS_TODAY": TODAY,
        })
        instances = start_instances(ports, env, workdir, workers=WORKERS, threads=THREADS)
        try:
            balancer.start()
            yield Cluster(dict(zip(NAMES, instances, strict=True)), balancer, ehr, issuer_key,
                          database_url)
        finally:
            balancer.stop()
            for instance in instances:
                instance.stop()


def hook_call(port: int, headers: dict[str, str]) -> tuple[int, Any]:
    body = myeloma_on_lenalidomide_dexamethasone()
    body["hookInstance"] = str(uuid.uuid4())
    status, _, raw = call(port, "POST", HOOK_PATH, body, headers)
    return status, json.loads(raw)


def test_links_made_on_one_instance_open_through_the_balancer(cluster):
    maker = cluster.instances["a"]
    paths = []
    for _ in range(LINKS):
        status, answer = hook_call(maker.port, cluster.bearer(HOOK_PATH))
        assert status == 200, answer
        (card,) = answer["cards"]
        (url,) = [x["url"] for x in card["links"] if x["type"] == "absolute"]
        assert url.startswith(f"{cluster.balancer.url}/assessments/view/")
        paths.append(urlsplit(url).path)

    opened_by: Counter[str] = Counter()
    for path in paths:
        status, headers, raw = call(cluster.balancer.port, "GET", path,
                                    headers={"Accept": "application/json"})
        if status == 200 and "mm_vte" in json.loads(raw)["scores"]:
            opened_by[headers[SERVED_BY]] += 1
    assert sum(opened_by.values()) == LINKS
    # round robin: about a third each; the two instances that did not make them open most
    assert opened_by["b"] >= LINKS // 4, opened_by
    assert opened_by["c"] >= LINKS // 4, opened_by


def test_a_smart_launch_completes_through_the_balancer(cluster):
    lb, ehr = cluster.balancer.port, cluster.ehr
    served = []
    status, headers, _ = call(lb, "GET", "/smart/launch?" + urlencode(
        {"iss": ehr.fhir, "launch": "launch-balanced"}))
    served.append(headers[SERVED_BY])
    assert status == 302
    location = headers["Location"]
    assert location.startswith(f"{ehr.base}/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["redirect_uri"] == [f"{cluster.balancer.url}/smart/callback"]
    status, headers, body = call(
        lb, "GET", "/smart/callback?" + urlencode({"code": "c1", "state": query["state"][0]}),
        headers={"Cookie": session_cookie(headers)})
    served.append(headers[SERVED_BY])
    assert (status, headers["Location"]) == (302, "/smart/app"), body
    cookie = session_cookie(headers)
    status, headers, raw = call(lb, "GET", "/smart/api/context", headers={"Cookie": cookie})
    served.append(headers[SERVED_BY])
    assert (status, json.loads(raw)) == (200, {"launch": True, "patient": SMART_PATIENT,
                                               "fhirServer": ehr.fhir, "demo": False})
    status, headers, raw = call(lb, "POST", "/smart/api/assess", {"patient": SMART_PATIENT},
                                {"Cookie": cookie})
    served.append(headers[SERVED_BY])
    assert status == 200, raw
    assert json.loads(raw)["scores"]["mm_vte"]["points"] == 9.0
    assert {auth for method, path, auth in ehr.seen if path.startswith("/fhir/") and
            ".well-known" not in path} == {f"Bearer {ACCESS_TOKEN}"}
    # four steps in a row, round robin over three: the session crossed instances
    assert len(set(served)) >= 2, served


def test_a_token_used_on_one_instance_is_refused_by_the_others(cluster):
    used = cluster.token()
    bearer = {"Authorization": f"Bearer {used}"}
    assert hook_call(cluster.instances["a"].port, bearer)[0] == 200
    for port in (cluster.instances["b"].port, cluster.instances["c"].port,
                 cluster.balancer.port):
        status, answer = hook_call(port, bearer)
        assert (status, answer["message"]) == (401, "token has already been used")
    assert hook_call(cluster.balancer.port, cluster.bearer(HOOK_PATH))[0] == 200


def test_the_balancer_routes_around_an_instance_sigkilled_under_load(cluster):
    # Last in this module: it leaves instance c dead.
    traffic = Traffic(cluster.balancer.port, CLIENTS, headers=cluster.bearer).start()
    try:
        time.sleep(LOAD_BEFORE_S)
        killed_at = time.monotonic()
        cluster.instances["c"].kill()
        marked_down_s = cluster.balancer.wait_down("c", killed_at)
        time.sleep(max(0.0, LOAD_AFTER_S - (time.monotonic() - killed_at)))
    finally:
        traffic.stop()
    assert traffic.failures == []
    answers = traffic.answers
    before = [a for a in answers if a.ended < killed_at]
    assert before
    assert {a.status for a in before} == {200}
    assert set(Counter(a.server for a in before)) == set(NAMES)

    seen = RouteAround.of(answers, "c", killed_at)
    print(f"\nSIGKILL of 1 of 3 instances under load: {seen}, marked down after "
          f"{marked_down_s:.2f} s, {len(answers)} requests")
    # only what was in flight on c, or just sent to it, fails: a few per client at most
    assert seen.in_flight_failed + seen.failed_after <= 2 * CLIENTS, seen
    assert set(seen.failed_statuses) <= {NO_ANSWER, 502}, seen
    assert seen.served_by_killed_after == 0, seen
    assert seen.answered_after >= 20, seen
    # after the health checks took c out, nothing failed any more
    assert seen.last_failure_s <= marked_down_s + 0.5, (seen, marked_down_s)
    assert marked_down_s <= MARKED_DOWN_WITHIN_S
    assert cluster.balancer.state()["c"]["status"].startswith("DOWN")
    late = [a for a in answers if a.started >= killed_at + marked_down_s]
    assert late
    assert {a.status for a in late} == {200}
    assert {a.server for a in late} <= {"a", "b"}

    # every feedback acknowledged through the balancer is a row of the table
    stored = stored_feedback(cluster.database_url)
    assert len(traffic.acked) >= 20
    assert traffic.acked - stored == set()
