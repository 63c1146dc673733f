"""Benchmark: each hook in process, for charts of 50, 500, 5,000 and 20,000 resources.

Run: ``.venv/bin/python -m bench.hooks_inprocess [--runs 3]``. For each hook and chart size it
prints the median time of the whole call through Flask's test client (parse, map, assess, cards)
and of ``json.loads`` of the same request body, measured alternately (one of each, in turn), and
their ratio. Targets: patient-view <= 3 x ``json.loads`` at 500 resources and <= 2 x at 5,000,
and time per resource flat (not growing) up to 20,000 (also given beyond ``json.loads``: what
the service adds per resource). The collector is set as every serving worker sets it
(``cds_service.app.tune_collector``). With ``--runs N`` the whole measurement is repeated N
times and the ratios are given as median and range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from cds_service.app import create_app, tune_collector
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


SIZES = (50, 500, 5000, 20000)
TARGETS = {500: 3.0, 5000: 2.0}  # patient-view, ratio to json.loads


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(first: Callable[[], object], second: Callable[[], object],
              repeat: int) -> tuple[float, float]:
    """Median seconds of each, timed in turn, so that a change in the machine's load falls on
    both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run(sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as store:
        # 20,000 resources are about 8 MB: over the default body limit, which is a setting
        app = create_app({"AUTH": "off", "TODAY": "2026-11-27", "PUBLIC_URL": "http://bench",
                          "MAX_BODY_BYTES": 64_000_000,
                          "DATABASE_URL": f"sqlite:///{store}/store.db"})
        tune_collector()  # as cds_service/wsgi.py does in every serving worker
        return [_measure(app.test_client(), service, hook, size)
                for service, hook in (("vte-patient-view", "patient-view"),
                                      ("vte-order-sign", "order-sign"))
                for size in sizes]


def _measure(client: Any, service: str, hook: str, size: int) -> dict[str, Any]:
    body = json.dumps(request(hook, size)).encode()

    def call() -> None:
        response = client.post(f"/cds-services/{service}", data=body,
                               content_type="application/json")
        assert response.status_code == 200, response.get_data(as_text=True)

    call()
    floor, hook_time = alternate(lambda: json.loads(body), call, max(7, 3000 // size))
    return {"service": service, "resources": size, "json_ms": floor * 1e3,
            "hook_ms": hook_time * 1e3, "ratio": hook_time / floor,
            "us_per_resource": hook_time / size * 1e6,
            "us_beyond_json": (hook_time - floor) / size * 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.hooks_inprocess", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole measurement")
    args = parser.parse_args(argv)
    runs = [run() for _ in range(max(1, args.runs))]
    print(f"{'service':<18} {'resources':>9} {'json.loads ms':>13} {'hook ms':>9} {'ratio':>7} "
          f"{'ratio range':>12} {'us/resource':>11} {'beyond json':>11}  target")
    for i, first in enumerate(runs[0]):
        same = [r[i] for r in runs]
        ratios = [r["ratio"] for r in same]
        target = TARGETS.get(first["resources"]) if first["service"] == "vte-patient-view" \
            else None
        ratio = statistics.median(ratios)
        verdict = "" if target is None else \
            f"<= {target:g}: {'met' if ratio <= target else 'missed'}"
        print(f"{first['service']:<18} {first['resources']:>9} "
              f"{statistics.median(r['json_ms'] for r in same):>13.2f} "
              f"{statistics.median(r['hook_ms'] for r in same):>9.2f} {ratio:>7.2f} "
              f"{min(ratios):>5.2f}-{max(ratios):<6.2f} "
              f"{statistics.median(r['us_per_resource'] for r in same):>11.2f} "
              f"{statistics.median(r['us_beyond_json'] for r in same):>11.2f}  {verdict}")


if __name__ == "__main__":
    main()
