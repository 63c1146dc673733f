"""Order checks that hold a draft against the plan the assessment makes (one card each):

- aspirin drafted with renal insufficiency (ADJ-01): the caution, and warfarin in its place
  where warfarin is among the patient's options; no eGFR on record: ADJ-01 could not be checked;
- an antithrombotic drafted as prophylaxis when the myeloma score is below the drug-prophylaxis
  threshold (MM-T5-27: < 6, no drug prophylaxis);
- an IMiD, anthracycline multi-agent chemotherapy or high-dose dexamethasone drafted while an
  MM-related VTE is being treated (TRT-08);
- an anticoagulant drafted for a CMVT whose plan is surveillance only because items that would
  decide it are undocumented (CMVT-01..06): the card names them;
- a prophylactic dose drafted where the plan calls for a therapeutic dose (very high myeloma risk,
  MM-RX-03/04; a CMVT to anticoagulate, CMVT-06 and the review's full-dose statement), with an
  ``update`` to the therapeutic dose where the consensus gives one;
- a weight-based dose (enoxaparin 1 mg/kg twice daily, MM-RX-03) with no weight on record, or
  more than the allowance (``orders.toml`` ``[dose_check]``) away from 1 mg/kg: an ``update`` to
  the computed dose.

What each check needs is in the assessment (``vte_rules.assessment.Assessment``); the limits of a
prophylactic dose are in ``hooks/orders.toml`` (``[treatment_dose]``), the texts in the
catalogues (``msgctxt "order"``).
"""

from __future__ import annotations

from typing import Any

from hooks import suggestions
from hooks.base import HookRequest, Links, msg, orders
from hooks.chart import (
    ANTICOAGULANTS,
    ANTIPLATELETS,
    IMIDS,
    PARENTERAL_ANTICOAGULANTS,
    VKAS,
    Chart,
    Use,
    current_anticoagulants,
)
from hooks.order_cards import drafts, drug_name, fill, make_card, plain, pts, update_dose
from vte_rules.assessment import Assessment
from vte_rules.regimens import Regimen
from vte_rules.tables import Label, load_table

OTHER_INDICATIONS = ("atrial_fibrillation", "mechanical_heart_valve")


def _lines(*labels: Label, lang: str) -> list[str]:
    return [f"- {label.text(lang)}" for label in labels]


def daily_dose(use: Use) -> tuple[float, str] | None:
    """The drafted daily dose as (amount, "mg" | "IU"): mg when the order states mg, else
    anti-Xa IU for an LMWH ordered in IU or in mL of a product that states IU/mL."""
    per_day = getattr(use, "doses_per_day", None)
    if per_day is None:
        return None
    mg, iu = getattr(use, "dose_mg", None), getattr(use, "dose_iu", None)
    if mg is not None:
        return mg * per_day, "mg"
    return (iu * per_day, "IU") if iu is not None else None


def dose_class(use: Use) -> tuple[str, str] | None:
    """(drug, "prophylactic" | "therapeutic") for a drafted LMWH or rivaroxaban whose daily
    dose is readable in a unit ``orders.toml`` gives a prophylactic limit for; else None."""
    spec = orders()["treatment_dose"]["drugs"]
    drug = next((c for c in use.concepts if c in spec), None)
    daily = daily_dose(use)
    if drug is None or daily is None:
        return None
    key = "prophylactic_max_mg_per_day" if daily[1] == "mg" else "prophylactic_max_iu_per_day"
    if key not in spec[drug]:
        return None
    return drug, "therapeutic" if daily[0] > float(spec[drug][key]) else "prophylactic"



# --- ADJ-01 ----------------------------------------------------------------------------------

