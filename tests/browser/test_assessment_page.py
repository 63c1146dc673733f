"""The full assessment page in a real Chromium, opened from the link of a real patient-view call:
the service fetches a synthetic patient from the FHIR server (no prefetch), as an EHR without
prefetch would make it, and the page must show what the card decided, in English and in
Chinese, on screen and printed (print media, then an A4 PDF read back with pdftotext).

Screenshots (screen and print, each patient and language) are written to
``$TMPDIR/vte-cds-assessment-page/`` for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from cds_service.synthetic.loader import load_into, scenarios
from hooks.base import msg
from tests.browser.conftest import _apt_install, _root, base_config, serving

SHOTS = Path(tempfile.gettempdir()) / "vte-cds-assessment-page"
PATIENTS = ("mm-high-risk", "mm-very-high-risk-egfr-22", "mm-pe-on-rivaroxaban",
            "cmvt-high-bleeding-risk")
PLAN_OF_KIND = {"mm-prophylaxis": "prophylaxis", "vte-treatment": "treatment", "cmvt": "cmvt"}
ACCEPT_LANGUAGE = {"en": "en-US,en;q=0.9", "zh": "zh-CN,zh;q=0.9"}
PRESENT = {"en": "Present", "zh": "存在"}
A4_TEXT_WIDTH_PX = 703  # 210 mm less the 24 mm of side margins, at 96 px per inch


@pytest.fixture(scope="session")
def pdftotext() -> str:
    """poppler's pdftotext, installed with apt-get when absent and we are root (as Chromium)."""
    found = shutil.which("pdftotext")
    if found is None and _root():
        _apt_install(["poppler-utils"])
        found = shutil.which("pdftotext")
    if found is None:
        pytest.fail("The print test reads the PDF back with pdftotext: apt-get install -y "
                    "poppler-utils", pytrace=False)
    return found


@pytest.fixture(scope="module")
def service(fhir_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service allowed to fetch from the FHIR server that holds the synthetic patients."""
    load_into(fhir_server.base_url, requests.Session())
    config = base_config(tmp_path_factory.mktemp("assessment-page"))
    config.update(FHIR_ALLOWLIST=fhir_server.base_url)
    with serving(config) as url:
        yield url


def patient_view(url: str, fhir_base: str, name: str) -> list[dict[str, Any]]:
    patient = next(s.patient for s in scenarios() if s.id == name)
    answer = requests.post(f"{url}/cds-services/vte-patient-view", timeout=60, json={
        "hook": "patient-view", "hookInstance": f"assessment-page-{name}",
        "fhirServer": fhir_base,
        "fhirAuthorization": {"access_token": "synthetic", "token_type": "Bearer",
                              "expires_in": 300, "scope": "patient/*.read",
                              "subject": "vte-cds"},
        "context": {"userId": "Practitioner/dr-li", "patientId": patient}})
    assert answer.status_code == 200, answer.text
    cards: list[dict[str, Any]] = answer.json()["cards"]
    return cards


def expectations(card: dict[str, Any], link: str) -> dict[str, Any]:
    """What the page must show, from the card and the link's JSON (never from the page code)."""
    ext = card["extension"]["vte-cds"]
    plan = PLAN_OF_KIND[ext["kind"]]
    doc = requests.get(link, headers={"Accept": "application/json"}, timeout=30).json()
    rec = doc["recommendations"][plan]
    assert rec["regimen"] == ext["recommendation"]["regimen"]
    present = next(((name, i) for name in ("mm_vte", "bleeding", "wells_dvt", "wells_pe")
                    for i in doc["scores"].get(name, {}).get("items", ())
                    if i["status"] == "present"), None)
    if present is None and doc.get("cmvt"):
        present = next(("cmvt", i) for i in doc["cmvt"]["items"] if i["status"] == "present")
    return {"plan": plan, "ext": ext, "rec": rec, "doc": doc, "present": present}


def asking(page: Page, lang: str) -> None:
    """The page's requests ask for ``lang`` as a browser set to that language would (the
    context's own locale would otherwise win over extra headers)."""
    page.unroute("**/assessments/view/**")
    page.route("**/assessments/view/**", lambda route: route.continue_(headers={
        **route.request.headers, "accept-language": ACCEPT_LANGUAGE[lang]}))


def screenshot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_screen(page: Page, want: dict[str, Any], lang: str) -> None:
    ext, rec = want["ext"], want["rec"]
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if lang == "zh" else "en")
    expect(page.locator("h1")).to_have_text(msg("page", "title").text(lang))
    mm = ext.get("scores", {}).get("mm_vte")
    if mm:
        expect(page.locator('.fact[data-fact="vte_risk"] dd')).to_contain_text(
            msg("tiers", mm["category"]).text(lang))
    if ext.get("thrombosis_risk"):
        expect(page.locator('.fact[data-fact="extension_risk"] dd')).to_have_text(
            msg("risk_words", ext["thrombosis_risk"]).text(lang))
    plan = page.locator(f'section.plan[data-plan="{want["plan"]}"]')
    expect(plan).to_have_attribute("data-regimen", rec["regimen"])
    expect(plan.locator(".recommended")).to_be_visible()
    for option in rec["options"]:
        expect(plan.locator(f'table.options tr[data-regimen="{option["regimen"]}"]')
               ).to_contain_text(option["dose"][lang])
    for ruled_out in rec["ruled_out"]:
        expect(plan.locator(f'table.ruled-out tr[data-regimen="{ruled_out["regimen"]}"]')
               ).to_contain_text(ruled_out["reason"][lang])
    _name, item = want["present"]
    row = page.locator(f'tr[data-rule="{item["rule"]}"][data-status="present"]').first
    expect(row).to_be_visible()
    expect(row).to_contain_text(item["label"][lang])
    expect(row).to_contain_text(PRESENT[lang])
    for ref in item["evidence"][:1]:
        expect(row).to_contain_text(ref)


