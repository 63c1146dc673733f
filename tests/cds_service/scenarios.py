"""Named clinical scenarios as CDS Hooks requests with a complete prefetch.

Each scenario is a patient a haematologist or vascular physician would recognise; the resources
are coded the way EHRs code them (LOINC, SNOMED CT, ICD-10-CM, RxNorm products). The evaluation
date is fixed (TODAY) so that ages and result ages do not drift.
"""

from __future__ import annotations

from typing import Any

TODAY = "2026-11-27"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
FINDING = "urn:vte-cds:finding"
HOOK_INSTANCE = "7c2f0d6e-52a4-4f3e-9d1a-2b8e4c6a1f00"


def subject(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def patient(pid: str, gender: str, born: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": born}


def condition(pid: str, cid: str, system: str, code: str, onset: str,
              status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": subject(pid),
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": status}]},
            "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": onset}


def lab(pid: str, oid: str, code: str, value: float, unit: str, day: str = TODAY,
        system: str = LOINC) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": subject(pid),
            "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": day,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def finding(pid: str, oid: str, factor: str, value: Any, unit: str | None = None,
            day: str = TODAY) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Observation", "id": oid, "status": "final",
                           "subject": subject(pid), "effectiveDateTime": day,
                           "code": {"coding": [{"system": FINDING, "code": factor}]}}
    if isinstance(value, bool):
        res["valueBoolean"] = value
    else:
        res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return res


def med(pid: str, mid: str, rxnorm: str, display: str, status: str = "active",
        dose_mg: float | None = None, per_day: int = 1, period: int = 1,
        period_unit: str = "d") -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
        "subject": subject(pid), "authoredOn": "2026-11-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm,
                                                  "display": display}], "text": display}}
    if dose_mg is not None:
        res["dosageInstruction"] = [{
            "timing": {"repeat": {"frequency": per_day, "period": period,
                                  "periodUnit": period_unit}},
            "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM,
                                              "code": "mg"}}]}]
    return res


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": r} for r in resources]}


def prefetch(pat: dict[str, Any], conditions: list[dict[str, Any]],
             observations: list[dict[str, Any]], medications: list[dict[str, Any]],
             devices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"patient": pat, "conditions": bundle(*conditions),
            "observations": bundle(*observations), "medications": bundle(*medications),
            "procedures": bundle(), "devices": bundle(*(devices or [])),
            "encounters": bundle(), "allergies": bundle(), "family": bundle()}


def request(hook: str, pid: str, pre: dict[str, Any],
            drafts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/dr-li", "patientId": pid}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": d} for d in drafts or []]}
        if hook == "order-select":
            context["selections"] = [f"{d['resourceType']}/{d['id']}" for d in drafts or []]
    return {"hook": hook, "hookInstance": HOOK_INSTANCE, "context": context, "prefetch": pre}


def _myeloma(pid: str, egfr: float = 52, platelets: float = 140, extra_obs=(),
             extra_cond=(), meds=None) -> dict[str, Any]:
    """68-year-old woman, newly diagnosed myeloma, BMI 26, M-protein 35 g/L, diabetes."""
    return prefetch(
        patient(pid, "female", "1958-03-02"),
        [condition(pid, f"{pid}-mm", ICD10CM, "C90.00", "2026-10-20"),
         condition(pid, f"{pid}-dm", ICD10CM, "E11.9", "2015-06-01"), *extra_cond],
        [lab(pid, f"{pid}-egfr", "98979-8", egfr, "mL/min/{1.73_m2}"),
         lab(pid, f"{pid}-plt", "777-3", platelets, "10*9/L"),
         lab(pid, f"{pid}-inr", "6301-6", 1.0, "{INR}"),
         lab(pid, f"{pid}-wt", "29463-7", 58, "kg"),
         lab(pid, f"{pid}-bmi", "39156-5", 26, "kg/m2"),
         lab(pid, f"{pid}-mp", "33358-3", 35, "g/L"),
         finding(pid, f"{pid}-fh", "family_history_of_vte", False),
         finding(pid, f"{pid}-bed", "bed_rest_over_72_hours", False),
         finding(pid, f"{pid}-acl", "anticardiolipin_antibody", False),
         finding(pid, f"{pid}-coag", "coagulation_abnormality", False), *extra_obs],
        meds if meds is not None else [
            med(pid, f"{pid}-len", "643720", "lenalidomide 25 MG Oral Capsule", dose_mg=25),
            med(pid, f"{pid}-dex", "3264", "dexamethasone", dose_mg=40, period=1,
                period_unit="wk")])


