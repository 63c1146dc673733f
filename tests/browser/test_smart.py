"""The SMART app in a real Chromium: the assessment in both languages, live recomputation when
the clinician fills in what the chart could not establish, and an EHR launch end to end against
a small authorization server in front of the sekmet-fhir server."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, Response, jsonify, request
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.web import feedback_view, smart, ui
from tests.browser.conftest import base_config
from tests.cds_service.test_smart_api import smart_resources

SMART_PATIENT = "smart-ui-mm"
SMART_NAME = "Li Na"


@contextmanager
def serving_app(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="smart-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def service_app(config: dict[str, Any]) -> Flask:
    """The service with the demo page, the SMART app and the feedback view."""
    app = create_app(config)
    for blueprint in (ui.bp, smart.bp, feedback_view.bp):
        if blueprint.name not in app.blueprints:  # until app.py registers them
            app.register_blueprint(blueprint)
    return app


@pytest.fixture
def serve_service(tmp_path) -> Iterator[Callable[..., str]]:
    """Start the service (with the SMART app and the feedback view) with some settings."""
    stack: list[Any] = []

    def start(**changes: Any) -> str:
        config = base_config(tmp_path)
        config.update(changes)
        manager = serving_app(service_app(config))
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def smart_fhir(loaded_fhir: Any) -> Any:
    loaded_fhir.load(smart_resources(SMART_PATIENT))
    return loaded_fhir


@pytest.fixture(scope="module")
def smart_url(smart_fhir: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Demo mode: AUTH off, UI_FHIR_URL and the allow-list = the sekmet-fhir server."""
    config = base_config(tmp_path_factory.mktemp("smart-service"))
    config.update(UI_FHIR_URL=smart_fhir.base_url, FHIR_ALLOWLIST=smart_fhir.base_url,
                  SMART_SECRET_KEY=secrets.token_urlsafe(16))
    with serving_app(service_app(config)) as url:
        yield url


def open_app(page: Page, url: str, lang: str = "en") -> None:
    page.goto(f"{url}/smart/app?patient={SMART_PATIENT}&lang={lang}")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")


def tier(page: Page, score: str = "mm_vte") -> Any:
    return page.locator(f"#tier-{score}")


def row(page: Page, rule: str) -> Any:
    return page.locator(f"tr[data-rule='{rule}']")


def test_the_app_shows_every_score_with_its_items_and_the_recommendation(page, smart_url, shot):
    open_app(page, smart_url)
    expect(page).to_have_title("VTE risk assessment")
    expect(page.locator("#patient-line")).to_contain_text(SMART_NAME)
    expect(page.locator("#patient-line")).to_contain_text("Demo mode")
    # the four scores, each with its tier
    expect(tier(page)).to_have_attribute("data-category", "high")
    expect(tier(page)).to_have_attribute("data-points", "9")
    expect(tier(page)).to_contain_text("High risk (9-12)")
    expect(tier(page)).to_contain_text("possible range 9–15")
    expect(tier(page, "bleeding")).to_have_attribute("data-category", "low")
    expect(tier(page, "wells_dvt")).to_have_attribute("data-category", "unlikely")
    expect(tier(page, "wells_pe")).to_have_attribute("data-category", "low")
    for score in ("mm_vte", "bleeding", "wells_dvt", "wells_pe"):
        rows = page.locator(f".score[data-score='{score}'] table.items tbody tr")
        expect(rows.first).to_be_visible()
    # ticked, unticked and unknown items
    expect(row(page, "MM-T5-19")).to_have_attribute("data-status", "present")
    expect(row(page, "MM-T5-19").locator("td.mark")).to_have_text("☑")
    expect(row(page, "MM-T5-19")).to_contain_text("MedicationRequest/smart-ui-mm-len")
    expect(row(page, "MM-T5-03")).to_have_attribute("data-status", "absent")
    expect(row(page, "MM-T5-03").locator("td.mark")).to_have_text("☐")
    expect(row(page, "MM-T5-12")).to_have_attribute("data-status", "unknown")
    expect(row(page, "MM-T5-12").locator("td.mark")).to_have_text("?")
    # the recommendation: regimen, doses, what was ruled out and why, duration, notes
    regimen = page.locator("#regimen-prophylaxis")
    expect(regimen).to_have_attribute("data-regimen", "lmwh-prophylactic")
    expect(regimen).to_contain_text("enoxaparin 40 mg")
    options = page.locator("#rec-prophylaxis li.option")
    expect(options).to_have_count(3)
    aspirin = page.locator("#rec-prophylaxis ul.ruled-out li[data-regimen='aspirin']")
    expect(aspirin).to_contain_text("Aspirin not recommended for high risk")
    expect(page.locator("#rec-prophylaxis p.duration")).to_contain_text("At least 6 months")
    expect(page.locator("#rec-prophylaxis ul.notes li").first).to_be_visible()
    # the inputs: what the chart could not establish, and nothing it did
    expect(page.locator("#in-bmi")).to_be_visible()
    expect(page.locator("#in-family_history_of_vte-yes")).to_be_visible()
    expect(page.locator("#in-bed_rest_over_72_hours-yes")).to_have_count(0)  # documented: no
    expect(page.locator("[data-factor='deep_vein_tenderness']")).to_contain_text("Wells DVT")
    shot("10-smart-app")


