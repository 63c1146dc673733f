"""Authentication over HTTP: the EHR's JWT is checked on every hook and feedback call."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.app import create_app
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone

ISS = "https://ehr.example.org"
URL = "https://cds.example/cds-services/vte-patient-view"


@pytest.fixture(scope="module")
def key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def client(key, tmp_path):
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", alg="ES384", use="sig")
    app = create_app({"AUTH": "on", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                      "TRUSTED_ISSUERS": {ISS: {"jwks": {"keys": [public]}}},
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    return app.test_client()


def token(key, **claims):
    now = int(time.time())
    body = {"iss": ISS, "sub": "ehr-client", "aud": URL, "iat": now, "exp": now + 300,
            "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(body, key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


def call(client, bearer=None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.post("/cds-services/vte-patient-view",
                       json=myeloma_on_lenalidomide_dexamethasone(), headers=headers)


def test_a_valid_ehr_token_gets_cards(client, key):
    response = call(client, token(key))
    assert response.status_code == 200
    assert len(response.json["cards"]) == 1


def test_no_token_is_401(client):
    response = call(client)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_token_for_another_service_url_is_401(client, key):
    response = call(client, token(key, aud="https://cds.example/cds-services/vte-order-sign"))
    assert response.status_code == 401


def test_replayed_token_is_401(client, key):
    once = token(key)
    assert call(client, once).status_code == 200
    assert call(client, once).status_code == 401


def test_discovery_needs_no_token(client):
    assert client.get("/cds-services").status_code == 200


# Every 401 and 403 tells the client why, as RFC 6750 says a bearer-token resource does.


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = call(client)
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="vte-cds", error="invalid_token", '
        'error_description="missing Authorization header"')


def test_refused_token_names_the_reason_in_the_challenge(client, key):
    response = call(client, token(key, aud="https://cds.example/cds-services/vte-order-sign"))
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="vte-cds", error="invalid_token", '
        'error_description="token audience is not this service"')


def test_fhir_server_outside_the_allow_list_is_403_with_an_insufficient_scope_challenge(
    client, key
):
    body = myeloma_on_lenalidomide_dexamethasone()
    body["prefetch"] = {}
    body["fhirServer"] = "https://fhir.elsewhere.example/r4"
    response = client.post("/cds-services/vte-patient-view", json=body,
                           headers={"Authorization": f"Bearer {token(key)}"})
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="vte-cds", error="insufficient_scope", error_description="fhirServer is '
        'not in this service')


@pytest.mark.parametrize(("settings", "status"), [({}, 403), ({"FEEDBACK_VIEW_TOKEN": "t"}, 401)])
def test_feedback_view_refusals_carry_a_challenge(tmp_path, settings, status):
    app = create_app({"AUTH": "on", "TRUSTED_ISSUERS": {ISS: {"jwks_url": "https://k.example/j"}},
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db", **settings})
    response = app.test_client().get("/feedback-view/data")
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="vte-cds", error="')


def test_a_challenge_never_carries_a_quote_or_a_non_ascii_character():
    from cds_service.errors import Unauthorized

    challenge = Unauthorized('token "x" refusé\\').www_authenticate()
    assert challenge == ('Bearer realm="vte-cds", error="invalid_token", '
                         'error_description="token ?x? refus??"')


def test_answers_other_than_401_and_403_carry_no_challenge(client):
    assert "WWW-Authenticate" not in client.post("/cds-services/no-such-service").headers
