"""``GET /metrics`` through the Flask test client: each family moves by exactly what a request did,
its labels are words from closed vocabularies, and only the configured bearer reads it when
authentication is on.

Each test reads ``/metrics`` before and after what it does and compares every sample that changed
(a scrape is not counted itself), so a family that moved when it should not fails the test too.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from cds_service.app import check_settings, create_app
from cds_service.config import ConfigError
from cds_service.errors import StoreUnavailable
from cds_service.storage.database import STALL_S, open_database
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone

ROOT = Path(__file__).resolve().parents[2]
FHIR = "http://fhir.test/fhir"
ANY_FHIR = re.compile(r"http://fhir\.test/fhir/.*")
HOOK = "/cds-services/vte-patient-view"
HOOK_ROUTE = "/cds-services/<service_id>"
ISS = "https://ehr.example.org"
METRICS_TOKEN = "m" * 40
PATIENT = "mm-rd"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client, **headers) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    found: Samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def moved(before: Samples, after: Samples) -> Samples:
    """Every sample that changed, with its change; histogram buckets and sums left out (their
    ``_count`` says how many were observed)."""
    return {key: after[key] - before.get(key, 0.0) for key in after
            if after[key] != before.get(key, 0.0)
            and not key[0].endswith(("_bucket", "_sum"))}


def sample(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def requests_total(method: str, route: str, status: int):
    return sample("vte_cds_http_requests_total", method=method, route=route, status=str(status))


def hook_count(status: int, service: str = "vte-patient-view"):
    return sample("vte_cds_hook_duration_seconds_count", service=service, status=str(status))


def fhir_queries(resource: str, outcome: str):
    return sample("vte_cds_fhir_queries_total", resource=resource, outcome=outcome)


@pytest.fixture
def app(tmp_path):
    return create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                       "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db", "FHIR_ALLOWLIST": FHIR,
                       "FHIR_TIMEOUT": 2.0})


@pytest.fixture
def client(app):
    return app.test_client()


def fetching(missing: tuple[str, ...] = ("conditions",), server: str = FHIR) -> dict:
    body = myeloma_on_lenalidomide_dexamethasone()
    for key in missing:
        body["prefetch"][key] = None
    body["fhirServer"] = server
    body["fhirAuthorization"] = {"access_token": "ehr-token", "token_type": "Bearer"}
    return body


# --- requests, hooks, cards --------------------------------------------------------------------


def test_a_hook_call_counts_one_request_one_timing_and_its_cards(client):
    before = scrape(client)
    response = client.post(HOOK, json=myeloma_on_lenalidomide_dexamethasone())
    after = scrape(client)
    assert response.status_code == 200
    [card] = response.json["cards"]
    assert moved(before, after) == {
        requests_total("POST", HOOK_ROUTE, 200): 1,
        hook_count(200): 1,
        sample("vte_cds_cards_total", service="vte-patient-view", kind="mm-prophylaxis",
               indicator=card["indicator"]): 1,
    }
    # the one observation sits in the buckets at and above its time, and in none below
    buckets = sorted((float(dict(labels)["le"]), after[(name, labels)] - before.get(
        (name, labels), 0.0)) for name, labels in after
        if name == "vte_cds_hook_duration_seconds_bucket"
        and dict(labels)["service"] == "vte-patient-view" and dict(labels)["status"] == "200")
    assert buckets[-1] == (float("inf"), 1)
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)


def test_a_refused_hook_call_is_timed_under_its_status_and_counts_no_card(client):
    before = scrape(client)
    body = myeloma_on_lenalidomide_dexamethasone()
    body["context"] = "not an object"
    assert client.post(HOOK, json=body).status_code == 400
    assert moved(before, scrape(client)) == {requests_total("POST", HOOK_ROUTE, 400): 1,
                                             hook_count(400): 1}


def test_an_unknown_service_id_is_a_route_rule_never_a_label_of_its_own(client):
    before = scrape(client)
    assert client.post(f"/cds-services/{PATIENT}-Wang", json={}).status_code == 404
    assert client.get(f"/patients/{PATIENT}").status_code == 404
    after = scrape(client)
    assert moved(before, after) == {requests_total("POST", HOOK_ROUTE, 404): 1,
                                    requests_total("GET", "unmatched", 404): 1}
    assert PATIENT not in client.get("/metrics").get_data(as_text=True)


def test_a_card_link_is_counted_under_its_rule_not_its_token(client):
    card = client.post(HOOK, json=myeloma_on_lenalidomide_dexamethasone()).json["cards"][0]
    path = card["links"][0]["url"].removeprefix("https://cds.example")
    before = scrape(client)
    assert client.get(path).status_code == 200
    assert client.get(path + "x").status_code == 404
    assert moved(before, scrape(client)) == {
        requests_total("GET", "/assessments/view/<token>", 200): 1,
        requests_total("GET", "/assessments/view/<token>", 404): 1}
    assert path.rsplit("/", 1)[-1] not in client.get("/metrics").get_data(as_text=True)


def test_a_method_outside_the_list_is_counted_as_other(client):
    before = scrape(client)
    assert client.open("/healthz", method="BREW").status_code == 405
    assert moved(before, scrape(client)) == {requests_total("other", "unmatched", 405): 1}


def test_requests_in_progress_counts_the_one_being_answered(client, app):
    seen = []

    def condition_search(request):
        # the FHIR query of the hook call runs now: read the gauge from another request
        seen.append(scrape(app.test_client())[sample("vte_cds_http_requests_in_progress")])
        return 200, {}, json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []})

    assert scrape(client)[sample("vte_cds_http_requests_in_progress")] == 0
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, ANY_FHIR, callback=condition_search)
        assert client.post(HOOK, json=fetching()).status_code == 200
    assert seen == [1]
    assert scrape(client)[sample("vte_cds_http_requests_in_progress")] == 0


# --- FHIR fetch outcomes -----------------------------------------------------------------------


def test_each_fetched_query_is_counted_once_with_its_outcome(client):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(r"http://fhir\.test/fhir/FamilyMemberHistory\?.*"),
                 json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        mock.add(responses.GET, re.compile(r"http://fhir\.test/fhir/Device\?.*"),
                 json={"resourceType": "Bundle", "type": "searchset", "entry": 5})
        mock.add(responses.GET, f"{FHIR}/Patient/{PATIENT}", status=404)
        before = scrape(client)
        response = client.post(HOOK, json=fetching(("family", "devices", "patient")))
        after = scrape(client)
    assert response.status_code == 200
    assert moved(before, after) == {
        fhir_queries("FamilyMemberHistory", "ok"): 1,
        fhir_queries("Device", "incomplete"): 1,
        fhir_queries("Patient", "not_found"): 1,
        requests_total("POST", HOOK_ROUTE, 200): 1,
        hook_count(200): 1,
        **{sample("vte_cds_cards_total", service="vte-patient-view", kind="mm-prophylaxis",
                  indicator=card["indicator"]): 1 for card in response.json["cards"]},
    }


@pytest.mark.parametrize(("fault", "outcome"), [
    ({"status": 500}, "http_error"),
    ({"body": requests.Timeout("slow")}, "timeout"),
    ({"body": requests.ConnectionError("refused")}, "unreachable"),
    ({"body": "<html>"}, "not_json"),
    ({"json": {"resourceType": "OperationOutcome"}}, "wrong_type"),
    ({"json": {"resourceType": "Bundle", "link": [
        {"relation": "next", "url": "http://elsewhere.test/fhir/Condition"}]}}, "off_base"),
])
def test_a_failed_query_is_counted_by_what_stopped_it(client, fault, outcome):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, ANY_FHIR, **fault)
        before = scrape(client)
        assert client.post(HOOK, json=fetching()).status_code == 412
        after = scrape(client)
    assert moved(before, after) == {fhir_queries("Condition", outcome): 1,
                                    requests_total("POST", HOOK_ROUTE, 412): 1,
                                    hook_count(412): 1}


def test_a_server_off_the_allow_list_counts_every_query_it_would_have_sent(client):
    before = scrape(client)
    body = fetching(("conditions", "devices"), server="http://169.254.169.254/fhir")
    assert client.post(HOOK, json=body).status_code == 403
    assert moved(before, scrape(client)) == {fhir_queries("Condition", "not_allowed"): 1,
                                             fhir_queries("Device", "not_allowed"): 1,
                                             requests_total("POST", HOOK_ROUTE, 403): 1,
                                             hook_count(403): 1}


# --- authentication refusals -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ehr_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def auth_client(ehr_key, tmp_path):
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ehr_key.public_key()))
    public.update(kid="k1", alg="ES384", use="sig")
    app = create_app({"AUTH": "on", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                      "TRUSTED_ISSUERS": {ISS: {"jwks": {"keys": [public]}}},
                      "METRICS_TOKEN": METRICS_TOKEN,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    return app.test_client()


def ehr_token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISS, "sub": "ehr-client", "aud": f"https://cds.example{HOOK}", "iat": now,
            "exp": now + 300, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(body, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


def test_each_refused_token_is_counted_by_its_reason(auth_client, ehr_key):
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    good = ehr_token(ehr_key)
    calls = [(None, 401), (good, 200), (good, 401),
             (ehr_token(ehr_key, exp=int(time.time()) - 3600), 401),
             (ehr_token(ehr_key, aud="https://elsewhere.example/"), 401),
             (ehr_token(ec.generate_private_key(ec.SECP384R1())), 401),
             (ehr_token(ehr_key, iss="https://attacker.example"), 401), ("not.a.jwt", 401)]
    before = scrape(auth_client, **bearer)
    for token, status in calls:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = auth_client.post(HOOK, json=myeloma_on_lenalidomide_dexamethasone(),
                                    headers=headers)
        assert response.status_code == status
    after = scrape(auth_client, **bearer)
    refusals = {dict(labels)["reason"]: count for (name, labels), count
                in moved(before, after).items() if name == "vte_cds_auth_refusals_total"}
    assert refusals == {"missing": 1, "replayed": 1, "expired": 1, "audience": 1,
                        "signature": 1, "issuer": 1, "malformed": 1}
    assert moved(before, after)[requests_total("POST", HOOK_ROUTE, 401)] == 7


def _reasons(path: Path, error_names: set[str]) -> list[tuple[int, str | None]]:
    """(line, reason) of every ``raise <one of error_names>(...)`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                isinstance(node.exc.func, ast.Name) and node.exc.func.id in error_names:
            reason = next((k.value for k in node.exc.keywords if k.arg == "reason"), None)
            found.append((node.lineno, reason.value if isinstance(reason, ast.Constant)
                          else None))
    return found


@pytest.mark.parametrize(("module", "errors", "vocabulary"), [
    ("cds_service/security/tokens.py", {"Unauthorized", "Forbidden"},
     {"missing", "malformed", "algorithm", "issuer", "jku", "keys_unavailable", "unknown_kid",
      "signature", "claims", "audience", "subject", "expired", "not_yet_valid", "lifetime",
      "replayed"}),
    ("cds_service/fhir/client.py", {"PrefetchUnavailable"},
     {"timeout", "abandoned", "unreachable", "http_error", "not_json", "wrong_type",
      "too_large", "too_many_pages", "off_base"}),
])
def test_every_refusal_and_fetch_failure_names_a_reason_from_its_documented_words(
        module, errors, vocabulary):
    found = _reasons(ROOT / module, errors)
    assert found
    assert [(line, reason) for line, reason in found if reason not in vocabulary] == []
    assert {reason for _, reason in found} == vocabulary
    text = (ROOT / module).read_text("utf-8")
    docstring = " ".join(ast.get_docstring(ast.parse(text)).split())
    assert all(f"``{word}``" in docstring for word in vocabulary)


# --- store errors and readiness ----------------------------------------------------------------


def test_a_readiness_probe_the_store_cannot_answer_counts_one_failure_and_one_store_error():
    client = create_app({"AUTH": "off", "TODAY": TODAY,
                         "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"}).test_client()
    before = scrape(client)
    assert client.get("/readyz").status_code == 503
    assert moved(before, scrape(client)) == {
        sample("vte_cds_readiness_failures_total"): 1,
        sample("vte_cds_store_errors_total", error="failed"): 1,
        requests_total("GET", "/readyz", 503): 1}


def test_a_ready_probe_counts_no_failure(client):
    before = scrape(client)
    assert client.get("/readyz").status_code == 200
    assert moved(before, scrape(client)) == {requests_total("GET", "/readyz", 200): 1}


# --- who may read it ---------------------------------------------------------------------------


def test_with_authentication_off_metrics_are_open(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE vte_cds_hook_duration_seconds histogram" in response.get_data(as_text=True)


def test_a_scraper_asking_for_openmetrics_gets_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


def test_with_authentication_on_metrics_answer_the_configured_bearer_only(auth_client):
    assert auth_client.get("/metrics").status_code == 401
    wrong = auth_client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith('Bearer realm="vte-cds"')
    right = auth_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right.status_code == 200


def test_with_authentication_on_and_no_token_metrics_are_off(ehr_key, tmp_path):
    client = create_app({"AUTH": "on", "TRUSTED_ISSUERS": {ISS: {"jwks_url": f"{ISS}/jwks"}},
                         "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"}).test_client()
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "VTE_CDS_METRICS_TOKEN" in response.json["message"]


@pytest.mark.parametrize("token", ["short", " " + "m" * 40])
def test_a_weak_metrics_token_stops_the_service_at_start(token):
    with pytest.raises(ConfigError, match="VTE_CDS_METRICS_TOKEN must be at least 32"):
        check_settings({"AUTH": "off", "METRICS_TOKEN": token})


def test_a_call_behind_a_stuck_transaction_and_a_call_on_a_closed_store_are_counted_apart(
        client, tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/state.db", failure="x")
    started = threading.Event()

    def stuck(sql) -> None:
        started.set()
        time.sleep(STALL_S * 2)

    before = scrape(client)
    holder = threading.Thread(target=db.run, args=(stuck,), kwargs={"failure": "x"})
    holder.start()
    started.wait(5)
    with pytest.raises(StoreUnavailable):
        db.run(lambda sql: None, failure="x")
    holder.join()
    db.close()
    with pytest.raises(StoreUnavailable):
        db.run(lambda sql: None, failure="x")
    assert moved(before, scrape(client)) == {
        sample("vte_cds_store_errors_total", error="busy"): 1,
        sample("vte_cds_store_errors_total", error="closed"): 1}
