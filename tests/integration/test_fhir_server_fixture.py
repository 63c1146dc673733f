"""The fhir_server fixture: a real FHIR R4 server on loopback that stores, reads and searches."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from .fhir_server import LOOPBACK, FhirServer, FhirServerError, search_matches

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1958-03-14"}


def platelets(
    oid: str, pid: str, value: float = 142, when: str = "2025-01-10T08:00:00Z"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": LOINC, "code": "777-3", "display": "Platelets [#/volume] in Blood"}
            ]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {
            "value": value,
            "unit": "10*3/uL",
            "system": "http://unitsofmeasure.org",
            "code": "10*3/uL",
        },
    }


def myeloma(cid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {
            "coding": [{"system": SNOMED, "code": "109989006", "display": "Multiple myeloma"}]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": "2024-11-02",
    }


def lenalidomide(mid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": "342369", "display": "lenalidomide 25 MG Oral Capsule"}
            ]
        },
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": "2025-01-02",
        "dosageInstruction": [{"text": "25 mg once daily, days 1-21 of 28"}],
    }


def chart(pid: str) -> list[dict[str, Any]]:
    return [
        patient(pid),
        platelets(f"{pid}-plt", pid),
        myeloma(f"{pid}-mm", pid),
        lenalidomide(f"{pid}-len", pid),
    ]


TYPES = ("Observation", "Condition", "MedicationRequest")
IT1_IDS = {"Observation": "it-1-plt", "Condition": "it-1-mm", "MedicationRequest": "it-1-len"}
IT2_IDS = {"Observation": "it-2-plt", "Condition": "it-2-mm", "MedicationRequest": "it-2-len"}


@pytest.fixture(scope="module")
def loaded(fhir_server: FhirServer) -> dict[str, list[dict[str, Any]]]:
    """it-1 loaded as a list of resources (PUT by id), it-2 as a ready-made transaction Bundle."""
    it1 = fhir_server.load(chart("it-1"))
    it2 = fhir_server.load(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in chart("it-2")
            ],
        }
    )
    return {"it-1": it1, "it-2": it2}


def ids(resources: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in resources}


def test_server_is_on_loopback_and_answers_metadata(fhir_server: FhirServer):
    assert fhir_server.base_url == f"http://{LOOPBACK}:{fhir_server.port}/fhir"
    resp = fhir_server.get("metadata")
    assert resp.status == 200
    assert resp.body["resourceType"] == "CapabilityStatement"
    assert resp.body["fhirVersion"] == "4.0.1"


def test_settings_file_is_read_by_sekmet_as_written(fhir_server: FhirServer):
    yaml = pytest.importorskip("yaml")  # a dependency of sekmet-fhir, so always there with it
    from sekmet.config import Settings

    raw = yaml.safe_load(fhir_server.settings_path.read_text("utf-8"))
    assert raw == fhir_server.settings
    assert set(raw) <= set(Settings.model_fields), "a settings key sekmet would silently ignore"
    settings = Settings.model_validate(raw)
    assert settings.host == LOOPBACK
    assert settings.simulator.enabled is False
    assert settings.server_auth.types == ["none"]
    assert Path(settings.database).is_relative_to(fhir_server.workdir)


def test_load_returns_the_stored_resources(loaded: dict[str, list[dict[str, Any]]]):
    for pid, stored in loaded.items():
        assert ids(stored) == {pid, f"{pid}-plt", f"{pid}-mm", f"{pid}-len"}
        assert all(r["meta"]["versionId"] for r in stored)


@pytest.mark.parametrize("rtype", TYPES)
@pytest.mark.parametrize(
    "criterion", ["patient=it-1", "patient=Patient/it-1", "subject=Patient/it-1"]
)
def test_search_by_patient_returns_a_searchset_with_the_loaded_entry(
    fhir_server: FhirServer, loaded: dict[str, list[dict[str, Any]]], rtype: str, criterion: str
):
    bundle = fhir_server.search(f"{rtype}?{criterion}")
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 1
    [match] = search_matches(bundle)
    assert match["resourceType"] == rtype
    assert match["id"] == IT1_IDS[rtype]
    assert match["subject"] == {"reference": "Patient/it-1"}
    assert bundle["entry"][0]["fullUrl"] == f"{fhir_server.base_url}/{rtype}/{IT1_IDS[rtype]}"


@pytest.mark.parametrize("rtype", TYPES)
def test_another_patients_resources_are_not_returned(
    fhir_server: FhirServer, loaded: dict[str, list[dict[str, Any]]], rtype: str
):
    it1 = search_matches(fhir_server.search(f"{rtype}?patient=it-1"))
    it2 = search_matches(fhir_server.search(f"{rtype}?patient=it-2"))
    assert ids(it1) == {IT1_IDS[rtype]}
    assert ids(it2) == {IT2_IDS[rtype]}
    assert search_matches(fhir_server.search(f"{rtype}?patient=it-nobody")) == []


def test_observation_code_token_search(
    fhir_server: FhirServer, loaded: dict[str, list[dict[str, Any]]]
):
    hits = search_matches(fhir_server.search(f"Observation?patient=it-1&code={LOINC}|777-3"))
    assert ids(hits) == {"it-1-plt"}
    assert ids(search_matches(fhir_server.search("Observation?patient=it-1&code=777-3"))) == {
        "it-1-plt"
    }
    assert search_matches(fhir_server.search(f"Observation?patient=it-1&code={LOINC}|718-7")) == []


def test_read_by_id_and_404_for_a_missing_resource(
    fhir_server: FhirServer, loaded: dict[str, list[dict[str, Any]]]
):
    found = fhir_server.get("Observation/it-1-plt")
    assert found.status == 200
    assert found.body["code"]["coding"][0]["code"] == "777-3"
    for path in ("Patient/it-missing", "Observation/it-missing", "MedicationRequest/it-missing"):
        missing = fhir_server.get(path)
        assert missing.status == 404, path
        assert missing.body["resourceType"] == "OperationOutcome"


def test_paging_follows_next_links(fhir_server: FhirServer):
    fhir_server.load(
        [patient("it-page")]
        + [
            platelets(f"it-page-{n}", "it-page", value=100 + n, when=f"2025-02-0{n + 1}")
            for n in range(5)
        ]
    )
    first = fhir_server.search("Observation?patient=it-page&_count=2")
    assert first["total"] == 5
    assert len(search_matches(first)) == 2
    links = {lk["relation"]: lk["url"] for lk in first["link"]}
    assert links["next"].startswith(f"{fhir_server.base_url}/Observation?")
    every = fhir_server.search_all("Observation?patient=it-page&_count=2")
    assert sorted(r["id"] for r in every) == [f"it-page-{n}" for n in range(5)]


def test_unknown_search_parameter_is_ignored_unless_strict(fhir_server: FhirServer):
    fhir_server.load([patient("it-lenient"), platelets("it-lenient-plt", "it-lenient")])
    bundle = fhir_server.search("Observation?patient=it-lenient&no-such-param=x")
    assert ids(search_matches(bundle)) == {
        "it-lenient-plt"
    }  # the parameter was dropped, not applied
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "no-such-param" in json.dumps(outcomes)
    strict = fhir_server.request(
        "GET",
        "Observation?patient=it-lenient&no-such-param=x",
        headers={"Prefer": "handling=strict"},
    )
    assert strict.status == 400


def test_a_failed_load_is_rolled_back(fhir_server: FhirServer):
    invalid = {
        "resourceType": "Observation",
        "id": "it-rollback-obs",
        "subject": {"reference": "Patient/x"},
    }
    with pytest.raises(FhirServerError, match="rolled back"):
        fhir_server.load([patient("it-rollback"), invalid])
    assert fhir_server.get("Patient/it-rollback").status == 404


def test_stop_ends_the_server_process(tmp_path: Path):
    server = FhirServer(tmp_path)
    with server:
        assert server.running
        port = server.port
        assert port is not None
        assert server.get("metadata").status == 200
    assert not server.running
    assert server.pid is None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex((LOOPBACK, port)) != 0  # nothing listens there any more
    server.stop()  # a second stop is harmless


def test_client_refuses_urls_of_other_servers(fhir_server: FhirServer):
    with pytest.raises(FhirServerError, match="refusing"):
        fhir_server.get("http://example.org/fhir/Patient/it-1")
