"""The card, the card's link, and POST /assessments show one assessment: on every review chart
the regimen and options of each card equal the assessment's, fetched both ways, and the link's
page, in English and in Chinese, shows that regimen with those options, the card's tiers and
its CMVT extension risk."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hooks.base import msg
from tests.clinical_review.test_review_charts import CASES, SERVICE, request_for

PLAN_OF_KIND = {"mm-prophylaxis": "prophylaxis", "vte-treatment": "treatment", "cmvt": "cmvt"}


def plan_section(html: str, plan: str) -> str:
    found = re.search(rf'<section class="plan" data-plan="{plan}".*?</section>', html, re.S)
    assert found, f"the page has no {plan} plan"
    return found.group(0)


def check_page(html: str, plan: str, ext: dict[str, Any], lang: str) -> None:
    section = plan_section(html, plan)
    assert f'data-regimen="{ext["recommendation"]["regimen"]}"' in section.split(">", 1)[0]
    options = re.search(r'<table class="options">.*?</table>', section, re.S)
    shown = re.findall(r'<tr data-regimen="([^"]+)"', options.group(0)) if options else []
    assert shown == ext["recommendation"]["options"]
    for name, score in ext.get("scores", {}).items():
        assert f'data-score="{name}" data-category="{score["category"]}"' in html
        if name == "mm_vte":
            assert msg("tiers", score["category"]).text(lang) in html
    if ext.get("thrombosis_risk"):
        assert msg("risk_words", ext["thrombosis_risk"]).text(lang) in html


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CASES
                                  if '"patient-view"' in p.read_text("utf-8")])
def test_card_link_and_assessment_api_agree(path: Path, clients) -> None:
    case = json.loads(path.read_text("utf-8"))
    client = clients(case["as_of"])
    body = request_for(case)
    cards = client.post(f"/cds-services/{SERVICE[case['hook']]}", json=body).json["cards"]
    api = client.post(f"/assessments?as_of={case['as_of']}", json=body).json
    for card in cards:
        ext = card["extension"]["vte-cds"]
        plan = PLAN_OF_KIND[ext["kind"]]
        link = next(x["url"] for x in card["links"] if x["type"] == "absolute")
        link = link.replace("https://cds.example", "")
        page = client.get(link, headers={"Accept": "application/json"}).json
        for doc in (api, page):
            rec = doc["recommendations"][plan]
            assert ext["recommendation"]["regimen"] == rec["regimen"]
            assert ext["recommendation"]["options"] == [o["regimen"] for o in rec["options"]]
        assert api["recommendations"].keys() == page["recommendations"].keys()
        for lang in ("en", "zh"):
            html = client.get(f"{link}?lang={lang}", headers={"Accept": "text/html"})
            check_page(html.get_data(as_text=True), plan, ext, lang)
