"""Code maps: which concept a coded (or only named) FHIR element stands for.

The maps are CSV files in ``fhir_mappers/codes/`` with the columns
``system,code,display,concept,justification,source``. A code ending in ``*`` matches by prefix
(ICD-10-CM ``I82.46*``). The pseudo-systems ``text:en`` and ``text:zh`` hold names matched in free
text when an element carries no recognised code (medications from Chinese hospital systems often
arrive as text only). ``systems.csv`` maps the other spellings of a system URI (OIDs, http/https,
trailing slashes) to the one used in the maps.

ICD-10 is a family. Rows under the WHO system (``http://hl7.org/fhir/sid/icd-10``) name a
category (``C34``), a subcategory (``K25.0``) or a range of categories (``C00-C43``); they
match a code of any ICD-10 edition by its WHO category and subcategory, so the Chinese national
clinical edition's extended codes (``C90.000x001``, ``I80.201``) and ICD-10-CM's longer codes
match their WHO parent. Rows under ICD-10-CM match ICD-10-CM codes only (by prefix or exactly),
for the concepts that only CM's extra characters tell apart (calf muscular vein, remission).
A concept written ``!name`` removes ``name`` from that code: CM ``I26.90`` (septic pulmonary
embolism) sits under the WHO subcategory ``I26.9`` but is not a VTE. In a text row it removes
``name`` from a text that holds both names ("脓毒性肺栓塞" names "肺栓塞").
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

MAP_NAMES = ("observations", "conditions", "medications", "procedures")
COLUMNS = ("system", "code", "display", "concept", "justification", "source")
TEXT_SYSTEMS = ("text:en", "text:zh")
MEMO_LIMIT = 20_000
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_FAMILY = (ICD10, ICD10_CM)
_ICD_CODE = re.compile(r"^([A-Z][0-9][0-9A-Z])(?:\.?([0-9A-Z])([0-9A-Z]*))?(?:X[0-9]+)?\+?$")
_ICD_RANGE = re.compile(r"^([A-Z][0-9][0-9A-Z])-([A-Z][0-9][0-9A-Z])$")


class CodeMapError(ValueError):
    """A code map file is malformed; the service must not start with it."""


@dataclass(frozen=True)
class CodeRow:
    system: str
    code: str
    display: str
    concept: str
    justification: str
    source: str


@dataclass(frozen=True)
class Match:
    """A concept found in an element, and how: by code (``system|code``) or by text."""

    concept: str
    by: str


@dataclass
class CodeMap:
    name: str
    rows: tuple[CodeRow, ...]
    exact: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    prefixes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    names: list[tuple[str, str]] = field(default_factory=list)
    icd: dict[str, set[str]] = field(default_factory=dict)
    icd_ranges: list[tuple[str, str, str]] = field(default_factory=list)
    memo: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    memo_matches: dict[tuple[str, str], tuple[Match, ...]] = field(default_factory=dict)

    def concepts(self) -> set[str]:
        return {r.concept for r in self.rows if not r.concept.startswith("!")}

    def icd_concepts(self) -> set[str]:
        """Concepts with ICD-10 rows: an ICD-10 code that matches none of them is read as
        "not this concept" (the ranges cover whole categories)."""
        return {r.concept for r in self.rows
                if canonical_system(r.system) in ICD10_FAMILY and not r.concept.startswith("!")}

    def match_coding(self, system: str | None, code: str | None) -> frozenset[str]:
        if not system or not code:
            return frozenset()
        key = (system, code)
        cached = self.memo.get(key)
        if cached is None:
            if len(self.memo) >= MEMO_LIMIT:  # bounded: codes come from callers
                self.memo.clear()
            cached = self.memo[key] = frozenset(self._match_coding(system, code))
        return cached

    def _match_coding(self, system: str, code: str) -> set[str]:
        system = canonical_system(system)
        found = set(self.exact.get((system, code.strip()), ()))
        for prefix, concept in self.prefixes.get(system, ()):
            if code.strip().upper().startswith(prefix):
                found.add(concept)
        if system in ICD10_FAMILY:
            found |= self._match_icd(code)
        removed = {c[1:] for c in found if c.startswith("!")}
        return {c for c in found if not c.startswith("!") and c not in removed}

    def _match_icd(self, code: str) -> set[str]:
        parsed = icd10_parts(code)
        if parsed is None:
            return set()
        category, subcategory = parsed
        found = set(self.icd.get(category, ()))
        if subcategory:
            found |= self.icd.get(subcategory, set())
        for low, high, concept in self.icd_ranges:
            if low <= category <= high:
                found.add(concept)
        return found

    def match_text(self, text: str | None) -> set[str]:
        """Concepts named in a text; a name row written ``!name`` removes ``name`` (a septic
        pulmonary embolism names a pulmonary embolism but is not one)."""
        if not text:
            return set()
        lowered = text.lower()
        found = {concept for needle, concept in self.names if needle in lowered}
        removed = {c[1:] for c in found if c.startswith("!")}
        return {c for c in found if not c.startswith("!") and c not in removed}

    def match(self, codeable: Any) -> list[Match]:
        """Concepts of a CodeableConcept (or a bare list of Codings); text only if no code hit.

        Tolerates the shapes real systems send: a single Coding object, a list of
        CodeableConcepts, codings without a system.
        """
        quick = self._match_single(codeable)
        if quick is not None:
            return quick
        found: list[Match] = []
        texts: list[str] = []
        for concept in _codeables(codeable):
            for coding in _codings(concept):
                system, code = coding.get("system"), coding.get("code")
                for c in sorted(self.match_coding(_str(system), _str(code))):
                    found.append(Match(c, f"{system}|{code}"))
                if isinstance(coding.get("display"), str):
                    texts.append(coding["display"])
            if isinstance(concept.get("text"), str):
                texts.append(concept["text"])
        if found:
            return found
        return [Match(c, f"text:{t}") for t in texts for c in sorted(self.match_text(t))]


    def _match_single(self, codeable: Any) -> list[Match] | None:
        """The common shape, one coding and nothing else, answered from the memo; None when
        the general path is needed (several codings, text, or no code hit with a display)."""
        if not isinstance(codeable, dict) or len(codeable) != 1:
            return None
        codings = codeable.get("coding")
        if not isinstance(codings, list) or len(codings) != 1:
            return None
        coding = codings[0]
        if not isinstance(coding, dict) or "display" in coding:
            return None
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return None
        key = (system, code)
        found = self.memo_matches.get(key)
        if found is None:
            if len(self.memo_matches) >= MEMO_LIMIT:
                self.memo_matches.clear()
            found = self.memo_matches[key] = tuple(
                Match(c, f"{system}|{code}") for c in sorted(self.match_coding(system, code)))
        return list(found)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _codeables(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _codings(concept: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "coding" not in concept and "code" in concept:  # a bare Coding where a concept belongs
        return [concept]
    return _codeables(concept.get("coding"))


@functools.cache
def _aliases() -> Mapping[str, str]:
    text = (resources.files("fhir_mappers") / "codes" / "systems.csv").read_text("utf-8")
    return {row["alias"].strip(): row["system"].strip()
            for row in csv.DictReader(io.StringIO(text))}


def canonical_system(system: str) -> str:
    system = system.strip().rstrip("/")
    known = _aliases().get(system)
    if known is not None:
        return known
    return _icd_edition(system) or system


def _icd_edition(system: str) -> str | None:
    """ICD-10 under a URI the alias table does not list: ``-cm`` is ICD-10-CM; any other
    ICD-10 edition (a national clinical edition, a local URI) is read at WHO level."""
    lowered = system.lower()
    if "icd-10" not in lowered and "icd10" not in lowered:
        return None
    if "pcs" in lowered:
        return None
    return ICD10_CM if lowered.endswith(("-cm", "cm")) else ICD10


def icd10_parts(code: str) -> tuple[str, str | None] | None:
    """The WHO category and subcategory of an ICD-10 code of any edition (``C90.000x001`` ->
    ``("C90", "C90.0")``), or None when it is not shaped like an ICD-10 code."""
    found = _ICD_CODE.match(code.strip().upper())
    if found is None:
        return None
    category, fourth = found.group(1), found.group(2)
    return category, f"{category}.{fourth}" if fourth else None


def is_icd10(system: str | None, code: str | None) -> bool:
    """Whether a coding is a well-formed code of an ICD-10 edition."""
    return bool(system and code and canonical_system(system) in ICD10_FAMILY
                and icd10_parts(code) is not None)


def parse_map(name: str, text: str) -> CodeMap:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise CodeMapError(f"{name}.csv: header must be {','.join(COLUMNS)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        row = CodeRow(*(str(raw[c] or "").strip() for c in COLUMNS))
        for column in ("system", "code", "concept", "source"):
            if not getattr(row, column):
                raise CodeMapError(f"{name}.csv line {line}: empty {column}")
        rows.append(row)
    return _index(name, rows)


def _index(name: str, rows: Iterable[CodeRow]) -> CodeMap:
    cmap = CodeMap(name, tuple(rows))
    for row in cmap.rows:
        if row.system in TEXT_SYSTEMS:
            cmap.names.append((row.code.lower(), row.concept))
        elif canonical_system(row.system) == ICD10:
            _index_icd(cmap, row)
        elif row.code.endswith("*"):
            cmap.prefixes.setdefault(canonical_system(row.system), []).append(
                (row.code[:-1].upper(), row.concept))
        else:
            cmap.exact.setdefault((canonical_system(row.system), row.code), set()).add(
                row.concept)
    return cmap


def _index_icd(cmap: CodeMap, row: CodeRow) -> None:
    """A WHO row: a category, a subcategory or a range of categories (see the module doc)."""
    code = row.code.rstrip("*").upper()
    span = _ICD_RANGE.match(code)
    if span is not None:
        cmap.icd_ranges.append((span.group(1), span.group(2), row.concept))
        return
    parts = icd10_parts(code)
    if parts is None or (len(code) > 3 and parts[1] != code):
        raise CodeMapError(f"{cmap.name}.csv: {code!r} is not an ICD-10 category, "
                           "subcategory or range of categories")
    cmap.icd.setdefault(code, set()).add(row.concept)


@functools.cache
def load_map(name: str) -> CodeMap:
    path = resources.files("fhir_mappers") / "codes" / f"{name}.csv"
    return parse_map(name, path.read_text("utf-8"))
