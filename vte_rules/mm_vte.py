"""MM-related VTE risk score and its prophylaxis tier.

Title: Chinese MM VTE risk stratification.
Source: MM consensus Table 5 (points and tiers), Table 3 (risk factors), section 4 (MMRF-01/02).
Table file: mm_vte.toml.
Variables: 18 individual and disease factors and 7 treatment factors (MM-T5-01..25); age and
dexamethasone per cycle are bands (MM-T5-26).
Missing values: an unknown factor adds nothing to ``points`` (the documented lower bound) but
counts toward ``max_points``; the tier says which unknown items would move it.
Notes: tiers < 6 none, 6-8 low, 9-12 high, >= 13 very high (MM-T5-27).
"""

from __future__ import annotations

import functools

from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.score import ScoreAssessment, assess_table
from vte_rules.tables import Label, load_table


def assess(facts: PatientFacts) -> ScoreAssessment:
    """MM-T5-01..27: the score and its prophylaxis tier."""
    return assess_table(load_table("mm_vte"), derive(facts))


def individual_risk_factor(score: ScoreAssessment) -> bool | None:
    """Whether any individual or disease factor (MM-T5-01..18) is present, three-valued.

    DUR-04 lets prophylaxis stop only without another independent risk factor.
    """
    individual = _individual_rules()
    items = [i for i in score.items if i.rule in individual]
    if any(i.status == "present" for i in items):
        return True
    if all(i.status == "absent" for i in items):
        return False
    return None


@functools.cache
def _individual_rules() -> frozenset[str]:
    """MM-T5-01..18: the rows of the table's individual and disease section."""
    return frozenset(row.rule for row in load_table("mm_vte").rows
                     if row.extra.get("section") == "individual")


def context(facts: PatientFacts) -> tuple[Label, ...]:
    """MMRF-01/02: when MM VTE happens and what raises its incidence."""
    ctx = load_table("mm_vte").data["context"]
    notes = [Label(ctx["baseline"]["en"], ctx["baseline"]["zh"])]
    months = facts.number("months_since_mm_diagnosis")
    window = float(ctx["high_risk_window_months"])
    if facts.flag("mm_relapse") is True or (months is not None and months < window):
        notes.insert(0, Label(ctx["timing"]["en"], ctx["timing"]["zh"]))
    return tuple(notes)
