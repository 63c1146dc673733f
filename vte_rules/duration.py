"""How long VTE drug prophylaxis goes on for a myeloma patient.

Title
    Duration of MM VTE prophylaxis (rules MM-RX-05, DUR-01..DUR-07).

Source
    Chinese expert consensus on MM-related VTE (Chinese Society of Hematology), seed
    ``003_9fce28a38714637c`` section 5.1 paragraph 1 (MM-RX-05) and section 5.3 (DUR-01..07),
    restated in ``../shared/clinical-rules.md`` sections 5 and 8.

Table file
    ``tables/duration.toml``: the facts read (rows, each with its ``input``), the DUR-01 drug
    combinations, the CR/sCR decision table, every answer with its rule ids, source and message,
    and the order of caution used while facts are missing. No clinical number is written here.

Variables
    ``mm_relapse``, ``months_on_prophylaxis``, ``atrial_fibrillation``, ``mechanical_heart_valve``,
    ``mm_complete_response``, ``mm_phase``, the IMiD, glucocorticoid and multi-agent chemotherapy
    factors, and ``other_individual_risk_factor``: whether an MM Table 5 individual or disease
    factor is present, computed by the caller.

Missing values
    Unknown is never absent. Every value an unknown item could take is tried; when the answers
    differ, ``unknown`` names each item that changes the answer and what each of its values
    would give, and ``action`` is the most cautious of the possible answers (for example:
    months on prophylaxis not documented -> continue, MM-RX-05).

Notes
    Decision order: relapse (DUR-07) -> under 6 months (MM-RX-05) -> CR/sCR in consolidation or
    maintenance (DUR-03 with DUR-04..06) -> an ongoing combination (DUR-01) -> otherwise adjust
    to response and regimen (DUR-03). Atrial fibrillation or a mechanical valve (DUR-02)
    coexists with that answer: the action is ``follow_other_indication`` and the reasons keep
    the MM answer. The seed's ambiguities are the table's ``notes``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from vte_rules.facts import PatientFacts
from vte_rules.score import ItemResult, read_row
from vte_rules.tables import Label, Row, Table, TableError, load_factor_catalogue, load_table

Action = Literal["continue", "may_stop", "consider_stopping", "as_newly_diagnosed",
                 "follow_other_indication", "reassess"]
ACTIONS: tuple[Action, ...] = get_args(Action)

_TABLE = "duration"
_ROW_INPUTS = ("relapse", "within_minimum", "other_indication", "complete_response", "imid",
               "glucocorticoid", "chemo")
_DRUG_CLASSES = ("imid", "glucocorticoid", "chemo")

_Value = bool | str
# One possible patient: a value for every input. Outcomes are keys of the table's [outcomes].
_World = Mapping[str, _Value]
_Outcome = tuple[str, ...]


@dataclass(frozen=True)
class Reason:
    """One answer of the table that led to the advice."""

    rules: tuple[str, ...]
    text: Label
    source: str


@dataclass(frozen=True)
class IfDocumented:
    """The advice once an undocumented item is known to have ``value``."""

    value: Label
    actions: tuple[Action, ...]
    rules: tuple[str, ...]
    text: Label


@dataclass(frozen=True)
class CouldChange:
    """An undocumented item whose value changes the advice."""

    item: str
    label: Label
    reason: str | None
    answers: tuple[IfDocumented, ...]


@dataclass(frozen=True)
class DurationAdvice:
    table: str
    action: Action
    label: Label
    rules: tuple[str, ...]
    reasons: tuple[Reason, ...]
    unknown: tuple[CouldChange, ...]
    notes: tuple[Label, ...]
    evidence: tuple[str, ...]

    @property
    def settled(self) -> bool:
        """True when no undocumented item could change the action."""
        return not self.unknown


@dataclass(frozen=True)
class _Input:
    """One input of the decision and how to name it and its values."""

    name: str
    label: Label
    value_labels: Mapping[_Value, Label]


_INPUTS = (*_ROW_INPUTS, "phase", "other_risk_factor")
# The values each input may take: one when it is documented, every value when it is not.
_Values = tuple[tuple[_Value, ...], ...]
_Changes = tuple[tuple[int, tuple[IfDocumented, ...]], ...]


@dataclass(frozen=True)
class _Advice:
    """The advice for the values the inputs may take: everything but this patient's evidence
    and why the items are undocumented. ``changes``: the position of each input that changes
    the advice, and the answer for each of its values."""

    action: Action
    label: Label
    rules: tuple[str, ...]
    reasons: tuple[Reason, ...]
    notes: tuple[Label, ...]
    changes: _Changes = ()


def assess(facts: PatientFacts, other_individual_risk_factor: bool | None) -> DurationAdvice:
    """Advise whether MM VTE prophylaxis goes on; the caller passes the Table 5 result."""
    table = _table()
    readings = {name: read_row(row, facts) for name, row in _rows()}
    phase = facts["mm_phase"]
    values = (*(_row_values(readings[name]) for name in _ROW_INPUTS),
              (str(phase.value),) if phase.known else load_factor_catalogue()["mm_phase"].choices,
              (True, False) if other_individual_risk_factor is None
              else (other_individual_risk_factor,))
    reasons = (*(readings[name].reason for name in _ROW_INPUTS), phase.reason, None)
    advice = _advise(values)
    inputs = _inputs()
    unknown = tuple(CouldChange(inputs[pos].name, inputs[pos].label, reasons[pos], answers)
                    for pos, answers in advice.changes)
    return DurationAdvice(table.ref, advice.action, advice.label, advice.rules, advice.reasons,
                          unknown, advice.notes, _evidence(readings.values(), facts))


@functools.lru_cache(maxsize=4096)
def _advise(values: _Values) -> _Advice:
    """The advice depends on the table and on these values only: worked out once for each."""
    table = _table()
    worlds = _decide_all(table, values)
    possible = tuple(dict.fromkeys(worlds.values()))
    if len(possible) == 1:
        return _settled(table, possible[0])
    return _unsettled(table, possible, _could_change(table, values, worlds))


def check_tables() -> None:
    """Refuse a duration table that the decision cannot use; call at start-up."""
    check_table(load_table(_TABLE))


def check_table(table: Table) -> None:
    """Refuse unknown actions or outcomes, missing inputs, or a CR table with gaps or overlaps."""
    outcomes = table.data["outcomes"]
    if set(outcomes) != _outcome_keys_named(table):
        raise TableError(f"duration.toml [outcomes] must be exactly "
                         f"{sorted(_outcome_keys_named(table))}")
    for key, entry in outcomes.items():
        if not _complete_outcome(entry):
            raise TableError(f"duration.toml [outcomes.{key}]: needs a known action, rules, "
                             "a source and an en and zh label")
    named = [str(row.extra.get("input")) for row in table.rows]
    if sorted(named) != sorted(_ROW_INPUTS):
        raise TableError(f"duration.toml: rows must name each input once: {sorted(_ROW_INPUTS)}")
    unsettled = table.data["unsettled"]
    if set(unsettled["order"]) | set(unsettled["ranks_as"]) != set(ACTIONS):
        raise TableError("duration.toml [unsettled]: order and ranks_as must cover every action")
    if any(c not in _DRUG_CLASSES for combo in table.data["combinations"] for c in combo):
        raise TableError(f"duration.toml: combinations name only {list(_DRUG_CLASSES)}")
    _check_cr_branches(table)


def _complete_outcome(entry: Mapping[str, Any]) -> bool:
    label = entry.get("label", {})
    return (entry.get("action") in ACTIONS and bool(entry.get("rules"))
            and bool(entry.get("source")) and bool(label.get("en") and label.get("zh")))


def _outcome_keys_named(table: Table) -> set[str]:
    """Outcomes the decision can reach: those named in code and by the CR branches."""
    fixed = {"relapse", "minimum", "combination", "adjust", "cr_other_risk_factor",
             "other_indication"}
    return fixed | {str(b["outcome"]) for b in table.data["cr_branches"]}


def _check_cr_branches(table: Table) -> None:
    """Every CR phase x IMiD x glucocorticoid x chemotherapy cell has exactly one branch."""
    phases = table.data["cr_phases"]
    if not set(phases) <= set(load_factor_catalogue()["mm_phase"].choices):
        raise TableError(f"duration.toml: cr_phases {phases} are not all mm_phase choices")
    for phase in phases:
        for values in itertools.product((True, False), repeat=len(_DRUG_CLASSES)):
            world = {"phase": phase, **dict(zip(_DRUG_CLASSES, values, strict=True))}
            hits = [b["outcome"] for b in table.data["cr_branches"] if _matches(b, world)]
            if len(hits) != 1:
                raise TableError(f"duration.toml cr_branches: {world} matches {hits}; "
                                 "exactly one branch must match")


@functools.cache
def _table() -> Table:
    table = load_table(_TABLE)
    check_table(table)
    return table



@functools.cache
def _rows() -> tuple[tuple[str, Row], ...]:
    """The table's rows (the facts read), each with the input it gives, in table order."""
    return tuple((str(row.extra["input"]), row) for row in _table().rows)


