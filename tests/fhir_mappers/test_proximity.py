"""CMVT-02 "thrombus close to the proximal veins" (肌间静脉血栓位置靠近近端静脉), as ultrasound
reports and diagnoses write it: explicit words are read, a distance alone and anything negated or
doubtful are not (the feature then stays unknown, never absent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fhir_mappers.chart import map_chart
from fhir_mappers.proximity import says_near
from vte_rules.facts import Message

AS_OF = dt.date(2026, 12, 1)


def ultrasound(text: str, day: str = "2026-11-30") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "us", "status": "final",
            "subject": {"reference": "Patient/p"}, "effectiveDateTime": day,
            "code": {"coding": [{"system": "http://lis.hospital.example.cn/CodeSystem/test",
                                 "code": "US-LEV", "display": "双下肢深静脉彩色多普勒超声"}]},
            "valueString": text}


def diagnosis(text: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "cmvt", "subject": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                 "code": "I82.462"}], "text": text}}


def near(*resources: dict[str, Any]):
    patient = {"resourceType": "Patient", "id": "p", "birthDate": "1981-03-02",
               "gender": "female"}
    return map_chart([patient, *resources], as_of=AS_OF,
                     patient_id="p").facts["thrombus_near_proximal_veins"]


@pytest.mark.parametrize("text", [
    "血栓近心端延伸至腓肠肌静脉汇入腘静脉处，距腘静脉约0.5cm",
    "左侧腓肠肌静脉血栓，靠近腘静脉",
    "肌间静脉血栓邻近股静脉",
    "血栓近端达腘静脉汇合处",
    "gastrocnemius vein thrombus close to the popliteal vein",
    "thrombus extending to the gastrocnemius-popliteal junction",
])
def test_an_ultrasound_report_saying_the_clot_is_close_to_or_reaches_a_proximal_vein(text):
    fact = near(ultrasound(text))
    assert (fact.value, fact.evidence) == (True, ("Observation/us",))
    assert fact.assumption == (Message.of("near_proximal_from_text"),)


def test_a_diagnosis_text_saying_close_to_the_popliteal_vein_is_read():
    assert near(diagnosis("左小腿肌间静脉血栓形成（靠近腘静脉）")).value is True


@pytest.mark.parametrize("text", [
    "距腘静脉约0.5cm",                       # a distance alone: the seed gives no threshold
    "thrombus 0.5 cm from the popliteal vein",
    "血栓未延伸至腘静脉", "血栓不靠近腘静脉", "血栓远离腘静脉", "可能靠近腘静脉",
    "not extending to the popliteal vein", "possibly close to the popliteal vein",
    "close to the popliteal vein?", "腘静脉、股静脉通畅，肌间静脉血栓长约3cm",
])
def test_a_distance_a_negation_or_a_doubt_is_not_read_as_close(text):
    assert not says_near(text)
    assert near(ultrasound(text)).value is None


def test_a_report_older_than_the_finding_age_is_not_read():
    assert near(ultrasound("血栓靠近腘静脉", day="2026-09-01")).value is None
