"""``GET /readyz`` answers 200 only when the store answers; ``GET /healthz`` (liveness) does not
depend on the store, so an orchestrator takes an instance whose database is unreachable out of
the rotation without restarting it."""

from __future__ import annotations

import pytest

from cds_service.app import create_app
from tests.cds_service.scenarios import TODAY
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    pg_admin,
    pg_schema,
    pg_url,
)

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


def make_app(database_url: str):
    return create_app({"AUTH": "off", "TODAY": TODAY, "DATABASE_URL": database_url})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


def test_ready_when_the_store_answers(database_url):
    app = make_app(database_url)
    try:
        response = app.test_client().get("/readyz")
    finally:
        app.extensions["vte_cds"].shared.close()  # before the schema is dropped
    assert (response.status_code, response.json) == (200, {"status": "ready"})


def test_not_ready_but_alive_when_the_store_cannot_answer():
    client = make_app(UNREACHABLE).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"] == "store_unavailable"
    assert response.json["message"].startswith("not ready: the store cannot answer")
    assert "127.0.0.1" not in response.json["message"]
    assert client.get("/healthz").status_code == 200


def test_readiness_comes_back_with_the_store(tmp_path):
    # An SQLite path whose directory cannot be made (a file stands where it would be) fails,
    # and a later probe succeeds once it can: nothing is cached from the failed attempt.
    blocker = tmp_path / "store"
    blocker.write_text("not a directory")
    client = make_app(f"sqlite:///{blocker}/state.db").test_client()
    assert client.get("/readyz").status_code == 503
    blocker.unlink()
    assert client.get("/readyz").status_code == 200