def _row_values(item: ItemResult) -> tuple[bool, ...]:
    return (True, False) if item.status == "unknown" else (item.status == "present",)


@functools.cache
def _inputs() -> tuple[_Input, ...]:
    """Every input, in the order of ``_INPUTS``, as the table names it and its values."""
    table = _table()
    rows = dict(_rows())
    found = {name: _Input(name, rows[name].label,
                          {True: Label.of(rows[name].extra["if_true"]),
                           False: Label.of(rows[name].extra["if_false"])})
             for name in _ROW_INPUTS}
    phase = table.data["inputs"]["phase"]
    choices = load_factor_catalogue()["mm_phase"].choices
    found["phase"] = _Input("phase", Label.of(phase["label"]),
                            {c: Label.of(phase["values"][c]) for c in choices})
    other = table.data["inputs"]["other_risk_factor"]
    found["other_risk_factor"] = _Input(
        "other_risk_factor", Label.of(other["label"]),
        {True: Label.of(other["values"]["true"]), False: Label.of(other["values"]["false"])})
    return tuple(found[name] for name in _INPUTS)


def _decide_all(table: Table, values: _Values) -> dict[tuple[_Value, ...], _Outcome]:
    """The outcome for every combination of the values the inputs may take."""
    return {world: _decide(table, dict(zip(_INPUTS, world, strict=True)))
            for world in itertools.product(*values)}


