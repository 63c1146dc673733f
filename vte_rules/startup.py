"""Load every clinical table and run every cross-table check: call once at start-up.

The loader (`vte_rules.tables`) checks each table on its own; the decision modules add checks
that span tables (a tier with no prophylaxis entry, a regimen outside the vocabulary, a CR/sCR
branch table with a gap). Any failure raises `vte_rules.tables.TableError`.
"""

from __future__ import annotations

from vte_rules import duration, prophylaxis, treatment
from vte_rules.tables import Table, load_all


def check_all() -> dict[str, Table]:
    tables = load_all()
    prophylaxis.check_tables()
    duration.check_tables()
    treatment.check_tables()
    return tables
