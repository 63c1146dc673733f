"""A short soak of the gunicorn-served service with a SIGKILL of master and workers mid-run.

bench/soak.py drives it (the long run is ``python -m bench.soak``): client threads send
patient-view, order-sign, bad requests and a feedback POST for every card received; halfway the
whole gunicorn process group is SIGKILLed and started again on the same port and database. Then:
no 5xx, every bad request 4xx, every feedback acknowledged with ``{"recorded": 1}`` is a row of
the table (read directly), no connection error outside the kill, and cards again after the
restart. Once on PostgreSQL (a schema of its own, dropped afterwards), once on SQLite in tmp_path.
Traffic goes only to 127.0.0.1; every server process is killed before the test ends.
"""

from __future__ import annotations

import time

import pytest

from bench.soak import BAD_KINDS, CONN_ERROR, group_pids, run_soak
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    pg_admin,
    pg_schema,
    pg_url,
)

SECONDS = 9.0  # load per database, the SIGKILL at half of it
CLIENTS = 6
BACKENDS_GONE_S = 10.0  # bounded wait for the service's PostgreSQL sessions to end


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/feedback.db"
        return
    url = request.getfixturevalue("pg_url")
    schema = request.getfixturevalue("pg_schema")
    admin = request.getfixturevalue("pg_admin")
    yield url
    # The schema is dropped after this; wait (bounded) until the killed and stopped workers'
    # sessions (tagged with application_name = the schema) have ended.
    deadline = time.monotonic() + BACKENDS_GONE_S
    while time.monotonic() < deadline and admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (schema,)).fetchone()[0]:
        time.sleep(0.1)


def test_no_acknowledged_feedback_is_lost_when_gunicorn_is_sigkilled_under_load(
        database_url, tmp_path):
    result = run_soak(database_url, SECONDS, clients=CLIENTS, sample_every=0.5,
                      workdir=tmp_path)

    # every process of every gunicorn started (before and after the kill) is gone
    assert result.pgids
    assert all(group_pids(pgid) == [] for pgid in result.pgids)
    assert not result.client_failures
    assert result.server_errors == 0, result.statuses
    bad = {key: n for key, n in result.statuses.items() if key[1] in BAD_KINDS}
    assert sum(n for (_, _, status), n in bad.items() if 400 <= status < 500) > 0
    assert all(400 <= status < 500 or status == CONN_ERROR for (_, _, status) in bad), bad
    assert result.acknowledged > 0
    assert result.lost == []
    assert result.found == result.acknowledged
    assert result.not_one == 0
    assert result.conn_errors_elsewhere == 0, result.errors
    # the restarted service answers cards, to the probe and to the clients
    assert result.probe_after_restart >= 1
    assert result.cards_after_restart > 0
    assert result.count(where=lambda s: s == 200) > 0
    assert not result.failures()
