"""FHIR R4 JSON to `vte_rules.PatientFacts` (issue 3)."""
