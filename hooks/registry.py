"""The services this server offers: discovery lists exactly these, in this order."""

from __future__ import annotations

from hooks import order_select, order_sign, patient_view
from hooks.base import Service

SERVICES: dict[str, Service] = {s.id: s for s in (patient_view.SERVICE, order_select.SERVICE,
                                                   order_sign.SERVICE)}
