from __future__ import annotations

import pytest

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
