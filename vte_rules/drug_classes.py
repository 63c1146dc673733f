"""Drug classes: which medication concepts are an antiplatelet, a vitamin K antagonist, an LMWH,
a heparin, fondaparinux, a DOAC or an IMiD, and what each class is.

Title: drug classes of the medication concepts.
Source: WHO ATC classification (B01, L04AX); MM consensus Table 3 and section 5.1.
Table file: drug_classes.toml.
Variables: the medication concepts of ``fhir_mappers/codes/medications.csv``.
Missing values: a concept in no class belongs to none of the sets below.
Notes: the one list of drug classes; the hooks and the FHIR mapper read their sets here. The
loader refuses a class without a source or label, a concept in two classes, an unknown kind of
antithrombotic or route, and a regimen outside the vocabulary.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vte_rules.regimens import Regimen
from vte_rules.tables import Label, TableError, load_table

ANTITHROMBOTIC_KINDS = ("antiplatelet", "anticoagulant")
ROUTES = ("oral", "parenteral")


@dataclass(frozen=True)
class DrugClass:
    name: str
    label: Label
    concepts: tuple[str, ...]
    antithrombotic: str | None
    route: str
    fulfils: tuple[Regimen, ...]
    fulfils_source: str
    source: str


def _drug_class(raw: Mapping[str, Any], where: str) -> DrugClass:
    for key in ("name", "concepts", "route", "fulfils_source", "source"):
        if not raw.get(key):
            raise TableError(f"{where}: class needs {key}")
    where = f"{where} ({raw['name']})"
    label = raw.get("label")
    if not isinstance(label, Mapping) or not label.get("en") or not label.get("zh"):
        raise TableError(f"{where}: label needs both en and zh")
    kind = raw.get("antithrombotic")
    if kind is not None and kind not in ANTITHROMBOTIC_KINDS:
        raise TableError(f"{where}: antithrombotic must be one of {ANTITHROMBOTIC_KINDS}")
    if raw["route"] not in ROUTES:
        raise TableError(f"{where}: route must be one of {ROUTES}")
    unknown = [r for r in raw.get("fulfils", ()) if r not in {v.value for v in Regimen}]
    if unknown:
        raise TableError(f"{where}: fulfils names no regimen {unknown}")
    return DrugClass(str(raw["name"]), Label.of(label), tuple(raw["concepts"]), kind,
                     str(raw["route"]), tuple(Regimen(r) for r in raw.get("fulfils", ())),
                     str(raw["fulfils_source"]), str(raw["source"]))


def parse_classes(raw: Sequence[Mapping[str, Any]]) -> tuple[DrugClass, ...]:
    """Check and build the classes of ``drug_classes.toml`` (`classes` reads the file)."""
    found = tuple(_drug_class(c, f"drug_classes.toml class {i + 1}") for i, c in enumerate(raw))
    names = [c.name for c in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TableError(f"drug_classes.toml: classes given twice {twice}")
    seen: dict[str, str] = {}
    for drug_class in found:
        for concept in drug_class.concepts:
            if concept in seen:
                raise TableError(f"drug_classes.toml: {concept!r} is in {seen[concept]!r} and "
                                 f"{drug_class.name!r}")
            seen[concept] = drug_class.name
    return found


@functools.cache
def classes() -> tuple[DrugClass, ...]:
    """The classes, in the table's order (read once per process)."""
    return parse_classes(load_table("drug_classes").data.get("classes", ()))


def members(*names: str) -> frozenset[str]:
    """The concepts of the named classes."""
    by_name = {c.name: c for c in classes()}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise KeyError(f"drug_classes.toml has no class {missing}")
    return frozenset(c for n in names for c in by_name[n].concepts)


def antithrombotics(kind: str | None = None, route: str | None = None) -> frozenset[str]:
    """The concepts of the antithrombotic classes; only those of ``kind`` ("antiplatelet",
    "anticoagulant") or given by ``route`` ("oral", "parenteral") when named."""
    return frozenset(c for d in classes() if d.antithrombotic is not None
                     and kind in (None, d.antithrombotic) and route in (None, d.route)
                     for c in d.concepts)


def regimens_fulfilled() -> dict[str, set[str]]:
    """Which recommended regimens a concept already given counts as, by concept (concepts whose
    class fulfils none are left out)."""
    return {c: {r.value for r in d.fulfils} for d in classes() if d.fulfils for c in d.concepts}
