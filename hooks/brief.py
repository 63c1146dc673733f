"""The short detail of a patient-view card: what a clinician reads in seconds.

A card's detail says, in this order:

1. the risk tier and the items that decided it (the highest points first, at most three, and
   how many points the rest add, so that the sum stays true);
2. the recommended action, with the first phase of its regimen and its dose;
3. what must never be missed, each once: the assessment's notes (under 18, already on an
   anticoagulant, age not documented), what a finding about this patient took away (a drug
   held for bleeding, platelets < 50, eGFR < 30, a contraindication), the cautions on the
   options, why an option has no one-click order, and the readings of the guideline that
   decided this advice;
4. the bleeding risk in one line;
5. what missing data could change the advice (the rules' ``could_change``, at most two lines);
6. how many record entries could not be read, and of what kind.

Everything else (both score tables with their evidence, what the tier rules out, the duration,
the notes, the drug table) is behind the card's "Full VTE assessment" link, which renders the
same assessment. Nothing here decides anything: every line is read from the assessment.

The Markdown renders in the CDS Hooks sandbox as intended: paragraphs separated by a blank line,
short bullet lists, no table, and no single newline inside a paragraph (Markdown would join it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from hooks.base import in_language, msg
from hooks.chart import Chart, current_anticoagulants
from hooks.i18n import runtime_key
from vte_rules.assessment import Assessment
from vte_rules.regimens import Recommendation
from vte_rules.score import ItemResult, ScoreAssessment
from vte_rules.tables import Label

#: Items named as deciding the tier; the rest are counted.
DECIDING = 3
#: Lines of what could change the advice; the rest are counted.
COULD_CHANGE = 2
#: How a card names the kinds of record entries it could not read (by FHIR resource type).
KINDS = (runtime_key("resource_types", "Patient"), runtime_key("resource_types", "Condition"),
         runtime_key("resource_types", "Observation"),
         runtime_key("resource_types", "MedicationRequest"),
         runtime_key("resource_types", "MedicationStatement"),
         runtime_key("resource_types", "Procedure"), runtime_key("resource_types", "Device"),
         runtime_key("resource_types", "Encounter"),
         runtime_key("resource_types", "AllergyIntolerance"),
         runtime_key("resource_types", "FamilyMemberHistory"),
         runtime_key("resource_types", "other"))


def points(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def detail(*blocks: Sequence[str]) -> list[str]:
    """The blocks (a paragraph, or a bullet list) with one blank line between them."""
    out: list[str] = []
    for block in blocks:
        if block:
            out += [*([""] if out else []), *block]
    return out


def bullets(lines: Iterable[str]) -> list[str]:
    return [f"- {line}" for line in lines]


def deciding(items: Sequence[ItemResult], lang: str) -> list[str]:
    """The items with the highest points first (table order among equals), then the rest."""
    ranked = sorted(items, key=lambda i: -i.points)
    cut = DECIDING if len(ranked) > DECIDING + 1 else len(ranked)  # never "1 other item"
    shown, rest = ranked[:cut], ranked[cut:]
    say = in_language(lang)
    lines = [say.msg("brief", "item", item=i.label.text(lang), points=points(i.points))
             for i in shown]
    if rest:
        lines.append(say.msg("brief", "more_items", count=len(rest),
                             points=points(sum(i.points for i in rest))))
    return bullets(lines)


def score_tier(tier: Label, score: ScoreAssessment, name: str, lang: str) -> list[str]:
    """The tier, the score's documented points, and the items that decided it."""
    found = score.contributing
    say = in_language(lang)
    fields = {"tier": tier.text(lang), "points": points(score.points),
              "score": msg("names", name).text(lang)}
    if not found:
        return [say.msg("brief", "tier_no_items", **fields)]
    return [say.msg("brief", "tier", **fields), "", *deciding(found, lang)]


def action(first: Label, others: Sequence[Label], lang: str) -> list[str]:
    """The recommended action: the first option in full, the alternatives by name."""
    say = in_language(lang)
    if not others:
        return [say.msg("brief", "do", first=first.text(lang))]
    sep = "、" if lang.startswith("zh") else ", "
    return [say.msg("brief", "do_or", first=first.text(lang),
                    others=sep.join(o.text(lang) for o in others))]


def first_option(rec: Recommendation) -> Label | None:
    """The first option's dose: the patient's computed dose when there is one."""
    if not rec.options:
        return None
    opt = rec.options[0]
    return opt.computed or opt.dose


def must_see(found: Assessment, rec: Recommendation, chart: Chart,
             extra: Iterable[Label] = ()) -> list[Label]:
    """What must never be missed, in order, each text once."""
    said: list[Label] = [*found.notes]
    said += [r.reason if r.rule in r.reason.en else
             Label(f"{r.reason.en} ({r.rule})", f"{r.reason.zh}（{r.rule}）")
             for r in rec.ruled_out if not r.by_tier]
    said += [c for o in rec.options for c in o.cautions]
    if not current_anticoagulants(chart):
        said += [o.not_orderable_because for o in rec.options
                 if not o.orderable and o.not_orderable_because is not None]
    said += [*rec.readings, *extra]
    return list(dict.fromkeys(said))


def bleeding(level: str, score: ScoreAssessment, lang: str, from_score: bool = True) -> list[str]:
    """The bleeding risk in one line: the level (``high``, ``low``, or ``indeterminate`` while
    undocumented items could make it high), and the Table 6 points; ``from_score`` False when
    the record, not the score, set the level (an active bleed, the clinician's judgement)."""
    say = in_language(lang)
    fields = {"level": msg("risk_words", level).text(lang), "points": points(score.points)}
    if level == "indeterminate":
        return [say.msg("brief", "bleeding_unsettled", **fields)]
    if from_score:
        return [say.msg("brief", "bleeding", **fields)]
    return [say.msg("brief", "bleeding_on_record", **fields)]


def could_change(labels: Sequence[Label], lang: str) -> list[str]:
    """What missing data could change the advice: one line, or a short list."""
    if not labels:
        return []
    say = in_language(lang)
    if len(labels) == 1:
        return [say.msg("brief", "could_change", what=labels[0].text(lang))]
    lines = [c.text(lang) for c in labels[:COULD_CHANGE]]
    if len(labels) > COULD_CHANGE:
        lines.append(say.msg("brief", "more_could_change", count=len(labels) - COULD_CHANGE))
    return [msg("brief", "could_change_heading").text(lang), "", *bullets(lines)]


def unread(chart: Chart, lang: str) -> list[str]:
    """How many record entries could not be read, and of which kinds."""
    kinds = Counter(_kind(i.reference) for i in chart.issues if i.severity == "skipped")
    if not kinds:
        return []
    sep = "、" if lang.startswith("zh") else ", "
    say = in_language(lang)
    what = sep.join(say.msg("brief", "unread_kind", count=n,
                            kind=msg("resource_types", kind).text(lang))
                    for kind, n in kinds.items())
    return [say.msg("brief", "unread", what=what)]


def _kind(reference: str) -> str:
    head = reference.split("/", 1)[0]
    return head if ("resource_types", head) in KINDS else "other"
