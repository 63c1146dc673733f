"""Dexamethasone mg per cycle from FHIR R4 medication resources (MM-T5-20/21/26)."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from typing import Any

import pytest

from fhir_mappers.dosage import DoseResult, mg_per_cycle
from vte_rules.facts import Message

UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DEFAULT_CYCLE = Message.of("cycle_assumed", days=28, why="consensus_example_cycle")
READ_FROM_TEXT = {"dose_from_text", "cycle_from_text", "schedule_from_text"}
NAMES = ("dexamethasone", "prednisone", "prednisolone", "methylprednisolone", "hydrocortisone")


def keys(result: DoseResult) -> set[str]:
    """What a result says it assumed, by message key (the wording is the hook layer's)."""
    return {m.key for m in result.assumptions}


def mg(value: float, unit: str = "mg") -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def dose(quantity: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type", "code": "ordered"}]},
        "doseQuantity": quantity}]


def request(ident: str, dosage: list[dict[str, Any]],
            medication: str = "dexamethasone 4 MG Oral Tablet") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": ident, "status": "active", "intent": "order",
        "subject": {"reference": "Patient/mm-1"}, "authoredOn": "2026-11-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "display": medication}],
                                      "text": medication},
        "dosageInstruction": dosage,
    }


def by_name(resource: dict[str, Any]) -> str | None:
    """The caller's code lookup, stood in for by the product name."""
    text = resource.get("medicationCodeableConcept", {}).get("text", "").lower()
    # longest first: "methylprednisolone" contains "prednisolone"
    return next((n for n in sorted(NAMES, key=len, reverse=True) if n in text), None)


def weekly(quantity: dict[str, Any], **timing: Any) -> dict[str, Any]:
    repeat = {"frequency": 1, "period": 1, "periodUnit": "wk", **timing}
    return {"sequence": 1, "text": "40 mg orally once weekly",
            "timing": {"repeat": repeat}, "route": {"text": "oral"},
            "doseAndRate": dose(quantity)}


def daily(quantity: dict[str, Any], sequence: int = 1, **repeat: Any) -> dict[str, Any]:
    return {"sequence": sequence,
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", **repeat}},
            "doseAndRate": dose(quantity)}


def text_only(ident: str, text: str, medication: str = "地塞米松磷酸钠注射液") -> dict[str, Any]:
    return request(ident, [{"text": text}], medication)


def administration(ident: str, when: str, quantity: dict[str, Any],
                   medication: str = "dexamethasone 4 MG Oral Tablet") -> dict[str, Any]:
    return {"resourceType": "MedicationAdministration", "id": ident, "status": "completed",
            "subject": {"reference": "Patient/mm-1"},
            "medicationCodeableConcept": {"text": medication},
            "effectiveDateTime": when, "dosage": {"route": {"text": "oral"}, "dose": quantity}}


def unknown(result: DoseResult, *words: str) -> None:
    assert result.mg is None
    assert result.reason is not None
    for word in words:
        assert word in result.reason


# ------------------------------------------------------------------ the consensus's examples ----

def test_40_mg_once_weekly_in_a_28_day_cycle_is_160_mg():
    result = mg_per_cycle([request("dex-wk", [weekly(mg(40))])], by_name)
    assert result.mg == 160
    assert result.cycle_days == 28
    assert result.evidence == ("MedicationRequest/dex-wk",)
    assert result.reason is None
    assert DEFAULT_CYCLE in result.assumptions


def test_days_1_4_9_12_17_20_as_three_sequences_with_bounds_range_is_480_mg():
    def block(sequence: int, low: int) -> dict[str, Any]:
        bounds = {"low": {"value": low, "unit": "d", "system": UCUM, "code": "d"},
                  "high": {"value": low + 4, "unit": "d", "system": UCUM, "code": "d"}}
        return daily(mg(40), sequence, boundsRange=bounds)

    result = mg_per_cycle([request("dex-vrd", [block(1, 0), block(2, 8), block(3, 16)])],
                          by_name)
    assert result.mg == 480
    assert "bounds_as_cycle_days" in keys(result)


