"""VTE risk of each anti-myeloma drug in the current regimen (notes, no points).

Title: drug-related VTE risk.
Source: MM consensus Table 4 (DRUG-01..11).
Table file: drug_risk.toml.
Variables: one true/false factor per drug or drug class; some notes depend on what the drug is
combined with (``combined_with``).
Missing values: a drug whose combination partners are unknown gets both readings, marked as
such; a drug that is not known to be given gets no note.
Notes: the points for drugs come from Table 5; this module only explains them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vte_rules.facts import PatientFacts
from vte_rules.score import read_row
from vte_rules.tables import Label, Row, load_table


@dataclass(frozen=True)
class DrugNote:
    rule: str
    drug: Label
    effect: str
    text: Label
    evidence: tuple[str, ...]
    combination_known: bool = True


def _note(row: Row, facts: PatientFacts, evidence: tuple[str, ...]) -> DrugNote:
    text = Label(**row.extra["text"])
    partners = row.extra.get("combined_with")
    if not partners:
        return DrugNote(row.rule, row.label, row.extra["effect"], text, evidence)
    flags = [facts.flag(p) for p in partners]
    if any(flags):
        partner_evidence = tuple(e for p in partners if facts.flag(p) for e in facts[p].evidence)
        return DrugNote(row.rule, row.label, row.extra["combined_effect"], text,
                        evidence + partner_evidence)
    if all(f is False for f in flags):
        return DrugNote(row.rule, row.label, row.extra["effect"], text, evidence)
    return DrugNote(row.rule, row.label, row.extra["combined_effect"], text, evidence,
                    combination_known=False)


def notes(facts: PatientFacts) -> tuple[DrugNote, ...]:
    """DRUG-01..11 for every drug known to be in the regimen.

    Where the combination partners are unknown the higher-risk reading is given, flagged
    ``combination_known=False``, so the card never understates the risk.
    """
    result = []
    for row in load_table("drug_risk").rows:
        item = read_row(row, facts)
        if item.status == "present":
            result.append(_note(row, facts, item.evidence))
    return tuple(result)
