"""The feedback view in a real Chromium: a card is shown, feedback is posted for it with the
card's uuid, and the view draws the acceptance and override bars; who may read the data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import PATIENT_ID, base_config
from tests.browser.test_smart import service_app, serving_app

SERVICE = "vte-patient-view"
REASON = "urn:vte-cds:override-reason|bleeding_concern"
ISSUERS = {"https://ehr.example": {"jwks_url": "https://ehr.example/jwks.json"}}


@pytest.fixture
def serve_service(tmp_path) -> Iterator[Callable[..., str]]:
    """Start the service (with the feedback view) with some settings changed."""
    with ExitStack() as stack:
        def start(**changes: Any) -> str:
            config = base_config(tmp_path)
            config.update(changes)
            return stack.enter_context(serving_app(service_app(config)))

        yield start


def patient_view_card(url: str, fhir_base: str) -> dict:
    """Call patient-view for the demo patient as an EHR without prefetch would."""
    answer = requests.post(f"{url}/cds-services/{SERVICE}", timeout=30, json={
        "hook": "patient-view", "hookInstance": "a7c6a0f2-6e1b-4f8e-9d5a-feedb00c0001",
        "fhirServer": fhir_base,
        "context": {"userId": "Practitioner/dr-li", "patientId": PATIENT_ID}})
    assert answer.status_code == 200, answer.text
    return answer.json()["cards"][0]


def post_feedback(url: str, entries: list[dict]) -> None:
    answer = requests.post(f"{url}/cds-services/{SERVICE}/feedback", json={"feedback": entries},
                           timeout=30)
    assert answer.status_code == 200, answer.text


def give_feedback(url: str, fhir_base: str) -> str:
    """Two clinicians accept the card, one overrides it for bleeding risk, one without a reason."""
    card = patient_view_card(url, fhir_base)
    uuid = card["uuid"]
    post_feedback(url, [
        {"card": uuid, "outcome": "accepted", "outcomeTimestamp": "2026-11-27T09:00:00Z",
         "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]},
        {"card": uuid, "outcome": "accepted", "outcomeTimestamp": "2026-11-27T09:05:00Z"},
        {"card": uuid, "outcome": "overridden", "outcomeTimestamp": "2026-11-27T09:10:00Z",
         "overrideReason": {"reason": {"system": "urn:vte-cds:override-reason",
                                       "code": "bleeding_concern"},
                            "userComment": "recent epistaxis"}},
        {"card": uuid, "outcome": "overridden", "outcomeTimestamp": "2026-11-27T09:20:00Z"},
    ])
    return uuid


def open_view(page: Page, url: str, state: str = "ready") -> None:
    page.goto(url + "/feedback-view")
    expect(page.locator("body")).to_have_attribute("data-state", state)


def test_the_view_draws_bars_after_feedback_on_a_card(page, serve_service, loaded_fhir, shot):
    url = serve_service(UI_FHIR_URL=loaded_fhir.base_url, FHIR_ALLOWLIST=loaded_fhir.base_url)
    open_view(page, url)
    expect(page.locator("#no-feedback")).to_have_text("No feedback recorded yet.")
    expect(page.locator("#total-count")).to_have_text("0")

    give_feedback(url, loaded_fhir.base_url)
    open_view(page, url)
    expect(page.locator("#total-count")).to_have_text("4")
    bars = page.locator("svg#acceptance-chart g[data-kind='mm-prophylaxis']")
    expect(bars.locator("rect.bar.accepted")).to_have_attribute("data-value", "2")
    expect(bars.locator("rect.bar.overridden")).to_have_attribute("data-value", "2")
    expect(bars.locator("text.value")).to_contain_text("acceptance 50%")
    widths = [float(bars.locator(f"rect.bar.{kind}").get_attribute("width") or 0)
              for kind in ("accepted", "overridden")]
    assert widths[0] > 100
    assert widths[0] == widths[1]
    reasons = page.locator("svg#reasons-chart g[data-kind='mm-prophylaxis']")
    expect(reasons).to_have_count(2)
    expect(reasons.first).to_contain_text("Bleeding risk judged too high")
    expect(reasons.first.locator("rect.bar.reason")).to_have_attribute("data-value", "1")
    expect(reasons.nth(1)).to_contain_text("no coded reason")
    expect(page.locator("table.figures tr[data-kind='mm-prophylaxis']")).to_contain_text(
        SERVICE)
    shot("20-feedback-view")
    page.click("#lang-zh")
    expect(page.locator("h1")).to_have_text("卡片反馈")
    expect(reasons.first).to_contain_text("判断出血风险过高")
    shot("21-feedback-view-zh")

    data = requests.get(url + "/feedback-view/data", timeout=10).json()
    kind = data["card_kinds"][0]
    assert (kind["card_type"], kind["accepted"], kind["overridden"]) == ("mm-prophylaxis", 2, 2)
    assert kind["acceptance_rate"] == kind["override_rate"] == 0.5
    assert kind["override_reasons"][0]["reason"] == REASON
    assert kind["overrides_without_reason"] == 1
    assert "epistaxis" not in requests.get(url + "/feedback-view/data", timeout=10).text


def test_with_auth_on_the_data_needs_the_view_token(page, serve_service, loaded_fhir, shot):
    url = serve_service(AUTH="on", TRUSTED_ISSUERS=ISSUERS, FEEDBACK_VIEW_TOKEN="governance-42")
    assert requests.get(url + "/feedback-view/data", timeout=10).status_code == 401
    wrong = requests.get(url + "/feedback-view/data", timeout=10,
                         headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = requests.get(url + "/feedback-view/data", timeout=10,
                         headers={"Authorization": "Bearer governance-42"})
    assert right.status_code == 200
    assert right.json()["totals"]["total"] == 0
    open_view(page, url, "token")
    expect(page.locator("#status")).to_contain_text("needs its access token")
    page.fill("#token", "governance-42")
    page.click("#token-send")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(page.locator("#token-form")).to_be_hidden()
    expect(page.locator("#no-feedback")).to_be_visible()


def test_with_auth_on_and_no_view_token_the_view_is_off(page, serve_service):
    url = serve_service(AUTH="on", TRUSTED_ISSUERS=ISSUERS)
    answer = requests.get(url + "/feedback-view/data", timeout=10,
                          headers={"Authorization": "Bearer anything"})
    assert answer.status_code == 403
    assert "VTE_CDS_FEEDBACK_VIEW_TOKEN" in answer.json()["message"]
    open_view(page, url, "error")
    expect(page.locator("#status")).to_contain_text("403")


def test_the_page_is_served_with_a_strict_policy(serve_service):
    url = serve_service()
    answer = requests.get(url + "/feedback-view", timeout=10)
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    for asset in ("feedback.js", "feedback.css"):
        assert requests.get(f"{url}/feedback-view/static/{asset}", timeout=10).status_code == 200