def test_days_1_4_9_12_17_20_as_three_sequences_with_bounds_period_is_480_mg():
    def block(sequence: int, start: str, end: str) -> dict[str, Any]:
        return daily(mg(40), sequence, boundsPeriod={"start": start, "end": end})

    dosage = [block(1, "2026-11-02", "2026-11-05"), block(2, "2026-11-10", "2026-11-13"),
              block(3, "2026-11-18", "2026-11-21")]
    result = mg_per_cycle([request("dex-vrd", dosage)], by_name)
    assert result.mg == 480
    assert result.cycle_days == 28


def test_days_1_4_9_12_17_20_as_timing_events_is_480_mg_and_a_later_cycle_is_left_out():
    day1 = dt.date(2026, 11, 2)
    days = [1, 2, 3, 4, 9, 10, 11, 12, 17, 18, 19, 20]
    cycle2 = [d + 28 for d in days[:4]]  # the next cycle's first block is in the same order
    events = [f"{day1 + dt.timedelta(days=d - 1)}T08:00:00+08:00" for d in days + cycle2]
    dosage = [{"timing": {"event": events}, "doseAndRate": dose(mg(40))}]
    result = mg_per_cycle([request("dex-events", dosage)], by_name)
    assert result.mg == 480
    assert Message.of("administrations_in_later_cycle", count=4, day=28).on(
        "MedicationRequest/dex-events") in result.assumptions


@pytest.mark.parametrize(("text", "expected"), [
    ("Dexamethasone 40 mg PO days 1-4, 9-12, 17-20", 480),
    ("40 mg D1-4, D9-12, D17-20", 480),
    ("40 mg d1,8,15,22", 160),
])
def test_english_dosage_text_only(text, expected):
    result = mg_per_cycle([text_only("dex-txt", text, "Dexamethasone")], by_name)
    assert result.mg == expected
    assert keys(result) & READ_FROM_TEXT


# --------------------------------------------------------------------------- Chinese text ----

@pytest.mark.parametrize(("text", "expected", "cycle"), [
    ("地塞米松 40 mg d1-4、d9-12、d17-20，每28天一个周期", 480, 28),
    ("地塞米松 40 mg 第1-4天、第9-12天、第17-20天，21天为一周期", 480, 21),
    ("地塞米松 20 mg 口服 第1、8、15、22天，28天一个疗程", 80, 28),
])
def test_chinese_dosage_text_with_its_cycle_length(text, expected, cycle):
    result = mg_per_cycle([text_only("zh-dex", text)], lambda _: "dexamethasone")
    assert (result.mg, result.cycle_days) == (expected, cycle)
    assert DEFAULT_CYCLE not in result.assumptions
    assert "cycle_from_text" in keys(result)


def test_chinese_text_without_a_cycle_uses_the_default_and_says_so():
    result = mg_per_cycle([text_only("zh-dex", "地塞米松 40 mg 第1-4天 口服")],
                          lambda _: "dexamethasone")
    assert (result.mg, result.cycle_days) == (160, 28)
    assert DEFAULT_CYCLE in result.assumptions


# ---------------------------------------------------------------------- boundary values ----

def test_120_mg_weekly_over_a_21_day_cycle_stated_as_q21d():
    dosage = weekly(mg(40))
    dosage["text"] = "Dexamethasone 40 mg PO weekly, q21d"
    result = mg_per_cycle([request("dex-21", [dosage])], by_name)
    assert (result.mg, result.cycle_days) == (120, 21)


def test_120_mg_as_20_mg_on_days_1_2_8_9_15_16():
    result = mg_per_cycle([text_only("dex-120", "20 mg d1-2, d8-9, d15-16 q28d")],
                          lambda _: "dexamethasone")
    assert result.mg == 120


def test_161_mg_weekly_in_micrograms():
    result = mg_per_cycle([request("dex-161", [weekly(mg(40250, "ug"))])], by_name)
    assert result.mg == 161


# ------------------------------------------------------------------------------ units ----

@pytest.mark.parametrize("quantity", [
    mg(0.04, "g"),
    mg(40000, "ug"),
    {"value": 40000, "unit": "mcg"},
    {"value": 40000, "unit": "µg"},
    {"value": 40, "unit": "milligrams"},
])
def test_dose_in_g_and_micrograms(quantity):
    assert mg_per_cycle([request("dex-u", [weekly(quantity)])], by_name).mg == 160


