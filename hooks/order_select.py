"""vte-order-select: react to the orders a clinician has just selected (see order_checks)."""

from __future__ import annotations

from hooks import order_checks
from hooks.base import Service
from hooks.prefetch import PATIENT_DATA

SERVICE = Service(
    id="vte-order-select",
    hook="order-select",
    title="VTE checks on selected orders",
    description="When an IMiD, dexamethasone, an anticoagulant or a vena cava filter is "
                "selected: prophylaxis for the myeloma VTE tier, aspirin for high risk, "
                "rivaroxaban or LMWH with eGFR < 30, anticoagulants with high bleeding risk or "
                "platelets < 50, filters for calf muscular vein thrombosis, treatment doses.",
    prefetch=PATIENT_DATA,
    handler=order_checks.check,
    include_drafts=True,
)