def _decide(table: Table, world: _World) -> _Outcome:
    """DUR-02 coexists with the MM answer; it comes first because it governs the drug."""
    mm = _decide_mm(table, world)
    return ("other_indication", mm) if world["other_indication"] is True else (mm,)


def _decide_mm(table: Table, world: _World) -> str:
    if world["relapse"] is True:
        return "relapse"
    if world["within_minimum"] is True:
        return "minimum"
    if world["complete_response"] is True and world["phase"] in table.data["cr_phases"]:
        return _cr_outcome(table, world)
    if any(all(world[c] is True for c in combo) for combo in table.data["combinations"]):
        return "combination"
    return "adjust"


def _cr_outcome(table: Table, world: _World) -> str:
    branch = next(b for b in table.data["cr_branches"] if _matches(b, world))
    # DUR-04..06 presuppose no other independent risk factor; AF or a valve is one (DUR-02).
    other = world["other_risk_factor"] is True or world["other_indication"] is True
    if branch.get("stop_needs_no_other_risk_factor") and other:
        return "cr_other_risk_factor"
    return str(branch["outcome"])


def _matches(branch: Mapping[str, Any], world: _World) -> bool:
    return world["phase"] in branch["phases"] and all(
        branch[c] is world[c] for c in _DRUG_CLASSES if c in branch)


def _outcome_action(table: Table, outcome: _Outcome) -> Action:
    action: Action = table.data["outcomes"][outcome[0]]["action"]
    return action


def _outcome_rules(table: Table, outcomes: Iterable[_Outcome]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for o in outcomes for key in o
                               for r in table.data["outcomes"][key]["rules"]))


def _reasons(table: Table, outcome: _Outcome) -> tuple[Reason, ...]:
    entries = [table.data["outcomes"][key] for key in outcome]
    return tuple(Reason(tuple(e["rules"]), Label.of(e["label"]), str(e["source"]))
                 for e in entries)


def _notes(table: Table, outcomes: Iterable[_Outcome]) -> tuple[Label, ...]:
    entries = (table.data["outcomes"][key] for o in outcomes for key in o)
    return tuple(dict.fromkeys(Label.of(e["note"]) for e in entries if "note" in e))