def test_ucum_codes_are_case_sensitive_a_megagram_is_not_a_milligram():
    quantity = {"value": 40, "unit": "Mg", "system": UCUM, "code": "Mg"}
    unknown(mg_per_cycle([request("dex-Mg", [weekly(quantity)])], by_name), "'Mg'")


def test_tablets_with_the_strength_in_the_coding_display():
    quantity = {"value": 10, "unit": "tablet", "system": UCUM, "code": "{tbl}"}
    resource = request("dex-tab", [weekly(quantity)])
    resource["medicationCodeableConcept"] = {"coding": [
        {"system": RXNORM, "display": "dexamethasone 4 MG Oral Tablet"}]}
    result = mg_per_cycle([resource], lambda _: "dexamethasone")
    assert result.mg == 160
    assert Message.of("tablet_strength", mg=4).on("MedicationRequest/dex-tab") \
        in result.assumptions


def test_tablets_without_strength_are_unknown():
    quantity = {"value": 10, "unit": "pill", "system": UCUM, "code": "{pill}"}
    resource = request("dex-tab", [weekly(quantity)], "Dexamethasone tablets")
    result = mg_per_cycle([resource], by_name)
    unknown(result, "MedicationRequest/dex-tab", "tablets", "strength")
    assert result.evidence == ("MedicationRequest/dex-tab",)


def test_tablets_of_a_product_given_by_reference_are_unknown():
    quantity = {"value": 10, "unit": "tablet", "system": UCUM, "code": "{tbl}"}
    resource = request("dex-ref", [weekly(quantity)])
    del resource["medicationCodeableConcept"]
    resource["medicationReference"] = {"reference": "Medication/dex-4mg"}
    unknown(mg_per_cycle([resource], lambda _: "dexamethasone"), "strength")


def test_millilitres_without_a_concentration_are_unknown():
    resource = request("dex-iv", [weekly(mg(10, "mL"))], "dexamethasone injection")
    unknown(mg_per_cycle([resource], by_name), "volume", "concentration")


def test_millilitres_with_a_concentration_in_the_product_name():
    resource = request("dex-iv", [weekly(mg(10, "mL"))],
                       "dexamethasone sodium phosphate 4 MG/ML Injectable Solution")
    assert mg_per_cycle([resource], by_name).mg == 160


# ----------------------------------------------------------------------------- timing ----

@pytest.mark.parametrize("limit", [
    {"boundsDuration": {"value": 4, "unit": "days", "system": UCUM, "code": "d"}},
    {"count": 4},
])
def test_daily_for_4_days_by_bounds_duration_or_count(limit):
    result = mg_per_cycle([request("dex-4d", [daily(mg(40), **limit)])], by_name)
    assert result.mg == 160


def test_every_6_hours_for_2_days():
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h",
                                    "boundsDuration": {"value": 2, "unit": "d",
                                                       "system": UCUM, "code": "d"}}},
              "doseAndRate": dose(mg(4))}
    assert mg_per_cycle([request("dex-q6h", [dosage])], by_name).mg == 32


def test_day_of_week_list_over_a_28_day_cycle():
    dosage = {"timing": {"repeat": {"dayOfWeek": ["mon", "thu"], "timeOfDay": ["08:00:00"]}},
              "doseAndRate": dose(mg(20))}
    assert mg_per_cycle([request("dex-dow", [dosage])], by_name).mg == 160


def test_day_of_week_over_a_cycle_that_is_not_whole_weeks_is_unknown():
    dosage = {"timing": {"repeat": {"dayOfWeek": ["mon"]}}, "doseAndRate": dose(mg(40))}
    result = mg_per_cycle([request("dex-dow", [dosage])], by_name, default_cycle_days=30)
    unknown(result, "weekday")
    assert result.cycle_days == 30


def test_timing_code_weekly():
    dosage = {"timing": {"code": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "WK"}]}},
        "doseAndRate": dose(mg(40))}
    assert mg_per_cycle([request("dex-wk", [dosage])], by_name).mg == 160


def test_caller_default_cycle_overrides_the_table_default():
    result = mg_per_cycle([request("dex-wk", [weekly(mg(40))])], by_name, default_cycle_days=21)
    assert (result.mg, result.cycle_days) == (120, 21)
    assert Message.of("cycle_given_by_caller", days=21) in result.assumptions
    assert DEFAULT_CYCLE not in result.assumptions