def aspirin_renal(request: HookRequest, chart: Chart, found: Assessment,
                  links: Links) -> dict[str, Any] | None:
    pro = found.prophylaxis
    aspirin = drafts(chart, {"aspirin"})
    if pro is None or not aspirin or not found.recommends(Regimen.ASPIRIN):
        return None  # aspirin for high risk has its own card (order-aspirin-high-risk)
    row = load_table("adjustments").row("ADJ-01")
    egfr = found.facts.number("egfr")
    lang = request.lang
    if egfr is None:
        detail = _lines(msg("order", "aspirin_egfr_unknown_detail"), lang=lang)
        return make_card("order-aspirin-renal", request, msg("order", "aspirin_egfr_unknown"),
                         "info", detail, "mm_adjustments", links, [], {"rule": "ADJ-01"},
                         "unknown")
    if not row.criterion.within(egfr):
        return None
    evidence = ", ".join(found.facts["egfr"].evidence)
    detail = [f"- {row.extra['aspirin_caution'][lang[:2]]} (ADJ-01)",
              f"- eGFR {pts(egfr)} ({evidence})"]
    offered: list[dict[str, Any]] = []
    warfarin = next((o for o in pro.recommendation.options
                     if o.regimen == Regimen.WARFARIN and o.orderable), None)
    if warfarin is not None and not current_anticoagulants(chart):
        resource = suggestions.medication_request(warfarin, request.patient_id, found.facts,
                                                  lang)
        if resource is not None:
            suggestion = suggestions.create("", suggestions.order_label(warfarin, found.facts),
                                            resource, lang, recommended=True)
            for use in aspirin:
                if suggestions.deletable(use.reference):
                    suggestion["actions"].append({
                        "type": "delete", "resourceId": use.reference,
                        "description": msg("labels", "delete_draft").text(lang)})
            offered.append(suggestion)
    return make_card("order-aspirin-renal", request, fill("aspirin_renal", egfr=plain(pts(
        egfr))), "warning", detail, "mm_adjustments", links, offered, {"rule": "ADJ-01"},
        "egfr")


# --- MM-T5-27: below the threshold ------------------------------------------------------------

def not_indicated(request: HookRequest, chart: Chart, found: Assessment,
                  links: Links) -> list[dict[str, Any]]:
    pro = found.prophylaxis
    if pro is None or pro.recommendation.regimen != Regimen.NONE or found.treatment or \
            found.cmvt or found.adult is False:
        return []
    if any(found.facts.flag(f) is True for f in OTHER_INDICATIONS):
        return []
    score = pro.vte
    lang = request.lang
    out = []
    for use in drafts(chart, ANTICOAGULANTS):
        dose = dose_class(use)
        if dose is not None and dose[1] == "therapeutic":
            continue  # order-dose-no-indication says it
        detail = [msg("order", "not_indicated_detail", points=pts(score.points)).text(lang)]
        if score.tier.worst_case != "none":
            detail.append(msg("order", "not_indicated_could", lo=pts(score.min_points),
                              hi=pts(score.max_points)).text(lang))
        detail.append(msg("order", "not_indicated_other").text(lang))
        offered = ([suggestions.delete_draft("", use.reference, lang)]
                   if suggestions.deletable(use.reference) else [])
        out.append(make_card("order-not-indicated", request, fill(
            "not_indicated", drug=drug_name(use), points=plain(pts(score.points))), "info",
            ["\n\n".join(detail)], "mm", links, offered, {"rule": "MM-T5-27"},
            use.reference))
    return out


# --- TRT-08 ------------------------------------------------------------------------------------

def regimen_during_treatment(request: HookRequest, chart: Chart, found: Assessment,
                             links: Links) -> dict[str, Any] | None:
    plan = found.treatment
    if plan is None or not plan.applicable or plan.myeloma_regimen is None:
        return None
    drafted = drafts(chart, {*IMIDS, "dexamethasone", "anthracycline"})
    if not drafted or plan.myeloma_regimen.applies is not True:
        return None
    drafted_refs = {u.reference for u in drafted}
    if not drafted_refs & set(plan.myeloma_regimen.evidence):
        return None  # the regimen that triggers TRT-08 is already running, not being drafted
    advice = plan.myeloma_regimen
    names = Label(", ".join(drug_name(u).en for u in drafted),
                  "、".join(drug_name(u).zh for u in drafted))
    detail = [f"{advice.label.text(request.lang)} ({advice.rule})", "",
              *_lines(*advice.notes, lang=request.lang)]
    return make_card("order-regimen-during-vte", request, fill("regimen_during_vte",
                     drugs=names), "warning", detail, "mm_treatment", links, [],
                     {"rule": advice.rule})


# --- CMVT: not decided -------------------------------------------------------------------------

