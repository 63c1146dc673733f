"""What a clinician sees when the chart states a fact in a way the mapper once misread.

Each test is one scenario found by a hold-out review (charts written from the seeds alone): a
small chart sent as an EHR sends it (patient-view, every prefetch key filled), the card and the
assessment behind its link read as the clinician reads them. The rule id each one rests on is in
the test's name or first line.
"""

from __future__ import annotations

from typing import Any

from tests.clinical_review.test_review_charts import SERVICE, request_for

AS_OF = "2026-12-01"
UCUM = "http://unitsofmeasure.org"


def patient(birth_date: str = "1949-03-02", gender: str = "male") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "pat-1", "gender": gender, "birthDate": birth_date}


def condition(ident: str, system: str, code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": ident, "subject": {"reference": "Patient/pat-1"},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": system, "code": code}], "text": text},
            "recordedDate": "2026-11-24"}


def myeloma() -> dict[str, Any]:
    return condition("cond-mm", "http://hl7.org/fhir/sid/icd-10", "C90.0", "多发性骨髓瘤")


def order(ident: str, rxnorm: str, name: str, mg: float, text: str,
          repeat: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": ident, "status": "active",
            "intent": "order", "subject": {"reference": "Patient/pat-1"},
            "authoredOn": "2026-11-02",
            "medicationCodeableConcept": {"coding": [{
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm,
                "display": name}], "text": name},
            "dosageInstruction": [{
                "text": text,
                "timing": {"repeat": repeat or {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg", "system": UCUM,
                                                  "code": "mg"}}]}]}


def thalidomide() -> dict[str, Any]:
    return order("med-thal", "10432", "thalidomide", 100, "沙利度胺 100mg 每晚1次")


def dexamethasone(mg: float, text: str) -> dict[str, Any]:
    return order("med-dex", "3264", "dexamethasone", mg, text)


def seen(clients: Any, resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]],
                                                                 dict[str, Any]]:
    """(the patient-view cards, the assessment document) for a chart."""
    case = {"id": "reading", "hook": "patient-view", "as_of": AS_OF, "resources": resources}
    body = request_for(case)
    client = clients(AS_OF)
    cards = client.post(f"/cds-services/{SERVICE['patient-view']}", json=body)
    doc = client.post(f"/assessments?as_of={AS_OF}", json=body)
    assert cards.status_code == doc.status_code == 200
    return cards.json["cards"], doc.json