def test_cycle_from_an_outer_dose_less_sequence():
    outer = {"sequence": 1, "text": "21-day cycle",
             "timing": {"repeat": {"period": 21, "periodUnit": "d"}}}
    dosage = [outer, weekly(mg(40))]
    dosage[1]["text"] = "40 mg weekly"
    result = mg_per_cycle([request("dex-cyc", dosage)], by_name)
    assert (result.mg, result.cycle_days) == (120, 21)
    assert "cycle_from_outer_timing" in keys(result)


def test_structured_timing_wins_over_dosage_text():
    dosage = weekly(mg(40))
    dosage["text"] = "40 mg days 1-4, 9-12, 17-20"  # contradicts the structure: not read
    result = mg_per_cycle([request("dex-wk", [dosage])], by_name)
    assert result.mg == 160
    assert not keys(result) & READ_FROM_TEXT


def test_an_interval_that_restates_the_dosing_interval_is_not_a_cycle():
    dosage = weekly(mg(40))
    dosage["text"] = "40 mg q7d"
    result = mg_per_cycle([request("dex-wk", [dosage])], by_name)
    assert (result.mg, result.cycle_days) == (160, 28)


def test_orders_stating_different_cycle_lengths_are_unknown():
    result = mg_per_cycle([text_only("a", "40 mg d1,8,15,22 q28d"),
                           text_only("b", "20 mg d1-2 q21d")], lambda _: "dexamethasone")
    unknown(result, "different cycle lengths", "21 days in MedicationRequest/b",
            "28 days in MedicationRequest/a")
    assert result.cycle_days is None


# ------------------------------------------------------------------------ equivalence ----

def test_prednisone_counts_by_dexamethasone_equivalence_and_says_so():
    pred = request("pred-1", [daily(mg(50), count=4)], "prednisone 50 MG Oral Tablet")
    result = mg_per_cycle([pred], by_name)
    assert result.mg == 30  # 200 mg prednisone x 0.75 / 5
    assert Message.of("glucocorticoid_per_cycle_as_dexamethasone", drug="prednisone", mg=200,
                      basis="dexamethasone", dexamethasone=30).on(
        "MedicationRequest/pred-1") in result.assumptions


@pytest.mark.parametrize(("name", "per_dose", "expected"), [
    ("prednisolone", 5, 3),
    ("methylprednisolone", 4, 3),
    ("hydrocortisone", 20, 3),
])
def test_other_glucocorticoids_equivalence(name, per_dose, expected):
    resource = request("gc-1", [daily(mg(per_dose), count=4)], f"{name} tablet")
    assert mg_per_cycle([resource], by_name).mg == pytest.approx(expected)


def test_unrecognised_glucocorticoid_is_unknown():
    resource = request("beta-1", [weekly(mg(4))], "betamethasone 0.5 MG Oral Tablet")
    unknown(mg_per_cycle([resource], by_name), "MedicationRequest/beta-1", "equivalence")


# ------------------------------------------------------------------- several resources ----

def test_concurrent_orders_add_up():
    dex = request("dex-wk", [weekly(mg(40))])
    pred = request("pred-1", [daily(mg(50), count=4)], "prednisone 50 MG Oral Tablet")
    result = mg_per_cycle([dex, pred], by_name)
    assert result.mg == 190
    assert result.evidence == ("MedicationRequest/dex-wk", "MedicationRequest/pred-1")


def test_duplicate_references_are_counted_once():
    dex = request("dex-wk", [weekly(mg(40))])
    given = administration("adm-1", "2026-11-02T08:00:00+08:00", mg(40))
    given["request"] = {"reference": "MedicationRequest/dex-wk"}
    result = mg_per_cycle([dex, dict(dex), given], by_name)
    assert result.mg == 160
    assert result.evidence == ("MedicationRequest/dex-wk",)
    assert "not_counted_again" in keys(result)


def test_medication_statement_is_read_like_an_order():
    statement = {"resourceType": "MedicationStatement", "id": "st-1", "status": "active",
                 "subject": {"reference": "Patient/mm-1"},
                 "medicationCodeableConcept": {"text": "dexamethasone"},
                 "dosage": [weekly(mg(40))]}
    assert mg_per_cycle([statement], by_name).mg == 160