def check_print(page: Page, want: dict[str, Any], lang: str, name: str, pdftotext: str) -> None:
    page.emulate_media(media="print")
    try:
        expect(page.locator("nav.chrome")).to_be_hidden()
        expect(page.locator("section.summary")).to_be_visible()
        page.set_viewport_size({"width": A4_TEXT_WIDTH_PX, "height": 1000})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the print layout is {overflow}px wider than an A4 page"
        heads = page.evaluate("[...document.querySelectorAll('thead')]"
                              ".map(h => getComputedStyle(h).display)")
        assert set(heads) == {"table-header-group"}, "table headers must repeat on each page"
        screenshot(page, f"{name}.{lang}.print")
        pdf = SHOTS / f"{name}.{lang}.pdf"
        page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    finally:
        page.emulate_media(media="screen")
        page.set_viewport_size({"width": 1280, "height": 900})
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60,
                          check=True).stdout
    assert re.search(r"Page size:.*\(A4\)", info), info
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    flat = re.sub(r"\s+", "", text)
    mm = want["ext"].get("scores", {}).get("mm_vte")
    if mm:
        assert re.sub(r"\s+", "", msg("tiers", mm["category"]).text(lang)) in flat
    assert re.sub(r"\s+", "", want["rec"]["options"][0]["dose"][lang]) in flat
    assert want["present"][1]["rule"] in flat
    other = msg("page", "language_name").text("en" if lang == "zh" else "zh")
    assert other not in text, "the language switch is navigation: it must not be printed"


@pytest.mark.parametrize("name", PATIENTS)
def test_the_card_link_opens_a_readable_printable_page_in_both_languages(
        page: Page, service: str, fhir_server: Any, pdftotext: str, name: str) -> None:
    cards = patient_view(service, fhir_server.base_url, name)
    links = [(card, x["url"]) for card in cards for x in card["links"]
             if "/assessments/view/" in x["url"]]
    assert links, f"{name}: no card with an assessment link"
    card, link = links[0]
    want = expectations(card, link)
    for lang in ("en", "zh"):
        asking(page, lang)
        page.goto(link)
        check_screen(page, want, lang)
        screenshot(page, f"{name}.{lang}")
        check_print(page, want, lang, name, pdftotext)


def test_the_language_switch_opens_the_same_assessment_in_the_other_language(
        page: Page, service: str, fhir_server: Any) -> None:
    cards = patient_view(service, fhir_server.base_url, "mm-high-risk")
    link = next(x["url"] for card in cards for x in card["links"]
                if "/assessments/view/" in x["url"])
    asking(page, "en")
    page.goto(link)
    expect(page.locator("h1")).to_have_text("VTE assessment")
    page.get_by_role("link", name="中文").click()
    expect(page.locator("h1")).to_have_text("VTE评估")
    expect(page).to_have_url(re.compile(r"/assessments/view/[^?]+\?lang=zh$"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("VTE assessment")
