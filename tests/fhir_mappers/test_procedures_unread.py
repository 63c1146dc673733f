"""Recent procedures the value sets cannot classify (issue 11, class 11): a procedure whose kind
is not known is not "no major surgery". The surgery items (MM-T5-07 style Table 5 and Wells
items read from ``major_surgery_within_1_month`` and ``immobilisation_or_surgery_within_4_weeks``)
stay unknown, and the chart lists the procedure among what could not be read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fhir_mappers.chart import map_chart

AS_OF = dt.date(2026, 12, 1)
SURGERY = ("major_surgery_within_1_month", "immobilisation_or_surgery_within_4_weeks")


def _procedure(code: dict[str, Any], day: str | None, status: str = "completed") -> dict:
    res: dict[str, Any] = {"resourceType": "Procedure", "id": "proc-1", "status": status,
                           "subject": {"reference": "Patient/p1"}, "code": code}
    if day:
        res["performedDateTime"] = day
    return res


def _map(*procedures: dict[str, Any]) -> Any:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female",
               "birthDate": "1958-03-02"}
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r} for r in (patient, *procedures)]}
    return map_chart(bundle, as_of=AS_OF, received_types=frozenset({"Patient", "Procedure"}))


LOCAL = {"coding": [{"system": "http://his.hospital.example.cn/procedure", "code": "SS-0417"}],
         "text": "左股骨骨折切开复位内固定术"}
HIP = {"coding": [{"system": "http://snomed.info/sct", "code": "112727005"}]}
DUPLEX = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "93971"}]}
SURGERY_ONLY = {"coding": [{"system": "http://snomed.info/sct", "code": "387713003"}]}


@pytest.mark.parametrize("code", [LOCAL, SURGERY_ONLY], ids=["local-code", "surgery-no-kind"])
def test_an_operation_ten_days_ago_of_unknown_kind_leaves_major_surgery_unknown(code):
    chart = _map(_procedure(code, "2026-11-21"))
    for factor in SURGERY:
        assert chart.facts[factor].value is None, factor
    (issue,) = [i for i in chart.issues if i.reference == "Procedure/proc-1"]
    assert "unknown, not absent" in issue.reason


def test_an_unknown_procedure_three_months_ago_does_not_touch_the_month_window():
    chart = _map(_procedure(LOCAL, "2026-09-01"))
    assert chart.facts["major_surgery_within_1_month"].value is False
    assert not [i for i in chart.issues if i.reference == "Procedure/proc-1"]


def test_a_hip_replacement_with_no_date_is_unknown_not_absent():
    chart = _map(_procedure(HIP, None))
    assert chart.facts["major_surgery_within_1_month"].value is None


def test_a_recognised_minor_procedure_still_reads_as_no_major_surgery():
    chart = _map(_procedure(DUPLEX, "2026-11-28"))
    assert chart.facts["major_surgery_within_1_month"].value is False


def test_a_hip_replacement_last_week_is_major_surgery():
    chart = _map(_procedure(HIP, "2026-11-24"))
    assert chart.facts["major_surgery_within_1_month"].value is True


def test_an_unknown_procedure_not_done_is_ignored():
    chart = _map(_procedure(LOCAL, "2026-11-21", status="not-done"))
    assert chart.facts["major_surgery_within_1_month"].value is False
