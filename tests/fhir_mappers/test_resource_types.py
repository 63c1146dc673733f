"""One scenario per resource type, shaped as EHRs send them."""

from __future__ import annotations

from fhir_mappers.chart import map_chart
from tests.fhir_mappers.conftest import AS_OF

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1950-01-01"}


def subject():
    return {"reference": "Patient/p1"}


def test_sandbox_order_select_draft_without_medication_is_read_not_rejected(fixture):
    chart = map_chart(fixture("sandbox_order_select_draft_without_medication"), as_of=AS_OF,
                      patient_id="smart-1288992", include_drafts=True)
    assert [(u.reference, u.draft, u.concepts) for u in chart.medications] == [
        ("MedicationRequest/request-123", True, ())]
    assert not [i for i in chart.issues if i.severity == "skipped"]


def test_sandbox_order_sign_rivaroxaban_product_code_and_single_category_object(fixture):
    chart = map_chart(fixture("sandbox_order_sign_rivaroxaban_product"), as_of=AS_OF,
                      patient_id="smart-1288992", include_drafts=True)
    (use,) = chart.medications
    assert use.concepts == ("rivaroxaban",)
    assert use.draft is True
    assert any("category" in i.reason and "reasonCode" in i.reason for i in chart.issues)


def test_rxnorm_branded_product_maps_to_its_ingredient():
    med = {"resourceType": "MedicationRequest", "id": "m1", "status": "active",
           "intent": "order", "subject": subject(),
           "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "643722"}]}}
    chart = map_chart(PATIENT, med, as_of=AS_OF, received_types={"MedicationRequest"})
    assert chart.facts.flag("drug_lenalidomide") is True
    assert chart.facts["drug_lenalidomide"].evidence == ("MedicationRequest/m1",)


def test_medication_statement_and_recent_administration_count_as_current():
    statement = {"resourceType": "MedicationStatement", "id": "s1", "status": "active",
                 "subject": subject(),
                 "medicationCodeableConcept": {"text": "Thalomid 100 mg"}}
    given = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
             "subject": subject(), "effectiveDateTime": "2026-11-20T09:00:00+08:00",
             "medicationCodeableConcept": {"text": "注射用硼替佐米"}}
    long_ago = {"resourceType": "MedicationAdministration", "id": "a2", "status": "completed",
                "subject": subject(), "effectiveDateTime": "2026-05-01",
                "medicationCodeableConcept": {"text": "carfilzomib"}}
    chart = map_chart(PATIENT, statement, given, long_ago, as_of=AS_OF)
    f = chart.facts
    assert f.flag("drug_thalidomide") is True
    assert f.flag("drug_bortezomib") is True
    assert f.flag("drug_carfilzomib") is False  # given 7 months ago: not the current regimen


def test_medication_reference_to_a_medication_resource_is_followed():
    medication = {"resourceType": "Medication", "id": "med-pom",
                  "code": {"coding": [{"system": RXNORM, "code": "1369713"}]}}
    request = {"resourceType": "MedicationRequest", "id": "r1", "status": "active",
               "intent": "order", "subject": subject(),
               "medicationReference": {"reference": "Medication/med-pom"}}
    chart = map_chart(PATIENT, medication, request, as_of=AS_OF)
    assert chart.facts.flag("drug_pomalidomide") is True


def test_major_surgery_within_a_month_counts_and_older_surgery_does_not():
    recent = {"resourceType": "Procedure", "id": "hip", "status": "completed",
              "subject": subject(), "performedDateTime": "2026-11-10",
              "code": {"coding": [{"system": SNOMED, "code": "52734007",
                                   "display": "Total replacement of hip"}]}}
    chart = map_chart(PATIENT, recent, as_of=AS_OF, received_types={"Patient", "Procedure"})
    assert chart.facts.flag("major_surgery_within_1_month") is True
    assert chart.facts.flag("immobilisation_or_surgery_within_4_weeks") is True
    old = dict(recent, performedDateTime="2026-08-01")
    chart = map_chart(PATIENT, old, as_of=AS_OF, received_types={"Patient", "Procedure"})
    assert chart.facts.flag("major_surgery_within_1_month") is False
    # immobilisation is not coded, so Wells PE item 5 stays unknown rather than absent
    assert chart.facts.flag("immobilisation_or_surgery_within_4_weeks") is None


def test_central_venous_catheter_device_in_place():
    device = {"resourceType": "Device", "id": "picc-1", "status": "active",
              "patient": subject(),
              "type": {"coding": [{"system": SNOMED, "code": "52124006"}]}}
    chart = map_chart(PATIENT, device, as_of=AS_OF, received_types={"Patient", "Device"})
    assert chart.facts.flag("central_venous_catheter") is True
    none = map_chart(PATIENT, as_of=AS_OF, received_types={"Patient", "Device"})
    assert none.facts.flag("central_venous_catheter") is False
    unasked = map_chart(PATIENT, as_of=AS_OF, received_types={"Patient"})
    assert unasked.facts.flag("central_venous_catheter") is None


def test_current_icu_encounter_is_an_icu_admission():
    icu = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
           "class": {"code": "IMP"}, "subject": subject(),
           "location": [{"location": {"display": "Medical ICU bed 4"}}]}
    chart = map_chart(PATIENT, icu, as_of=AS_OF)
    assert chart.facts.flag("icu_admission") is True
    finished = dict(icu, status="finished")
    assert map_chart(PATIENT, finished, as_of=AS_OF).facts.flag("icu_admission") is False


def test_heparin_allergy_is_listed_for_the_order_hooks():
    allergy = {"resourceType": "AllergyIntolerance", "id": "al1", "patient": subject(),
               "clinicalStatus": {"coding": [{"code": "active"}]},
               "code": {"text": "enoxaparin sodium"}}
    refuted = dict(allergy, id="al2", verificationStatus={"coding": [{"code": "refuted"}]},
                   code={"text": "warfarin"})
    chart = map_chart(PATIENT, allergy, refuted, as_of=AS_OF)
    assert chart.allergies == (("enoxaparin", "AllergyIntolerance/al1"),)


def test_family_history_of_pe_sets_family_history_of_vte():
    fmh = {"resourceType": "FamilyMemberHistory", "id": "f1", "status": "completed",
           "patient": subject(), "relationship": {"text": "mother"},
           "condition": [{"code": {"coding": [{"system": SNOMED, "code": "59282003"}]}}]}
    chart = map_chart(PATIENT, fmh, as_of=AS_OF)
    assert chart.facts.flag("family_history_of_vte") is True


def test_relapsed_myeloma_code_sets_relapse_and_not_complete_response():
    cond = {"resourceType": "Condition", "id": "mm", "subject": subject(),
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                 "code": "C90.02"}]}, "onsetDateTime": "2021-03-01"}
    f = map_chart(PATIENT, cond, as_of=AS_OF).facts
    assert f.flag("multiple_myeloma") is True
    assert f.flag("mm_relapse") is True
    assert f.flag("mm_complete_response") is False
    assert f.number("months_since_mm_diagnosis") == 68.9


def test_garbage_in_the_input_is_reported_not_fatal():
    chart = map_chart([PATIENT, "not a resource", {"no": "type"}, None], as_of=AS_OF)
    assert chart.facts["age_years"].value == 76
    assert len([i for i in chart.issues if "no resourceType" in i.reason]) == 2
