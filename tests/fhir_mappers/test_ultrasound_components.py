"""A venous ultrasound report as Chinese hospitals send it: one Observation under the hospital's
own code, the measurements as components named in words. The CMVT-02 features (length > 5 cm,
maximum diameter > 7 mm, several veins) are read from them by name, with the unit checked; the
newest report wins; anything not named exactly, or without a unit, stays unknown."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir_mappers.chart import map_chart
from vte_rules.facts import Message

AS_OF = dt.date(2026, 12, 1)
LOCAL = "http://lis.hospital.example.cn/CodeSystem/test"


def _component(name: str, value: float, unit: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOCAL, "code": "X", "display": name}], "text": name},
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def _report(oid: str, day: str, *components: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": day,
            "code": {"coding": [{"system": LOCAL, "code": "US-LEV", "display": "双下肢深静脉彩超"}],
                     "text": "下肢静脉超声"},
            "valueString": "左比目鱼肌静脉血栓", "component": list(components)}


def _facts(*observations: dict[str, Any]) -> Any:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1965-01-01"}
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r} for r in (patient, *observations)]}
    return map_chart(bundle, as_of=AS_OF).facts


def test_length_diameter_and_veins_are_read_from_named_components():
    facts = _facts(_report("us1", "2026-11-30", _component("血栓长度", 3.8, "cm"),
                           _component("血栓最大直径", 7.5, "mm"),
                           _component("受累静脉支数", 2, "1")))
    assert facts.number("thrombus_length_cm") == 3.8
    assert facts.number("thrombus_diameter_mm") == 7.5
    assert facts.number("veins_involved_count") == 2
    assert facts["thrombus_diameter_mm"].evidence == ("Observation/us1",)
    assert facts["thrombus_diameter_mm"].assumption == (Message.of("measurement_found_by_name"),)


def test_a_length_in_mm_is_converted_and_a_diameter_in_cm_too():
    facts = _facts(_report("us1", "2026-11-30", _component("血栓长度", 61, "mm"),
                           _component("血栓最大直径", 0.8, "cm")))
    assert facts.number("thrombus_length_cm") == 6.1
    assert facts.number("thrombus_diameter_mm") == 8.0


def test_the_newest_report_wins():
    first = _report("us1", "2026-11-24", _component("血栓长度", 3.2, "cm"))
    later = _report("us2", "2026-12-01", _component("血栓长度", 6.1, "cm"))
    assert _facts(later, first).number("thrombus_length_cm") == 6.1
    assert _facts(first, later).number("thrombus_length_cm") == 6.1


def test_no_unit_an_unknown_unit_a_near_name_or_an_old_report_is_not_read():
    assert _facts(_report("us1", "2026-11-30", _component("血栓长度", 3.8, "in"))
                  ).number("thrombus_length_cm") is None
    assert _facts(_report("us1", "2026-11-30", _component("血栓长度测量备注", 3.8, "cm"))
                  ).number("thrombus_length_cm") is None
    assert _facts(_report("us1", "2026-09-01", _component("血栓长度", 6.0, "cm"))
                  ).number("thrombus_length_cm") is None


def test_a_distance_to_the_popliteal_vein_sets_nothing():
    """The seed says "close to the proximal veins" with no distance: not read from a number."""
    distance = _component("血栓近端距腘静脉汇入处距离", 0.5, "cm")
    facts = _facts(_report("us1", "2026-11-30", distance))
    assert facts.flag("thrombus_near_proximal_veins") is None
