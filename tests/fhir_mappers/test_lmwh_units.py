"""LMWH orders in anti-Xa units, as Chinese and Western EHRs send them (fhir_mappers.dosage
``order_units``): a dose in IU, or in mL of a product whose name states the strength."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappers.dosage import order_units


def _order(product: str, value: float, unit: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
            "medicationCodeableConcept": {"text": product},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": 1, "period": 1,
                                                         "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": value,
                                                                     "unit": unit}}]}]}


@pytest.mark.parametrize(("product", "value", "unit", "iu"), [
    ("那屈肝素钙注射液 0.4ml:4100AXaIU", 0.4, "mL", 4100.0),
    ("0.2 ML dalteparin sodium 25000 UNT/ML Prefilled Syringe", 0.2, "mL", 5000.0),
    ("dalteparin", 5000, "[iU]", 5000.0),
    ("达肝素钠注射液", 5000, "IU", 5000.0),
    ("nadroparin 9500 IU/mL", 0.6, "mL", 5700.0),
], ids=["zh-volume-first", "rxnorm-unt-per-ml", "ucum-iu", "iu-word", "iu-per-ml"])
def test_the_units_given_are_read(product, value, unit, iu):
    assert order_units(_order(product, value, unit)) == iu


@pytest.mark.parametrize(("product", "value", "unit"), [
    ("那屈肝素钙注射液", 0.4, "mL"),  # no strength stated
    ("enoxaparin 40 mg/0.4 mL", 0.4, "mL"),  # a mass, read by order_dose, not here
    ("dalteparin", 5000, "mg"),
])
def test_what_is_not_in_units_is_none(product, value, unit):
    assert order_units(_order(product, value, unit)) is None
