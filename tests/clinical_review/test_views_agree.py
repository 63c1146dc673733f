"""The card, the card's link, and POST /assessments show one assessment: on every review chart
the regimen and options of each card equal the assessment's, fetched both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clinical_review.test_review_charts import CASES, SERVICE, request_for

PLAN_OF_KIND = {"mm-prophylaxis": "prophylaxis", "vte-treatment": "treatment", "cmvt": "cmvt"}


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
        page = client.get(link.replace("https://cds.example", ""),
                          headers={"Accept": "application/json"}).json
        for doc in (api, page):
            rec = doc["recommendations"][plan]
            assert ext["recommendation"]["regimen"] == rec["regimen"]
            assert ext["recommendation"]["options"] == [o["regimen"] for o in rec["options"]]
        assert api["recommendations"].keys() == page["recommendations"].keys()
