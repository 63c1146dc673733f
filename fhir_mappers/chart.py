"""Map a patient's FHIR R4 data to `PatientFacts`: the one entry point of this package.

``map_chart(*sources, ...)`` takes whatever the client sent (a CDS Hooks prefetch's values,
Bundles of any type, lists of resources) and returns a `MappedChart`: the facts, every data issue
(with the resource reference and the reason, never the value), the current and draft
medications for the order hooks, drug allergies, and which resource types were received.

``received_types`` says which resource types the caller asked for and got (even when the search
came back empty): only for those may "not found" mean absent. Without it, the types present in
the data are taken as received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from fhir_mappers import cancer, care, conditions, medications, observations, proximity
from fhir_mappers.ballot import Vote
from fhir_mappers.collect import collect, reference
from fhir_mappers.context import Context
from fhir_mappers.model import DataIssue, MappedChart, MedicationUse
from vte_rules.facts import Fact, FactError, PatientFacts

READ_TYPES = frozenset({
    "Patient", "Observation", "Condition", "FamilyMemberHistory", "Procedure", "Device",
    "Encounter", "AllergyIntolerance", "Medication", "ServiceRequest",
    *medications.MED_TYPES})


def map_chart(*sources: Any, as_of: dt.date | None = None, patient_id: str | None = None,
              received_types: Iterable[str] | None = None,
              include_drafts: bool = False) -> MappedChart:
    received = collect(*sources)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in received.resources:
        by_type.setdefault(str(res["resourceType"]), []).append(res)
    types = frozenset(received_types) if received_types is not None else frozenset(by_type)
    ctx = Context(as_of or dt.date.today(), patient_id, types, include_drafts)
    ctx.issues.extend(received.issues)
    ctx.by_ref.update({reference(m): m for m in by_type.get("Medication", ())})
    _read_all(ctx, by_type)
    uses = medications.read(ctx, _meds(by_type))
    cancer.decide(ctx, uses)
    _discount_measurements(ctx, uses)
    allergies = care.read_allergies(ctx, by_type.get("AllergyIntolerance", ()))
    services = care.read_service_requests(ctx, by_type.get("ServiceRequest", ()))
    facts = _facts(ctx)
    return MappedChart(facts, tuple(ctx.issues), medications=tuple(uses),
                       allergies=tuple(allergies), services=tuple(services),
                       received_types=types, resources_read=ctx.read, as_of=ctx.as_of)


def _meds(by_type: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for t in medications.MED_TYPES for r in by_type.get(t, ())]


def _read_all(ctx: Context, by_type: Mapping[str, list[dict[str, Any]]]) -> None:
    care.read_patient(ctx, by_type.get("Patient", ()))  # age and sex first: eGFR needs them
    observations.read(ctx, by_type.get("Observation", ()))
    conditions.read(ctx, by_type.get("Condition", ()))
    conditions.read_family(ctx, by_type.get("FamilyMemberHistory", ()))
    proximity.read(ctx, by_type.get("Observation", ()), by_type.get("Condition", ()))
    care.read_procedures(ctx, by_type.get("Procedure", ()))
    care.read_devices(ctx, by_type.get("Device", ()))
    care.read_encounters(ctx, by_type.get("Encounter", ()))
    for rtype in sorted(set(by_type) - READ_TYPES):
        ctx.issues.append(DataIssue(rtype, f"{len(by_type[rtype])} {rtype} resource(s) not "
                                    "used by the rules", "info"))


def _discount_measurements(ctx: Context, uses: Iterable[MedicationUse]) -> None:
    """A measurement the current treatment itself changes says nothing about the patient's
    own state (an INR raised by warfarin is not hepatic insufficiency): it becomes unknown."""
    current = {c for u in uses if not u.draft and u.status in ("active", "intended",
                                                               "in-progress")
               for c in u.concepts}
    for rule in ctx.policy["measurements"].values():
        blocking = current & set(rule.get("not_while_on", ()))
        factor = rule.get("factor")
        if not blocking or not factor or not ctx.ballot.voted(factor):
            continue
        evidence = tuple(e for v in ctx.ballot.votes[factor] for e in v.evidence)
        ctx.ballot.votes[factor] = [Vote(None, evidence,
                                         reason=str(rule["not_while_on_reason"]))]


def _facts(ctx: Context) -> PatientFacts:
    """Resolve the votes; a value that does not fit its factor is reported and left unknown."""
    resolved = ctx.ballot.resolve()
    try:
        return PatientFacts(resolved, ctx.as_of)  # every value fits: the common case
    except FactError:
        pass
    kept: dict[str, Fact] = {}
    for name, fact in resolved.items():
        try:
            PatientFacts({name: fact})
        except FactError as exc:
            ctx.issues.append(DataIssue(", ".join(fact.evidence) or name, str(exc), "warning"))
            continue
        kept[name] = fact
    return PatientFacts(kept, ctx.as_of)
