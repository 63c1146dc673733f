"""The SMART app shows the same assessment as the card and POST /assessments (issue 11, "one
assessment in every view"): every patient-view review chart is served by a FHIR server (mocked
on its base URL), the SMART app assesses the patient from it, and its plans, options and score
categories equal those of POST /assessments for the same chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from cds_service.app import create_app
from tests.cds_service.test_smart_api import serve_fhir
from tests.clinical_review.test_review_charts import CASES, request_for

FHIR = "https://fhir.example/r4"


def _plans(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: (rec["regimen"], [o["regimen"] for o in rec["options"]],
                   sorted(r["regimen"] for r in rec.get("ruled_out", ())))
            for name, rec in doc["recommendations"].items()}


def _categories(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: (s["points"], s["category"]) for name, s in doc["scores"].items()}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CASES
                                  if '"patient-view"' in p.read_text("utf-8")])
def test_the_smart_app_and_the_assessment_api_agree(path: Path, tmp_path: Path) -> None:
    case = json.loads(path.read_text("utf-8"))
    patient = next(r for r in case["resources"] if r["resourceType"] == "Patient")
    app = create_app({"AUTH": "off", "TODAY": case["as_of"], "PUBLIC_URL": "https://cds.example",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "FHIR_ALLOWLIST": FHIR,
                      "UI_FHIR_URL": FHIR, "SMART_SECRET_KEY": "test-secret"})
    client = app.test_client()
    api = client.post(f"/assessments?as_of={case['as_of']}", json=request_for(case)).json
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_fhir(mock, FHIR, case["resources"])
        answer = client.post("/smart/api/assess", json={"patient": patient["id"]})
    assert answer.status_code == 200, answer.get_json()
    smart = answer.get_json()
    assert smart["scores"]  # Wells DVT and PE at least: the app assessed something
    assert _plans(smart) == _plans(api)
    assert _categories(smart) == _categories(api)


SYNTHETIC_DAY = "2026-11-27"  # the synthetic patients' evaluation date (docs/synthetic-patients.md)


def _synthetic() -> list[Any]:
    from cds_service.synthetic.loader import bundles

    return [pytest.param(bundle, id=sid) for sid, bundle in bundles().items()]


@pytest.mark.parametrize("bundle", _synthetic())
def test_card_link_assessment_api_and_smart_app_agree_on_every_synthetic_patient(
        bundle: dict[str, Any], tmp_path: Path) -> None:
    resources = [e["resource"] for e in bundle["entry"]]
    case = {"id": resources[0]["id"], "hook": "patient-view", "as_of": SYNTHETIC_DAY,
            "resources": resources}
    app = create_app({"AUTH": "off", "TODAY": SYNTHETIC_DAY, "PUBLIC_URL": "https://cds.example",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "FHIR_ALLOWLIST": FHIR,
                      "UI_FHIR_URL": FHIR, "SMART_SECRET_KEY": "test-secret"})
    client = app.test_client()
    body = request_for(case)
    api = client.post(f"/assessments?as_of={SYNTHETIC_DAY}", json=body).json
    cards = client.post("/cds-services/vte-patient-view", json=body).json["cards"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_fhir(mock, FHIR, resources)
        smart = client.post("/smart/api/assess", json={"patient": resources[0]["id"]}).get_json()
    assert _plans(smart) == _plans(api)
    assert _categories(smart) == _categories(api)
    plan_of_kind = {"mm-prophylaxis": "prophylaxis", "vte-treatment": "treatment",
                    "cmvt": "cmvt"}
    for card in cards:
        ext = card["extension"]["vte-cds"]
        link = next(x["url"] for x in card["links"] if x["type"] == "absolute")
        page = client.get(link.replace("https://cds.example", ""),
                          headers={"Accept": "application/json"}).json
        assert _plans(page) == _plans(api)
        rec = api["recommendations"][plan_of_kind[ext["kind"]]]
        assert ext["recommendation"]["regimen"] == rec["regimen"]
        assert ext["recommendation"]["options"] == [o["regimen"] for o in rec["options"]]
