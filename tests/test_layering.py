"""The web layer's shape (STYLE.md, "The web layer as it grows"): api, security and web use
storage and fhir; storage and fhir use only config, errors and instruments; no subpackage
imports api or web. Checked on the source, so a wrong import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "cds_service"
LOWER = {"storage", "fhir"}
FLOOR = {"config", "errors", "instruments", "json_depth", "json_read", "state"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("cds_service.")}


def _part(module: str) -> str:
    return module.split(".")[1]


def test_storage_and_fhir_stand_only_on_the_floor():
    for sub in LOWER:
        for path in (ROOT / sub).glob("*.py"):
            used = {_part(m) for m in _imports(path)} - {sub}
            assert used <= FLOOR - {"state"}, (path.name, used)


def test_no_subpackage_reaches_up_into_api_or_web():
    for sub in ("security", "storage", "fhir"):
        for path in (ROOT / sub).glob("*.py"):
            assert not {_part(m) for m in _imports(path)} & {"api", "web"}, path


def test_the_concerns_have_their_own_subpackages():
    for sub in ("api", "security", "web", "storage", "fhir"):
        assert (ROOT / sub / "__init__.py").is_file(), sub
    loose = {p.stem for p in ROOT.glob("*.py")} - {"__init__"}
    assert loose <= {"app", "cli", "wsgi", "worker", "gunicorn_config", "demo", "config",
                     "errors", "state", "instruments", "json_depth", "json_read", "logs"}, loose
