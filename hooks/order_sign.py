"""vte-order-sign: the same checks as order-select, on the orders about to be signed."""

from __future__ import annotations

from hooks import order_checks
from hooks.base import Service
from hooks.prefetch import PATIENT_DATA

SERVICE = Service(
    id="vte-order-sign",
    hook="order-sign",
    title="VTE checks before signing",
    description="Before orders are signed: prophylaxis missing from an IMiD or dexamethasone "
                "regimen, aspirin for high VTE risk, renal and platelet contraindications, "
                "bleeding risk, filters for calf muscular vein thrombosis, treatment doses.",
    prefetch=PATIENT_DATA,
    handler=order_checks.check,
    include_drafts=True,
)
