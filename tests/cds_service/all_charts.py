"""Every chart the project holds, as the hook calls an EHR would make for it.

The synthetic patients (``cds_service/synthetic/``) and the review charts
(``tests/clinical_review/cases/``), each with every prefetch key filled, for all three hooks:
patient-view, and order-select and order-sign with each set of draft orders written for that
patient (``drafts.json``, the case's ``draft_orders``), or with none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.synthetic import bundles, drafts
from tests.clinical_review.test_review_charts import request_for

HOOKS = ("patient-view", "order-select", "order-sign")
SERVICES = {"patient-view": "vte-patient-view", "order-select": "vte-order-select",
            "order-sign": "vte-order-sign"}
SYNTHETIC_DAY = "2026-11-27"
CASES = sorted((Path(__file__).parents[1] / "clinical_review" / "cases").glob("*.json"))


@dataclass(frozen=True)
class Call:
    name: str
    as_of: str
    body: dict[str, Any]
    resources: tuple[dict[str, Any], ...]  # the chart and the drafts, as sent

    @property
    def service(self) -> str:
        return SERVICES[self.body["hook"]]


def _synthetic() -> Iterator[Call]:
    sets = drafts()
    for sid, bundle in bundles().items():
        chart = [e["resource"] for e in bundle["entry"]]
        pid = next(r["id"] for r in chart if r["resourceType"] == "Patient")
        own = [d for d in sets.values()
               if all(r["subject"]["reference"] == f"Patient/{pid}" for r in d)]
        case = {"id": sid, "resources": chart}
        for hook in HOOKS:
            for i, drafted in enumerate(own if hook != "patient-view" and own else [[]]):
                body = request_for({**case, "hook": hook, "draft_orders": drafted})
                yield Call(f"{sid}-{hook}-{i}", SYNTHETIC_DAY, body, (*chart, *drafted))


def _reviewed() -> Iterator[Call]:
    for path in CASES:
        case = json.loads(path.read_text("utf-8"))
        drafted = case.get("draft_orders") or []
        for hook in HOOKS:
            body = request_for({**case, "hook": hook})
            yield Call(f"{case['id']}-{hook}", case["as_of"], body,
                       (*case["resources"], *drafted))


def calls() -> list[Call]:
    return [*_synthetic(), *_reviewed()]
