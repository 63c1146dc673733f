"""A treatment card names each regimen by its first phase, and its summary fits uncut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clinical_review.test_review_charts import request_for

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize("name", ["mm-recurrent-vte-prior-pe-z86711-new-dvt-long-term",
                                  "mm-pe-with-hypotension-thrombolysis"])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_treatment_summary_names_rivaroxaban_15_mg_first_and_is_not_cut(name, lang, clients):
    case = json.loads((CASES / f"{name}.json").read_text("utf-8"))
    cards = clients(case["as_of"]).post("/cds-services/vte-patient-view", json=request_for(case),
                                        headers={"Accept-Language": lang}).json["cards"]
    (card,) = [c for c in cards if c["extension"]["vte-cds"]["kind"] == "vte-treatment"]
    assert "15 mg" in card["summary"]
    assert "…" not in card["summary"]
    assert len(card["summary"]) < 140
