"""Feedback over HTTP: acknowledged only when durable, kept across restarts and instances."""

from __future__ import annotations

import pytest

from cds_service.app import create_app
from hooks.base import card_kind
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.test_feedback_store import (  # noqa: F401 (pytest fixtures)
    pg_admin,
    pg_schema,
    pg_url,
)

APPS = []


@pytest.fixture(autouse=True)
def _close_stores():
    """Each app opens its stores on first use; close them so no connection leaks."""
    yield
    while APPS:
        parts = APPS.pop().extensions["vte_cds"]
        parts.shared.close()
        if parts.store is not None:
            parts.store.close()


def make_app(url):
    app = create_app({"AUTH": "off", "TODAY": TODAY, "DATABASE_URL": url,
                      "PUBLIC_URL": "https://cds.example"})
    APPS.append(app)
    return app


def issued_card(client):
    (card,) = client.post("/cds-services/vte-patient-view",
                          json=myeloma_on_lenalidomide_dexamethasone()).json["cards"]
    return card


def outcome(card, accepted=True, when="2026-11-27T09:15:00+08:00"):
    if accepted:
        return {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": when,
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": when,
            "overrideReason": {"reason": card["overrideReasons"][1],
                               "userComment": "patient had a GI bleed last week"}}


def report(app):
    from cds_service.storage.feedback import open_store

    with open_store(app.config["DATABASE_URL"]) as store:
        return store.report()


def test_feedback_survives_a_restart_and_is_counted_per_card_kind(tmp_path):
    url = f"sqlite:///{tmp_path}/feedback.db"
    first = make_app(url).test_client()
    card = issued_card(first)
    ok = first.post("/cds-services/vte-patient-view/feedback",
                    json={"feedback": [outcome(card)]})
    assert ok.status_code == 200
    assert ok.json == {"recorded": 1, "snoozed": 0}
    restarted = make_app(url)
    again = restarted.test_client().post(
        "/cds-services/vte-patient-view/feedback",
        json={"feedback": [outcome(card, accepted=False, when="2026-11-27T10:00:00+08:00")]})
    assert again.json == {"recorded": 1, "snoozed": 0}
    (row,) = report(restarted)
    assert (row.card_type, row.accepted, row.overridden) == ("mm-prophylaxis", 1, 1)
    assert card_kind(card["uuid"]) == "mm-prophylaxis"


def test_a_retried_feedback_post_is_not_counted_twice(tmp_path):
    client = make_app(f"sqlite:///{tmp_path}/feedback.db").test_client()
    card = issued_card(client)
    body = {"feedback": [outcome(card)]}
    assert client.post("/cds-services/vte-patient-view/feedback", json=body).json == {
        "recorded": 1, "snoozed": 0}
    assert client.post("/cds-services/vte-patient-view/feedback", json=body).json == {
        "recorded": 0, "snoozed": 0}


def test_two_instances_sharing_postgresql_see_each_others_feedback(pg_url):  # noqa: F811
    one, two = make_app(pg_url), make_app(pg_url)
    card = issued_card(one.test_client())
    assert one.test_client().post("/cds-services/vte-patient-view/feedback", json={
        "feedback": [outcome(card)]}).status_code == 200
    assert two.test_client().post("/cds-services/vte-patient-view/feedback", json={
        "feedback": [outcome(card, accepted=False, when="2026-11-27T11:00:00Z")]}
    ).status_code == 200
    for app in (one, two):
        (row,) = report(app)
        assert (row.accepted, row.overridden) == (1, 1)


@pytest.mark.parametrize(("body", "message"), [
    ({}, "feedback"),
    ({"feedback": [{"card": "not-a-uuid", "outcome": "accepted",
                    "outcomeTimestamp": "2026-11-27T09:15:00Z"}]}, "card"),
    ({"feedback": [{"card": "0f8fad5b-d9cb-469f-a165-70867728950e", "outcome": "maybe",
                    "outcomeTimestamp": "2026-11-27T09:15:00Z"}]}, "outcome"),
])
def test_malformed_feedback_is_a_clear_400_and_nothing_is_stored(tmp_path, body, message):
    app = make_app(f"sqlite:///{tmp_path}/feedback.db")
    response = app.test_client().post("/cds-services/vte-patient-view/feedback", json=body)
    assert response.status_code == 400
    assert message in response.json["message"]


def test_feedback_store_down_is_503_not_acknowledged(tmp_path):
    card = issued_card(make_app(f"sqlite:///{tmp_path}/feedback.db").test_client())
    app = make_app("postgresql://postgres@127.0.0.1:1/test")
    response = app.test_client().post("/cds-services/vte-patient-view/feedback",
                                      json={"feedback": [outcome(card)]})
    assert response.status_code == 503
    assert response.json["error"] == "store_unavailable"


def test_a_card_whose_link_cannot_be_saved_is_503_saying_so():
    app = make_app("postgresql://postgres@127.0.0.1:1/test")
    response = app.test_client().post("/cds-services/vte-patient-view",
                                      json=myeloma_on_lenalidomide_dexamethasone())
    assert response.status_code == 503
    assert response.json == {
        "error": "store_unavailable",
        "message": "the store is unavailable: the card's assessment link could not be saved; "
                   "try again"}
