"""vte_rules is pure: in a fresh interpreter it loads no web, HTTP or FHIR library."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
before = set(sys.modules)
import vte_rules.tables, vte_rules.facts, vte_rules.score, vte_rules.derive
import vte_rules.wells, vte_rules.mm_vte, vte_rules.bleeding, vte_rules.drug_risk
import vte_rules.prophylaxis, vte_rules.duration, vte_rules.treatment, vte_rules.cmvt
import vte_rules.regimens, vte_rules.report, vte_rules.drug_classes
vte_rules.tables.load_all()
vte_rules.drug_classes.classes()
stdlib = set(sys.stdlib_module_names)
loaded = set(sys.modules) - before
outside = sorted({m.split('.')[0] for m in loaded} - stdlib - {'vte_rules'})
heavy = [m for m in ("flask", "requests", "fhir", "werkzeug") if m in sys.modules]
print(json.dumps({"outside": outside, "heavy": heavy}))
"""


def test_vte_rules_imports_only_the_standard_library():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout)
    assert result["outside"] == [], f"vte_rules pulled in {result['outside']}"
    assert result["heavy"] == []
