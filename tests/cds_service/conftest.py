from __future__ import annotations

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.app import create_app
from tests.cds_service.scenarios import TODAY


@pytest.fixture
def app(tmp_path):
    return create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                       "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db",
                       "FHIR_ALLOWLIST": ""})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def ec_key():
    """A P-384 signing key, one per test module."""
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key():
    """A 2048-bit RSA signing key, one per test module."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def http():
    """Outgoing HTTP (key sets, key lists) answered by the test; nothing leaves the process."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
