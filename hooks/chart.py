"""What the hooks read from a mapped chart (the web layer maps it; hooks do not import FHIR code).

The drug sets below are views of the one table of drug classes (``vte_rules/tables/
drug_classes.toml``, read through ``vte_rules.drug_classes``). ANTICOAGULANTS names the medication
concepts (``fhir_mappers/codes/medications.csv``) that count as VTE prophylaxis or treatment
already in place: every antithrombotic, aspirin included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hooks import words
from vte_rules import assessment, drug_classes, report
from vte_rules.assessment import Assessment
from vte_rules.facts import PatientFacts

ANTICOAGULANTS = drug_classes.antithrombotics()
ANTIPLATELETS = drug_classes.antithrombotics("antiplatelet")
PARENTERAL_ANTICOAGULANTS = drug_classes.antithrombotics("anticoagulant", route="parenteral")
LMWHS = drug_classes.members("lmwh")
VKAS = drug_classes.members("vka")
IMIDS = drug_classes.members("imid")
# Which recommended regimens a current medication concept fulfils (the table's ``fulfils``: other
# DOACs count where the consensus names a DOAC, MM-RX-04).
REGIMENS_OF: dict[str, set[str]] = drug_classes.regimens_fulfilled()


class Use(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def concepts(self) -> tuple[str, ...]: ...
    @property
    def draft(self) -> bool: ...
    @property
    def text(self) -> str | None: ...


class Issue(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def severity(self) -> str: ...


class Chart(Protocol):
    @property
    def facts(self) -> PatientFacts: ...
    @property
    def medications(self) -> Sequence[Use]: ...
    @property
    def issues(self) -> Sequence[Issue]: ...


def current_anticoagulants(chart: Chart) -> list[Use]:
    return [u for u in chart.medications
            if not u.draft and set(u.concepts) & ANTICOAGULANTS]


def skipped_count(chart: Chart) -> int:
    return sum(1 for i in chart.issues if i.severity == "skipped")


def assess_chart(chart: Chart) -> Assessment:
    """The one assessment of this chart: every card, the link page, the SMART app and the
    assessment API render it (drafts are not "already on")."""
    on = tuple(dict.fromkeys(c for u in current_anticoagulants(chart) for c in u.concepts
                             if c in ANTICOAGULANTS))
    return assessment.assess(chart.facts, on)


def document(chart: Chart) -> dict[str, object]:
    """The assessment as the link page and the assessment API show it (what was assumed, in
    English: ``hooks.words``)."""
    return report.render(assess_chart(chart), words.english)
