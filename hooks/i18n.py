"""Card text in English and Simplified Chinese, from gettext catalogues kept with Babel.

``hooks/locale/`` holds the template ``vte_cds.pot`` (made by ``pybabel extract``) and one
catalogue per language, ``<locale>/LC_MESSAGES/vte_cds.po``: ``en`` (the source text) and
``zh_Hans`` (Simplified Chinese, whatever the region: zh-CN, zh-SG, zh-Hans). A message is named
by its context, the section (``msgctxt "tiers"``), and a stable key (``msgid "high"``), so the
code reads ``msg("tiers", "high")`` and English is a catalogue like Chinese. Placeholders are
``str.format`` names (``{tier}``, ``{points}``), the same in every language.

The catalogues are read once, when ``hooks.base`` is imported, with
``babel.messages.pofile.read_po``: nothing is compiled, and only the ``.po`` files ship. A message
that is missing, empty or fuzzy in either language, or whose placeholders differ between the
languages, stops that import (`CatalogueError`), as a bad clinical table stops the service.
``docs/translations.md`` says how to add or change a message.
"""

from __future__ import annotations

import ast
import functools
import string
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from vte_rules.tables import Label

DOMAIN = "vte_cds"
#: The service's language codes (``HookRequest.lang``) and the catalogue each one reads.
LOCALES = {"en": "en", "zh": "zh_Hans"}
#: Contexts of the order texts (``hooks/orders.toml`` holds the codes, the catalogues the text).
ORDER_CONTEXTS = {"medications": "orders.medications", "services": "orders.services"}

Key = tuple[str, str]


class CatalogueError(ValueError):
    """A catalogue is incomplete or inconsistent; the service must not start with it."""


def runtime_key(section: str, key: str) -> Key:
    """Marks a message the code picks by a value known only at run time, for extraction."""
    return section, key


#: Messages the card builders name through a variable (a tier, a regimen, a duration action, a
#: source or template passed down) or list whole (override reasons, in this order). ``pybabel
#: extract`` finds these calls, as it finds every ``msg("section", "key")`` with literal
#: arguments; tests/cds_service/test_i18n.py checks that each one is used.
RUNTIME_KEYS: tuple[Key, ...] = (
    runtime_key("sources", "mm"),
    runtime_key("sources", "mm_treatment"),
    runtime_key("sources", "mm_adjustments"),
    runtime_key("sources", "cmvt"),
    runtime_key("tiers", "none"),
    runtime_key("tiers", "low"),
    runtime_key("tiers", "high"),
    runtime_key("tiers", "very_high"),
    runtime_key("short", "none"),
    runtime_key("short", "aspirin"),
    runtime_key("short", "warfarin"),
    runtime_key("short", "lmwh-prophylactic"),
    runtime_key("short", "lmwh-therapeutic"),
    runtime_key("short", "rivaroxaban-prophylactic"),
    runtime_key("short", "rivaroxaban-therapeutic"),
    runtime_key("short", "mechanical"),
    runtime_key("short", "ultrasound-surveillance"),
    runtime_key("short", "anticoagulation"),
    runtime_key("short", "individualise"),
    runtime_key("summary", "cmvt"),
    runtime_key("summary", "cmvt_non_isolated"),
    runtime_key("summary", "cmvt_extended"),
    runtime_key("risk_words", "high"),
    runtime_key("risk_words", "low"),
    runtime_key("risk_words", "indeterminate"),
    runtime_key("vte_words", "dvt"),
    runtime_key("vte_words", "pe"),
    runtime_key("vte_words", "dvt_pe"),
    runtime_key("vte_words", "cmvt"),
    runtime_key("order", "imid_no_prophylaxis"),
    runtime_key("order", "ruled_out_short"),
    runtime_key("order", "treatment_dose_no_vte"),
    runtime_key("order", "aspirin_renal"),
    runtime_key("order", "not_indicated"),
    runtime_key("order", "regimen_during_vte"),
    runtime_key("order", "cmvt_undecided"),
    runtime_key("order", "below_plan"),
    runtime_key("order", "weight_unknown"),
    runtime_key("order", "weight_dose"),
    runtime_key("order", "renal_unknown"),
    runtime_key("order", "warfarin_lead_in"),
    runtime_key("order", "second_antithrombotic"),
    runtime_key("order", "aspirin_high_risk"),
    runtime_key("order", "rivaroxaban_gfr"),
    runtime_key("order", "lmwh_gfr"),
    runtime_key("order", "anticoagulant_bleeding"),
    runtime_key("order", "anticoagulant_platelets"),
    runtime_key("order", "treatment_dose"),
    runtime_key("duration_short", "continue"),
    runtime_key("duration_short", "may_stop"),
    runtime_key("duration_short", "consider_stopping"),
    runtime_key("duration_short", "as_newly_diagnosed"),
    runtime_key("duration_short", "follow_other_indication"),
    runtime_key("duration_short", "reassess"),
    runtime_key("names", "mm_vte"),
    runtime_key("names", "bleeding"),
    runtime_key("override_reasons", "already_on_anticoagulant"),
    runtime_key("override_reasons", "bleeding_concern"),
    runtime_key("override_reasons", "data_incorrect"),
    runtime_key("override_reasons", "patient_declined"),
    runtime_key("override_reasons", "clinical_judgement"),
    runtime_key("override_reasons", "not_now"),
    runtime_key("override_reasons", "prophylaxis_elsewhere"),
    runtime_key("override_reasons", "other_indication"),
    runtime_key("override_reasons", "renal_function_checked"),
    runtime_key("override_reasons", "benefit_outweighs_bleeding"),
    runtime_key("override_reasons", "dose_intended"),
    runtime_key("override_reasons", "high_risk_documented_elsewhere"),
    runtime_key("override_reasons", "lmwh_elsewhere"),
    runtime_key("override_reasons", "switching_agent"),
)