def item(doc: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(i for i in doc["scores"]["mm_vte"]["items"] if i["rule"] == rule)


# -------------------------------------- MM-T5-20/21: dexamethasone days written in the text ----

def test_td_with_dexamethasone_20_mg_on_days_1_4_and_9_12_scores_160_mg_plus_2_not_560(clients):
    # MM-T5-21 (120-160 mg per cycle, +2), not MM-T5-20 (> 160 mg, +4): the order's structured
    # timing is "once daily" with no end, the days are in the text; 20 mg x 28 would be 560 mg.
    dex = dexamethasone(20, "地塞米松 20mg 口服 每日1次 第1-4天、第9-12天，28天为1周期")
    cards, doc = seen(clients, [patient(), myeloma(), thalidomide(), dex])
    assert item(doc, "MM-T5-21")["status"] == "present"
    assert item(doc, "MM-T5-20")["status"] == "absent"
    assert "160" in str(item(doc, "MM-T5-21")["value"])
    assert "therapeutic" not in str(cards).lower()


def test_daily_dexamethasone_without_days_is_shown_as_could_change_not_as_every_day(clients):
    # MM-T5-26: "20 mg once daily" with no end, count or days of the cycle: the per-cycle total
    # is unknown (not 560 mg, and not 0): the card names it among what could change the tier.
    dex = dexamethasone(20, "地塞米松 20mg 口服 每日1次")
    cards, doc = seen(clients, [patient(), myeloma(), thalidomide(), dex])
    high_dose = item(doc, "MM-T5-20")
    assert high_dose["status"] == "unknown"
    assert "every day of the cycle is not assumed" in high_dose["reason"]
    assert "MM-T5-20" in doc["scores"]["mm_vte"]["unknown"]
    assert "Dexamethasone > 160 mg per cycle" in cards[0]["detail"]


# ------------------------------- MM-T5-04: lupus anticoagulant reported as text by the LIS ----

def lupus_anticoagulant(text: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "obs-la", "status": "final",
            "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": "2026-11-28",
            "code": {"coding": [{"system": "http://lis.hospital.example.cn/CodeSystem/test",
                                 "code": "LA", "display": "狼疮抗凝物"}],
                     "text": "狼疮抗凝物(LA)筛查及确认试验"},
            "valueCodeableConcept": {"text": text}}


def lenalidomide() -> dict[str, Any]:
    return order("med-len", "342369", "lenalidomide", 25, "来那度胺 25mg 第1-21天",
                 {"frequency": 1, "period": 1, "periodUnit": "d",
                  "boundsRange": {"low": {"value": 0, "unit": "d"},
                                  "high": {"value": 21, "unit": "d"}}})


def test_rd_patient_with_lupus_anticoagulant_text_positive_with_its_ratio_scores_4_for_it(clients):
    # MM-T5-04 (+4): 「阳性（LA1/LA2 标准化比值 1.48）」 is a positive result, and the card
    # says the word was read from the text.
    chart = [patient("1968-05-10", "female"), myeloma(), lenalidomide(),
             lupus_anticoagulant("阳性（LA1/LA2 标准化比值 1.48）")]
    _, doc = seen(clients, chart)
    la = item(doc, "MM-T5-04")
    assert (la["status"], la["evidence"]) == ("present", ["Observation/obs-la"])
    assert "read from a word inside the result text" in la["assumption"]


def test_doubtful_lupus_anticoagulant_text_is_shown_as_could_change_not_as_negative(clients):
    chart = [patient("1968-05-10", "female"), myeloma(), lenalidomide(),
             lupus_anticoagulant("可疑阳性，建议复查")]
    _, doc = seen(clients, chart)
    assert item(doc, "MM-T5-04")["status"] == "unknown"
    assert "MM-T5-04" in doc["scores"]["mm_vte"]["unknown"]


# ------------------------------- MM-T5-10/11, BLEED-11: a birthDate with the year only ----

def test_rd_man_born_1950_year_only_scores_the_60_75_band_and_could_be_high_over_75(clients):
    # On 2026-12-01 he is 75 or 76: at least MM-T5-11 (+1) is established, MM-T5-10 (> 75, +2
    # instead) is possible, so the card shows low risk that could be high; the bleeding score's
    # band (BLEED-11, 40-84) holds both ages and is known.
    dex = dexamethasone(40, "地塞米松 40mg 每周1次")
    dex["dosageInstruction"][0]["timing"]["repeat"] = {"frequency": 1, "period": 1,
                                                       "periodUnit": "wk"}
    diabetes = condition("cond-dm", "http://hl7.org/fhir/sid/icd-10", "E11.9", "2型糖尿病")
    cards, doc = seen(clients, [patient("1950"), myeloma(), lenalidomide(), dex, diabetes])
    over_75 = item(doc, "MM-T5-10")
    assert (item(doc, "MM-T5-11")["status"], over_75["status"]) == ("present", "unknown")
    assert "75 to 76 years old on 2026-12-01" in over_75["reason"]
    assert (doc["scores"]["mm_vte"]["points"], doc["scores"]["mm_vte"]["category"]) == (8, "low")
    assert "Age > 75 years" in cards[0]["detail"]
    age_band = next(i for i in doc["scores"]["bleeding"]["items"] if i["rule"] == "BLEED-11")
    assert age_band["status"] == "present"


# ------------------- CMVT-02: "thrombus close to the proximal veins" in the ultrasound text ----

def test_asymptomatic_gastrocnemius_clot_reaching_the_popliteal_junction_is_anticoagulated(clients):
    # CMVT-02 (ACCP 2016 in the CMVT review): 「肌间静脉血栓位置靠近近端静脉」 favours
    # anticoagulation; the report says the clot reaches the junction with the popliteal vein.
    # Otherwise low risk (3.5 cm, 5 mm, one vein, no symptoms): surveillance without it.
    report = ("左侧腓肠肌内侧静脉内低回声充填，长约3.5cm，血栓近心端延伸至腓肠肌静脉汇入腘静脉处，"
              "距腘静脉约0.5cm；腘静脉、股静脉通畅。患者无小腿疼痛肿胀。")
    cmvt = condition("cond-cmvt", "http://hl7.org/fhir/sid/icd-10-cm", "I82.462",
                     "左小腿肌间静脉血栓形成")
    us = {"resourceType": "Observation", "id": "obs-us", "status": "final",
          "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": "2026-11-30",
          "code": {"coding": [{"system": "http://lis.hospital.example.cn/CodeSystem/test",
                               "code": "US-LEV", "display": "双下肢深静脉彩色多普勒超声"}]},
          "valueString": report}
    cards, doc = seen(clients, [patient("1981-03-02", "female"), cmvt, us])
    assert doc["recommendations"]["cmvt"]["regimen"] == "anticoagulation"
    assert "Thrombus close to the proximal veins" in cards[0]["detail"]


# ------------------------- MM-T5-05: a fracture whose site is another bone is not "unknown" ----

def test_td_patient_with_an_l1_vertebral_fracture_is_not_told_the_fracture_site_could_change(
        clients):
    # MM-T5-05 names the pelvis, hip and femur only: an L1 pathological fracture (WHO M84.48,
    # text 「L1椎体病理性压缩骨折」) makes the item absent, and the card does not offer "very high
    # risk if a pelvic, hip or femur fracture is confirmed".
    fracture = condition("cond-fx", "http://hl7.org/fhir/sid/icd-10", "M84.48",
                         "L1椎体病理性压缩骨折")
    dex = dexamethasone(20, "地塞米松 20mg 口服 每日1次 第1-4天、第9-12天，28天为1周期")
    cards, doc = seen(clients, [patient(), myeloma(), thalidomide(), dex, fracture])
    site = item(doc, "MM-T5-05")
    assert (site["status"], site["evidence"]) == ("absent", ["Condition/cond-fx"])
    assert "MM-T5-05" not in doc["scores"]["mm_vte"]["unknown"]
    assert "Pelvic, hip or femur fracture" not in cards[0]["detail"]
