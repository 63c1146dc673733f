"""Calf muscular venous thrombosis (CMVT): assess the risk of extension first, then treat.

Title
    Anticoagulation, compression and ultrasound surveillance for CMVT (rules CMVT-01..CMVT-11).

Source
    Yang Y, Xiong C. Progress in anticoagulation for calf muscular venous thrombosis. Acta
    Academiae Medicinae Sinicae 2021;43(5):822-826 (seed ``000_f20073cb548b4c28``; sections
    'Controversy over anticoagulation', 'Duration of anticoagulation', 'Summary and outlook'),
    restated in ``../shared/clinical-rules.md`` section 10. The features of CMVT-02 are the
    ACCP 2016 guideline's, as cited by the review.

Table file
    ``tables/cmvt.toml``: the items that make a patient "not low risk" (CMVT-02 features,
    CMVT-03 low-risk exclusions, CMVT-06 symptoms), the surveillance days, the filter advice, the
    durations cited, and every message shown. No clinical number is written here.

Variables
    ``cmvt``, ``axial_deep_vein_thrombosis``, ``extension_to_proximal_veins``,
    ``high_bleeding_risk`` (the clinician's judgement; high if it or the caller's score says so),
    ``provoking_factor_removed`` and the factors of the table's items.

Missing values
    Unknown is never absent. The thrombosis risk is "low" only when every item is documented
    absent; with none present and some unknown it is "indeterminate", and surveillance is
    recommended on the documented data while ``could_change`` names each unknown item that would
    lead to anticoagulation. Two readings follow from documented facts rather than defaults:
    no symptoms at all means no severe symptoms, and a negative D-dimer is not markedly raised
    (the item's ``absent_if_absent``). Unknown bleeding risk: anticoagulation is still the
    recommendation where the rules call for it, with a note that it assumes high bleeding risk
    was excluded and a ``could_change``. Unknown isolation is decided as isolated CMVT, with a
    ``could_change`` for axial thrombosis where that would change the answer.

Notes
    Decision order: high bleeding risk (CMVT-07, or CMVT-08 when non-isolated) -> non-isolated
    (CMVT-08) -> extension on surveillance (CMVT-05) -> high risk or symptoms (CMVT-06) ->
    surveillance (CMVT-03/04). Every applicable recommendation's rules start with CMVT-01 and its
    first note states the extension risk. When ``cmvt`` is not documented true the assessment has
    ``applicable=False`` and a ``Regimen.NONE`` recommendation with no options and no rule ids.
    The regimen vocabulary has no vena cava filter: ``filter_advice`` (CMVT-09) is always set so
    that an order hook can warn on a filter order. The durations cited by the review, including
    the short courses with conflicting evidence, are ``duration_evidence`` (CMVT-10, CMVT-11),
    never the recommendation. The ambiguities of the seed are the table's ``readings`` (all of
    them in ``notes``); those that decided this patient's advice are also the recommendation's
    ``readings``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from vte_rules.facts import Fact, Message, PatientFacts
from vte_rules.regimens import Recommendation, Regimen, RuledOut, option
from vte_rules.score import ItemResult, Status, read_row
from vte_rules.tables import Label, Row, Table, load_table

Risk = Literal["high", "low", "indeterminate"]

_TABLE = "cmvt"
# Separators for lists inside a message, per language; presentation, not clinical content.
_ITEM_SEPARATOR = Label("; ", "；")
_DAY_SEPARATOR = Label(" and ", "、")


@dataclass(frozen=True)
class Advice:
    """A statement from the review that an order hook can show."""

    label: Label
    rule: str
    source: str


@dataclass(frozen=True)
class DurationEvidence:
    """A duration cited by the review; ``applies`` is three-valued for this patient."""

    label: Label
    rule: str
    source: str
    applies: bool | None
    conflicting: bool


@dataclass(frozen=True)
class CmvtAssessment:
    table: str
    applicable: bool
    isolated: bool | None
    thrombosis_risk: Risk
    items: tuple[ItemResult, ...]
    bleeding_high: bool | None
    recommendation: Recommendation
    filter_advice: Advice
    duration_evidence: tuple[DurationEvidence, ...]
    surveillance_days: tuple[int, ...]
    notes: tuple[Label, ...]
    # the items present, once per factor (cancer is both a CMVT-02 and a CMVT-03 item)
    deciding: tuple[ItemResult, ...] = ()

    @property
    def present(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.status == "present")

    @property
    def unknown(self) -> tuple[ItemResult, ...]:
        """The items that would make the risk high if confirmed."""
        return tuple(i for i in self.items if i.status == "unknown")


@dataclass(frozen=True)
class _Case:
    """What the decision needs, read once from the facts."""

    facts: PatientFacts
    readings: tuple[tuple[Row, ItemResult], ...]
    risk: Risk
    isolated: bool | None
    bleeding: bool | None
    bleeding_evidence: tuple[str, ...]


def assess(facts: PatientFacts, bleeding_high: bool | None = None) -> CmvtAssessment:
    """Assess CMVT; ``bleeding_high`` is the Table 6 result when computed, else None."""
    table = load_table(_TABLE)
    readings = tuple((row, _read(row, facts)) for row in table.rows)
    items = tuple(item for _, item in readings)
    case = _Case(facts, readings, _risk(items), _isolated(facts),
                 *_bleeding(facts, bleeding_high))
    applicable = facts.flag("cmvt") is True
    recommendation = _not_applicable()
    if applicable:
        decision, recommendation = _recommend(case)
        recommendation = replace(recommendation, readings=_deciding(table, case, decision))
    return CmvtAssessment(
        table.ref, applicable, case.isolated, case.risk, items, case.bleeding, recommendation,
        _filter_advice(table), _duration_evidence(table, facts),
        _surveillance_days(table, recommendation),
        tuple(Label.of(r) for r in table.data["readings"]), tuple(_distinct(case, "present")),
    )


def _read(row: Row, facts: PatientFacts) -> ItemResult:
    """Read a row; a documented negative of ``absent_if_absent`` settles an unknown item."""
    factor = row.criterion.factors[0]
    implied_by = row.extra.get("absent_if_absent")
    if implied_by and facts[factor].value is None and facts.flag(implied_by) is False:
        # No symptoms cannot be severe symptoms; a negative D-dimer cannot be markedly raised.
        implied = Fact(False, facts[implied_by].evidence,
                       assumption=(Message.of(str(row.extra["absent_reading"])),))
        facts = facts.with_facts(**{factor: implied})
    return read_row(row, facts)


def _risk(items: tuple[ItemResult, ...]) -> Risk:
    if any(i.status == "present" for i in items):
        return "high"
    if any(i.status == "unknown" for i in items):
        return "indeterminate"
    return "low"


def _isolated(facts: PatientFacts) -> bool | None:
    axial = facts.flag("axial_deep_vein_thrombosis")
    return None if axial is None else not axial


def _bleeding(facts: PatientFacts, computed: bool | None) -> tuple[bool | None, tuple[str, ...]]:
    """High if either the Table 6 score or the clinician's documented judgement says high.

    A low score does not overrule a clinician who recorded high bleeding risk; a low score with
    no judgement recorded counts as low.
    """
    judged = facts.flag("high_bleeding_risk")
    evidence = facts["high_bleeding_risk"].evidence
    if judged is True:
        return True, evidence
    if computed is not None:
        return computed, ()
    return judged, evidence


def _recommend(case: _Case) -> tuple[str, Recommendation]:
    """The decision taken (its message key) and the recommendation."""
    if case.bleeding is True:
        return _no_anticoagulation(case)
    for rule, decision, applies in (
            ("CMVT-08", "anticoagulate_non_isolated", case.isolated is False),
            ("CMVT-05", "anticoagulate_extension",
             case.facts.flag("extension_to_proximal_veins") is True),
            ("CMVT-06", "anticoagulate_high_risk", case.risk == "high")):
        if applies:
            return decision, _anticoagulate(case, rule, decision)
    return _surveillance(case)


def _deciding(table: Table, case: _Case, decision: str) -> tuple[Label, ...]:
    """The table's readings of the seed that decided this patient's advice."""
    present = [row for row, item in case.readings if item.status == "present"]
    out = []
    for raw in table.data["readings"]:
        when = raw.get("changes_action")
        if not when or decision not in when["decisions"]:
            continue
        factors, rules = when.get("only_factors"), when.get("only_rules")
        if factors is not None and not (present and all(
                row.criterion.factors[0] in factors for row in present)):
            continue
        if rules is not None and not (present and all(row.rule in rules for row in present)):
            continue
        out.append(Label.of(raw))
    return tuple(out)


def _not_applicable() -> Recommendation:
    return Recommendation(Regimen.NONE, (), (), notes=(_msg("not_applicable"),))


def _anticoagulate(case: _Case, rule: str, message: str) -> Recommendation:
    notes = [_risk_note(case), _msg(message)]
    rules = ["CMVT-01"]
    if rule == "CMVT-06":
        rules += [*_present_rules(case), rule, "CMVT-10", "CMVT-11"]
        notes.append(_msg("galanaud"))
    else:
        rules.append(rule)
        notes.append(_msg("duration_not_separate"))
    could_change = []
    if case.bleeding is None:
        notes.append(_msg("bleeding_unknown"))
        could_change.append(_msg("if_bleeding_high"))
    return Recommendation(
        Regimen.ANTICOAGULATION, (option(Regimen.ANTICOAGULATION, case.facts, rule),),
        _unique([*rules, "CMVT-10"]), duration=_msg("duration_anticoagulation"),
        notes=tuple(notes), could_change=tuple(could_change),
    )


def _no_anticoagulation(case: _Case) -> tuple[str, Recommendation]:
    non_isolated = case.isolated is False
    rule = "CMVT-08" if non_isolated else "CMVT-07"
    decision = ("no_anticoagulation_high_bleeding_non_isolated" if non_isolated
                else "no_anticoagulation_high_bleeding")
    reason = _msg(decision)
    options = (option(Regimen.MECHANICAL, case.facts, rule, cite_entry=False),
               option(Regimen.ULTRASOUND_SURVEILLANCE, case.facts, rule))
    return decision, Recommendation(
        Regimen.MECHANICAL, options, ("CMVT-01", rule, "CMVT-04", "CMVT-09"),
        ruled_out=(RuledOut(Regimen.ANTICOAGULATION, reason, rule, case.bleeding_evidence),),
        notes=(_risk_note(case), reason, _schedule_note(), _msg("filter")),
    )


def _surveillance(case: _Case) -> tuple[str, Recommendation]:
    low = case.risk == "low"
    key = "low_risk_surveillance" if low else "indeterminate_surveillance"
    decision = _msg(key)
    notes = [_risk_note(case), decision, _schedule_note()]
    could_change = [_msg("if_item_confirmed", item=i.label) for i in _distinct(case, "unknown")]
    could_change.append(_msg("if_extension"))
    if case.isolated is None:
        could_change.append(_msg("if_axial"))
    if case.bleeding is None:
        notes.append(_msg("bleeding_unknown"))
    # Only a low risk rules anticoagulation out; an indeterminate one leaves it open.
    ruled_out = (RuledOut(Regimen.ANTICOAGULATION, decision, "CMVT-03", by_tier=True),) \
        if low else ()
    options = (option(Regimen.ULTRASOUND_SURVEILLANCE, case.facts, "CMVT-03"),
               option(Regimen.MECHANICAL, case.facts, "CMVT-03", cite_entry=False))
    return key, Recommendation(
        Regimen.ULTRASOUND_SURVEILLANCE, options, ("CMVT-01", "CMVT-02", "CMVT-03", "CMVT-04"),
        ruled_out=ruled_out, notes=tuple(notes), could_change=tuple(could_change),
    )


def _distinct(case: _Case, status: Status) -> list[ItemResult]:
    """Items with ``status``, one per factor: cancer is both a CMVT-02 and a CMVT-03 item."""
    seen: dict[tuple[str, ...], ItemResult] = {}
    for row, item in case.readings:
        if item.status == status:
            seen.setdefault(row.criterion.factors, item)
    return list(seen.values())


def _present_rules(case: _Case) -> list[str]:
    return [item.rule for item in _distinct(case, "present")]


def _risk_note(case: _Case) -> Label:
    """CMVT-01: the extension risk is stated before the treatment."""
    if case.risk == "low":
        return _msg("risk_low")
    status: Status = "present" if case.risk == "high" else "unknown"
    labels = [item.label for item in _distinct(case, status)]
    return _msg(f"risk_{case.risk}", items=_join(labels, _ITEM_SEPARATOR))


def _schedule_note() -> Label:
    days = [Label(str(d), str(d)) for d in _days(load_table(_TABLE))]
    return _msg("surveillance_schedule", days=_join(days, _DAY_SEPARATOR))


def _surveillance_days(table: Table, recommendation: Recommendation) -> tuple[int, ...]:
    """The scan days, when the recommendation includes ultrasound surveillance."""
    regimens = {o.regimen for o in recommendation.options}
    return _days(table) if Regimen.ULTRASOUND_SURVEILLANCE in regimens else ()


def _days(table: Table) -> tuple[int, ...]:
    return tuple(int(d) for d in table.data["surveillance"]["days"])


def _filter_advice(table: Table) -> Advice:
    raw = table.data["filter_advice"]
    return Advice(Label.of(raw), str(raw["rule"]), str(raw["source"]))


def _duration_evidence(table: Table, facts: PatientFacts) -> tuple[DurationEvidence, ...]:
    return tuple(
        DurationEvidence(Label.of(e), str(e["rule"]), str(e["source"]),
                         _applies(facts, e.get("when", ()), bool(e.get("when_value", True))),
                         bool(e.get("conflicting", False)))
        for e in table.data["duration_evidence"]
    )


def _applies(facts: PatientFacts, factors: Iterable[str], value: bool) -> bool | None:
    """Three-valued: true if any factor has ``value``, unknown while any is undocumented."""
    flags = [facts.flag(f) for f in factors]
    if not flags or value in flags:
        return True
    return None if None in flags else False


def _msg(key: str, **fields: Label) -> Label:
    raw = load_table(_TABLE).data["messages"][key]
    return Label(raw["en"].format(**{k: v.en for k, v in fields.items()}),
                 raw["zh"].format(**{k: v.zh for k, v in fields.items()}))


def _join(labels: Iterable[Label], separator: Label) -> Label:
    parts = list(labels)
    return Label(separator.en.join(p.en for p in parts), separator.zh.join(p.zh for p in parts))


def _unique(rules: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rules))
