"""The page behind a card's "Full VTE assessment" link, through the Flask test client: the
assessment the JSON holds, in English or in Chinese, with what a clinician needs (the situation,
the tier, every score item with its evidence, the doses, what is ruled out and why), with no
script and nothing from another origin; ``Accept: application/json`` still gets the JSON."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, get_args

import pytest

from cds_service.synthetic.loader import bundles, scenarios
from cds_service.web import assessment
from fhir_mappers.model import Severity
from hooks import assessment_page
from hooks.prefetch import PATIENT_DATA, resource_type
from tests.cds_service.scenarios import (
    cmvt_low_risk,
    myeloma_on_lenalidomide_dexamethasone,
)
from tests.cds_service.test_i18n import LATIN_IN_CHINESE, RULE_ID
from vte_rules.tables import load_table

BASE = "https://cds.example"
FHIR_REF = re.compile(r"\b[A-Z][A-Za-z]+/[\w.\-]+")
# Besides the catalogue's Latin words, a page shows what the clinical tables keep in Chinese
# (their own abbreviations and authors) and the drug concepts an "already on" names.
LATIN_ON_A_CHINESE_PAGE = LATIN_IN_CHINESE | {
    "DVT", "PE", "LMWH", "DOAC", "IMiD", "ICU", "MRI", "CT", "ACCP", "Gillet", "Galanaud", "U",
    "h", "min", "m", "ml", "g", "aspirin", "warfarin", "rivaroxaban", "enoxaparin", "dalteparin",
    "nadroparin", "heparin", "apixaban", "dabigatran", "edoxaban", "fondaparinux", "lmwh"}


class Visible(HTMLParser):
    """The text a reader sees: without <code> (ids, rule ids, table versions), without the
    switch to the other language, and the text marked as English (lang="en" inside zh)."""

    def __init__(self, page_lang: str) -> None:
        super().__init__()
        self.page_lang, self.parts, self.english = page_lang, [], []
        self.stack: list[tuple[str, bool, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("meta", "link", "br"):
            return
        hidden = tag in ("code", "head", "nav") or (bool(self.stack) and self.stack[-1][1])
        english = found.get("lang") == "en" and self.page_lang != "en"
        self.stack.append((tag, hidden, english or (bool(self.stack) and self.stack[-1][2])))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][1]:
            return
        if self.stack and self.stack[-1][2]:
            self.english.append(data)
        self.parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.parts))


def visible(html: str, lang: str = "en") -> Visible:
    parser = Visible(lang)
    parser.feed(html)
    return parser


def untranslated(html: str) -> tuple[list[str], list[str]]:
    """Latin words outside the allowed ones, and text marked as English, on a Chinese page."""
    seen = visible(html, "zh")
    text = RULE_ID.sub(" ", FHIR_REF.sub(" ", seen.text))
    words = sorted(set(re.findall(r"[A-Za-z]+", text)) - LATIN_ON_A_CHINESE_PAGE)
    return words, [e for e in seen.english if e.strip()]


def card_links(client: Any, body: dict[str, Any], lang: str = "en") -> list[tuple[dict, str]]:
    headers = {"Accept-Language": "zh-CN" if lang == "zh" else "en"}
    response = client.post("/cds-services/vte-patient-view", json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(card, link["url"].replace(BASE, "")) for card in response.json["cards"]
            for link in card.get("links", ()) if "/assessments/view/" in link["url"]]


def the_link(client: Any, body: dict[str, Any]) -> tuple[dict, str]:
    found = card_links(client, body)
    assert found, "no card with an assessment link"
    return found[0]


def row(html: str, rule: str) -> str:
    found = re.search(rf'<tr [^>]*data-rule="{re.escape(rule)}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row for {rule}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_the_link_opens_a_page_with_the_decision_and_every_score_item(client):
    card, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    response = client.get(path, headers={"Accept": "text/html", "Accept-Language": "en"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    doc = client.get(path, headers={"Accept": "application/json"}).json
    assert '<html lang="en">' in html
    seen = visible(html).text
    assert "High VTE risk: 10 points (MM VTE risk score (Table 5))" in seen
    rec = doc["recommendations"]["prophylaxis"]
    plan = re.search(r'<section class="plan" data-plan="prophylaxis" data-regimen="([^"]+)"',
                     html)
    assert plan
    assert plan.group(1) == rec["regimen"] == \
        card["extension"]["vte-cds"]["recommendation"]["regimen"]
    assert "Recommended: prophylactic LMWH, rivaroxaban 10 mg, warfarin (INR 2-3)" in seen
    for option in rec["options"]:
        assert option["dose"]["en"] in seen
    for ruled_out in rec["ruled_out"]:
        assert ruled_out["reason"]["en"] in seen
    items = doc["scores"]["mm_vte"]["items"]
    assert html.count('data-rule="MM-T5-') == len(items)
    assert "Present" in row(html, "MM-T5-19")
    assert "MedicationRequest/mm-rd-len" in \
        row(html, "MM-T5-19")
    assert "Absent" in row(html, "MM-T5-01")
    assert "not on the problem list" in \
        row(html, "MM-T5-01")
    unknown = row(html, "WDVT-02")
    assert "Unknown" in unknown
    assert "not documented" in unknown
    assert doc["scores"]["bleeding"]["table"] in html


def test_accept_language_chinese_gets_the_page_in_chinese_throughout(client):
    _, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    response = client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    html = response.get_data(as_text=True)
    doc = client.get(path, headers={"Accept": "application/json"}).json
    assert '<html lang="zh-Hans">' in html
    assert response.headers["Content-Language"] == "zh-Hans"
    seen = visible(html, "zh").text
    assert "VTE高危：10分（MM相关VTE风险评分（表5））" in seen
    for ruled_out in doc["recommendations"]["prophylaxis"]["ruled_out"]:
        assert ruled_out["reason"]["zh"] in seen
    assert "存在" in row(html, "MM-T5-19")
    assert "未知" in row(html, "WDVT-02")
    assert "未记录" in row(html, "WDVT-02")
    assert untranslated(html) == ([], [])


@pytest.mark.parametrize(("query", "accept_language", "lang"), [
    ("?lang=zh", "en", "zh-Hans"), ("?lang=en", "zh-CN", "en"), ("?lang=fr", "zh-CN", "zh-Hans"),
    ("", "fr", "en")])
def test_lang_in_the_link_wins_over_accept_language(client, query, accept_language, lang):
    _, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    response = client.get(path + query, headers={"Accept-Language": accept_language})
    assert f'<html lang="{lang}">' in response.get_data(as_text=True)


def test_json_is_still_the_assessment_document_when_asked_for(client):
    _, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.mimetype == "application/json"
    doc = response.json
    assert doc["scores"]["mm_vte"]["points"] == 10
    assert set(doc) >= {"as_of", "scores", "recommendations", "data_issues", "tables"}
    browser = client.get(path, headers={"Accept": "text/html,application/json;q=0.9"})
    assert browser.mimetype == "text/html"


def test_the_page_runs_no_script_loads_nothing_from_elsewhere_and_is_not_kept(client):
    _, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    response = client.get(path)
    html = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "style-src 'self'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert {"Accept", "Accept-Language"} <= set(response.vary)
    assert "<script" not in html
    assert " style=" not in html
    assert "<style" not in html
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)
    sheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert sheet
    assert sheet.group(1).startswith("/")
    with client.get(sheet.group(1)) as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"
        assert "@media print" in css.get_data(as_text=True)


def test_chart_text_is_escaped(app):
    html_in_a_label = "<script>alert(1)</script>"
    document = {"as_of": "2026-11-27", "index_event": [], "notes": [
        {"en": html_in_a_label, "zh": html_in_a_label}], "already_on": [], "scores": {},
        "recommendations": {}, "data_issues": [
            {"reference": "Condition/<img src=x>", "reason": "not documented",
             "severity": "warning"}], "tables": {}}
    with app.test_request_context("/assessments/view/x"):
        html = assessment.response(document, "en").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "<img" not in html


def test_a_calf_thrombosis_page_shows_the_extension_risk_and_its_items(client):
    card, path = the_link(client, cmvt_low_risk())
    html = client.get(path + "?lang=en").get_data(as_text=True)
    doc = client.get(path, headers={"Accept": "application/json"}).json
    seen = visible(html).text
    assert 'data-section="cmvt"' in html
    assert "Risk of extension: low" in seen
    assert html.count('data-rule="CMVT-0') >= len(doc["cmvt"]["items"])
    plan = re.search(r'data-plan="cmvt" data-regimen="([^"]+)"', html)
    assert plan
    assert plan.group(1) == card["extension"]["vte-cds"]["recommendation"]["regimen"]


def synthetic_request(name: str) -> dict[str, Any]:
    """A patient-view call with a full prefetch built from a synthetic patient's Bundle."""
    scenario = next(s for s in scenarios() if s.id == name)
    resources = [e["resource"] for e in bundles()[name]["entry"]]
    prefetch: dict[str, Any] = {}
    for key, template in PATIENT_DATA.items():
        rtype = resource_type(template)
        found = [r for r in resources if r["resourceType"] == rtype]
        prefetch[key] = next(r for r in found if r["id"] == scenario.patient) \
            if rtype == "Patient" else {"resourceType": "Bundle", "type": "searchset",
                                        "entry": [{"resource": r} for r in found]}
    return {"hook": "patient-view", "hookInstance": f"page-{name}",
            "context": {"patientId": scenario.patient, "userId": "Practitioner/page"},
            "prefetch": prefetch}


