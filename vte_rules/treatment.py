"""Treatment of established MM-related VTE: anticoagulant, doses by phase, duration, adjuncts.

Title
    Treatment of MM-related VTE (rules TRT-01..TRT-08, with ADJ-02 applied to treatment).

Source
    Chinese expert consensus on MM-related VTE (Chinese Society of Hematology), seed
    ``003_9fce28a38714637c`` section 6 (TRT-01..08) and section 5.2 (ADJ-02), restated in
    ``../shared/clinical-rules.md`` sections 7 and 9.

Table file
    ``tables/treatment.toml``: the facts read (rows, each with its ``input``), the three
    anticoagulant options and their dose phases, the duration, the filter, reperfusion and
    anti-myeloma advice, and every message. The eGFR threshold is the ADJ-02 row of
    ``tables/adjustments.toml``, shared with prophylaxis. No clinical number is written here.

Variables
    ``acute_dvt``, ``acute_pe``, ``proximal_dvt``, ``active_bleeding``,
    ``drug_prophylaxis_contraindicated``, ``haemodynamic_instability``,
    ``extensive_dvt_limb_threatening``, ``active_cancer`` (derived by BLEED-16 when not recorded),
    ``recurrent_vte``, the IMiD factors, ``anthracycline_multiagent_chemo``,
    ``dexamethasone_mg_per_cycle`` (derived), ``egfr``, ``weight_kg``.

Missing values
    Unknown is never absent. An undocumented contraindication leaves anticoagulation as the plan
    with a ``could_change`` to confirm it first; an undocumented eGFR keeps rivaroxaban with a
    ``could_change`` naming ADJ-02; an undocumented weight gives the per-kg dose and a caution
    that the weight is needed. Filter, reperfusion and anti-myeloma advice are three-valued
    (``applies`` None: the message says what would make it apply).

Notes
    With a documented contraindication the regimen is ``individualise``: the consensus gives no
    anticoagulant for that case, only a venous filter for proximal DVT or PE (TRT-06), and the
    regimen vocabulary has no filter; the three anticoagulants are ruled out with the reason.
    ADJ-02 is written for prophylaxis; applying it to treatment is this service's reading and the
    plan says so. ``phases`` gives each offered option's doses as structured data so that an
    order hook can check a draft order against TRT-02..04.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from vte_rules.derive import derive
from vte_rules.facts import PatientFacts
from vte_rules.regimens import Option, Recommendation, Regimen, RuledOut
from vte_rules.score import ItemResult, read_row
from vte_rules.tables import Label, Row, Table, TableError, load_table

_TABLE = "treatment"
ANTICOAGULANTS = (Regimen.RIVAROXABAN_THERAPEUTIC, Regimen.LMWH_THERAPEUTIC, Regimen.WARFARIN)
_INPUTS = ("vte", "contraindication", "proximal_dvt_or_pe", "pe", "haemodynamic_instability",
           "extensive_dvt", "mm_active", "recurrent", "imid", "chemo",
           "high_dose_glucocorticoid")
# Joins parts of one message, per language; presentation, not clinical content.
_SEPARATOR = Label("; ", "；")
_SENTENCE = Label(" ", "")


@dataclass(frozen=True)
class Phase:
    """One step of an anticoagulant regimen, structured so that an order can be checked.

    ``amount`` is in ``unit`` per kg of body weight when ``per_kg``; None for warfarin, whose
    dose is titrated to ``inr_range``. ``duration_days`` None means for the rest of the course
    (TRT-05); with ``duration_is_minimum`` it is a floor, ended by ``until_inr_at_least``.
    ``computed_amount`` is ``amount`` x the patient's weight, when both are known.
    """

    rule: str
    step: int
    drug: str
    amount: float | None
    unit: str | None
    per_kg: bool
    doses_per_day: int | None
    duration_days: int | None
    duration_is_minimum: bool
    until_inr_at_least: float | None
    inr_range: tuple[float, float] | None
    label: Label
    source: str
    computed_amount: float | None = None
    computed: Label | None = None


@dataclass(frozen=True)
class Advice:
    """A statement of the consensus that applies (True), does not (False) or might (None)."""

    rule: str
    applies: bool | None
    label: Label
    source: str
    evidence: tuple[str, ...] = ()
    notes: tuple[Label, ...] = ()


@dataclass(frozen=True)
class TreatmentDuration:
    """TRT-05: at least ``minimum_months``; beyond ``extend_beyond_months`` while MM is active."""

    minimum_months: tuple[int, int]
    extend_beyond_months: int
    extend_while_mm_active: bool | None
    consider_long_term: bool | None
    label: Label
    rule: str
    source: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreatmentPlan:
    """The plan for an established DVT or PE; ``applicable`` is False when none is documented."""

    table: str
    applicable: bool
    recommendation: Recommendation
    phases: Mapping[Regimen, tuple[Phase, ...]]
    duration: TreatmentDuration | None
    vena_cava_filter: Advice | None
    reperfusion: Advice | None
    myeloma_regimen: Advice | None


def assess(facts: PatientFacts) -> TreatmentPlan:
    """Plan the treatment of an established MM-related DVT or PE."""
    table = _table()
    facts = derive(facts)
    case = {str(row.extra["input"]): read_row(row, facts) for row in table.rows}
    if _flag(case["vte"]) is not True:
        return TreatmentPlan(table.ref, False, Recommendation(Regimen.NONE, (), ()), {},
                             None, None, None, None)
    duration = _duration(table, case)
    phases: Mapping[Regimen, tuple[Phase, ...]] = {}
    if _flag(case["contraindication"]) is True:
        recommendation = _contraindicated(table, case["contraindication"])
    else:
        recommendation, phases = _anticoagulate(table, facts, case, duration)
    return TreatmentPlan(table.ref, True, recommendation, phases, duration,
                         _filter(table, case), _reperfusion(table, case),
                         _myeloma_regimen(table, case))


def check_tables() -> None:
    """Refuse a treatment table that the plan cannot use; call at start-up."""
    check_table(load_table(_TABLE))


def check_table(table: Table) -> None:
    """Refuse missing inputs, unknown regimens, phases that are not doses, a missing ADJ-02 row."""
    named = sorted(str(row.extra.get("input")) for row in table.rows)
    if named != sorted(_INPUTS):
        raise TableError(f"treatment.toml: rows must name each input once: {sorted(_INPUTS)}")
    if set(table.data["options"]) != {r.value for r in ANTICOAGULANTS}:
        raise TableError(f"treatment.toml: options must be {[r.value for r in ANTICOAGULANTS]}")
    for name, entry in table.data["options"].items():
        for key in entry["phases"]:
            _parse_phase(table, key, f"treatment.toml [options.{name}]")
    renal = table.data["renal"]
    try:
        load_table(renal["table"]).row(renal["rule"])
    except KeyError as exc:
        raise TableError(f"treatment.toml [renal]: no row {renal['rule']}") from exc


@functools.cache
def _table() -> Table:
    table = load_table(_TABLE)
    check_table(table)
    return table



def _join(labels: Iterable[Label], sep: Label) -> Label:
    parts = list(labels)
    return Label(sep.en.join(p.en for p in parts), sep.zh.join(p.zh for p in parts))


def _flag(item: ItemResult) -> bool | None:
    return None if item.status == "unknown" else item.status == "present"


def _any(*values: bool | None) -> bool | None:
    """Three-valued OR: true if any is, false only if all are known false."""
    if True in values:
        return True
    return None if None in values else False


def _all(*values: bool | None) -> bool | None:
    """Three-valued AND: false if any is, true only if all are known true."""
    if False in values:
        return False
    return None if None in values else True


def _evidence(*items: ItemResult) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for i in items if i.status != "unknown" for e in i.evidence))


def _parse_phase(table: Table, key: str, where: str) -> Phase:
    raw = table.data["phases"].get(key)
    if raw is None:
        raise TableError(f"{where}: no phase {key!r}")
    amount = raw.get("amount")
    if raw["per_kg"] and (amount is None or "computed" not in raw):
        raise TableError(f"{where} phase {key}: a per-kg dose needs amount and computed")
    inr = raw.get("inr_range")
    return Phase(
        str(raw["rule"]), int(raw["step"]), str(raw["drug"]),
        None if amount is None else float(amount), raw.get("unit"), bool(raw["per_kg"]),
        raw.get("doses_per_day"), raw.get("duration_days"),
        bool(raw.get("duration_is_minimum", False)), raw.get("until_inr_at_least"),
        None if inr is None else (float(inr[0]), float(inr[1])),
        Label.of(raw["label"]), str(raw["source"]))


def _phases(table: Table, regimen: Regimen, weight: float | None) -> tuple[Phase, ...]:
    keys = table.data["options"][regimen.value]["phases"]
    return tuple(_weighed(table, key, _parse_phase(table, key, regimen.value), weight)
                 for key in keys)


def _weighed(table: Table, key: str, phase: Phase, weight: float | None) -> Phase:
    if not phase.per_kg or phase.amount is None or weight is None:
        return phase
    dose = phase.amount * weight
    template = table.data["phases"][key]["computed"]
    text = Label(template["en"].format(dose=_num(dose), kg=_num(weight)),
                 template["zh"].format(dose=_num(dose), kg=_num(weight)))
    return replace(phase, computed_amount=dose, computed=text)


def _num(x: float) -> str:
    """A dose or weight as written on a card: whole numbers bare, else one decimal."""
    x = round(x, 1)
    return str(int(x)) if x.is_integer() else f"{x:.1f}"


def _contraindicated(table: Table, contraindication: ItemResult) -> Recommendation:
    msg = table.data["messages"]["contraindicated"]
    evidence = _evidence(contraindication)
    ruled_out = tuple(RuledOut(r, Label.of(msg), str(msg["rule"]), evidence)
                      for r in ANTICOAGULANTS)
    return Recommendation(Regimen.INDIVIDUALISE, (), (str(msg["rule"]),), ruled_out,
                          notes=(Label.of(msg),))


def _anticoagulate(table: Table, facts: PatientFacts, case: Mapping[str, ItemResult],
                   duration: TreatmentDuration
                   ) -> tuple[Recommendation, Mapping[Regimen, tuple[Phase, ...]]]:
    renal = read_row(_renal_row(table), facts)
    severe = _flag(renal)
    offered = [r for r in ANTICOAGULANTS
               if not (r is Regimen.RIVAROXABAN_THERAPEUTIC and severe is True)]
    phases = {r: _phases(table, r, facts.number("weight_kg")) for r in offered}
    options = tuple(_option(table, facts, r, phases[r], renal) for r in offered)
    msgs, adj = table.data["messages"], table.data["renal"]
    rules = [str(msgs["cancer_associated"]["rule"]), *(o.rules[0] for o in options)]
    notes = [Label.of(msgs["cancer_associated"])]
    ruled_out: tuple[RuledOut, ...] = ()
    readings: tuple[Label, ...] = ()
    if severe is True:
        ruled_out = (RuledOut(Regimen.RIVAROXABAN_THERAPEUTIC, Label.of(adj["ruled_out"]),
                              str(adj["rule"]), renal.evidence),)
        rules.append(str(adj["rule"]))
        readings = (Label.of(adj["reading"]),)
    rules.append(duration.rule)
    recommendation = Recommendation(
        Regimen.ANTICOAGULATION, options, tuple(dict.fromkeys(rules)), ruled_out,
        duration.label, tuple(notes), _could_change(table, case["contraindication"], severe),
        readings=readings)
    return recommendation, phases


def _renal_row(table: Table) -> Row:
    renal = table.data["renal"]
    return load_table(renal["table"]).row(renal["rule"])


def _could_change(table: Table, contraindication: ItemResult,
                  severe_renal: bool | None) -> tuple[Label, ...]:
    out = []
    if _flag(contraindication) is None:
        out.append(Label.of(table.data["messages"]["contraindication_unknown"]))
    if severe_renal is None:
        out.append(Label.of(table.data["renal"]["unknown"]))
    return tuple(out)


def _option(table: Table, facts: PatientFacts, regimen: Regimen, phases: tuple[Phase, ...],
            renal: ItemResult) -> Option:
    entry = table.data["options"][regimen.value]
    adj = table.data["renal"]
    rules = [str(entry["rule"])]
    cautions: list[Label] = []
    evidence: list[str] = []
    per_kg = [p for p in phases if p.per_kg]
    if per_kg and facts.number("weight_kg") is None:
        cautions.append(Label.of(table.data["messages"]["weight_needed"]))
    elif per_kg:
        evidence.extend(facts["weight_kg"].evidence)
    # ADJ-02 concerns LMWH, which both the LMWH option and the warfarin bridge use.
    orderable, why = True, None
    if _flag(renal) is True and any(p.drug in adj["lmwh_drugs"] for p in phases):
        cautions.append(Label.of(adj["lmwh_caution"]))
        rules.append(str(adj["rule"]))
        evidence.extend(renal.evidence)
        orderable, why = False, Label.of(_renal_row(table).extra["no_order"])
    low = load_table("adjustments").row("ADJ-04")
    platelets = facts.number("platelets")
    if platelets is not None and low.criterion.within(platelets):
        # ADJ-04 is written for prophylaxis; this service applies it to treatment too
        cautions.append(Label.of(low.extra["individualise"]))
        rules.append(low.rule)
        evidence.extend(facts["platelets"].evidence)
        orderable, why = False, Label.of(low.extra["individualise"])
    computed = [p.computed for p in per_kg if p.computed is not None]
    return Option(regimen, Label.of(entry["dose"]), tuple(rules), entry.get("drug"),
                  _join(computed, _SEPARATOR) if computed else None, tuple(cautions),
                  tuple(dict.fromkeys(evidence)), orderable, why)


def _duration(table: Table, case: Mapping[str, ItemResult]) -> TreatmentDuration:
    raw = table.data["duration"]
    active, recurrent = _flag(case["mm_active"]), _flag(case["recurrent"])
    parts = [Label.of(raw["minimum"])]
    if active is not False:
        parts.append(Label.of(raw["extend" if active else "extend_unknown"]))
    if recurrent is not False:
        parts.append(Label.of(raw["long_term" if recurrent else "long_term_unknown"]))
    low, high = raw["minimum_months"]
    return TreatmentDuration((int(low), int(high)), int(raw["extend_beyond_months"]), active,
                             recurrent, _join(parts, _SENTENCE), str(raw["rule"]),
                             str(raw["source"]), _evidence(case["mm_active"], case["recurrent"]))


def _advice(table: Table, name: str, applies: bool | None, items: Iterable[ItemResult],
            notes: tuple[Label, ...] = ()) -> Advice:
    raw = table.data["advice"][name]
    key = "unknown" if applies is None else ("applies" if applies else "not_indicated")
    return Advice(str(raw["rule"]), applies, Label.of(raw[key]), str(raw["source"]),
                  _evidence(*items), notes)


def _filter(table: Table, case: Mapping[str, ItemResult]) -> Advice:
    """TRT-06: proximal DVT or PE, and a contraindication to anticoagulation."""
    site, contra = case["proximal_dvt_or_pe"], case["contraindication"]
    return _advice(table, "filter", _all(_flag(site), _flag(contra)), (site, contra))


def _reperfusion(table: Table, case: Mapping[str, ItemResult]) -> Advice:
    """TRT-07: PE with haemodynamic instability, or extensive limb-threatening DVT."""
    pe, unstable, extensive = case["pe"], case["haemodynamic_instability"], case["extensive_dvt"]
    applies = _any(_all(_flag(pe), _flag(unstable)), _flag(extensive))
    # Thrombolysis carries the bleeding risk that a contraindication is about.
    notes = ((Label.of(table.data["advice"]["reperfusion"]["with_contraindication"]),)
             if applies is not False and _flag(case["contraindication"]) is True else ())
    return _advice(table, "reperfusion", applies, (pe, unstable, extensive), notes)


def _myeloma_regimen(table: Table, case: Mapping[str, ItemResult]) -> Advice:
    """TRT-08: IMiD, anthracycline chemotherapy or high-dose glucocorticoid in the regimen."""
    items = (case["imid"], case["chemo"], case["high_dose_glucocorticoid"])
    return _advice(table, "myeloma_regimen", _any(*(_flag(i) for i in items)), items)
