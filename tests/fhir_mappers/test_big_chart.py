"""A 5,000-resource chart maps to the right facts (timing is measured in bench/, not here)."""

from __future__ import annotations

from fhir_mappers.chart import map_chart
from tests.fhir_mappers.big_chart import AS_OF, PATIENT, build


def test_five_thousand_resource_chart_maps_the_newest_values_and_current_orders():
    bundle = build(5000)
    assert len(bundle["entry"]) == 5000
    chart = map_chart(bundle, as_of=AS_OF, patient_id=PATIENT)
    f = chart.facts
    assert f.number("platelets") == 131
    assert f.number("egfr") == 48
    assert f.number("weight_kg") == 71
    assert f.number("heart_rate") == 82
    assert f["age_years"].value == 69
    assert f.flag("diabetes") is True
    assert f.flag("history_of_vte") is True
    assert f.flag("acute_dvt") is False
    assert f.flag("drug_lenalidomide") is True
    assert f.number("dexamethasone_mg_per_cycle") == 160
    assert f.flag("icu_admission") is False
    assert not [i for i in chart.issues if i.severity == "skipped"]
