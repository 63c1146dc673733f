"""Bleeding risk score (MM consensus Table 6, the IMPROVE bleeding score).

Title: bleeding risk during VTE prophylaxis.
Source: MM consensus Table 6; Decousus H et al., Chest 2011 (IMPROVE).
Table file: bleeding.toml.
Variables: 13 items (BLEED-01..13); age and renal function are bands (BLEED-14).
Missing values: unknown items count toward ``max_points`` only; the tier reports whether they
could push the patient to high bleeding risk.
Notes: < 7 low, >= 7 high (BLEED-15); myeloma on treatment is active cancer (BLEED-16).
"""

from __future__ import annotations

from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.score import ScoreAssessment, assess_table
from vte_rules.tables import load_table


def assess(facts: PatientFacts) -> ScoreAssessment:
    """BLEED-01..16."""
    return assess_table(load_table("bleeding"), derive(facts))
