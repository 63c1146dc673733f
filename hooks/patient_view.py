"""vte-patient-view: when a chart opens, the VTE advice that applies to this patient.

When: patient-view for any patient.
Then: the myeloma prophylaxis card (myeloma), the treatment card (myeloma with an active DVT or
PE), the CMVT card (CMVT). Nothing else: a patient with none of these gets no card.
"""

from __future__ import annotations

from typing import Any

from hooks import cmvt_card, mm_card, treatment_card
from hooks.base import HookRequest, Links, Service
from hooks.chart import Chart, assess_chart
from hooks.prefetch import PATIENT_DATA


def cards_for(request: HookRequest, chart: Chart, links: Links) -> list[dict[str, Any]]:
    found = assess_chart(chart)
    built = [mm_card.build(request, chart, links, found),
             treatment_card.build(request, chart, links, found),
             cmvt_card.build(request, chart, links, found)]
    return [c for c in built if c is not None]


SERVICE = Service(
    id="vte-patient-view",
    hook="patient-view",
    title="VTE risk and prophylaxis (myeloma, calf muscular vein thrombosis)",
    description="Scores VTE and bleeding risk in multiple myeloma (Chinese expert consensus "
                "Tables 5-6) and recommends prophylaxis; advises on treatment of established "
                "VTE and on calf muscular vein thrombosis (ultrasound surveillance or "
                "anticoagulation).",
    prefetch=PATIENT_DATA,
    handler=cards_for,
)