def test_filling_in_unknown_items_recomputes_the_tier_live(page, smart_url, shot):
    open_app(page, smart_url)
    expect(tier(page)).to_have_attribute("data-points", "9")
    page.fill("#in-bmi", "26")
    expect(tier(page)).to_have_attribute("data-points", "10")
    expect(tier(page)).to_have_attribute("data-category", "high")
    expect(row(page, "MM-T5-12")).to_have_attribute("data-status", "present")
    expect(row(page, "MM-T5-12")).to_have_class("status-present entered")
    expect(row(page, "MM-T5-12").locator("td.evidence")).to_have_text(
        "entered by the clinician in the SMART app")
    page.check("#in-family_history_of_vte-yes")
    expect(tier(page)).to_have_attribute("data-category", "very_high")
    expect(tier(page)).to_have_attribute("data-points", "15")
    expect(tier(page)).to_contain_text("Very high risk (>= 13)")
    regimen = page.locator("#regimen-prophylaxis")
    expect(regimen).to_have_attribute("data-regimen", "lmwh-therapeutic")
    expect(regimen).to_contain_text("Therapeutic-dose LMWH")
    expect(page.locator("[data-factor='family_history_of_vte']")).to_have_class("input-row set")
    shot("11-smart-app-filled-in")
    # "no" is an answer too, and "unknown" takes the entry back
    page.check("#in-family_history_of_vte-no")
    expect(tier(page)).to_have_attribute("data-points", "10")
    expect(row(page, "MM-T5-02")).to_have_attribute("data-status", "absent")
    page.check("#in-family_history_of_vte-unknown")
    expect(row(page, "MM-T5-02")).to_have_attribute("data-status", "unknown")
    page.click("#clear-entries")
    expect(tier(page)).to_have_attribute("data-points", "9")
    expect(page.locator("#in-bmi")).to_have_value("")


def test_a_wells_sign_entered_moves_the_wells_score(page, smart_url):
    open_app(page, smart_url)
    expect(tier(page, "wells_dvt")).to_have_attribute("data-points", "1")
    for factor in ("entire_leg_swollen", "calf_swelling_over_3_cm"):
        page.check(f"#in-{factor}-yes")
    expect(tier(page, "wells_dvt")).to_have_attribute("data-points", "3")
    expect(tier(page, "wells_dvt")).to_have_attribute("data-category", "likely")


