"""The closed vocabulary of regimens, and the recommendation every rule module returns.

The service, its JSON and its cards use these regimen names and nothing else:
``none``, ``aspirin``, ``warfarin``, ``lmwh-prophylactic``, ``lmwh-therapeutic``,
``rivaroxaban-prophylactic``, ``rivaroxaban-therapeutic``, ``mechanical``,
``ultrasound-surveillance``, ``anticoagulation``, ``individualise``.

Doses and their sources are data (``tables/regimens.toml``); weight-based doses are computed
here from the patient's latest weight when it is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vte_rules.facts import PatientFacts
from vte_rules.tables import Label, load_table


class Regimen(StrEnum):
    NONE = "none"
    ASPIRIN = "aspirin"
    WARFARIN = "warfarin"
    LMWH_PROPHYLACTIC = "lmwh-prophylactic"
    LMWH_THERAPEUTIC = "lmwh-therapeutic"
    RIVAROXABAN_PROPHYLACTIC = "rivaroxaban-prophylactic"
    RIVAROXABAN_THERAPEUTIC = "rivaroxaban-therapeutic"
    MECHANICAL = "mechanical"
    ULTRASOUND_SURVEILLANCE = "ultrasound-surveillance"
    ANTICOAGULATION = "anticoagulation"
    INDIVIDUALISE = "individualise"


DRUG_REGIMENS = frozenset({
    Regimen.ASPIRIN, Regimen.WARFARIN, Regimen.LMWH_PROPHYLACTIC, Regimen.LMWH_THERAPEUTIC,
    Regimen.RIVAROXABAN_PROPHYLACTIC, Regimen.RIVAROXABAN_THERAPEUTIC, Regimen.ANTICOAGULATION,
})


@dataclass(frozen=True)
class Option:
    """One acceptable regimen with its dose as the guideline gives it.

    ``dose`` is the guideline's text; ``computed`` is the weight-based dose for this patient
    (for example "enoxaparin 70 mg SC twice daily (1 mg/kg x 70 kg)") or None when no weight
    is known or the dose is fixed.
    """

    regimen: Regimen
    dose: Label
    rules: tuple[str, ...]
    drug: str | None = None
    computed: Label | None = None
    cautions: tuple[Label, ...] = ()
    evidence: tuple[str, ...] = ()
    # False when the guideline gives no dose this option can be ordered at (ADJ-02 says
    # "reduce the LMWH dose" without one; ADJ-04 says individualise): no one-click order.
    orderable: bool = True
    not_orderable_because: Label | None = None


@dataclass(frozen=True)
class RuledOut:
    """An alternative that was considered and not recommended, and why.

    ``by_tier`` is True when the regimen is simply not among the choices of the patient's tier
    or decision (aspirin for high VTE risk, anticoagulation for a low-risk CMVT); False when a
    finding about this patient took it away (renal function, platelets, bleeding, age, a
    contraindication), which every view must show beside the advice.
    """

    regimen: Regimen
    reason: Label
    rule: str
    evidence: tuple[str, ...] = ()
    by_tier: bool = False


@dataclass(frozen=True)
class Recommendation:
    """What to do: the regimen, its acceptable alternatives, what was ruled out, and why.

    ``readings`` are this service's readings of ambiguous guideline text that decided this
    patient's recommendation (platelets of exactly 50, ADJ-02 applied to treatment, the CMVT
    review's undefined "high thrombosis risk"); ``notes`` hold everything else worth knowing.
    """

    regimen: Regimen
    options: tuple[Option, ...]
    rules: tuple[str, ...]
    ruled_out: tuple[RuledOut, ...] = ()
    duration: Label | None = None
    notes: tuple[Label, ...] = ()
    could_change: tuple[Label, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    readings: tuple[Label, ...] = ()


def option(regimen: Regimen, facts: PatientFacts, *extra_rules: str,
           cite_entry: bool = True) -> Option:
    """The regimen's standard option from ``regimens.toml``, dose computed from weight.

    ``cite_entry=False`` leaves out the rule that defines the regimen's dose (a CMVT card should
    not cite the myeloma consensus for compression stockings).
    """
    entry = load_table("regimens").data["regimens"][regimen.value]
    rules = (entry["rule"], *extra_rules) if cite_entry else extra_rules
    return Option(regimen, Label(**entry["dose"]), tuple(dict.fromkeys(rules)),
                  entry.get("drug"), *_computed(entry, facts))


def _computed(entry: dict[str, object], facts: PatientFacts) -> tuple[Label | None,
                                                                        tuple[Label, ...],
                                                                        tuple[str, ...]]:
    per_kg = entry.get("mg_per_kg")
    if not isinstance(per_kg, int | float):
        return None, (), ()
    weight = facts["weight_kg"]
    if weight.value is None:
        need = load_table("regimens").data["weight_needed"]
        return None, (Label(**need),), ()
    assert isinstance(weight.value, float)
    mg = round(per_kg * weight.value)
    template = entry["computed"]
    assert isinstance(template, dict)
    text = Label(template["en"].format(mg=mg, kg=_kg(weight.value)),
                 template["zh"].format(mg=mg, kg=_kg(weight.value)))
    return text, (), weight.evidence


def _kg(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.1f}"
