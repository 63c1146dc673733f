"""The demo page in a real Chromium: patients from the FHIR server, cards, scores, languages."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import PATIENT_ID, PATIENT_NAME, ui_patient_request


def open_page(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def call_hook(page: Page, hook: str = "patient-view", draft: str | None = None) -> None:
    page.select_option("#patient", PATIENT_ID)
    page.select_option("#hook", hook)
    if draft is not None:
        page.select_option("#draft", draft)
    page.click("#run")


def test_the_page_lists_the_patient_from_the_fhir_server(page, live_url, shot):
    open_page(page, live_url)
    expect(page).to_have_title("vte-cds demo")
    option = page.locator(f"#patient option[value='{PATIENT_ID}']")
    expect(option).to_have_count(1)
    expect(option).to_contain_text(PATIENT_NAME)
    expect(page.locator("#no-fhir")).to_have_count(0)
    expect(page.locator("#auth-notice")).to_have_count(0)
    shot("01-start")


def test_patient_view_shows_the_card_and_the_score_breakdown(page, live_url, shot):
    open_page(page, live_url)
    call_hook(page)
    summary = page.locator(".card .summary").first
    expect(summary).to_have_text(re.compile(r"^High VTE risk \(score 10\)"))
    expect(page.locator(".card").first).to_have_attribute("data-indicator", "warning")
    # the short detail's Markdown is rendered: the tier in bold, the deciding items as a list,
    # paragraphs apart, no table (the breakdown is behind the link)
    detail = page.locator(".card .detail").first
    expect(detail.locator("strong").first).to_have_text("High VTE risk")
    expect(detail.locator("ul li").first).to_contain_text("Immunomodulatory drug")
    expect(detail.locator("p").nth(1)).to_contain_text("Recommended:")
    expect(detail.locator("table")).to_have_count(0)
    expect(detail).not_to_contain_text("**")
    # override reasons, and the breakdown fetched through the card's link
    expect(page.locator(".card .overrides li").first).to_be_visible()
    scores = page.locator("table.scores[data-score='mm_vte']")
    expect(scores).to_contain_text("MM-T5-19")
    expect(scores).to_contain_text("Immunomodulatory drug")
    shot("02-patient-view")


def test_chinese_asks_for_chinese_cards(page, live_url, shot):
    open_page(page, live_url)
    call_hook(page)
    expect(page.locator(".card .summary").first).to_contain_text("High VTE risk (score 10)")
    page.click("#lang-zh")
    expect(page.locator(".card .summary").first).to_contain_text("VTE高危（10分）")
    detail = page.locator(".card .detail").first  # the short card, Chinese throughout
    expect(detail.locator("strong").first).to_have_text("VTE高危")
    expect(detail.locator("strong", has_text="建议")).to_have_count(1)
    expect(detail).not_to_contain_text("**")
    expect(detail).not_to_contain_text("Recommended")
    expect(page.locator("table.scores[data-score='mm_vte']")).to_contain_text("免疫调节剂")
    expect(page.locator("#request-json")).to_contain_text('"fhirServer"')
    shot("03-patient-view-zh")
    page.click("#lang-en")
    expect(page.locator(".card .summary").first).to_contain_text("High VTE risk (score 10)")


def test_a_suggestion_shows_its_resource_json(page, live_url, shot):
    open_page(page, live_url)
    call_hook(page)
    button = page.locator(".card button.suggestion").first
    expect(button).to_contain_text("enoxaparin")
    out = page.locator(".card .suggestion-json").first
    expect(out).to_be_hidden()
    button.click()
    expect(out).to_be_visible()
    actions = json.loads(out.inner_text())
    assert actions[0]["resource"]["resourceType"] == "MedicationRequest"
    assert actions[0]["resource"]["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
    shot("04-suggestion")


def test_order_sign_with_a_sample_aspirin_draft(page, live_url):
    open_page(page, live_url)
    page.select_option("#hook", "order-sign")
    expect(page.locator("#draft-label")).to_be_visible()
    call_hook(page, "order-sign", "aspirin")
    expect(page.locator(".card .summary").first).to_contain_text("Aspirin is not for High VTE")
    sent = json.loads(page.locator("#request-json").text_content() or "")
    assert "prefetch" not in sent
    assert sent["context"]["draftOrders"]["entry"][0]["resource"]["resourceType"] == \
        "MedicationRequest"


def test_order_select_with_no_draft_says_there_is_nothing(page, live_url):
    open_page(page, live_url)
    call_hook(page, "order-select", "")
    expect(page.locator("#status")).to_contain_text("No cards")
    expect(page.locator(".card")).to_have_count(0)


def test_markdown_renderer_escapes_html_first(page, live_url):
    open_page(page, live_url)
    html = page.evaluate("s => VteMarkdown.render(s)",
                         "**a<b>** <img src=x onerror=alert(1)>\n\n| h | <i>k |\n|---|---|\n"
                         "| 1 | **2** |\n\n- one\n  - two\n- three")
    assert "<img" not in html
    assert "<i>" not in html
    assert "<strong>a&lt;b&gt;</strong>" in html
    assert "<td><strong>2</strong></td>" in html
    assert "<ul><li>one<ul><li>two</li></ul></li><li>three</li></ul>" in html


def test_without_a_fhir_url_the_page_says_so_and_takes_a_pasted_request(page, serve, shot):
    url = serve()
    open_page(page, url)
    expect(page.locator("#no-fhir")).to_contain_text(
        "no FHIR server configured for the demo page")
    expect(page.locator("#chart-panel")).to_be_hidden()
    page.fill("#paste-json", json.dumps(ui_patient_request()))
    page.click("#paste-send")
    expect(page.locator(".card .summary").first).to_contain_text("High VTE risk (score 10)")
    expect(page.locator("table.scores[data-score='mm_vte']")).to_contain_text("MM-T5-19")
    shot("05-pasted-request")


def test_with_auth_on_the_page_explains_that_hooks_need_a_token(page, serve, loaded_fhir):
    issuers = {"https://ehr.example": {"jwks_url": "https://ehr.example/jwks.json"}}
    url = serve(AUTH="on", TRUSTED_ISSUERS=issuers, UI_FHIR_URL=loaded_fhir.base_url)
    open_page(page, url)
    expect(page.locator("#auth-notice")).to_contain_text("needs a JWT")
    expect(page.locator("#chart-panel")).to_be_hidden()
    answer = requests.get(url + "/ui/patients", timeout=10)
    assert answer.status_code == 403
    page.fill("#paste-json", json.dumps(ui_patient_request()))
    page.click("#paste-send")
    expect(page.locator("#status")).to_contain_text("401")


@pytest.mark.parametrize("query", ["", "?url=http://127.0.0.9:9/fhir",
                                   "?fhirServer=http://127.0.0.9:9/fhir"])
def test_the_patient_list_only_asks_the_configured_server(live_url, loaded_fhir, query):
    answer = requests.get(live_url + "/ui/patients" + query, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["fhirServer"] == loaded_fhir.base_url
    row = next(r for r in body["patients"] if r["id"] == PATIENT_ID)
    assert row == {"id": PATIENT_ID, "name": PATIENT_NAME, "gender": "female",
                   "birthDate": "1958-03-02"}


def test_the_page_is_served_with_a_strict_content_security_policy(live_url):
    answer = requests.get(live_url + "/", timeout=10)
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    for asset in ("app.js", "md.js", "samples.js", "style.css"):
        assert requests.get(f"{live_url}/ui/static/{asset}", timeout=10).status_code == 200


def test_without_a_fhir_url_the_patient_list_is_not_found(serve):
    url = serve()
    config = requests.get(url + "/ui/config", timeout=10).json()
    assert config == {"fhirServer": None, "allowListed": False, "auth": False}
    answer = requests.get(url + "/ui/patients", timeout=10)
    assert answer.status_code == 404
    assert "no FHIR server configured" in answer.json()["message"]