PLAN_OF_KIND = {"mm-prophylaxis": "prophylaxis", "vte-treatment": "treatment", "cmvt": "cmvt"}


@pytest.mark.parametrize("name", [s.id for s in scenarios()])
def test_every_synthetic_patient_gets_the_cards_plan_in_both_languages(client, name):
    for card, path in card_links(client, synthetic_request(name)):
        plan = PLAN_OF_KIND[card["extension"]["vte-cds"]["kind"]]
        regimen = card["extension"]["vte-cds"]["recommendation"]["regimen"]
        for lang in ("en", "zh"):
            html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
            assert f'data-plan="{plan}" data-regimen="{regimen}"' in html
            if lang == "zh":
                assert untranslated(html) == ([], []), name


def test_every_drug_effect_and_data_issue_severity_has_its_words():
    rows = load_table("drug_risk").rows
    effects = {str(r.extra[k]) for r in rows for k in ("effect", "combined_effect")
               if k in r.extra}
    assert effects <= set(assessment_page.DRUG_EFFECTS)
    assert set(get_args(Severity)) == set(assessment_page.SEVERITIES)


def test_assumptions_and_reasons_given_in_both_languages_are_shown_in_the_pages(app, client):
    """The rules may word an assumption or a reason in both languages: the page picks one."""
    _, path = the_link(client, myeloma_on_lenalidomide_dexamethasone())
    document = client.get(path, headers={"Accept": "application/json"}).json
    item = next(i for i in document["scores"]["wells_dvt"]["items"] if i["status"] == "unknown")
    item["reason"] = {"en": "no bedside examination recorded", "zh": "无床旁查体记录"}
    absent = next(i for i in document["scores"]["mm_vte"]["items"] if i["status"] == "absent")
    absent["assumption"] = [{"en": "not on the problem list", "zh": "问题列表中无此项"},
                            {"en": "none in 30 days", "zh": "30天内无"}]
    for lang, reason, assumed in (
            ("en", "no bedside examination recorded", "not on the problem list; none in 30 days"),
            ("zh", "无床旁查体记录", "问题列表中无此项；30天内无")):
        with app.test_request_context(path):
            html = assessment.response(document, lang).get_data(as_text=True)
        assert reason in row(html, item["rule"])
        assert assumed in row(html, absent["rule"])
