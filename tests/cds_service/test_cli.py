"""The vte-cds command line: what a user running it sees."""

from __future__ import annotations

import json

from cds_service.cli import main


def test_demo_assess_prints_the_expected_advice_for_each_example(capsys):
    assert main(["demo-assess"]) == 0
    out = capsys.readouterr().out
    assert "mm_vte: high (10 points documented, 10 at most)" in out
    assert "prophylaxis: lmwh-prophylactic" in out
    assert "cmvt: risk low, ultrasound-surveillance" in out


def test_tables_lists_every_table_with_its_version(capsys):
    assert main(["tables"]) == 0
    out = capsys.readouterr().out
    assert "mm_vte@1" in out
    assert "cmvt@1" in out


def test_assess_prints_json_with_every_score(tmp_path, capsys):
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"as_of": "2026-11-27", "facts": {
        "multiple_myeloma": True, "age_years": 77, "drug_thalidomide": True,
        "drug_dexamethasone": True, "dexamethasone_mg_per_cycle": 480, "bmi": None}}))
    assert main(["assess", str(doc)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["scores"]) == {"mm_vte", "bleeding", "wells_dvt", "wells_pe"}
    mm = result["scores"]["mm_vte"]
    assert (mm["points"], mm["category"]) == (10, "high")
    assert "MM-T5-12" in mm["unknown"]
    assert result["recommendations"]["prophylaxis"]["regimen"] == "lmwh-prophylactic"


def test_assess_with_an_unknown_factor_fails_with_a_clear_message(tmp_path, capsys):
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"facts": {"body_mass_index": 30}}))
    assert main(["assess", str(doc)]) == 2
    assert "unknown factor 'body_mass_index'" in capsys.readouterr().err


def test_assess_with_broken_json_fails_with_a_clear_message(tmp_path, capsys):
    doc = tmp_path / "p.json"
    doc.write_text("{not json")
    assert main(["assess", str(doc)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_assess_takes_a_hook_request_and_prints_what_the_endpoint_answers(capsys):
    from pathlib import Path

    from cds_service.app import create_app

    example = Path(__file__).resolve().parents[2] / "examples" / "patient-view-myeloma-rd.json"
    assert main(["assess", str(example), "--as-of", "2026-11-27"]) == 0
    printed = json.loads(capsys.readouterr().out)
    app = create_app({"AUTH": "off"})
    answered = app.test_client().post("/assessments?as_of=2026-11-27",
                                      data=example.read_bytes(),
                                      content_type="application/json").json
    assert printed["scores"]["mm_vte"]["points"] == 10
    assert printed == answered
