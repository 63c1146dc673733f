"""Benchmark: each hook in process, for charts of 50, 500 and 5,000 resources.

Run: ``.venv/bin/python -m bench.hooks_inprocess``. For each hook and chart size it prints the
median time of the whole call through Flask's test client (parse, map, assess, cards) and of
``json.loads`` of the same request body, and their ratio (target: <= 3 at 500 resources, and
time per resource not growing with size).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from cds_service.app import create_app
from tests.fhir_mappers.big_chart import PATIENT, build

KEYS = {"Condition": "conditions", "Observation": "observations",
        "MedicationRequest": "medications", "Procedure": "procedures", "Device": "devices",
        "Encounter": "encounters", "AllergyIntolerance": "allergies",
        "FamilyMemberHistory": "family"}


def request(hook: str, size: int) -> dict[str, Any]:
    chart = build(size)
    prefetch: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []}
                                for k in KEYS.values()}
    for entry in chart["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Patient":
            prefetch["patient"] = res
        elif res["resourceType"] in KEYS:
            prefetch[KEYS[res["resourceType"]]]["entry"].append(entry)
    context: dict[str, Any] = {"userId": "Practitioner/1", "patientId": PATIENT}
    if hook != "patient-view":
        draft = {"resourceType": "MedicationRequest", "id": "draft-asa", "status": "draft",
                 "intent": "order", "subject": {"reference": f"Patient/{PATIENT}"},
                 "medicationCodeableConcept": {"coding": [{
                     "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1191"}]}}
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": draft}]}
    return {"hook": hook, "hookInstance": "bench-1", "context": context, "prefetch": prefetch}


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(sizes: tuple[int, ...] = (50, 500, 5000)) -> list[dict[str, Any]]:
    app = create_app({"AUTH": "off", "TODAY": "2026-11-27", "PUBLIC_URL": "http://bench"})
    client = app.test_client()
    rows = []
    for service, hook in (("vte-patient-view", "patient-view"),
                          ("vte-order-sign", "order-sign")):
        for size in sizes:
            body = json.dumps(request(hook, size)).encode()
            repeat = max(5, 3000 // size)

            def call(body: bytes = body, service: str = service) -> None:
                response = client.post(f"/cds-services/{service}", data=body,
                                       content_type="application/json")
                assert response.status_code == 200, response.get_data(as_text=True)

            call()
            floor = median_seconds(lambda body=body: json.loads(body), repeat)
            hook_time = median_seconds(call, repeat)
            rows.append({"service": service, "resources": size, "json_ms": floor * 1e3,
                         "hook_ms": hook_time * 1e3, "ratio": hook_time / floor,
                         "us_per_resource": hook_time / size * 1e6})
    return rows


def main() -> None:
    print(f"{'service':<18} {'resources':>9} {'json.loads ms':>13} {'hook ms':>9} {'ratio':>7} "
          f"{'us/resource':>11}")
    for r in run():
        print(f"{r['service']:<18} {r['resources']:>9} {r['json_ms']:>13.2f} {r['hook_ms']:>9.2f} "
              f"{r['ratio']:>7.1f} {r['us_per_resource']:>11.1f}")


if __name__ == "__main__":
    main()