def locale_dir() -> Traversable:
    return resources.files("hooks") / "locale"


def catalogue_file(locale: str | None) -> Traversable:
    """The template (``locale=None``) or one language's catalogue."""
    if locale is None:
        return locale_dir() / f"{DOMAIN}.pot"
    return locale_dir() / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(locale: str | None) -> Catalog:
    with catalogue_file(locale).open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def entries(catalogue: Catalog) -> dict[Key, Any]:
    """The catalogue's messages by (context, key), in file order, without the header."""
    return {(m.context or "", str(m.id)): m for m in catalogue if m.id}


def placeholders(text: str) -> list[str]:
    """The ``str.format`` field names of a text, sorted (repeats kept)."""
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def problems(catalogues: Mapping[str, Catalog]) -> list[str]:
    """What keeps these catalogues (language code -> catalogue) from being used, if anything."""
    found = []
    by_lang = {lang: entries(c) for lang, c in catalogues.items()}
    every = {key for messages in by_lang.values() for key in messages}
    for ctx, key in sorted(every):
        where = f"msgctxt {ctx!r} msgid {key!r}"
        texts: dict[str, str] = {}
        for lang, messages in by_lang.items():
            message = messages.get((ctx, key))
            if message is None or not isinstance(message.string, str) or not message.string:
                found.append(f"{where}: no {lang} text")
            elif message.fuzzy:
                found.append(f"{where}: the {lang} text is fuzzy (review it, then drop the flag)")
            else:
                texts[lang] = message.string
        try:
            fields = {lang: placeholders(t) for lang, t in texts.items()}
        except ValueError as exc:
            found.append(f"{where}: malformed placeholder ({exc})")
            continue
        if len({tuple(f) for f in fields.values()}) > 1:
            found.append(f"{where}: placeholders differ: {fields}")
    return found


@functools.cache
def texts() -> Mapping[Key, Label]:
    """Every message in both languages, in catalogue order (read once; hooks.base reads it at
    import, so that a bad catalogue stops the service at start-up)."""
    catalogues = {lang: read_catalogue(locale) for lang, locale in LOCALES.items()}
    found = problems(catalogues)
    if found:
        raise CatalogueError("hooks/locale: " + "; ".join(found))
    english, chinese = (entries(catalogues[lang]) for lang in ("en", "zh"))
    return {key: Label(str(m.string), str(chinese[key].string)) for key, m in english.items()}


def label(section: str, key: str) -> Label:
    """A message in both languages, placeholders unfilled."""
    try:
        return texts()[section, key]
    except KeyError:
        raise KeyError(f"no message msgctxt {section!r} msgid {key!r} in hooks/locale") from None


# --- Babel extractors (babel.cfg); each message's English text goes in as a comment ----------
# They read the English catalogue as it is (possibly incomplete while a message is being added).

Extracted = tuple[int, str, tuple[str | None, ...], list[str]]


@functools.cache
def _english() -> Mapping[Key, str]:
    if not catalogue_file("en").is_file():
        return {}
    return {key: str(m.string) for key, m in entries(read_catalogue("en")).items() if m.string}


def _english_comment(ctx: str, key: str) -> list[str]:
    found = _english().get((ctx, key))
    return [] if found is None else ["en: " + found.replace("\n", "\\n")]


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_pair(nodes: Sequence[ast.expr]) -> Key | None:
    if len(nodes) < 2:
        return None
    section, key = _literal(nodes[0]), _literal(nodes[1])
    return None if section is None or key is None else (section, key)


def _message_keys(tree: ast.AST, keywords: Collection[str]) -> Iterator[tuple[int, Key]]:
    """``msg("section", "key", ...)`` calls (f-strings included) and ``messages()["section"]
    ["key"]`` look-ups whose section and key are literal; the rest is in RUNTIME_KEYS."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in keywords:
            found = _literal_pair(node.args)
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript)
              and isinstance(node.value.value, ast.Call)
              and _name(node.value.value.func) == "messages"):
            found = _literal_pair([node.value.slice, node.slice])
        else:
            continue
        if found is not None:
            yield node.lineno, found


def extract_python(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                   options: Mapping[str, Any]) -> Iterator[Extracted]:
    """Every message a module names literally, with its English text.

    Babel's own Python extractor works on tokens: it skips calls inside f-strings and glues the
    strings of ``"a" if x else "b"`` into one bogus id, so this one reads the syntax tree."""
    tree = ast.parse(fileobj.read())
    for lineno, (ctx, key) in sorted(_message_keys(tree, keywords)):
        yield lineno, "msg", (ctx, key), _english_comment(ctx, key)


def extract_orders(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
                   options: Mapping[str, Any]) -> Iterator[Extracted]:
    """One message per medication and service of ``hooks/orders.toml`` (its order text)."""
    text = fileobj.read().decode("utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    for table, ctx in ORDER_CONTEXTS.items():
        for name in data.get(table, {}):
            header = f"[{table}.{name}]"
            lineno = next((i + 1 for i, line in enumerate(lines) if line.strip() == header), 0)
            yield lineno, "msg", (ctx, name), _english_comment(ctx, name)
