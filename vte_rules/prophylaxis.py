"""VTE prophylaxis for a myeloma patient: tier, bleeding, dose adjustments, duration.

Title: MM VTE prophylaxis recommendation.
Source: MM consensus Table 5 note (MM-T5-27), section 5.1 (MM-RX-01..07), section 5.2
(ADJ-01..04), Table 6 (bleeding, BLEED-15).
Table file: prophylaxis.toml, adjustments.toml, regimens.toml.
Variables: the MM VTE score, the bleeding score, active bleeding, contraindication to drugs,
eGFR, platelets, coagulation abnormality, weight (for weight-based doses).
Missing values: the tier is the documented one; unknown items that could move it, an unknown
eGFR or platelet count, and a bleeding score that could reach the high band are all listed in
``could_change``. Nothing unknown is read as normal.
Notes: the order of decisions is: tier -> renal adjustments -> platelets -> bleeding hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vte_rules import bleeding, drug_risk, mm_vte
from vte_rules.derive import derive
from vte_rules.drug_risk import DrugNote
from vte_rules.facts import PatientFacts
from vte_rules.regimens import (
    DRUG_REGIMENS,
    Option,
    Recommendation,
    Regimen,
    RuledOut,
    option,
)
from vte_rules.score import ScoreAssessment
from vte_rules.tables import Label, Table, TableError, load_table


@dataclass(frozen=True)
class ProphylaxisAssessment:
    vte: ScoreAssessment
    bleeding: ScoreAssessment
    recommendation: Recommendation
    facts: PatientFacts

    # The drug notes and the MM VTE context decide nothing: worked out when a view shows them.
    @property
    def drugs(self) -> tuple[DrugNote, ...]:
        return drug_risk.notes(self.facts)

    @property
    def context(self) -> tuple[Label, ...]:
        return mm_vte.context(self.facts)


@dataclass
class _Draft:
    """The recommendation while the steps adjust it (private, mutable on purpose)."""

    options: list[Option]
    ruled_out: list[RuledOut]
    rules: list[str]
    notes: list[Label]
    could_change: list[Label]
    regimen: Regimen | None = None
    held_because: tuple[Label, ...] = ()
    readings: list[Label] = field(default_factory=list)



def check_tables() -> None:
    """Refuse prophylaxis tables whose tiers or regimens do not match the vocabulary."""
    table = load_table("prophylaxis")
    categories = {t.category for t in load_table("mm_vte").tiers["prophylaxis"]}
    if set(table.data["by_tier"]) != categories:
        raise TableError(f"prophylaxis.toml: by_tier must cover exactly {sorted(categories)}")
    regimens = set(load_table("regimens").data["regimens"])
    for tier, entry in table.data["by_tier"].items():
        named = list(entry["options"]) + [r["regimen"] for r in entry.get("ruled_out", ())]
        for name in named:
            if name not in {r.value for r in Regimen} or name not in regimens:
                raise TableError(f"prophylaxis.toml [{tier}]: unknown regimen {name!r}")


def _could_be(vte: ScoreAssessment, table: Table) -> list[Label]:
    names = table.data["could_be"]["names"]
    labels = {i.rule: i.label for i in vte.items}
    out = []
    for cb in vte.tier.could_be:
        items_en = " or ".join(labels[r].en for r in cb.rules)
        items_zh = "或".join(labels[r].zh for r in cb.rules)
        if cb.together:  # no single item is enough: say so, never "A or B"
            items_en = "; ".join(labels[r].en for r in cb.rules)
            items_zh = "；".join(labels[r].zh for r in cb.rules)
        text = table.data["could_be_together" if cb.together else "could_be"]
        out.append(Label(
            text["en"].format(category=names[cb.category]["en"], items=items_en),
            text["zh"].format(category=names[cb.category]["zh"], items=items_zh)))
    return out


def _start(vte: ScoreAssessment, facts: PatientFacts) -> _Draft:
    table = load_table("prophylaxis")
    entry = table.data["by_tier"][vte.category]
    options = [option(Regimen(r), facts, "MM-T5-27") for r in entry["options"]]
    ruled_out = [RuledOut(Regimen(r["regimen"]), Label.of(r), r["rule"], by_tier=True)
                 for r in entry.get("ruled_out", ())]
    return _Draft(options, ruled_out, ["MM-T5-27"], [], _could_be(vte, table))


def _renal(draft: _Draft, facts: PatientFacts) -> None:
    """ADJ-01 (aspirin caution, warfarin instead) and ADJ-02 (LMWH down, no rivaroxaban)."""
    adj = load_table("adjustments")
    egfr = facts.number("egfr")
    if egfr is None:
        if any(o.regimen in DRUG_REGIMENS for o in draft.options):
            draft.could_change.append(Label.of(adj.row("ADJ-02").extra["unknown"]))
        return
    severe, renal = adj.row("ADJ-02"), adj.row("ADJ-01")
    if severe.criterion.within(egfr):
        _adj_02(draft, severe.extra, facts["egfr"].evidence)
    if renal.criterion.within(egfr) and any(
            o.regimen == Regimen.ASPIRIN for o in draft.options):
        caution = Label.of(renal.extra["aspirin_caution"])
        draft.options = [replace(o, cautions=(*o.cautions, caution), rules=(*o.rules, "ADJ-01"))
                         if o.regimen == Regimen.ASPIRIN else o for o in draft.options]
        draft.options.append(option(Regimen.WARFARIN, facts, "ADJ-01"))
        draft.rules.append("ADJ-01")


def _adj_02(draft: _Draft, msgs: Mapping[str, Any], evidence: tuple[str, ...]) -> None:
    kept = []
    for o in draft.options:
        if o.drug == "rivaroxaban":
            draft.ruled_out.append(RuledOut(o.regimen, Label.of(msgs["rivaroxaban_ruled_out"]),
                                            "ADJ-02", evidence))
        elif o.drug == "enoxaparin":
            kept.append(replace(o, cautions=(*o.cautions, Label.of(msgs["lmwh_caution"])),
                                rules=(*o.rules, "ADJ-02"), orderable=False,
                                not_orderable_because=Label.of(msgs["no_order"])))
        else:
            kept.append(o)
    if kept != draft.options:
        draft.rules.append("ADJ-02")
    draft.options = kept


def _platelets(draft: _Draft, facts: PatientFacts) -> None:
    """ADJ-03 (no dose change) and ADJ-04 (< 50: individualise)."""
    if not any(o.regimen in DRUG_REGIMENS for o in draft.options):
        return
    adj = load_table("adjustments")
    low, ok = adj.row("ADJ-04"), adj.row("ADJ-03")
    count = facts.number("platelets")
    if count is None:
        draft.could_change.append(Label.of(low.extra["unknown"]))
        return
    evidence = facts["platelets"].evidence
    if low.criterion.within(count):
        reason = Label.of(low.extra["individualise"])
        draft.ruled_out.extend(RuledOut(o.regimen, reason, "ADJ-04", evidence)
                               for o in draft.options if o.regimen in DRUG_REGIMENS)
        if low.criterion.range is not None and count == low.criterion.range.hi:
            draft.readings.append(Label.of(low.extra["at_boundary"]))
        draft.options = [option(Regimen.INDIVIDUALISE, facts, "ADJ-04")]
        draft.regimen = Regimen.INDIVIDUALISE
        draft.rules.append("ADJ-04")
        return
    steady = (facts.flag("coagulation_abnormality") is False
              and facts.flag("active_bleeding") is False)
    draft.notes.append(Label.of(ok.extra["no_change" if steady else "check"]))
    draft.rules.append("ADJ-03")


def _hold_reasons(facts: PatientFacts, bleed: ScoreAssessment,
                  msgs: Mapping[str, Any]) -> list[Label]:
    why = []
    if facts.flag("active_bleeding") is True:
        why.append(Label.of(msgs["active_bleeding"]))
    if facts.flag("drug_prophylaxis_contraindicated") is True:
        why.append(Label.of(msgs["contraindicated"]))
    if bleed.category == "high":
        why.append(Label.of(msgs["high_score"], points=_pts(bleed.points)))
    return why


def _pts(x: float) -> str:
    return str(int(x)) if x.is_integer() else str(x)


def _bleeding(draft: _Draft, facts: PatientFacts, bleed: ScoreAssessment) -> None:
    """MM-RX-06/07: bleeding risk assessed throughout; hold drugs when it forbids them."""
    if not any(o.regimen in DRUG_REGIMENS or o.regimen == Regimen.INDIVIDUALISE
               for o in draft.options):
        return
    msgs = load_table("prophylaxis").data["bleeding"]
    draft.rules.extend(["MM-RX-06", "BLEED-15"])
    why = _hold_reasons(facts, bleed, msgs)
    if not why:
        if bleed.tier.worst_case == "high":
            labels = {i.rule: i.label for i in bleed.items}
            rules = dict.fromkeys(r for cb in bleed.tier.could_be for r in cb.rules)
            draft.could_change.append(Label(
                msgs["could_be_high"]["en"].format(rules=", ".join(labels[r].en for r in rules)),
                msgs["could_be_high"]["zh"].format(rules="、".join(labels[r].zh for r in rules))))
        return
    reason = Label(msgs["drug_ruled_out"]["en"].format(why="; ".join(w.en for w in why)),
                   msgs["drug_ruled_out"]["zh"].format(why="；".join(w.zh for w in why)))
    # the drugs still offered, and those platelets < 50 had left to an individual decision
    # (ADJ-04): bleeding now holds them all
    held = [o.regimen for o in draft.options if o.regimen in DRUG_REGIMENS]
    held += [r.regimen for r in draft.ruled_out if r.rule == "ADJ-04"]
    draft.ruled_out.extend(RuledOut(r, reason, "MM-RX-06") for r in dict.fromkeys(held))
    draft.options = [option(Regimen.MECHANICAL, facts)]
    draft.regimen = Regimen.MECHANICAL
    draft.held_because = tuple(why)
    choice = msgs["regimen_choice"]
    draft.notes.append(Label.of(choice))
    draft.rules.append(choice["rule"])


def recommend(facts: PatientFacts, vte: ScoreAssessment,
              bleed: ScoreAssessment) -> Recommendation:
    """The prophylaxis recommendation for derived facts and both scores."""
    draft = _start(vte, facts)
    _renal(draft, facts)
    _platelets(draft, facts)
    _bleeding(draft, facts, bleed)
    regimen = draft.regimen or draft.options[0].regimen
    table = load_table("prophylaxis")
    duration = None
    if regimen != Regimen.NONE:
        duration = Label.of(table.data["duration"])
        draft.rules.append("MM-RX-05")
    rules = (*draft.rules, *(r for o in draft.options for r in o.rules))
    return Recommendation(regimen, tuple(draft.options), tuple(dict.fromkeys(rules)),
                          tuple(draft.ruled_out), duration,
                          tuple(draft.notes),
                          tuple(draft.could_change),
                          {"held_because": draft.held_because} if draft.held_because else {},
                          tuple(draft.readings))


def assess(facts: PatientFacts) -> ProphylaxisAssessment:
    """Score, bleeding, drug notes and the recommendation for one myeloma patient."""
    derived = derive(facts)
    vte = mm_vte.assess(derived)
    bleed = bleeding.assess(derived)
    return ProphylaxisAssessment(vte, bleed, recommend(derived, vte, bleed), derived)
