"""MedicationRequest, MedicationStatement and MedicationAdministration: the current regimen.

- Current: a request ``active``, a statement ``active``/``intended``, an administration given
  within the policy's window. Stopped, cancelled, completed, entered-in-error: not current.
- Draft requests (the order hooks' ``draftOrders``) count as current only when the caller asks
  (``include_drafts``): the risk of the regimen about to be signed.
- The drug is read from ``medicationCodeableConcept``, or from the referenced or contained
  ``Medication``; RxNorm products, ATC, and English or Chinese names in text all map.
- When medication resources were received, a drug that is not among them is absent (False, "not
  in the current medication list"); when none were received, drugs stay unknown.
- Dexamethasone per cycle comes from the glucocorticoid orders' dosage (``dosage.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappers import dates, dosage
from fhir_mappers.ballot import Vote, settled
from fhir_mappers.codes import load_map
from fhir_mappers.collect import reference
from fhir_mappers.context import Context
from fhir_mappers.model import MedicationUse
from vte_rules import drug_classes
from vte_rules.facts import Message

MED_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
_GLUCOCORTICOIDS = {"dexamethasone": "dexamethasone", "glucocorticoid_other": None}
# What a received medication list without the drug says (the same every time: built once)
_NOT_IN_MEDICATIONS = settled(Vote(False, assumption=Message.of("not_in_medications")))
_NO_ANTI_MYELOMA_DRUG = settled(Vote(False, assumption=Message.of("no_anti_myeloma_drug")))
_NO_ANTHRACYCLINE = settled(Vote(False, assumption=Message.of("no_anthracycline")))
_NO_GLUCOCORTICOID = settled(Vote(0.0, unit="mg", assumption=Message.of("no_glucocorticoid")))


@dataclass(frozen=True)
class _Current:
    ref: str
    concepts: tuple[str, ...]
    resource: Mapping[str, Any]
    draft: bool


def _medication_element(ctx: Context, res: Mapping[str, Any]) -> Any:
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"]
    ref = res.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, Mapping) else None
    if not isinstance(target, str):
        return None
    if target.startswith("#"):
        for contained in res.get("contained") or []:
            if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                return contained.get("code")
        return None
    parts = target.split("/_history")[0].rstrip("/").split("/")
    medication = ctx.by_ref.get("/".join(parts[-2:]))
    return medication.get("code") if medication else (
        {"text": ref.get("display")} if isinstance(ref, Mapping) else None)


def _is_current(ctx: Context, res: Mapping[str, Any]) -> tuple[bool, bool]:
    """(current, draft) for one medication resource."""
    rules = ctx.policy["medications"]
    status = res.get("status")
    rtype = res.get("resourceType")
    if rtype == "MedicationRequest":
        if status == "draft":
            return ctx.include_drafts, True
        return status in rules["current_request_status"], False
    if rtype == "MedicationStatement":
        return status in rules["current_statement_status"], False
    if status not in ("completed", "in-progress"):
        return False, False
    given = dates.first(res, "effectiveDateTime", "effectivePeriod")
    window = int(rules["administration_window_days"])
    return given is not None and 0 <= dates.age_days(given, ctx.as_of) <= window, False


_LMWH = drug_classes.members("lmwh")


def read(ctx: Context, resources: Iterable[Mapping[str, Any]]) -> list[MedicationUse]:
    cmap = load_map("medications")
    current: list[_Current] = []
    uses: list[MedicationUse] = []
    for raw in resources:
        matches = cmap.match(_medication_element(ctx, raw))
        is_current, draft = _is_current(ctx, raw)
        if draft and not matches:
            uses.append(MedicationUse(reference(raw), (), "draft", True))  # sandbox draft
            continue
        if not matches:
            continue
        res = ctx.accept(raw)
        if res is None:
            continue
        concepts = tuple(dict.fromkeys(m.concept for m in matches))
        mg, per_day = dosage.order_dose(res)
        iu = dosage.order_units(res) if set(concepts) & _LMWH else None
        uses.append(MedicationUse(reference(res), concepts, str(res.get("status")), draft,
                                  mg, per_day, _text(ctx, res), iu))
        if is_current:
            current.append(_Current(reference(res), concepts, res, draft))
    _vote_drugs(ctx, current)
    _dexamethasone(ctx, current)
    return uses


def _text(ctx: Context, res: Mapping[str, Any]) -> str | None:
    element = _medication_element(ctx, res)
    if isinstance(element, Mapping) and isinstance(element.get("text"), str):
        return str(element["text"])
    return None


def _vote_drugs(ctx: Context, current: list[_Current]) -> None:
    rules = ctx.policy["medications"]
    factors: dict[str, list[str]] = rules["concepts"]
    received = ctx.received(*MED_TYPES)
    given: dict[str, list[str]] = {}
    for med in current:
        for concept in med.concepts:
            given.setdefault(concept, []).append(med.ref)
    for concept, names in factors.items():
        for factor in names:
            if concept in given:
                ctx.vote(factor, Vote(True, tuple(given[concept])))
            elif received:
                ctx.vote(factor, _NOT_IN_MEDICATIONS)
    myeloma = {c: refs for c, refs in given.items() if c in rules["myeloma_drugs"]}
    if myeloma:
        ctx.vote("mm_on_active_treatment", Vote(True, tuple(r for v in myeloma.values()
                                                            for r in v)))
    elif received:
        ctx.vote("mm_on_active_treatment", _NO_ANTI_MYELOMA_DRUG)
    _anthracycline(ctx, given, myeloma, received)


def _anthracycline(ctx: Context, given: Mapping[str, list[str]],
                   myeloma: Mapping[str, list[str]], received: bool) -> None:
    """Table 5 scores anthracycline-based *multi-agent* chemotherapy: an anthracycline given
    with at least one other anti-myeloma drug."""
    if "anthracycline" not in given:
        if received:
            ctx.vote("anthracycline_multiagent_chemo", _NO_ANTHRACYCLINE)
        return
    partners = [r for c, refs in myeloma.items() if c != "anthracycline" for r in refs]
    refs = tuple(given["anthracycline"])
    if partners:
        ctx.vote("anthracycline_multiagent_chemo", Vote(True, refs + tuple(partners)))
    else:
        ctx.vote("anthracycline_multiagent_chemo",
                 Vote(None, refs, reason="anthracycline without another anti-myeloma drug on "
                                         "record: whether it is multi-agent is not known"))


def _dexamethasone(ctx: Context, current: list[_Current]) -> None:
    steroids = [m for m in current if set(m.concepts) & set(_GLUCOCORTICOIDS)]
    if not steroids:
        if ctx.received(*MED_TYPES):
            ctx.vote("dexamethasone_mg_per_cycle", _NO_GLUCOCORTICOID)
        return
    by_ref = {m.ref: m for m in steroids}
    result = dosage.mg_per_cycle([m.resource for m in steroids],
                                 lambda res: _steroid_name(ctx, by_ref[reference(res)]))
    ctx.vote("dexamethasone_mg_per_cycle",
             Vote(result.mg, result.evidence or tuple(by_ref), reason=result.reason,
                  assumption=result.assumptions, unit="mg"))


def _steroid_name(ctx: Context, med: _Current) -> str | None:
    """Which glucocorticoid, for dexamethasone equivalence (names in policy.toml)."""
    if "dexamethasone" in med.concepts:
        return "dexamethasone"
    text = str(_medication_element(ctx, med.resource)).lower()
    for name, needles in ctx.policy["medications"]["glucocorticoid_names"].items():
        if any(n in text for n in needles):
            return str(name)
    return None