def cmvt_undecided(request: HookRequest, chart: Chart, found: Assessment,
                   links: Links) -> list[dict[str, Any]]:
    result = found.cmvt
    if result is None or found.adult is False:
        return []
    rec = result.recommendation
    if found.recommends(Regimen.ANTICOAGULATION) or found.ruled_out(Regimen.ANTICOAGULATION):
        return []  # decided: anticoagulate, or order-ruled-out says why not
    if result.bleeding_high is True:
        return []
    lang = request.lang
    unknown = [i.label.text(lang) for i in result.unknown]
    out = []
    for use in drafts(chart, ANTICOAGULANTS - ANTIPLATELETS):
        detail = [msg("order", "cmvt_undecided_detail").text(lang), "",
                  *[f"- {c.text(lang)}" for c in rec.could_change]]
        out.append(make_card("order-cmvt-undecided", request, fill(
            "cmvt_undecided", drug=drug_name(use), count=plain(str(len(unknown)))), "info",
            detail, "cmvt", links, [], {"rules": ["CMVT-01", "CMVT-03", "CMVT-06"]},
            use.reference))
    return out


# --- dose against the plan ---------------------------------------------------------------------

def _therapeutic_wanted(found: Assessment) -> str | None:
    """Which plan wants a therapeutic dose: "very_high" (MM-RX-03/04), "cmvt" (CMVT-06)."""
    pro = found.prophylaxis
    if pro is not None and found.recommends(Regimen.LMWH_THERAPEUTIC) and \
            not found.recommends(Regimen.LMWH_PROPHYLACTIC):
        return "very_high"
    if found.cmvt is not None and found.recommends(Regimen.ANTICOAGULATION):
        return "cmvt"
    return None


def _regimen_dose(regimen: Regimen, found: Assessment) -> tuple[float, int] | None:
    entry = load_table("regimens").data["regimens"][regimen.value]
    per_day = int(entry.get("doses_per_day", 1))
    if "dose_mg" in entry:
        return float(entry["dose_mg"]), per_day
    weight = found.facts.number("weight_kg")
    if "mg_per_kg" in entry and weight is not None:
        return float(round(float(entry["mg_per_kg"]) * weight)), per_day
    return None


def _dose_text(regimen: Regimen, mg: float, found: Assessment) -> Label:
    entry = load_table("regimens").data["regimens"][regimen.value]
    if "computed" in entry:
        kg = pts(found.facts.number("weight_kg") or 0)
        return Label(entry["computed"]["en"].format(mg=pts(mg), kg=kg),
                     entry["computed"]["zh"].format(mg=pts(mg), kg=kg))
    return Label.of(entry["dose"])


def dose_below_plan(request: HookRequest, chart: Chart, found: Assessment,
                    links: Links) -> list[dict[str, Any]]:
    wanted = _therapeutic_wanted(found)
    if wanted is None or found.treatment is not None:
        return []  # treatment doses are checked phase by phase (order-treatment-dose)
    lang = request.lang
    # The drugs whose prophylactic dose orders.toml recognises, each with its therapeutic
    # regimen; the consensus doses only the regimen's own drug (enoxaparin, rivaroxaban): for
    # another LMWH a card, but no one-click change of dose.
    classed = orders()["treatment_dose"]["drugs"]
    out = []
    for use in drafts(chart, classed):
        dose = dose_class(use)
        if dose is None or dose[1] != "prophylactic":
            continue
        drug = dose[0]
        offered: list[dict[str, Any]] = []
        if wanted == "very_high":
            regimen = Regimen(classed[drug]["therapeutic_regimen"])
            target = _regimen_dose(regimen, found)
            detail = [msg("order", "below_plan_very_high", points=pts(
                found.prophylaxis.vte.points if found.prophylaxis else 0)).text(lang)]
            if target is None:
                detail.append(msg("order", "weight_needed").text(lang))
            elif drug == load_table("regimens").data["regimens"][regimen.value]["drug"]:
                update = update_dose(request, use, target[0], target[1],
                                     _dose_text(regimen, target[0], found),
                                     orders()["medications"][regimen.value]["coding"])
                offered += [update] if update else []
            rule = str(load_table("regimens").data["regimens"][regimen.value]["rule"])
        else:
            detail = [msg("order", "below_plan_cmvt").text(lang)]
            rule = "CMVT-06"
        out.append(make_card("order-dose-below-plan", request, fill(
            "below_plan", drug=drug_name(use)), "warning", ["\n\n".join(detail)],
            "cmvt" if wanted == "cmvt" else "mm", links, offered, {"rule": rule},
            use.reference))
    return out


