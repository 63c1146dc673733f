"""Server-side request forgery through the two URLs a caller controls: a token's ``jku`` and the
hook's ``fhirServer``. Real loopback listeners count every connection: a refused URL must see
none. (JWT details are in tests/cds_service/test_auth.py.)

Authentication is on; the one trusted issuer publishes its keys at an https URL (mocked with
``responses``, which lets loopback traffic through to the real listeners). Each group has a
control that shows the listener does see the service when the service is allowed to call it.
"""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.reliability.support import Loopback, answer, make_app

ISS = "https://ehr.example.org"
JWKS_URL = "https://keys.ehr.example.org/jwks.json"
URL = "https://cds.example/cds-services/vte-patient-view"
FHIR = "http://fhir.test/fhir"
FHIR_TOKEN = "ehr-fhir-token-0b6e2c94d1"
SEARCHSET = {"resourceType": "Bundle", "type": "searchset", "entry": []}


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def jwks(key):
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", alg="ES384", use="sig")
    return {"keys": [public]}


@pytest.fixture
def keys_host(jwks):
    """The issuer's https key URL, mocked; loopback traffic passes through to the listeners."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        mock.add_passthru("http://localhost")
        mock.add(responses.GET, JWKS_URL, json=jwks)
        yield mock


def app_with(tmp_path, jwks_url=JWKS_URL, allowlist=FHIR):
    return make_app(tmp_path, AUTH="on", TRUSTED_ISSUERS={ISS: {"jwks_url": jwks_url}},
                    FHIR_ALLOWLIST=allowlist, FHIR_TIMEOUT=2.0)


def token(key, *, iss=ISS, **header):
    now = int(time.time())
    claims = {"iss": iss, "sub": "ehr-client", "aud": URL, "iat": now, "exp": now + 300,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384",
                      headers={"kid": "k1", "typ": "JWT", **header})


def call(client, bearer, body=None):
    return client.post("/cds-services/vte-patient-view",
                       json=body or myeloma_on_lenalidomide_dexamethasone(),
                       headers={"Authorization": f"Bearer {bearer}"})


def assert_refused(response, status, error, *secrets):
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.json["error"] == error
    for secret in secrets:
        assert secret not in text


# --- jku ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("jku", [
    "http://127.0.0.1:{port}/jwks.json",
    "http://localhost:{port}/jwks.json",
    "http://127.0.0.1:{port}/.well-known/jwks.json?u=https://keys.ehr.example.org/jwks.json",
    "https://keys.ehr.example.org@127.0.0.1:{port}/jwks.json",
    "http://127.0.0.1:{port}/jwks.json#https://keys.ehr.example.org/jwks.json",
    "HTTP://127.0.0.1:{port}/jwks.json",
])
def test_jku_on_loopback_is_refused_and_never_fetched(tmp_path, key, keys_host, jku):
    with Loopback(answer(500, "{}")) as listener:
        client = app_with(tmp_path).test_client()
        bearer = token(key, jku=jku.format(port=listener.port))
        response = call(client, bearer)
        time.sleep(0.2)  # a fetch started in the background would have connected by now
        assert listener.connections == 0
    assert_refused(response, 403, "forbidden", bearer)
    assert "jku" in response.json["message"]
    assert len(keys_host.calls) == 0


def test_jku_from_an_untrusted_issuer_is_refused_and_never_fetched(tmp_path, key, keys_host):
    with Loopback(answer(500, "{}")) as listener:
        client = app_with(tmp_path).test_client()
        bearer = token(key, iss="https://attacker.example", jku=f"{listener.base}/jwks.json")
        response = call(client, bearer)
        assert listener.connections == 0
    assert_refused(response, 401, "unauthorized", bearer)


def test_control_a_configured_loopback_key_url_is_fetched(tmp_path, key, jwks, keys_host):
    """The listener sees the service when the key URL is the issuer's own (loopback http is
    allowed in configuration for tests): the zero counts above are real refusals."""
    with Loopback(answer(200, json.dumps(jwks))) as listener:
        client = app_with(tmp_path, jwks_url=f"{listener.base}/jwks.json").test_client()
        response = call(client, token(key, jku=f"{listener.base}/jwks.json"))
        assert listener.connections == 1
    assert response.status_code == 200


# --- fhirServer --------------------------------------------------------------------------------


def hook_body(server: str) -> dict:
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"]["conditions"] = None
    body["fhirServer"] = server
    body["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer"}
    return body


@pytest.mark.parametrize("server", [
    "http://127.0.0.1:{port}/fhir",
    "http://localhost:{port}/fhir",
    "http://fhir.test/fhir@127.0.0.1:{port}/fhir",
    "http://127.0.0.1:{port}/fhir#http://fhir.test/fhir",
    " http://127.0.0.1:{port}/fhir ",
])
def test_fhir_server_off_the_allow_list_is_refused_and_never_contacted(tmp_path, key, keys_host,
                                                                        server):
    with Loopback(answer(200, json.dumps(SEARCHSET))) as listener:
        client = app_with(tmp_path).test_client()
        bearer = token(key)
        response = call(client, bearer, hook_body(server.format(port=listener.port)))
        time.sleep(0.2)
        assert listener.connections == 0
    assert_refused(response, 403, "forbidden", bearer, FHIR_TOKEN)


def test_control_an_allow_listed_loopback_fhir_server_is_contacted(tmp_path, key, keys_host):
    with Loopback(answer(200, json.dumps(SEARCHSET))) as listener:
        client = app_with(tmp_path, allowlist=f"{listener.base}/fhir").test_client()
        response = call(client, token(key), hook_body(f"{listener.base}/fhir"))
        assert listener.connections == 1
        assert f"Authorization: Bearer {FHIR_TOKEN}".encode() in listener.requests[0]
    assert response.status_code == 200


def test_next_link_to_another_loopback_port_is_never_contacted(tmp_path, key, keys_host):
    with Loopback(answer(200, json.dumps(SEARCHSET))) as other:
        page = {**SEARCHSET, "link": [{"relation": "next",
                                       "url": f"{other.base}/fhir/Condition?page=2"}]}
        with Loopback(answer(200, json.dumps(page))) as allowed:
            client = app_with(tmp_path, allowlist=f"{allowed.base}/fhir").test_client()
            response = call(client, token(key), hook_body(f"{allowed.base}/fhir"))
            assert allowed.connections == 1
        assert other.connections == 0
    assert_refused(response, 412, "prefetch_unavailable", FHIR_TOKEN)


def test_redirect_to_another_loopback_port_is_never_followed(tmp_path, key, keys_host):
    with Loopback(answer(200, json.dumps(SEARCHSET))) as other:
        redirect = answer(302, "", {"Location": f"{other.base}/fhir/Condition"})
        with Loopback(redirect) as allowed:
            client = app_with(tmp_path, allowlist=f"{allowed.base}/fhir").test_client()
            response = call(client, token(key), hook_body(f"{allowed.base}/fhir"))
            assert allowed.connections == 1
        assert other.connections == 0
    assert response.status_code == 412
