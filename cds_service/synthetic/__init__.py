"""Synthetic FHIR R4 patients for demos and end-to-end tests (docs/synthetic-patients.md).

One transaction Bundle per scenario (``*.json``, PUT with fixed ids), described with the cards
the service should give in ``scenarios.toml``; draft orders for the order hooks in
``drafts.json``. ``load_into(base_url, session)`` stores them on a FHIR server.
"""

from __future__ import annotations

from cds_service.synthetic.loader import (
    CardExpectation,
    HookExpectation,
    LoadError,
    Scenario,
    bundles,
    drafts,
    load_into,
    patient_ids,
    scenarios,
)

__all__ = ["CardExpectation", "HookExpectation", "LoadError", "Scenario", "bundles", "drafts",
           "load_into", "patient_ids", "scenarios"]