def test_medication_administrations_in_the_most_recent_cycle_window():
    start = dt.date(2026, 10, 5)
    given = [administration(f"adm-{i}", f"{start + dt.timedelta(weeks=i)}T08:30:00+08:00",
                            mg(40)) for i in range(8)]  # weekly over two 28-day cycles
    result = mg_per_cycle(given, by_name)
    assert result.mg == 160
    assert result.evidence == tuple(f"MedicationAdministration/adm-{i}" for i in range(4, 8))
    assert Message.of("administrations_up_to_latest_earlier", days=28, count=4) \
        in result.assumptions


def test_no_resources_is_0_mg():
    assert mg_per_cycle([], by_name) == DoseResult(0.0, None, (), None, ())


# -------------------------------------------------------------------------- unknowns ----

def test_as_needed_is_unknown():
    dosage = weekly(mg(40))
    dosage["asNeededBoolean"] = True
    unknown(mg_per_cycle([request("dex-prn", [dosage])], by_name), "PRN")


def test_no_dose_is_unknown():
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}}
    unknown(mg_per_cycle([request("dex-nodose", [dosage])], by_name), "no dose")


def test_as_directed_is_unknown_and_free_text_is_not_copied():
    resource = text_only("dex-ud", "Take as directed by Dr Zhang Wei", "Dexamethasone")
    result = mg_per_cycle([resource], by_name)
    unknown(result, "MedicationRequest/dex-ud", "as directed")
    assert "Zhang" not in (result.reason or "")


def test_dose_range_is_unknown():
    dosage = weekly(mg(40))
    dosage["doseAndRate"] = [{"doseRange": {"low": mg(20), "high": mg(40)}}]
    unknown(mg_per_cycle([request("dex-rng", [dosage])], by_name), "range")


def test_one_unknown_order_makes_the_total_unknown():
    good = request("dex-wk", [weekly(mg(40))])
    prn = request("dex-prn", [{**weekly(mg(8)), "asNeededBoolean": True}])
    result = mg_per_cycle([good, prn], by_name)
    unknown(result, "MedicationRequest/dex-prn")
    assert "MedicationRequest/dex-wk" not in (result.reason or "")


def test_no_timing_and_no_schedule_in_the_text_is_unknown():
    resource = text_only("dex-x", "40 mg orally", "Dexamethasone")
    unknown(mg_per_cycle([resource], by_name), "no timing")


def test_administration_without_a_date_is_unknown():
    given = administration("adm-x", "2026-11-02", mg(40))
    del given["effectiveDateTime"]
    unknown(mg_per_cycle([given], by_name), "MedicationAdministration/adm-x", "date")


# ----------------------------------------------------------------------------- table ----

def test_dosage_table_gives_sources_and_the_standard_equivalence():
    raw = tomllib.loads(resources.files("fhir_mappers").joinpath("dosage.toml")
                        .read_text("utf-8"))
    assert raw["cycle"]["default_days"] == 28
    assert all(raw[s]["source"] for s in ("cycle", "equivalence", "quantity", "time"))
    assert raw["equivalence"]["mg"] == {"dexamethasone": 0.75, "prednisone": 5,
                                        "prednisolone": 5, "methylprednisolone": 4,
                                        "hydrocortisone": 20}


# ----------------------------------------------------------------- more text and sequences ----

def test_chinese_product_name_with_tablet_character_is_not_a_tablet_dose():
    result = mg_per_cycle([text_only("zh-dex", "地塞米松片 40mg 口服 d1-4、d9-12、d17-20")],
                          lambda _: "dexamethasone")
    assert result.mg == 480


@pytest.mark.parametrize("text", ["dexamethasone 4 mg tablets, take 10 on d1-4", "10片 d1-4",
                                  "0.75mg/片 第1-4天"])
def test_text_with_a_tablet_count_or_strength_is_unknown(text):
    unknown(mg_per_cycle([text_only("dex-t", text)], lambda _: "dexamethasone"), "tablets")


def test_text_days_after_the_stated_cycle_are_unknown():
    result = mg_per_cycle([text_only("dex-t", "40 mg days 1-4, 9-12, 17-20 q14d")],
                          lambda _: "dexamethasone")
    unknown(result, "after the end of the 14-day cycle")


def test_sequences_with_bounds_duration_run_one_after_another():
    four_days = {"value": 4, "unit": "days", "system": UCUM, "code": "d"}
    dosage = [daily(mg(40), 1, boundsDuration=four_days),
              daily(mg(20), 2, boundsDuration=four_days)]
    assert mg_per_cycle([request("dex-taper", dosage)], by_name).mg == 240


