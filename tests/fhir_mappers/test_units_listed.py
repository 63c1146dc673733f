"""A unit text written as the table writes it is read without the clean-up, with the same answer.

``units._read`` looks a text up among the spellings of ``units.toml`` before cleaning it up (a lab
most often sends one of them). For every kind, every spelling, and every spelling as a lab could
vary it, the answer must be the one of the clean-up path (``_read_text``), which every other text
takes as before.
"""

from __future__ import annotations

import pytest

from fhir_mappers import units

KINDS = units._table().kinds


def _variants(spelling: str) -> list[str]:
    return [spelling, spelling.upper(), spelling.lower(), f" {spelling} ",
            spelling.replace("u", "µ"), f"{spelling} FEU", f"[{spelling}]"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_spelling_reads_as_the_clean_up_reads_it(kind):
    spec = KINDS[kind]
    spellings = [s for conv in {id(c): c for c in spec.exact.values()}.values()
                 for s in conv.spellings]
    assert spellings
    for spelling in spellings:
        for text in _variants(spelling):
            for what in ("UCUM code", "unit"):
                assert units._read(spec, text, what) == units._read_text(spec, text, what), text


def test_only_kinds_without_a_basis_read_listed_spellings_directly():
    assert all(not spec.listed for spec in KINDS.values() if spec.needs_basis)
    assert any(spec.listed for spec in KINDS.values())
