"""One assessment per patient: every score and recommendation that applies, computed once.

Title: the VTE assessment behind every view (card, link page, SMART app, ``POST /assessments``,
order checks).
Source: all tables; the population (adults) and the "already on an antithrombotic" rule are in
``tables/regimens.toml`` (``[population]``, ``[already_on]``: DUR-02).
Table file: every table (through the rule modules).
Variables: the patient facts, and the antithrombotic drugs the patient is already taking
(medication concept names; the caller reads them from the chart).
Missing values: as in each rule module. An undocumented age is not read as adult or child: the
recommendation stands and a note asks to confirm the patient is an adult.
Notes:
- Myeloma with an index DVT or PE gets the treatment plan (TRT-01..08) and no prophylaxis plan:
  treatment supersedes prophylaxis. Myeloma with a CMVT gets the CMVT plan and no prophylaxis
  plan either (the Table 5 score is still shown, for information). Myeloma without either
  gets prophylaxis. A CMVT is not a DVT for the treatment plan (the mapper keeps them apart).
- Under the adult age no drug is recommended: drug options are ruled out with the reason and
  only surveillance or compression remain (``individualise`` when nothing does).
- The prophylaxis duration is given only when drug prophylaxis is the recommendation.
- ``ruled_out(regimen)`` is what order checks ask; they keep no list of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vte_rules import bleeding, cmvt, duration, mm_vte, prophylaxis, treatment, wells
from vte_rules.cmvt import CmvtAssessment
from vte_rules.derive import derive
from vte_rules.duration import DurationAdvice
from vte_rules.facts import PatientFacts
from vte_rules.prophylaxis import ProphylaxisAssessment
from vte_rules.regimens import DRUG_REGIMENS, Recommendation, Regimen, RuledOut
from vte_rules.score import ScoreAssessment
from vte_rules.tables import Label, load_table
from vte_rules.treatment import TreatmentPlan


@dataclass(frozen=True)
class Assessment:
    facts: PatientFacts
    adult: bool | None
    bleeding: ScoreAssessment
    vte_score: ScoreAssessment | None
    prophylaxis: ProphylaxisAssessment | None
    duration: DurationAdvice | None
    treatment: TreatmentPlan | None
    cmvt: CmvtAssessment | None
    already_on: tuple[str, ...] = ()
    notes: tuple[Label, ...] = ()

    # The Wells scores decide no card: computed when a view shows them (once per facts).
    @property
    def wells_dvt(self) -> ScoreAssessment:
        return wells.assess_dvt(self.facts)

    @property
    def wells_pe(self) -> ScoreAssessment:
        return wells.assess_pe(self.facts)

    @property
    def bleeding_applies(self) -> bool:
        return any(x is not None for x in (self.prophylaxis, self.treatment, self.cmvt))

    def recommendations(self) -> dict[str, Recommendation]:
        out: dict[str, Recommendation] = {}
        if self.prophylaxis is not None:
            out["prophylaxis"] = self.prophylaxis.recommendation
        if self.treatment is not None:
            out["treatment"] = self.treatment.recommendation
        if self.cmvt is not None:
            out["cmvt"] = self.cmvt.recommendation
        return out

    def ruled_out(self, regimen: Regimen) -> tuple[RuledOut, ...]:
        """Why ``regimen`` is not recommended, from every plan that rules it out."""
        return tuple(r for rec in self.recommendations().values() for r in rec.ruled_out
                     if r.regimen == regimen)

    def recommends(self, regimen: Regimen) -> bool:
        return any(o.regimen == regimen for rec in self.recommendations().values()
                   for o in rec.options)


def assess(facts: PatientFacts, already_on: tuple[str, ...] = ()) -> Assessment:
    derived = derive(facts)
    adult = _adult(derived)
    mm = derived.flag("multiple_myeloma") is True
    index_vte = derived.flag("acute_dvt") is True or derived.flag("acute_pe") is True
    has_cmvt = derived.flag("cmvt") is True
    bleed = bleeding.assess(derived)
    pro = dur = plan = None
    vte_score = mm_vte.assess(derived) if mm else None
    if mm and not index_vte and not has_cmvt:  # a thrombosis is treated, not prevented
        pro = prophylaxis.assess(derived)
        if pro.recommendation.regimen in DRUG_REGIMENS:
            dur = duration.assess(derived, mm_vte.individual_risk_factor(pro.vte))
    if mm and index_vte:
        plan = treatment.assess(derived)
    cmvt_result = cmvt.assess(derived, _cmvt_bleeding_high(derived, bleed)) \
        if has_cmvt else None
    notes: list[Label] = []
    if already_on:
        raw = load_table("regimens").data["already_on"]["note"]
        notes.append(Label(raw["en"].format(drug=", ".join(already_on)),
                           raw["zh"].format(drug="、".join(already_on))))
    population = load_table("regimens").data["population"]
    if adult is False:
        notes.insert(0, Label.of(population["child"]))
        pro = replace(pro, recommendation=_for_child(pro.recommendation)) if pro else None
        plan = replace(plan, recommendation=_for_child(plan.recommendation), phases={}) \
            if plan else None
        cmvt_result = replace(cmvt_result, recommendation=_for_child(
            cmvt_result.recommendation)) if cmvt_result else None
        dur = None
    elif adult is None and (pro or plan or cmvt_result):
        notes.append(Label.of(population["age_unknown"]))
    return Assessment(derived, adult, bleed, vte_score, pro, dur, plan, cmvt_result, already_on,
                      tuple(notes))


def _adult(facts: PatientFacts) -> bool | None:
    adult = float(load_table("regimens").data["population"]["adult_age_years"])
    age = facts.number("age_years")
    if age is None:
        possible = facts["age_years"].possible or ()
        grown = {p >= adult for p in possible}
        return grown.pop() if len(grown) == 1 else None
    return age >= adult


def _bleeding_high(score: ScoreAssessment) -> bool | None:
    """High, low, or None when unknown items could still make it high."""
    if score.category == "high":
        return True
    return False if score.tier.worst_case == "low" else None


def _cmvt_bleeding_high(facts: PatientFacts, score: ScoreAssessment) -> bool | None:
    """CMVT-07 names high bleeding risk without a score: Table 6 decides, and a bleed that is
    still active (MM-RX-06's "active bleeding") is high whatever the score."""
    if facts.flag("active_bleeding") is True:
        return True
    return _bleeding_high(score)


def _for_child(rec: Recommendation) -> Recommendation:
    """No drug recommended under the adult age: drug options are ruled out with the reason."""
    population = load_table("regimens").data["population"]
    drugs = [o for o in rec.options if o.regimen in DRUG_REGIMENS]
    if not drugs and rec.regimen not in DRUG_REGIMENS:
        return replace(rec, notes=(Label.of(population["child"]), *rec.notes))
    kept = tuple(o for o in rec.options if o.regimen not in DRUG_REGIMENS)
    reason = Label.of(population["child_ruled_out"])
    ruled = tuple(RuledOut(o.regimen, reason, str(population["rule"])) for o in drugs)
    regimen = kept[0].regimen if kept else Regimen.INDIVIDUALISE
    # the readings that decided the adult advice no longer decide anything
    return replace(rec, regimen=regimen, options=kept, ruled_out=(*ruled, *rec.ruled_out),
                   duration=None, notes=(Label.of(population["child"]), *rec.notes),
                   readings=())
