"""Prefetch templates: exactly the data the rules read, and the resource type of each key.

The Observation query names the codes of the observation code map (and the finding system),
so the EHR sends the labs and findings the rules use, not the whole chart.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

OBSERVATION_SYSTEMS = ("http://loinc.org",)
FINDING_SYSTEM = "urn:vte-cds:finding"


def _observation_codes() -> str:
    text = (resources.files("fhir_mappers") / "codes" / "observations.csv").read_text("utf-8")
    codes = [f"{r['system']}|{r['code']}" for r in csv.DictReader(io.StringIO(text))
             if r["system"] in OBSERVATION_SYSTEMS and not r["code"].endswith("*")]
    return ",".join([*dict.fromkeys(codes), f"{FINDING_SYSTEM}|"])


PATIENT_DATA: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&code=" + _observation_codes(),
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "procedures": "Procedure?patient={{context.patientId}}",
    "devices": "Device?patient={{context.patientId}}",
    "encounters": "Encounter?patient={{context.patientId}}&status=in-progress",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "family": "FamilyMemberHistory?patient={{context.patientId}}",
}


def resource_type(template: str) -> str:
    """``Condition?patient=...`` -> Condition; ``Patient/{{...}}`` -> Patient."""
    return template.split("?")[0].split("/")[0]
