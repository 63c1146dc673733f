"""Facts that follow from other facts, each marked as an inference.

Title: derived facts.
Source: BLEED-16 (MM consensus Table 6 with section 5.1); MM-T5-26 (dexamethasone per cycle).
Table file: bleeding.toml ([active_cancer] messages); the BLEED-16 assumption is the message
``myeloma_active_cancer``, worded by the hook layer.
Variables: multiple_myeloma, mm_on_active_treatment, mm_complete_response, active_cancer,
drug_dexamethasone, dexamethasone_mg_per_cycle.
Missing values: a derivation never turns unknown into absent. Myeloma that is documented but
whose treatment and response are unknown is not assumed to be active cancer.
Notes: a value read from the record wins over a derived one, except an absence inferred from a
problem list without another cancer: myeloma itself is then judged by BLEED-16.
"""

from __future__ import annotations

from vte_rules.facts import Fact, Message, PatientFacts
from vte_rules.tables import load_table


def _evidence(facts: PatientFacts, *names: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for n in names for e in facts[n].evidence))


def active_cancer(facts: PatientFacts) -> Fact:
    """BLEED-16: myeloma on active treatment (or not in CR/sCR) counts as active cancer."""
    recorded = facts["active_cancer"]
    if recorded.value is True or facts.flag("multiple_myeloma") is not True:
        return recorded
    if recorded.value is False and not recorded.assumption:
        return recorded  # a clinician recorded it: that judgement stands
    messages = load_table("bleeding").data["active_cancer"]
    treated = facts.flag("mm_on_active_treatment")
    in_cr = facts.flag("mm_complete_response")
    if treated is True or in_cr is False:
        return Fact(True, _evidence(facts, "multiple_myeloma", "mm_on_active_treatment",
                                    "mm_complete_response"),
                    assumption=(Message.of("myeloma_active_cancer"),))
    reason = (messages["judgement"]["en"] if in_cr is True and treated is False
              else "myeloma documented but its treatment and response are not")
    return Fact(None, reason=f"{reason} (BLEED-16)")


def dexamethasone_per_cycle(facts: PatientFacts) -> Fact:
    """No dexamethasone in a known medication list means 0 mg per cycle (MM-T5-26)."""
    recorded = facts["dexamethasone_mg_per_cycle"]
    if recorded.known:
        return recorded
    if facts.flag("drug_dexamethasone") is False:
        return Fact(0.0, facts["drug_dexamethasone"].evidence, "mg")
    if facts.flag("drug_dexamethasone") is True:
        return Fact(None, facts["drug_dexamethasone"].evidence,
                    reason=recorded.reason if recorded.reason != "not documented" else
                    "dexamethasone ordered but the dose per cycle could not be computed")
    return recorded


def derive(facts: PatientFacts) -> PatientFacts:
    """The facts with every derivable factor filled in (derived facts derive to themselves:
    deriving again reads the same inputs and gives the same values)."""
    return facts.cached(derive, lambda: _derived(facts))


def _derived(facts: PatientFacts) -> PatientFacts:
    found = facts.with_facts(active_cancer=active_cancer(facts),
                             dexamethasone_mg_per_cycle=dexamethasone_per_cycle(facts))
    found.cached(derive, lambda: found)
    return found