def weight_based(request: HookRequest, chart: Chart, found: Assessment,
                 links: Links) -> list[dict[str, Any]]:
    """Enoxaparin at a therapeutic dose where the plan's therapeutic LMWH is 1 mg/kg twice
    daily (very high myeloma risk): the dose against the weight on record."""
    if _therapeutic_wanted(found) != "very_high" or found.treatment is not None:
        return []
    lang = request.lang
    weight = found.facts.number("weight_kg")
    tolerance = float(orders()["dose_check"]["weight_based_relative_tolerance"])
    out = []
    for use in drafts(chart, {"enoxaparin"}):
        dose = dose_class(use)
        if dose is not None and dose[1] == "prophylactic":
            continue  # order-dose-below-plan
        target = _regimen_dose(Regimen.LMWH_THERAPEUTIC, found)
        if weight is None or target is None:
            out.append(make_card("order-dose-weight", request, fill(
                "weight_unknown", drug=drug_name(use)), "warning",
                [msg("order", "weight_unknown_detail").text(lang)], "mm", links, [],
                {"rule": "MM-RX-03"}, use.reference, "weight"))
            continue
        mg, per_day = getattr(use, "dose_mg", None), getattr(use, "doses_per_day", None)
        if mg is not None and per_day == target[1] and abs(mg - target[0]) <= \
                tolerance * target[0]:
            continue
        text = _dose_text(Regimen.LMWH_THERAPEUTIC, target[0], found)
        update = update_dose(request, use, target[0], target[1], text,
                             orders()["medications"][Regimen.LMWH_THERAPEUTIC.value]["coding"])
        detail = [msg("order", "weight_dose_detail", weight=pts(weight), mg=pts(target[0]),
                      evidence=", ".join(found.facts["weight_kg"].evidence)).text(lang)]
        out.append(make_card("order-dose-weight", request, fill(
            "weight_dose", drug=drug_name(use), expected=text), "warning", detail, "mm",
            links, [update] if update else [], {"rule": "MM-RX-03"}, use.reference, "dose"))
    return out


# A current anticoagulant and a drafted one that are one regimen, not two: a parenteral
# anticoagulant (LMWH, heparin, fondaparinux) overlapping warfarin (TRT-04), in either order.
_OVERLAP = (PARENTERAL_ANTICOAGULANTS, VKAS)


def _same_regimen(running: set[str], drafted: set[str]) -> bool:
    if running & drafted:
        return True  # the same drug: a renewal or a dose change, checked elsewhere
    a, b = _OVERLAP
    return bool((running & a and drafted & b) or (running & b and drafted & a))


def second_antithrombotic(request: HookRequest, chart: Chart, found: Assessment,
                          links: Links) -> list[dict[str, Any]]:
    """DUR-02: a patient already on an anticoagulant (for any indication) keeps it managed by
    that indication's rules; a drafted second antithrombotic (aspirin included) draws a card."""
    running = [u for u in current_anticoagulants(chart) if set(u.concepts) - ANTIPLATELETS]
    if not running:
        return []
    concepts = {c for u in running for c in u.concepts}
    lang = request.lang
    on = Label(", ".join(drug_name(u).en for u in running),
               "、".join(drug_name(u).zh for u in running))
    note = load_table("regimens").data["already_on"]["note"]
    out = []
    for use in drafts(chart, ANTICOAGULANTS):
        if _same_regimen(concepts, set(use.concepts)):
            continue
        detail = [note[lang[:2]].format(drug=on.text(lang))]
        offered = ([suggestions.delete_draft("", use.reference, lang)]
                   if suggestions.deletable(use.reference) else [])
        out.append(make_card("order-second-antithrombotic", request, fill(
            "second_antithrombotic", drug=drug_name(use), on=on), "warning", detail, "mm",
            links, offered, {"rule": "DUR-02"}, use.reference))
    return out


def check(request: HookRequest, chart: Chart, found: Assessment,
          links: Links) -> list[dict[str, Any]]:
    out: list[dict[str, Any] | None] = [aspirin_renal(request, chart, found, links),
                                        regimen_during_treatment(request, chart, found, links)]
    out += not_indicated(request, chart, found, links)
    out += cmvt_undecided(request, chart, found, links)
    out += dose_below_plan(request, chart, found, links)
    out += weight_based(request, chart, found, links)
    out += second_antithrombotic(request, chart, found, links)
    return [c for c in out if c is not None]