def test_a_course_longer_than_the_cycle_is_counted_within_the_cycle_and_says_so():
    six_weeks = {"value": 6, "unit": "wk", "system": UCUM, "code": "wk"}
    result = mg_per_cycle([request("dex-long", [daily(mg(4), boundsDuration=six_weeks)])],
                          by_name)
    assert result.mg == 112
    assert Message.of("schedule_past_cycle", day=28).on("MedicationRequest/dex-long") \
        in result.assumptions


def test_a_later_sequence_after_an_open_ended_one_is_unknown():
    dosage = [weekly(mg(40)), daily(mg(20), 2, count=4)]
    unknown(mg_per_cycle([request("dex-open", dosage)], by_name), "earlier sequence")


# ------------------- MM-T5-20/21: an open-ended daily order, its days written only in the text ----

def daily_with_text(quantity: dict[str, Any], text: str, **repeat: Any) -> dict[str, Any]:
    return {**daily(quantity, **repeat), "text": text}


@pytest.mark.parametrize("text", [
    "地塞米松 20mg 口服 每日1次 第1-4天、第9-12天，28天为1周期",
    "dexamethasone 20 mg orally once daily days 1-4 and 9-12, 28-day cycle",
    "20 mg qd d1-4, d9-12 q28d",
    "20 mg daily on d1,2,3,4,9,10,11,12 of a 28-day cycle",
])
def test_td_dexamethasone_20_mg_daily_on_days_1_4_and_9_12_is_160_mg_not_560(text):
    # MM-T5-21 (120-160 mg, +2), not MM-T5-20 (> 160 mg, +4): the structured timing says "daily"
    # with no end; the cycle days are only in the text.
    result = mg_per_cycle([request("dex-td", [daily_with_text(mg(20), text)])], by_name)
    assert (result.mg, result.cycle_days) == (160, 28)
    assert "schedule_days_from_text" in keys(result)
    assert "schedule_without_end" not in keys(result)


def test_pad_dexamethasone_40_mg_daily_on_days_1_4_of_21_is_160_mg():
    text = "地塞米松 40mg 静脉滴注 第1-4天，21天为1周期"
    result = mg_per_cycle([request("dex-pad", [daily_with_text(mg(40), text)])], by_name)
    assert (result.mg, result.cycle_days) == (160, 21)


@pytest.mark.parametrize("text", [None, "地塞米松 20mg 每日1次 口服", "20 mg PO daily"])
def test_dexamethasone_daily_with_no_end_and_no_days_is_unknown_not_every_day_of_the_cycle(text):
    # MM-T5-26: 20 mg x 28 days would be 560 mg (+4, very high); the days are not stated, so the
    # per-cycle total is unknown and the score shows what it could change.
    dosage = daily_with_text(mg(20), text) if text else daily(mg(20))
    result = mg_per_cycle([request("dex-open", [dosage])], by_name)
    unknown(result, "no end", "not known", "every day of the cycle is not assumed")


def test_dexamethasone_daily_with_a_structured_end_still_needs_no_text():
    four_days = {"value": 4, "unit": "d", "system": UCUM, "code": "d"}
    result = mg_per_cycle([request("dex-4d", [daily(mg(40), boundsDuration=four_days)])],
                          by_name)
    assert result.mg == 160


def test_daily_dexamethasone_text_days_past_the_cycle_are_unknown():
    text = "20 mg daily days 1-4, 9-12, 17-20, 25-30, 21-day cycle"
    unknown(mg_per_cycle([request("dex-x", [daily_with_text(mg(20), text)])], by_name),
            "after the end of the 21-day cycle")


def test_period_in_months_is_unknown():
    dosage = [daily(mg(40), periodUnit="mo")]
    unknown(mg_per_cycle([request("dex-mo", dosage)], by_name), "months")


def test_weekly_in_a_30_day_cycle_counts_days_1_8_15_22_29_and_says_so():
    result = mg_per_cycle([request("dex-wk", [weekly(mg(40))])], by_name, default_cycle_days=30)
    assert result.mg == 200
    assert "first_administration_day" in keys(result)


