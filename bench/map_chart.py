"""Benchmark: mapping a chart to PatientFacts, against json.loads of the same bytes.

Run: ``.venv/bin/python -m bench.map_chart`` (after ``bin/test`` or ``bin/run`` made .venv).
Prints, for charts of 50, 500 and 5,000 resources, the median time of ``json.loads`` and of
``json.loads`` + ``map_chart``, per resource, and their ratio. Both are measured in the same run
on the same machine, so the ratio is what to compare across machines.
"""

from __future__ import annotations

import json

from bench.hooks_inprocess import median_seconds
from fhir_mappers.chart import map_chart
from tests.fhir_mappers.big_chart import AS_OF, PATIENT, build


def run(sizes: tuple[int, ...] = (50, 500, 5000)) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        raw = json.dumps(build(size)).encode()
        repeat = max(5, 2000 // size)
        floor = median_seconds(lambda raw=raw: json.loads(raw), repeat)  # type: ignore[misc]
        mapped = median_seconds(
            lambda raw=raw: map_chart(json.loads(raw), as_of=AS_OF,  # type: ignore[misc]
                                      patient_id=PATIENT), repeat)
        rows.append({"resources": size, "json_us_per_resource": floor / size * 1e6,
                     "map_us_per_resource": mapped / size * 1e6, "ratio": mapped / floor})
    return rows


def main() -> None:
    map_chart(build(50), as_of=AS_OF, patient_id=PATIENT)  # warm caches: tables, code maps
    print(f"{'resources':>9} {'json.loads us/res':>18} {'map us/res':>11} {'ratio':>7}")
    for row in run():
        print(f"{row['resources']:>9} {row['json_us_per_resource']:>18.2f} "
              f"{row['map_us_per_resource']:>11.2f} {row['ratio']:>7.1f}")


if __name__ == "__main__":
    main()
