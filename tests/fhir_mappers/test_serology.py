"""Lupus anticoagulant and anticardiolipin results as laboratory systems send them (MM-T5 items
"狼疮抗凝物阳性", "抗心磷脂抗体阳性"): LOINC or the laboratory's own code, a coded, flagged or
written result. A result that cannot be read is unknown, never absent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fhir_mappers.chart import map_chart
from vte_rules.facts import Message

AS_OF = dt.date(2026, 12, 1)
LIS = "http://lis.hospital.example.cn/CodeSystem/test"
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
TYPES = ("Patient", "Observation", "Condition")


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "birthDate": "1964-03-02", "gender": "female"}


def myeloma() -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "mm", "subject": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                 "code": "C90.000x001", "display": "多发性骨髓瘤"}]},
            "onsetDateTime": "2026-11-02"}


def local_la(**result: Any) -> dict[str, Any]:
    """The LIS's lupus anticoagulant test: a local code named in Chinese."""
    return {"resourceType": "Observation", "id": "la", "status": "final",
            "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2026-11-28",
            "code": {"coding": [{"system": LIS, "code": "LA", "display": "狼疮抗凝物"}],
                     "text": "狼疮抗凝物(LA)筛查及确认试验"}, **result}


def local_acl(**result: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "acl", "status": "final",
            "subject": {"reference": "Patient/p"}, "effectiveDateTime": "2026-11-28",
            "code": {"coding": [{"system": LIS, "code": "ACL-G", "display": ""}],
                     "text": "抗心磷脂抗体IgG(aCL-IgG)"}, **result}


def flag(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": V3, "code": code}]}]


def facts(*resources: dict[str, Any]):
    return map_chart([patient(), myeloma(), *resources], as_of=AS_OF, patient_id="p",
                     received_types=TYPES).facts


def test_local_lupus_anticoagulant_coded_positive_is_positive_and_says_how_it_was_found():
    f = facts(local_la(interpretation=flag("POS"), valueCodeableConcept={
        "coding": [{"system": SCT, "code": "10828004", "display": "Positive"}], "text": "阳性"}))
    assert f.flag("lupus_anticoagulant") is True
    assert f["lupus_anticoagulant"].evidence == ("Observation/la",)
    assert f["lupus_anticoagulant"].assumption == (Message.of("test_found_by_name"),)


@pytest.mark.parametrize(("result", "expected"), [
    ({"valueString": "阳性"}, True),
    ({"valueString": " 弱阳性 "}, True),
    ({"valueString": "阴性"}, False),
    ({"valueCodeableConcept": {"text": "阴性"}}, False),
    ({"valueCodeableConcept": {"coding": [{"system": SCT, "code": "260385009"}]}}, False),
    ({"interpretation": flag("NEG")}, False),
    ({"interpretation": [{"text": "阳性"}]}, True),
])
def test_local_lupus_anticoagulant_result_in_each_shape_laboratories_send(result, expected):
    assert facts(local_la(**result)).flag("lupus_anticoagulant") is expected


def test_local_anticardiolipin_flagged_high_is_positive():
    f = facts(local_acl(interpretation=flag("H"), valueQuantity={"value": 48, "unit": "GPL"}))
    assert f.flag("anticardiolipin_antibody") is True


def test_local_numeric_anticardiolipin_without_a_flag_is_unknown_not_negative():
    f = facts(local_acl(valueQuantity={"value": 48, "unit": "U/mL"}))
    assert f.flag("anticardiolipin_antibody") is None
    assert "not coded as positive or negative" in (f["anticardiolipin_antibody"].reason or "")


def test_result_both_flagged_negative_and_written_positive_is_unknown():
    f = facts(local_la(interpretation=flag("NEG"), valueString="阳性"))
    assert f.flag("lupus_anticoagulant") is None


def test_loinc_lupus_anticoagulant_written_negative_is_negative():
    obs = local_la(valueString="阴性")
    obs["code"] = {"coding": [{"system": LOINC, "code": "75514-0"}]}
    f = facts(obs)
    assert f.flag("lupus_anticoagulant") is False
    assert f["lupus_anticoagulant"].assumption is None


def test_lupus_anticoagulant_result_that_fails_validation_is_unknown_not_absent():
    bad = local_la(valueString="阳性", issued="the next morning")
    f = facts(bad)
    assert f.flag("lupus_anticoagulant") is None  # not "not on the problem list"
    assert f["lupus_anticoagulant"].evidence == ("Observation/la",)


# ----------------------- MM-T5-04: the result's word inside a longer text, read conservatively ---

@pytest.mark.parametrize(("text", "expected"), [
    ("阳性（LA1/LA2 标准化比值 1.48）", True),
    ("弱阳性 (LA1/LA2 1.25)", True),
    ("阴性（标准化比值 1.05）", False),
    ("Positive (LA ratio 1.48)", True),
    ("Lupus anticoagulant detected, dRVVT ratio 1.6", True),
    ("Lupus anticoagulant not detected", False),
    ("NEGATIVE - normalised ratio 1.02", False),
    ("未检出", False),
])
def test_lupus_anticoagulant_word_inside_a_longer_result_text_is_read(text, expected):
    for shape in ({"valueString": text}, {"valueCodeableConcept": {"text": text}}):
        f = facts(local_la(**shape))
        assert f.flag("lupus_anticoagulant") is expected
        assert Message.of("result_word_in_text") in f["lupus_anticoagulant"].assumption


@pytest.mark.parametrize("text", [
    "非阳性", "不是阳性", "可疑阳性", "临界（LA1/LA2 1.19），建议复查", "阳性？", "阴性或弱阳性",
    "阳性/阴性", "not positive", "no lupus anticoagulant detected", "borderline positive",
    "equivocal", "weak, possibly positive", "positive screen, negative confirm",
    "LA1/LA2 比值 1.48", "见报告",
])
def test_negated_doubtful_mixed_or_wordless_result_text_stays_unknown_never_negative(text):
    f = facts(local_la(valueString=text))
    assert f.flag("lupus_anticoagulant") is None
    assert f["lupus_anticoagulant"].evidence == ("Observation/la",)
