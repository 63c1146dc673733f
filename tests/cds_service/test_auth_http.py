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
