"""A synthetic 5,000-resource chart of a myeloma patient, for the mapping test and benchmark.

Two years of laboratory results and vital signs (most of them for codes the rules do not use),
old and current orders, encounters and procedures. The newest values are fixed so that the
expected facts are known: platelets 131, eGFR 48, weight 71 kg, lenalidomide and weekly
dexamethasone 40 mg active, diabetes on the problem list, a DVT resolved in 2024.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

AS_OF = dt.date(2026, 11, 27)
PATIENT = "big-1"
LOINC = "http://loinc.org"
UNRELATED_LOINC = ("2345-7", "2951-2", "2823-3", "1742-6", "1920-8", "6690-2", "789-8",
                   "4544-3", "2093-3", "2571-8")
MEASURED = (("777-3", "10*9/L", 131.0), ("98979-8", "mL/min/{1.73_m2}", 48.0),
            ("29463-7", "kg", 71.0), ("8867-4", "/min", 82.0), ("718-7", "g/L", 104.0))


def _subject() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT}"}


def _obs(i: int, code: str, unit: str, value: float, day: dt.date) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"obs-{i}", "status": "final",
            "subject": _subject(), "code": {"coding": [{"system": LOINC, "code": code}]},
            "effectiveDateTime": f"{day.isoformat()}T08:00:00+08:00",
            "valueQuantity": {"value": value, "unit": unit,
                              "system": "http://unitsofmeasure.org", "code": unit}}


def _condition(i: int, system: str, code: str, status: str, onset: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"cond-{i}", "subject": _subject(),
            "clinicalStatus": {"coding": [{"code": status}]},
            "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": onset}


def _med(i: int, rxnorm: str, status: str, dose: dict[str, Any] | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": f"med-{i}", "status": status,
        "intent": "order", "subject": _subject(), "authoredOn": "2026-11-01",
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm}]}}
    if dose:
        res["dosageInstruction"] = [dose]
    return res


def build(total: int = 5000) -> dict[str, Any]:
    """A searchset Bundle of ``total`` resources."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": PATIENT, "gender": "male", "birthDate": "1957-04-09"},
        _condition(1, "http://snomed.info/sct", "109989006", "active", "2026-09-15"),
        _condition(2, "http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "active", "2012-03-01"),
        _condition(3, "http://hl7.org/fhir/sid/icd-10-cm", "I82.411", "resolved", "2024-01-08"),
        _med(1, "342369", "active", None),
        _med(2, "3264", "active", {"timing": {"repeat": {"frequency": 1, "period": 1,
                                                          "periodUnit": "wk"}},
                                   "doseAndRate": [{"doseQuantity": {
                                       "value": 40, "unit": "mg",
                                       "system": "http://unitsofmeasure.org", "code": "mg"}}]}),
    ]
    i = 0
    while len(resources) < total * 0.8:
        day = AS_OF - dt.timedelta(days=1 + (i * 7) % 720)
        if i % 3 == 0:
            code, unit, value = MEASURED[i % len(MEASURED)]
            resources.append(_obs(i, code, unit, value + 5 + i % 11, day))
        else:
            resources.append(_obs(i, UNRELATED_LOINC[i % len(UNRELATED_LOINC)], "mmol/L",
                                  5.0 + i % 7, day))
        i += 1
    for n, (code, unit, value) in enumerate(MEASURED):  # the newest value of each, today
        resources.append(_obs(100000 + n, code, unit, value, AS_OF))
    n = 10
    while len(resources) < total:
        kind = n % 3
        if kind == 0:
            resources.append(_med(n, "197361", "completed", None))  # an old unrelated order
        elif kind == 1:
            resources.append({"resourceType": "Encounter", "id": f"enc-{n}", "status": "finished",
                              "class": {"code": "AMB"}, "subject": _subject()})
        else:
            resources.append({"resourceType": "Procedure", "id": f"proc-{n}",
                              "status": "completed", "subject": _subject(),
                              "code": {"text": "blood draw"},
                              "performedDateTime": "2025-06-01"})
        n += 1
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}
