"""Wells scores for suspected DVT and PE, and the diagnostic step that follows.

Title: Wells DVT (two levels) and Wells PE (three levels and two levels).
Source: MM consensus Tables 1 and 2 and section 2; Wells 2003 (DVT), Wells 2000 (PE).
Table file: wells_dvt.toml, wells_pe.toml.
Variables: see the tables; heart rate is the latest value, the rest are true/false findings.
Missing values: bedside findings (WDVT-04..08, WDVT-10, WPE-01, WPE-02) are unknown unless
recorded; the category then comes with its best and worst case.
Notes: the consensus's DVT cut-off (<= 2 unlikely) and the WPE-08 gap at 1.5 are shown as
notes on the assessment (see the tables' notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.score import ScoreAssessment, assess_table
from vte_rules.tables import Label, load_table

Step = Literal["exclude", "ultrasound", "d_dimer", "complete_score"]


def assess_dvt(facts: PatientFacts) -> ScoreAssessment:
    """WDVT-01..11."""
    return assess_table(load_table("wells_dvt"), derive(facts))


def assess_pe(facts: PatientFacts) -> ScoreAssessment:
    """WPE-01..09: tiers ``three_level`` (low/intermediate/high) and ``two_level``."""
    return assess_table(load_table("wells_pe"), derive(facts))


@dataclass(frozen=True)
class Workup:
    step: Step
    label: Label
    rule: str


def dvt_workup(wells: ScoreAssessment, facts: PatientFacts) -> Workup:
    """WDVT-12: what to do next for a suspected DVT.

    Unlikely (whatever the unknown items turn out to be) with a normal D-dimer: the D-dimer
    helps exclude DVT. Likely, or a raised D-dimer: compression ultrasound. Unlikely with no
    D-dimer: measure it. Unlikely only because bedside items are not recorded: complete them.
    """
    table = load_table("wells_dvt")
    msgs = table.data["workup"]
    tier = wells.tiers["two_level"]
    d_dimer = facts.flag("d_dimer_raised")
    if tier.category == "likely" or d_dimer is True:
        return Workup("ultrasound", Label(**msgs["ultrasound"]), "WDVT-12")
    if tier.worst_case == "likely":
        return Workup("complete_score", Label(
            msgs["complete"]["en"].format(items=", ".join(i.label.en for i in wells.unknown)),
            msgs["complete"]["zh"].format(items="、".join(i.label.zh for i in wells.unknown))),
            "WDVT-12")
    if d_dimer is None:
        return Workup("d_dimer", Label(**msgs["d_dimer_first"]), "WDVT-12")
    return Workup("exclude", Label(**msgs["exclude"]), "WDVT-12")