def myeloma_on_lenalidomide_dexamethasone() -> dict[str, Any]:
    """VTE 1 + 1 + 1 + 1 + 4 + 2 = 10 (high); bleeding 4.5 (low)."""
    return request("patient-view", "mm-rd", _myeloma("mm-rd"))


def myeloma_gfr_25() -> dict[str, Any]:
    """Same patient with eGFR 25: rivaroxaban ruled out, LMWH dose caution (ADJ-02)."""
    return request("patient-view", "mm-gfr25", _myeloma("mm-gfr25", egfr=25))


def myeloma_platelets_40() -> dict[str, Any]:
    """Same patient with platelets 40: bleeding 8.5 (high) and ADJ-04."""
    return request("patient-view", "mm-plt40", _myeloma("mm-plt40", platelets=40))


def myeloma_very_high_risk() -> dict[str, Any]:
    """Same patient with a previous DVT (history of VTE +5): 15, very high."""
    pid = "mm-vh"
    return request("patient-view", pid, _myeloma(pid, extra_cond=[
        condition(pid, f"{pid}-olddvt", ICD10CM, "I82.411", "2019-05-01", "resolved")]))


def _calf(pid: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return prefetch(
        patient(pid, "male", "1974-02-11"),
        [condition(pid, f"{pid}-cmvt", ICD10CM, "I82.461", "2026-11-24")],
        [finding(pid, f"{pid}-len", "thrombus_length_cm", 3, "cm"),
         finding(pid, f"{pid}-dia", "thrombus_diameter_mm", 5, "mm"),
         finding(pid, f"{pid}-veins", "veins_involved_count", 1, "1"),
         finding(pid, f"{pid}-axial", "axial_deep_vein_thrombosis", False),
         finding(pid, f"{pid}-near", "thrombus_near_proximal_veins", False),
         finding(pid, f"{pid}-sympt", "cmvt_symptomatic", False),
         finding(pid, f"{pid}-immob", "prolonged_immobilisation", False),
         finding(pid, f"{pid}-cancer", "active_cancer", False),
         finding(pid, f"{pid}-hyper", "hypercoagulable_state", False),
         lab(pid, f"{pid}-dd", "48065-7", 0.3, "mg/L"),
         lab(pid, f"{pid}-plt", "777-3", 230, "10*9/L"),
         lab(pid, f"{pid}-egfr", "98979-8", 90, "mL/min/{1.73_m2}"),
         lab(pid, f"{pid}-inr", "6301-6", 1.0, "{INR}"), *extra],
        [])


def cmvt_low_risk() -> dict[str, Any]:
    """Isolated CMVT, 3 cm, 5 mm, one vein, D-dimer negative, no risk factor: surveillance."""
    return request("patient-view", "calf-low", _calf("calf-low", []))


def cmvt_with_extension() -> dict[str, Any]:
    """The follow-up scan shows extension into the popliteal vein: anticoagulate (CMVT-05)."""
    pid = "calf-ext"
    return request("patient-view", pid, _calf(pid, [
        finding(pid, f"{pid}-ext", "extension_to_proximal_veins", True)]))


def ivc_filter_order_for_cmvt() -> dict[str, Any]:
    """An IVC filter is ordered for the low-risk CMVT patient: not recommended (CMVT-09)."""
    pid = "calf-filter"
    draft = {"resourceType": "ServiceRequest", "id": "filter-1", "status": "draft",
             "intent": "order", "subject": subject(pid),
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "37191"}],
                      "text": "IVC filter placement"}}
    return request("order-sign", pid, _calf(pid, []), [draft])


SCENARIOS = {
    "myeloma_on_lenalidomide_dexamethasone": (myeloma_on_lenalidomide_dexamethasone,
                                              "vte-patient-view"),
    "myeloma_gfr_25": (myeloma_gfr_25, "vte-patient-view"),
    "myeloma_platelets_40": (myeloma_platelets_40, "vte-patient-view"),
    "myeloma_very_high_risk": (myeloma_very_high_risk, "vte-patient-view"),
    "cmvt_low_risk": (cmvt_low_risk, "vte-patient-view"),
    "cmvt_with_extension": (cmvt_with_extension, "vte-patient-view"),
    "ivc_filter_order_for_cmvt": (ivc_filter_order_for_cmvt, "vte-order-sign"),
}