def test_dose_and_rate_entries_that_disagree_are_unknown():
    dosage = weekly(mg(40))
    dosage["doseAndRate"] = [{"doseQuantity": mg(40)}, {"doseQuantity": mg(20)}]
    unknown(mg_per_cycle([request("dex-2", [dosage])], by_name), "several different doses")


def test_the_ordered_dose_is_preferred_over_a_calculated_one():
    dosage = weekly(mg(40))
    calculated = {"type": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type", "code": "calculated"}]},
        "doseQuantity": mg(38.5)}
    dosage["doseAndRate"] = [calculated, *dose(mg(40))]
    assert mg_per_cycle([request("dex-2", [dosage])], by_name).mg == 160


@pytest.mark.parametrize(("text", "words"), [
    ("dexamethasone 20 mg/m2 d1-4", "per kg or per m²"),
    ("40 mg bid d1-4", "more than one dose a day"),
    ("地塞米松 20mg 每日2次 第1-4天", "more than one dose a day"),
])
def test_text_doses_by_body_size_or_several_a_day_are_unknown(text, words):
    unknown(mg_per_cycle([text_only("dex-t", text)], lambda _: "dexamethasone"), words)


def test_bounds_period_without_an_end_runs_to_the_end_of_the_cycle():
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk",
                                    "boundsPeriod": {"start": "2026-11-02"}}},
              "doseAndRate": dose(mg(40))}
    result = mg_per_cycle([request("dex-open", [dosage])], by_name)
    assert result.mg == 160
    assert "schedule_without_end" in keys(result)


# ------------------------------------------------ a repeat period that is the treatment cycle ----

def per_period(quantity: dict[str, Any], frequency: int, period: int, unit: str = "d",
               text: str | None = None) -> dict[str, Any]:
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": frequency, "period": period,
                                                    "periodUnit": unit}},
                              "doseAndRate": dose(quantity)}
    if text:
        dosage["text"] = text
    return dosage


def test_vrd_dex_20_mg_d1_2_4_5_8_9_11_12_as_8_per_21_days_is_160_mg_per_21_day_cycle():
    dosage = per_period(mg(20), 8, 21, text="20 mg PO d1, 2, 4, 5, 8, 9, 11, 12")
    result = mg_per_cycle([request("dex-vrd", [dosage])], by_name)
    assert (result.mg, result.cycle_days) == (160, 21)
    assert DEFAULT_CYCLE not in result.assumptions
    assert "cycle_from_repeat_period" in keys(result)


@pytest.mark.parametrize(("per_dose", "frequency", "period", "unit", "expected", "cycle"), [
    (40, 4, 28, "d", 160, 28),   # Rd: days 1, 8, 15, 22
    (40, 3, 28, "d", 120, 28),   # Rd with the day-22 dose left out
    (20, 6, 28, "d", 120, 28),   # Kd: days 1, 2, 8, 9, 15, 16
    (40, 12, 28, "d", 480, 28),  # days 1-4, 9-12, 17-20
    (20, 8, 3, "wk", 160, 21),   # the same VRd schedule with the period in weeks
    (20, 2, 14, "d", 40, 14),    # the shortest period read as a cycle
])
def test_several_doses_per_period_of_14_days_or_more_is_that_many_doses_per_cycle(
        per_dose, frequency, period, unit, expected, cycle):
    result = mg_per_cycle([request("dex", [per_period(mg(per_dose), frequency, period, unit)])],
                          by_name)
    assert (result.mg, result.cycle_days) == (expected, cycle)


def test_several_doses_per_13_days_is_a_dosing_rate_not_a_cycle():
    result = mg_per_cycle([request("dex", [per_period(mg(20), 2, 13)])], by_name)
    assert result.cycle_days == 28
    assert DEFAULT_CYCLE in result.assumptions


def test_one_dose_every_21_days_is_an_interval_not_a_cycle():
    result = mg_per_cycle([request("dex", [per_period(mg(40), 1, 21)])], by_name)
    assert result.cycle_days == 28
    assert result.mg == 80  # days 1 and 22 of the default 28-day cycle


def test_repeat_period_that_contradicts_the_cycle_in_the_text_is_unknown():
    dosage = per_period(mg(20), 8, 21, text="20 mg d1、2、4、5、8、9、11、12，28天为一周期")
    unknown(mg_per_cycle([request("dex", [dosage])], by_name), "different cycle lengths")