def test_the_app_in_chinese(page, smart_url, shot):
    open_app(page, smart_url)
    page.click("#lang-zh")
    expect(page).to_have_title("VTE风险评估")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(tier(page)).to_contain_text("高危组（9～12分）")
    expect(tier(page)).to_contain_text("MM相关VTE风险评分（表5）")
    expect(page.locator("[data-factor='family_history_of_vte']")).to_contain_text("VTE家族史")
    expect(page.locator("label[for='in-family_history_of_vte-yes']")).to_contain_text("是")
    expect(row(page, "MM-T5-19")).to_contain_text("免疫调节剂")
    expect(page.locator("#regimen-prophylaxis")).to_contain_text("预防剂量低分子肝素")
    expect(page.locator("#rec-prophylaxis ul.ruled-out")).to_contain_text("阿司匹林效果尚不明确")
    page.check("#in-family_history_of_vte-yes")
    expect(tier(page)).to_contain_text("极高危组")
    expect(row(page, "MM-T5-02").locator("td.evidence")).to_have_text(
        "由临床医生在SMART应用中填写")
    shot("12-smart-app-zh")
    page.click("#lang-en")
    expect(tier(page)).to_contain_text("Very high risk")
    expect(page.locator("#in-family_history_of_vte-yes")).to_be_checked()


def test_every_ui_string_has_both_languages(page, smart_url):
    open_app(page, smart_url)
    table = page.evaluate("() => window.VteSmartText")
    assert set(table) == {"en", "zh"}
    assert set(table["en"]) == set(table["zh"])
    for lang in ("en", "zh"):
        blank = [k for k, v in table[lang].items() if not isinstance(v, str) or not v.strip()]
        assert not blank, f"{lang}: empty strings for {blank}"
    # the static page's own texts are keys of the dictionary
    keys = page.evaluate("() => Array.from(document.querySelectorAll('[data-i18n]'))"
                         ".map(n => n.getAttribute('data-i18n'))")
    assert keys
    assert set(keys) <= set(table["en"])


def test_without_a_patient_the_demo_app_offers_the_patients(page, smart_url):
    page.goto(smart_url + "/smart/app")
    expect(page.locator("body")).to_have_attribute("data-state", "no-patient")
    expect(page.locator("#no-patient")).to_contain_text("launch this app from the EHR")
    link = page.locator(f"#patients a[href='/smart/app?patient={SMART_PATIENT}']")
    expect(link).to_contain_text(SMART_NAME)
    link.click()
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    expect(tier(page)).to_have_attribute("data-points", "9")


def test_with_auth_on_and_no_launch_the_app_reads_nothing(page, serve_service, smart_fhir):
    issuers = {"https://ehr.example": {"jwks_url": "https://ehr.example/jwks.json"}}
    url = serve_service(AUTH="on", TRUSTED_ISSUERS=issuers, UI_FHIR_URL=smart_fhir.base_url,
                        FHIR_ALLOWLIST=smart_fhir.base_url)
    page.goto(f"{url}/smart/app?patient={SMART_PATIENT}")
    expect(page.locator("body")).to_have_attribute("data-state", "error")
    expect(page.locator("#status")).to_contain_text("403")
    expect(page.locator("#status")).to_contain_text("launch the app from the EHR")


# --- an EHR launch end to end ---------------------------------------------------------------


