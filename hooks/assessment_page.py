"""The full assessment as a page for people: what a card's "Full VTE assessment" link opens.

``page(document, lang)`` turns the assessment document (``hooks.chart.document``, the one JSON
shape the card, the link and ``POST /assessments`` share) into a `Page`: every text resolved in
one language, nothing recomputed. The web layer renders it as HTML (cds_service/web/templates).

Text comes from three places: the document's own ``{"en", "zh"}`` labels (doses, reasons,
durations, item labels), the tier and factor labels of the clinical tables (looked up by the
category or factor the document names), and the page's own words (``msgctxt "page"`` in
hooks/locale). What the document carries in English only (seed ambiguities, the mapper's
assumptions, data issues) is translated by `hooks.document_text`; a text it cannot translate
keeps ``lang="en"`` so the page marks it.

Order on the page: the situation and the decision first (summary, recommendation with doses,
ruled-out options, duration, what could change), then the scores item by item with their
evidence, then the drugs, background, data issues and how the guidelines were read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hooks import i18n
from hooks.base import msg
from hooks.document_text import Text, translate
from vte_rules.tables import Label, load_table

LANGS = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
SCORES = ("mm_vte", "bleeding", "wells_dvt", "wells_pe")
PLANS = ("treatment", "prophylaxis", "cmvt")
STATUSES = ("present", "absent", "unknown")
EVENTS = {"acute_dvt": "dvt", "acute_pe": "pe", "cmvt": "cmvt"}
SEVERITIES = ("skipped", "warning", "info")
DRUG_EFFECTS = ("no_rise", "raises", "raises_markedly", "may_lower", "limited_data",
                "no_association")


@dataclass(frozen=True)
class Line:
    """A statement with the rule ids and the FHIR resources it rests on."""

    text: Text
    rules: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    marks: tuple[Text, ...] = ()


@dataclass(frozen=True)
class ItemRow:
    """One row of a score or of the CMVT items: label, points, status, evidence, rule."""

    label: Text
    note: Text | None
    points: str | None
    status: str
    status_text: Text
    value: str | None
    evidence: tuple[str, ...]
    why: tuple[Text, ...]
    rule: str


@dataclass(frozen=True)
class Score:
    key: str
    title: Text
    total: Text
    category: str
    category_text: Text
    other_schemes: tuple[Text, ...]
    range: Text | None
    could_be: tuple[Text, ...]
    rows: tuple[ItemRow, ...]
    table: str
    notes: tuple[Text, ...]
    next_step: Line | None = None


@dataclass(frozen=True)
class Option:
    regimen: str
    name: Text
    dose: Text
    computed: Text | None
    cautions: tuple[Text, ...]
    orderable: bool
    order: Text
    rules: tuple[str, ...]
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class RuledOut:
    """A regimen not recommended; ``finding`` when a finding about this patient took it away
    (not merely its absence from the tier's choices)."""

    regimen: str
    name: Text
    reason: Text
    rule: str
    evidence: tuple[str, ...]
    finding: Text | None


@dataclass(frozen=True)
class Plan:
    key: str
    title: Text
    regimen: str
    recommended: Text
    options: tuple[Option, ...]
    ruled_out: tuple[RuledOut, ...]
    duration: Text | None
    held: tuple[Text, ...]
    could_change: tuple[Text, ...]
    notes: tuple[Text, ...]
    readings: tuple[Text, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """A titled part of the page made of statements (duration, treatment, CMVT, ...)."""

    key: str
    title: Text
    lines: tuple[Line, ...]
    rows: tuple[ItemRow, ...] = ()
    subsections: tuple[Section, ...] = ()


@dataclass(frozen=True)
class Fact:
    """One line of the summary: a term and what the assessment says about it."""

    term: Text
    values: tuple[Text, ...]
    key: str


@dataclass(frozen=True)
class DrugRow:
    drug: Text
    effect: Text
    text: Text
    rule: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class IssueRow:
    reference: str
    reason: Text
    severity: Text


@dataclass(frozen=True)
class Page:
    lang: str
    html_lang: str
    other_lang: str
    other_lang_name: Text
    words: Mapping[str, Text]
    title: Text
    as_of: Text
    summary: tuple[Fact, ...]
    notes: tuple[Text, ...]
    plans: tuple[Plan, ...]
    sections: tuple[Section, ...]
    scores: tuple[Score, ...]
    drugs: tuple[DrugRow, ...]
    background: tuple[Text, ...]
    issues: tuple[IssueRow, ...]
    tables: tuple[str, ...]


def _t(label: Label, lang: str) -> Text:
    return Text(label.text(lang), lang)


def _label(value: Any, lang: str) -> Text:
    """A document text: a ``{"en", "zh"}`` label, or English only (translated if known), or a
    list of either (said one after the other)."""
    if isinstance(value, Mapping) and "en" in value and "zh" in value:
        return Text(str(value["zh" if lang == "zh" else "en"]), lang)
    if isinstance(value, list | tuple):
        parts = [_label(v, lang) for v in value if v]
        langs = {p.lang for p in parts}
        joined = ("；" if langs == {"zh"} else "; ").join(dict.fromkeys(p.value for p in parts))
        return Text(joined, langs.pop() if len(langs) == 1 else "en")
    return translate(str(value), lang)


def _labels(values: Iterable[Any], lang: str) -> tuple[Text, ...]:
    return tuple(dict.fromkeys(_label(v, lang) for v in values if v))


def _pts(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _strs(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values or ())


def words(lang: str) -> dict[str, Text]:
    """The page's headings and column names."""
    return {
        "summary": _t(msg("page", "summary"), lang),
        "recommendation": _t(msg("page", "recommendation"), lang),
        "scores": _t(msg("page", "scores"), lang),
        "option": _t(msg("page", "col_option"), lang),
        "dose": _t(msg("page", "col_dose"), lang),
        "for_patient": _t(msg("page", "col_for_patient"), lang),
        "order": _t(msg("page", "col_order"), lang),
        "rules": _t(msg("page", "col_rules"), lang),
        "rule": _t(msg("page", "col_rule"), lang),
        "item": _t(msg("page", "col_item"), lang),
        "points": _t(msg("page", "col_points"), lang),
        "status": _t(msg("page", "col_status"), lang),
        "value": _t(msg("page", "col_value"), lang),
        "evidence": _t(msg("page", "col_evidence"), lang),
        "why": _t(msg("page", "col_why"), lang),
        "regimen": _t(msg("page", "col_regimen"), lang),
        "reason": _t(msg("page", "col_reason"), lang),
        "not_recommended": _t(msg("page", "not_recommended"), lang),
        "duration": _t(msg("page", "duration"), lang),
        "could_change": _t(msg("page", "could_change"), lang),
        "notes": _t(msg("page", "notes"), lang),
        "cautions": _t(msg("page", "cautions"), lang),
        "drugs": _t(msg("page", "drugs"), lang),
        "drug": _t(msg("page", "col_drug"), lang),
        "effect": _t(msg("page", "col_effect"), lang),
        "background": _t(msg("page", "background"), lang),
        "issues": _t(msg("page", "issues"), lang),
        "no_issues": _t(msg("page", "no_issues"), lang),
        "resource": _t(msg("page", "col_resource"), lang),
        "problem": _t(msg("page", "col_problem"), lang),
        "severity": _t(msg("page", "col_severity"), lang),
        "readings": _t(msg("page", "readings"), lang),
        "readings_deciding": _t(msg("page", "readings_deciding"), lang),
        "tables": _t(msg("page", "tables"), lang),
        "same_assessment": _t(msg("page", "same_assessment"), lang),
        "language": _t(msg("page", "language"), lang),
        "print_hint": _t(msg("page", "print_hint"), lang),
        "none": _t(msg("page", "none"), lang),
        "rules_applied": _t(msg("page", "rules_applied"), lang),
        "next_step": _t(msg("page", "next_step"), lang),
    }


# --- scores ---------------------------------------------------------------------------------

def _table_id(ref: str) -> str:
    return ref.split("@", 1)[0]


def _tier_label(table: str, scheme: str | None, category: str) -> Label | None:
    tiers = load_table(table).tiers
    if not tiers:
        return None
    for tier in tiers[scheme or next(iter(tiers))]:
        if tier.category == category:
            return tier.label
    return None


def _category(table: str, category: str, lang: str, scheme: str | None = None) -> Text:
    """How the tables name a category (the card's tier words for the myeloma score)."""
    if table == "mm_vte":
        return _t(msg("tiers", category), lang)
    found = _tier_label(table, scheme, category)
    return Text(found.text(lang), lang) if found else Text(category, "en")


def _status(status: str, lang: str) -> Text:
    words = {"present": msg("page", "present"), "absent": msg("page", "absent"),
             "unknown": msg("page", "unknown")}
    return _t(words[status], lang)


def _value(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return _pts(value)


def item_row(item: Mapping[str, Any], lang: str, points: bool = True) -> ItemRow:
    why: list[Text] = []
    if item.get("assumption"):
        assumed = _label(item["assumption"], lang)
        why.append(Text(msg("page", "assumed", what=assumed.value).text(assumed.lang),
                        assumed.lang))
    if item.get("status") == "unknown" and item.get("reason"):
        why.append(_label(item["reason"], lang))
    note = item.get("note")
    status = str(item.get("status"))
    return ItemRow(_label(item["label"], lang),
                   _label(note, lang) if note and note != item.get("assumption") else None,
                   _pts(item["points"]) if points else None, status, _status(status, lang),
                   _value(item.get("value")), _strs(item.get("evidence")), tuple(why),
                   str(item.get("rule", "")))


def _score_name(key: str, lang: str) -> Text:
    names = {"mm_vte": msg("names", "mm_vte"), "bleeding": msg("names", "bleeding"),
             "wells_dvt": msg("page", "wells_dvt"), "wells_pe": msg("page", "wells_pe")}
    return _t(names[key], lang)


def _item_names(entry: Mapping[str, Any], rules: Sequence[str], lang: str) -> str:
    names = {str(i["rule"]): _label(i["label"], lang).value for i in entry.get("items", ())}
    sep = "、" if lang == "zh" else "; "
    return sep.join(dict.fromkeys(names.get(r, r) for r in rules))


def _could_be(key: str, entry: Mapping[str, Any], lang: str) -> tuple[Text, ...]:
    table = _table_id(str(entry["table"]))
    out = []
    for could in entry.get("could_be", ()):
        category = _category(table, str(could["category"]), lang).value
        items = _item_names(entry, _strs(could.get("rules")), lang)
        out.append(_t(msg("page", "could_be_together", category=category, items=items)
                      if could.get("together") else
                      msg("page", "could_be_any", category=category, items=items), lang))
    return tuple(out)


def _total(points: Any, lang: str) -> Text:
    if float(points) == 1:
        return _t(msg("page", "total_one", points=_pts(points)), lang)
    return _t(msg("page", "total", points=_pts(points)), lang)


def score(key: str, entry: Mapping[str, Any], document: Mapping[str, Any], lang: str) -> Score:
    table = _table_id(str(entry["table"]))
    category = str(entry["category"])
    others = []
    for scheme, other in entry.items():
        if isinstance(other, Mapping) and "category" in other:
            label = _category(table, str(other["category"]), lang, scheme)
            others.append(_t(msg("page", "two_level", category=label.value), lang)
                          if scheme == "two_level" else label)
    rng = None
    if entry.get("unknown"):
        rng = _t(msg("page", "range", points=_pts(entry["points"]),
                     lo=_pts(entry["min_points"]), hi=_pts(entry["max_points"])), lang)
    next_step = None
    if key == "wells_dvt" and isinstance(document.get("dvt_workup"), Mapping):
        workup = document["dvt_workup"]
        next_step = Line(_label(workup["label"], lang), _strs([workup.get("rule")]))
    return Score(key, _score_name(key, lang),
                 _total(entry["points"], lang), category,
                 _category(table, category, lang), tuple(others), rng,
                 _could_be(key, entry, lang),
                 tuple(item_row(i, lang) for i in entry.get("items", ())), str(entry["table"]),
                 _labels(entry.get("notes", ()), lang), next_step)


# --- plans ----------------------------------------------------------------------------------

def _regimen(value: str, lang: str, plan_key: str = "") -> Text:
    """A regimen's short name; a treatment regimen by its first phase, as its card says."""
    treatment = load_table("treatment").data.get("options", {})
    if plan_key == "treatment" and value in treatment:
        return _t(Label.of(treatment[value]["short"]), lang)
    return _t(msg("short", value), lang)


def _choices(key: str, rec: Mapping[str, Any], lang: str) -> str:
    """The recommended regimen with its equal alternatives (the options), as the card lists
    them; the first is first only because an order needs a first suggestion."""
    names = [_regimen(str(o["regimen"]), lang, key).value for o in rec.get("options", ())]
    # a treatment's names hold commas ("rivaroxaban 15 mg bid, then 20 mg")
    separator = {("en", False): ", ", ("en", True): " / ", ("zh", False): "、",
                 ("zh", True): "；"}[lang, key == "treatment"]
    return separator.join(
        dict.fromkeys(names or [_regimen(str(rec["regimen"]), lang, key).value]))


def option(raw: Mapping[str, Any], lang: str, plan_key: str = "") -> Option:
    orderable = bool(raw.get("orderable"))
    why = raw.get("not_orderable_because")
    order = (_t(msg("page", "one_click"), lang) if orderable else
             _label(why, lang) if why else _t(msg("page", "no_one_click"), lang))
    return Option(str(raw["regimen"]), _regimen(str(raw["regimen"]), lang, plan_key),
                  _label(raw["dose"], lang),
                  _label(raw["computed"], lang) if raw.get("computed") else None,
                  _labels(raw.get("cautions", ()), lang), orderable, order,
                  _strs(raw.get("rules")), _strs(raw.get("evidence")))


def _plan_title(key: str, lang: str) -> Text:
    titles = {"prophylaxis": msg("page", "plan_prophylaxis"),
              "treatment": msg("page", "plan_treatment"), "cmvt": msg("page", "plan_cmvt")}
    return _t(titles[key], lang)


def _ruled_out(raw: Mapping[str, Any], lang: str, plan_key: str) -> RuledOut:
    finding = (None if raw.get("by_tier", True) else
               _t(msg("page", "ruled_out_by_finding"), lang))
    return RuledOut(str(raw["regimen"]), _regimen(str(raw["regimen"]), lang, plan_key),
                    _label(raw["reason"], lang), str(raw.get("rule", "")),
                    _strs(raw.get("evidence")), finding)


def plan(key: str, rec: Mapping[str, Any], lang: str) -> Plan:
    regimen = str(rec["regimen"])
    extra = rec.get("extra") or {}
    held = _labels(extra.get("held_because", ()), lang) if isinstance(extra, Mapping) else ()
    return Plan(
        key, _plan_title(key, lang), regimen,
        _t(msg("page", "recommended", regimen=_choices(key, rec, lang)), lang),
        tuple(option(o, lang, key) for o in rec.get("options", ())),
        tuple(_ruled_out(r, lang, key) for r in rec.get("ruled_out", ())),
        _label(rec["duration"], lang) if rec.get("duration") else None,
        tuple(_t(msg("page", "held", why=h.value), lang) for h in held),
        _labels(rec.get("could_change", ()), lang), _labels(rec.get("notes", ()), lang),
        _labels(rec.get("readings", ()), lang), _strs(rec.get("rules")))


# --- the other sections ---------------------------------------------------------------------

def _duration(raw: Mapping[str, Any], lang: str) -> Section:
    decision = _label(raw["label"], lang).value
    lines = [Line(_t(msg("page", "decision", decision=decision), lang),
                  _strs(raw.get("rules")), _strs(raw.get("evidence")))]
    lines += [Line(_label(r["text"], lang), _strs(r.get("rules")))
              for r in raw.get("reasons", ())]
    parts = []
    for item in raw.get("unknown", ()):
        answers = tuple(Line(_label(a["text"], lang)) for a in item.get("answers", ()))
        title = msg("page", "not_documented_item", item=_label(item["label"], lang).value)
        parts.append(Section(str(item.get("item", "")), _t(title, lang), answers))
    notes = tuple(Line(n) for n in _labels(raw.get("notes", ()), lang))
    if notes:
        parts.append(Section("notes", _t(msg("page", "notes"), lang), notes))
    return Section("duration", _t(msg("page", "duration_title"), lang), tuple(lines),
                   subsections=tuple(parts))


def _advice(raw: Any, lang: str) -> list[Line]:
    if not isinstance(raw, Mapping) or not raw.get("label"):
        return []
    return [Line(_label(raw["label"], lang), _strs([raw.get("rule")]),
                 _strs(raw.get("evidence")), _labels(raw.get("notes", ()), lang))]


def _treatment(raw: Mapping[str, Any], lang: str) -> Section:
    lines: list[Line] = []
    for key in ("duration", "vena_cava_filter", "reperfusion", "myeloma_regimen"):
        lines += _advice(raw.get(key), lang)
    return Section("treatment", _t(msg("page", "treatment_title"), lang), tuple(lines))


def _isolated(value: Any, lang: str) -> Text:
    return _t(msg("page", "isolated_yes") if value is True else
              msg("page", "isolated_no") if value is False else
              msg("page", "isolated_unknown"), lang)


def _bleeding_high(value: Any, lang: str) -> Text:
    return _t(msg("page", "bleeding_high_yes") if value is True else
              msg("page", "bleeding_high_no") if value is False else
              msg("page", "bleeding_high_unknown"), lang)


def _risk(raw: Mapping[str, Any], lang: str) -> Text:
    return _t(msg("risk_words", str(raw.get("thrombosis_risk") or "indeterminate")), lang)


def _cmvt(raw: Mapping[str, Any], lang: str) -> Section:
    lines = [Line(_isolated(raw.get("isolated"), lang)),
             Line(_t(msg("page", "extension_risk", risk=_risk(raw, lang).value), lang)),
             Line(_bleeding_high(raw.get("bleeding_high"), lang)),
             *_advice(raw.get("filter_advice"), lang)]
    evidence = []
    for item in raw.get("duration_evidence", ()):
        marks = []
        if item.get("applies") is True:
            marks.append(_t(msg("page", "applies"), lang))
        elif item.get("applies") is False:
            marks.append(_t(msg("page", "does_not_apply"), lang))
        if item.get("conflicting"):
            marks.append(_t(msg("page", "conflicting"), lang))
        evidence.append(Line(_label(item["label"], lang), _strs([item.get("rule")]),
                             marks=tuple(marks)))
    parts: tuple[Section, ...] = ()
    if evidence:
        parts += (Section("duration_evidence", _t(msg("page", "duration_evidence"), lang),
                          tuple(evidence)),)
    notes = tuple(Line(n) for n in _labels(raw.get("notes", ()), lang))
    if notes:
        parts += (Section("readings", _t(msg("page", "readings"), lang), notes),)
    rows = tuple(item_row(i, lang, points=False) for i in raw.get("items", ()))
    return Section("cmvt", _t(msg("page", "cmvt_title"), lang), tuple(lines), rows, parts)


def _index_events(document: Mapping[str, Any], lang: str) -> tuple[Text, ...]:
    out = []
    for event in document.get("index_event", ()):
        what = _t(msg("vte_words", EVENTS.get(str(event.get("factor")), "dvt")), lang).value
        refs = ", ".join(_strs(event.get("evidence")))
        date = str(event.get("date") or "")
        out.append(_t(msg("page", "index_event", what=what, date=date, evidence=refs) if date
                      else msg("page", "index_event_undated", what=what, evidence=refs), lang))
    return tuple(out) or (_t(msg("page", "no_index_event"), lang),)


def _score_line(table: str, entry: Mapping[str, Any], name: Label, lang: str) -> Text:
    category = _category(table, str(entry["category"]), lang).value
    return _t(msg("page", "score_line", category=category,
                  total=_total(entry["points"], lang).value,
                  name=name.text(lang)), lang)


def summary(document: Mapping[str, Any], lang: str) -> tuple[Fact, ...]:
    """The situation and the decisions, one line each."""
    scores = document.get("scores") or {}
    facts = [Fact(_t(msg("page", "situation"), lang), _index_events(document, lang),
                  "situation")]
    if "mm_vte" in scores:
        facts.append(Fact(_t(msg("page", "vte_risk"), lang), (
            _score_line("mm_vte", scores["mm_vte"], msg("names", "mm_vte"), lang),), "vte_risk"))
    cmvt = document.get("cmvt")
    if isinstance(cmvt, Mapping):
        facts.append(Fact(_t(msg("page", "extension_risk_term"), lang), (_risk(cmvt, lang),),
                          "extension_risk"))
    bleeding: list[Text] = []
    if "bleeding" in scores:
        bleeding.append(_score_line("bleeding", scores["bleeding"], msg("names", "bleeding"),
                                    lang))
    if isinstance(cmvt, Mapping) and cmvt.get("bleeding_high") is not None:
        state = _bleeding_high(cmvt["bleeding_high"], lang).value
        bleeding.append(_t(msg("page", "cmvt_bleeding", state=state), lang))
    if bleeding:
        facts.append(Fact(_t(msg("page", "bleeding_risk"), lang), tuple(bleeding),
                          "bleeding_risk"))
    recs = document.get("recommendations") or {}
    lines = [_t(msg("page", "plan_line", plan=_plan_title(key, lang).value,
                    regimen=_choices(key, recs[key], lang)), lang)
             for key in PLANS if key in recs]
    if lines:
        facts.append(Fact(_t(msg("page", "recommendation"), lang), tuple(lines),
                          "recommendation"))
    on = _strs(document.get("already_on"))
    if on:
        facts.append(Fact(_t(msg("page", "already_on"), lang), (Text(", ".join(on), lang),),
                          "already_on"))
    return tuple(facts)


def _drug(raw: Mapping[str, Any], lang: str) -> DrugRow:
    effect = str(raw.get("effect"))
    return DrugRow(_label(raw["drug"], lang),
                   _t(msg("page", f"effect_{effect}"), lang) if effect in DRUG_EFFECTS
                   else Text(effect, "en"),
                   _label(raw["text"], lang), str(raw.get("rule", "")),
                   _strs(raw.get("evidence")))


def _issue(raw: Mapping[str, Any], lang: str) -> IssueRow:
    severity = str(raw.get("severity"))
    return IssueRow(str(raw.get("reference", "")), _label(raw.get("reason", ""), lang),
                    _t(msg("page", f"severity_{severity}"), lang) if severity in SEVERITIES
                    else Text(severity, "en"))


def page(document: Mapping[str, Any], lang: str) -> Page:
    """The document as one page in ``lang`` (``en`` or ``zh``)."""
    lang = "zh" if lang.startswith("zh") else "en"
    other = "en" if lang == "zh" else "zh"
    scores = document.get("scores") or {}
    recs = document.get("recommendations") or {}
    sections = []
    if isinstance(document.get("duration"), Mapping):
        sections.append(_duration(document["duration"], lang))
    if isinstance(document.get("treatment"), Mapping):
        sections.append(_treatment(document["treatment"], lang))
    if isinstance(document.get("cmvt"), Mapping):
        sections.append(_cmvt(document["cmvt"], lang))
    tables = document.get("tables") or {}
    return Page(
        lang, HTML_LANG[lang], other, _t(msg("page", "language_name"), other), words(lang),
        _t(msg("page", "title"), lang),
        _t(msg("page", "as_of", date=str(document.get("as_of"))), lang),
        summary(document, lang), _labels(document.get("notes", ()), lang),
        tuple(plan(k, recs[k], lang) for k in PLANS if k in recs), tuple(sections),
        tuple(score(k, scores[k], document, lang) for k in SCORES if k in scores),
        tuple(_drug(d, lang) for d in document.get("drug_notes", ())),
        _labels(document.get("context", ()), lang),
        tuple(_issue(i, lang) for i in document.get("data_issues", ())),
        tuple(str(v) for v in tables.values()))


#: Messages the page names through a variable (a drug's effect, a data issue's severity).
RUNTIME_KEYS = (
    i18n.runtime_key("page", "effect_no_rise"),
    i18n.runtime_key("page", "effect_raises"),
    i18n.runtime_key("page", "effect_raises_markedly"),
    i18n.runtime_key("page", "effect_may_lower"),
    i18n.runtime_key("page", "effect_limited_data"),
    i18n.runtime_key("page", "effect_no_association"),
    i18n.runtime_key("page", "severity_skipped"),
    i18n.runtime_key("page", "severity_warning"),
    i18n.runtime_key("page", "severity_info"),
)
