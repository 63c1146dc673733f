""""Not now" (issue 12): a clinician overrides the myeloma card with the reason ``not_now`` and
that card kind stays quiet for that patient for VTE_CDS_SNOOZE_HOURS, on another instance of the
service sharing the store (SQLite file or PostgreSQL) and after a restart; other patients, other
reasons and order cards are unaffected; the store keeps no readable patient id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cds_service.app import create_app
from hooks.base import card_kind
from hooks.cards import override_reasons
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    closed_port,
    pg_admin,
    pg_schema,
    pg_url,
)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_instances():
    yield
    while OPEN:
        parts = OPEN.pop().extensions["vte_cds"]
        parts.shared.close()
        if parts.store is not None:
            parts.store.close()


def _instance(url: str, clock: Clock, hours: float = 24) -> Any:
    app = create_app({"AUTH": "off", "TODAY": "2026-11-27", "DATABASE_URL": url,
                      "PUBLIC_URL": "https://cds.example", "FHIR_ALLOWLIST": "",
                      "STORE_KEY": "s" * 40, "SNOOZE_HOURS": hours})
    app.extensions["vte_cds"].shared.clock = clock
    OPEN.append(app)
    return app.test_client()


def _patient(pid: str, instance: str) -> dict[str, Any]:
    body = json.loads(json.dumps(myeloma_on_lenalidomide_dexamethasone()).replace("mm-rd", pid))
    body["hookInstance"] = f"hook-{pid}-{instance}"
    return body


def _cards(client: Any, pid: str, instance: str) -> list[dict[str, Any]]:
    response = client.post("/cds-services/vte-patient-view", json=_patient(pid, instance))
    assert response.status_code == 200, response.json
    return list(response.json["cards"])


def _override(client: Any, card: dict[str, Any], code: str) -> Any:
    reason = next(r for r in card["overrideReasons"] if r["code"] == code)
    return client.post("/cds-services/vte-patient-view/feedback", json={"feedback": [{
        "card": card["uuid"], "outcome": "overridden",
        "outcomeTimestamp": "2026-11-27T09:15:00+08:00", "overrideReason": {"reason": reason}}]})


def test_not_now_quiets_the_card_for_that_patient_on_another_instance_until_it_expires(url):
    clock = Clock()
    first, second = _instance(url, clock), _instance(url, clock)
    (card,) = _cards(first, "pat-a", "1")
    assert card_kind(card["uuid"]) == "mm-prophylaxis"
    answer = _override(first, card, "not_now")
    assert answer.status_code == 200
    assert answer.json == {"recorded": 1, "snoozed": 1}
    assert _cards(second, "pat-a", "2") == []  # another instance, the same store
    assert _cards(_instance(url, clock), "pat-a", "3") == []  # after a restart
    assert len(_cards(second, "pat-b", "1")) == 1  # another patient still sees it
    clock.now += 23.5 * 3600
    assert _cards(second, "pat-a", "4") == []
    clock.now += 3600  # 24.5 h after the snooze
    assert len(_cards(second, "pat-a", "5")) == 1


def test_another_override_reason_does_not_snooze(url):
    client = _instance(url, Clock())
    (card,) = _cards(client, "pat-c", "1")
    assert _override(client, card, "patient_declined").json == {"recorded": 1, "snoozed": 0}
    assert len(_cards(client, "pat-c", "2")) == 1


def test_a_retried_delivery_is_counted_once_and_the_snooze_holds(url):
    client = _instance(url, Clock())
    (card,) = _cards(client, "pat-d", "1")
    assert _override(client, card, "not_now").json == {"recorded": 1, "snoozed": 1}
    assert _override(client, card, "not_now").json["recorded"] == 0
    assert _cards(client, "pat-d", "2") == []


def test_snooze_hours_is_a_setting(url):
    clock = Clock()
    client = _instance(url, clock, hours=1)
    (card,) = _cards(client, "pat-e", "1")
    _override(client, card, "not_now")
    clock.now += 3700
    assert len(_cards(client, "pat-e", "2")) == 1


def test_the_store_keeps_no_readable_patient_id(tmp_path):
    db = tmp_path / "store.db"
    client = _instance(f"sqlite:///{db}", Clock())
    (card,) = _cards(client, "patient-zhang-san-0042", "1")
    _override(client, card, "not_now")
    for path in tmp_path.iterdir():
        assert b"patient-zhang-san-0042" not in path.read_bytes(), path.name


def test_order_cards_offer_no_snooze():
    assert "not_now" not in {r["code"] for r in override_reasons("en", "order-renal")}


def test_a_hook_call_reads_the_snoozes_once_and_writes_its_link_and_card_index_at_once(url):
    """Issue 15: per hook call one query for the patient's snoozes and one statement for the
    card's link and the card index; the link still opens and "not now" still works."""
    client = _instance(url, Clock())
    _cards(client, "pat-w", "1")  # the first writes of each kind purge it, on their own
    store = OPEN[-1].extensions["vte_cds"].shared.expiring("down")
    calls: list[str] = []
    inside: list[bool] = []  # PostgreSQL runs a statement as a transaction of one
    run, statement = store._db.run, store._db.run_statement

    def counted_run(work, *, write=False, failure):
        if not inside:
            calls.append("transaction, write" if write else "read")
        return run(work, write=write, failure=failure)

    def counted_statement(query, params, *, failure):
        calls.append(f"statement {query.split()[0]} of {len(params) // 4} rows")
        inside.append(True)
        try:
            return statement(query, params, failure=failure)
        finally:
            inside.pop()

    store._db.run, store._db.run_statement = counted_run, counted_statement
    (card,) = _cards(client, "pat-f", "1")
    assert calls == ["read", "statement INSERT of 2 rows"]  # link + card index
    link = card["links"][0]["url"].removeprefix("https://cds.example")
    assert client.get(link, headers={"Accept": "application/json"}).status_code == 200
    assert _override(client, card, "not_now").json == {"recorded": 1, "snoozed": 1}
    calls.clear()
    assert _cards(client, "pat-f", "2") == []
    assert calls == ["read", "statement INSERT of 1 rows"]  # the link only: the card is quiet
