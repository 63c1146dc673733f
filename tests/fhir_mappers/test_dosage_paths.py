"""The dosage reader's shorter paths give what the paths they replaced gave.

``order_dose`` reads doses per day from the repeat's rate (not 1 / (1 / rate)), ``_dose_mg``
returns a single dose entry's dose without a set, and ``_stated_cycles`` reads dosing intervals
only when some dosage has text. Each must answer as the one it replaced (kept here): on every
medication resource of every chart, and on medication orders generated from real and hostile
timings, doses and texts (1,500).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappers import dosage
from fhir_mappers.dosage import _Unknown
from tests.cds_service.all_charts import calls
from tests.reliability.support import FUZZ, HOSTILE

MEDICATIONS = [r for call in calls() for r in call.resources
               if isinstance(r, dict) and r.get("resourceType") in dosage.ORDER_TYPES]


def reference_order_dose(resource: dict[str, Any]) -> tuple[float | None, float | None]:
    dosages = dosage._dosages(resource)
    if not dosages:
        return None, None
    first = dosages[0]
    try:
        mg: float | None = float(reference_dose_mg(first, resource, []))
    except _Unknown:
        mg = None
    interval = dosage._dosing_interval(first)
    return mg, (float(1 / interval) if interval else None)


def reference_dose_mg(entry: Any, resource: dict[str, Any], notes: list[Any]) -> Any:
    entries = [dosage._map(e) for e in dosage._list(entry.get("doseAndRate"))]
    ordered = [e for e in entries if dosage._is_ordered(e)]
    chosen = [e for e in (ordered or entries) if "doseQuantity" in e or "doseRange" in e]
    if chosen:
        doses = {dosage._entry_mg(e, resource, notes) for e in chosen}
        if len(doses) > 1:
            raise _Unknown("the dosage gives several different doses")
        return doses.pop()
    if any("rateQuantity" in e or "rateRatio" in e for e in entries):
        raise _Unknown("only an infusion rate is given, not a dose")
    return dosage._text_dose_mg(dosage._text(entry), notes)


def reference_stated_cycles(resource: dict[str, Any]) -> set[tuple[int, str]]:
    dosages = dosage._dosages(resource)
    intervals = {i for d in dosages if (i := dosage._dosing_interval(d)) is not None}
    found = {(days, "cycle_from_text") for d in dosages
             for days in dosage._cycles_in_text(dosage._text(d), intervals)}
    outer = [days for d in dosages if (days := dosage._outer_cycle(d, dosages)) is not None]
    repeats = {days for d in dosages if (days := dosage._repeat_cycle(d)) is not None}
    return (found | {(days, "cycle_from_outer_timing") for days in outer}
            | {(days, "cycle_from_repeat_period") for days in repeats})


def _outcome(function: Any, *args: Any) -> Any:
    notes: list[Any] = []
    try:
        return function(*args, *([notes] if function in (dosage._dose_mg,
                                                         reference_dose_mg) else [])), notes
    except _Unknown as exc:
        return "unknown", str(exc), notes
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        return "error", type(exc).__name__


def _same(resource: dict[str, Any]) -> None:
    assert _outcome(dosage.order_dose, resource) == _outcome(reference_order_dose, resource)
    assert _outcome(dosage._stated_cycles, resource) == \
        _outcome(reference_stated_cycles, resource)
    for entry in dosage._dosages(resource):
        assert _outcome(dosage._dose_mg, entry, resource) == \
            _outcome(reference_dose_mg, entry, resource)


def test_every_medication_of_the_charts_reads_as_before():
    assert len(MEDICATIONS) > 50
    for resource in MEDICATIONS:
        _same(resource)


NUMBER = st.one_of(st.integers(min_value=-2, max_value=30), st.sampled_from([0.5, 1.5, 2.0]),
                   HOSTILE)
UNIT = st.one_of(st.sampled_from(["d", "wk", "h", "min", "s", "mo", "a"]), HOSTILE)
REPEAT = st.dictionaries(
    st.sampled_from(["frequency", "period", "periodUnit", "frequencyMax", "periodMax",
                     "timeOfDay", "when", "count", "boundsDuration"]),
    st.one_of(NUMBER, UNIT, st.lists(st.sampled_from(["08:00:00", "MORN"]), max_size=3)))
QUANTITY = st.fixed_dictionaries({"value": NUMBER}, optional={
    "unit": st.sampled_from(["mg", "g", "mcg", "mL", "tablet", "IU"]),
    "code": st.sampled_from(["mg", "g", "ug", "mL", "{tbl}", "[iU]"]),
    "system": st.just("http://unitsofmeasure.org")})
DOSE_ENTRY = st.fixed_dictionaries({}, optional={
    "doseQuantity": QUANTITY, "rateQuantity": QUANTITY,
    "type": st.just({"coding": [{"code": "ordered"}]})})
DOSAGE = st.fixed_dictionaries({}, optional={
    "timing": st.fixed_dictionaries({}, optional={
        "repeat": REPEAT, "code": st.just({"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
            "code": "BID"}]})}),
    "doseAndRate": st.lists(DOSE_ENTRY, max_size=3),
    "text": st.one_of(st.sampled_from(["40 mg days 1-4, q28d", "每28天", "q7d 20 mg", "", "x",
                                       "21-day cycle", "every 2 weeks"]), HOSTILE)})


@settings(FUZZ, max_examples=1500)
@given(dosages=st.lists(DOSAGE, max_size=3),
       name=st.sampled_from(["dexamethasone 4 MG Oral Tablet", "dexamethasone 4 mg/mL", "x"]))
def test_a_generated_order_reads_as_before(dosages, name):
    _same({"resourceType": "MedicationRequest", "id": "m", "status": "active",
           "medicationCodeableConcept": {"text": name}, "dosageInstruction": dosages})


def test_an_unreadable_timing_without_text_fails_as_before():
    """Found by the generated orders in a CI run: no text, and a period of infinity."""
    _same({"resourceType": "MedicationRequest", "id": "m", "status": "active",
           "medicationCodeableConcept": {"text": "dexamethasone 4 MG Oral Tablet"},
           "dosageInstruction": [{"timing": {"repeat": {"frequency": 0,
                                                        "period": float("inf")}}}]})