def _settled(table: Table, outcome: _Outcome) -> _Advice:
    action = _outcome_action(table, outcome)
    return _Advice(action, Label.of(table.data["actions"][action]["label"]),
                   _outcome_rules(table, [outcome]), _reasons(table, outcome),
                   _notes(table, [outcome]))


def _unsettled(table: Table, possible: tuple[_Outcome, ...],
               changes: _Changes) -> _Advice:
    raw = table.data["unsettled"]
    action = _most_cautious(table, [_outcome_action(table, o) for o in possible])
    # Keep the messages of the answers that give this action as such, not by rank.
    giving = [r for o in possible if _outcome_action(table, o) == action
              for r in _reasons(table, o)]
    reasons = (Reason((), Label.of(raw["label"]), str(raw["source"])), *dict.fromkeys(giving))
    return _Advice(action, Label.of(table.data["actions"][action]["label"]),
                   _outcome_rules(table, possible), reasons, _notes(table, possible), changes)


def _most_cautious(table: Table, actions: Iterable[Action]) -> Action:
    order: list[Action] = table.data["unsettled"]["order"]
    ranks_as: Mapping[str, Action] = table.data["unsettled"]["ranks_as"]
    return min((ranks_as.get(a, a) for a in actions), key=order.index)


def _could_change(table: Table, values: _Values,
                  worlds: Mapping[tuple[_Value, ...], _Outcome]) -> _Changes:
    """Each input that may take several values and changes the outcome, and its answers."""
    return tuple((pos, _could_change_one(table, _inputs()[pos], pos, values[pos], worlds))
                 for pos in range(len(values))
                 if len(values[pos]) > 1 and _sensitive(pos, worlds))


def _sensitive(pos: int, worlds: Mapping[tuple[_Value, ...], _Outcome]) -> bool:
    """Whether changing this input alone, all else equal, changes the outcome somewhere."""
    seen: dict[tuple[_Value, ...], _Outcome] = {}
    for values, outcome in worlds.items():
        rest = values[:pos] + values[pos + 1:]
        if seen.setdefault(rest, outcome) != outcome:
            return True
    return False


def _could_change_one(table: Table, item: _Input, pos: int, values: tuple[_Value, ...],
                      worlds: Mapping[tuple[_Value, ...], _Outcome]) -> tuple[IfDocumented, ...]:
    answers = []
    for value in values:
        outcomes = tuple(dict.fromkeys(o for v, o in worlds.items() if v[pos] == value))
        answers.append(_if_documented(table, item.value_labels[value], outcomes))
    return tuple(answers)


def _if_documented(table: Table, value: Label, outcomes: tuple[_Outcome, ...]) -> IfDocumented:
    fmt = table.data["could_change"]
    actions = tuple(dict.fromkeys(_outcome_action(table, o) for o in outcomes))
    answers = [_answer(table, a, [o for o in outcomes if _outcome_action(table, o) == a])
               for a in actions]
    # Other unknown items still vary inside this value: say so rather than pick one answer.
    depends = Label.of(fmt["depends"]) if len(actions) > 1 else Label("", "")
    en = fmt["separator"]["en"].join(a.en for a in answers) + depends.en
    zh = fmt["separator"]["zh"].join(a.zh for a in answers) + depends.zh
    text = Label(fmt["en"].format(value=value.en, answers=en),
                 fmt["zh"].format(value=value.zh, answers=zh))
    return IfDocumented(value, actions, _outcome_rules(table, outcomes), text)


def _answer(table: Table, action: Action, outcomes: Iterable[_Outcome]) -> Label:
    fmt = table.data["could_change"]["answer"]
    short = table.data["actions"][action]["short"]
    rules = ", ".join(_outcome_rules(table, outcomes))
    return Label(fmt["en"].format(action=short["en"], rules=rules),
                 fmt["zh"].format(action=short["zh"], rules=rules))


def _evidence(readings: Iterable[ItemResult], facts: PatientFacts) -> tuple[str, ...]:
    known = [e for item in readings if item.status != "unknown" for e in item.evidence]
    return tuple(dict.fromkeys([*known, *facts["mm_phase"].evidence]))