def ehr(fhir_base: str, patient: str, token: str) -> Flask:
    """A stand-in EHR: SMART configuration, an authorize endpoint that approves at once, a
    token endpoint, and its FHIR API (the sekmet-fhir server, behind the bearer token)."""
    app = Flask("fake-ehr")
    codes: dict[str, str] = {}
    seen: dict[str, Any] = {}

    @app.get("/fhir/.well-known/smart-configuration")
    def configuration() -> Response:
        root = request.host_url.rstrip("/")
        return jsonify({"authorization_endpoint": f"{root}/auth/authorize",
                        "token_endpoint": f"{root}/auth/token",
                        "code_challenge_methods_supported": ["S256"],
                        "capabilities": ["launch-ehr", "client-public", "context-ehr-patient"]})

    @app.get("/auth/authorize")
    def authorize() -> Response:
        seen["authorize"] = dict(request.args)
        code = secrets.token_urlsafe(8)
        codes[code] = request.args["redirect_uri"]
        query = urlencode({"code": code, "state": request.args["state"]})
        return Response(status=302, headers={"Location": f"{request.args['redirect_uri']}?{query}"})

    @app.post("/auth/token")
    def token_endpoint() -> Response:
        seen["token"] = dict(request.form)
        if request.form.get("code") not in codes:
            return jsonify({"error": "invalid_grant"}), 400  # type: ignore[return-value]
        return jsonify({"access_token": token, "token_type": "Bearer", "expires_in": 600,
                        "scope": "launch patient/*.read", "patient": patient})

    @app.get("/fhir/<path:path>")
    def fhir_api(path: str) -> Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return Response(status=401)
        query = request.query_string.decode()
        upstream = requests.get(f"{fhir_base}/{path}" + (f"?{query}" if query else ""),
                                headers={"Accept": "application/fhir+json"}, timeout=10)
        own = request.host_url.rstrip("/") + "/fhir"
        return Response(upstream.text.replace(fhir_base, own), status=upstream.status_code,
                        mimetype="application/fhir+json")

    app.config["SEEN"] = seen
    return app


def test_an_ehr_launch_opens_the_app_for_the_launch_patient(page, browser_context, smart_fhir,
                                                            serve_service, shot):
    access_token = "TOKEN-" + secrets.token_urlsafe(12)
    fake = ehr(smart_fhir.base_url, SMART_PATIENT, access_token)
    with serving_app(fake) as ehr_url:
        iss = f"{ehr_url}/fhir"
        url = serve_service(FHIR_ALLOWLIST=iss, SMART_CLIENT_ID="vte-cds-test",
                            SMART_SECRET_KEY=secrets.token_urlsafe(16))
        try:
            page.goto(f"{url}/smart/launch?" + urlencode({"iss": iss, "launch": "L-1"}))
            expect(page).to_have_url(f"{url}/smart/app")
            expect(page.locator("body")).to_have_attribute("data-state", "ready")
            expect(page.locator("#patient-line")).to_contain_text("SMART launch")
            expect(page.locator("#patient-line")).to_contain_text(SMART_NAME)
            expect(tier(page)).to_have_attribute("data-points", "9")
            page.check("#in-family_history_of_vte-yes")
            expect(tier(page)).to_have_attribute("data-category", "very_high")
            shot("13-smart-ehr-launch")
            # the token is nowhere the page can reach
            assert access_token not in page.content()
            assert access_token not in page.evaluate("() => document.cookie")
            cookies = browser_context.cookies(f"{url}/smart/app")  # the cookie is for /smart
            assert all(access_token not in c["value"] for c in cookies)
            assert any(c["name"] == "session" and c["httpOnly"] for c in cookies)
            seen = fake.config["SEEN"]
            assert seen["authorize"]["launch"] == "L-1"
            assert seen["authorize"]["client_id"] == "vte-cds-test"
            assert seen["authorize"]["aud"] == iss
            assert seen["token"]["code_verifier"]
            # a launch outside the allow-list is a clear page, not a redirect
            page.goto(f"{url}/smart/launch?" + urlencode({"iss": "http://127.0.0.9:9/fhir"}))
            expect(page.locator("h1")).to_have_text("SMART launch refused")
            expect(page.locator("#message")).to_contain_text("nothing was contacted")
            assert urlsplit(page.url).path == "/smart/launch"
            assert parse_qs(urlsplit(page.url).query)["iss"] == ["http://127.0.0.9:9/fhir"]
        finally:
            browser_context.clear_cookies()
