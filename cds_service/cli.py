"""The ``vte-cds`` command line.

``vte-cds serve``         run the CDS Hooks service under gunicorn (``--dev``: Flask's server)
``vte-cds feedback-report`` acceptance and override reasons per card kind
``vte-cds load-fhir URL``  load the synthetic patients into a FHIR server
``vte-cds demo``          the service and an embedded FHIR server with the patients loaded
``vte-cds tables``        load and check every clinical table, print their versions
``vte-cds assess FILE``   assess a patient-facts JSON document (``-`` reads standard input)
``vte-cds demo-assess``   assess the bundled example patients and print the result
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from importlib import resources
from typing import Any, TextIO

from vte_rules.facts import FactError, facts_from_json
from vte_rules.report import assess_all
from vte_rules.startup import check_all
from vte_rules.tables import TableError, load_all


def _tables(out: TextIO) -> int:
    for name, table in load_all().items():
        out.write(f"{table.ref:<18} {len(table.rows):>3} rows  {name}.toml\n")
    return 0


def _read(path: str) -> Any:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _assess_fhir(doc: dict[str, Any], as_of: str | None) -> dict[str, Any]:
    """The same document ``POST /assessments`` answers, from a Bundle or a hook request."""
    import datetime as dt

    from fhir_mappers.chart import map_chart
    from vte_rules.report import to_data

    day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    if "hook" in doc:
        context = doc.get("context") if isinstance(doc.get("context"), dict) else {}
        prefetch = doc.get("prefetch") if isinstance(doc.get("prefetch"), dict) else {}
        patient = context.get("patientId") if context else None
        chart = map_chart(*(prefetch or {}).values(), as_of=day,
                          patient_id=patient if isinstance(patient, str) else None)
    else:
        chart = map_chart(doc, as_of=day)
    result = assess_all(chart.facts)
    result["data_issues"] = to_data(chart.issues)
    return result


def _assess(path: str, out: TextIO, as_of: str | None = None) -> int:
    try:
        doc = _read(path)
    except (OSError, json.JSONDecodeError) as exc:
        sys.stderr.write(f"vte-cds: cannot read {path}: {exc}\n")
        return 2
    if not isinstance(doc, dict):
        sys.stderr.write("vte-cds: the document must be a JSON object: patient facts, a FHIR "
                         "Bundle or a CDS Hooks request\n")
        return 2
    if "facts" in doc:
        try:
            result = assess_all(facts_from_json(doc))
        except FactError as exc:
            sys.stderr.write(f"vte-cds: {exc}\n")
            return 2
    else:
        result = _assess_fhir(doc, as_of)
    json.dump(result, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return 0


def _summary(result: dict[str, Any]) -> list[str]:
    lines = []
    recs = result["recommendations"]
    if "prophylaxis" in recs:
        for key in ("mm_vte", "bleeding"):
            score = result["scores"][key]
            lines.append(f"{key}: {score['category']} ({score['points']:g} points documented, "
                         f"{score['max_points']:g} at most)")
        pro = recs["prophylaxis"]
        lines.append(f"prophylaxis: {pro['regimen']} - "
                     + "; ".join(o["dose"]["en"] for o in pro["options"]))
        lines.extend(f"ruled out: {r['regimen']} ({r['rule']}): {r['reason']['en']}"
                     for r in pro["ruled_out"])
        lines.extend(f"could change: {c['en']}" for c in pro["could_change"])
    if "cmvt" in recs:
        rec = recs["cmvt"]
        lines.append(f"cmvt: risk {result['cmvt']['thrombosis_risk']}, {rec['regimen']} - "
                     + "; ".join(o["dose"]["en"] for o in rec["options"]))
    return lines


def _demo(out: TextIO) -> int:
    examples = resources.files("cds_service") / "examples"
    for entry in sorted(examples.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        doc = json.loads(entry.read_text("utf-8"))
        result = assess_all(facts_from_json(doc))
        out.write(f"== {entry.name}\n{doc.get('description', '')}\n")
        for line in _summary(result):
            out.write(f"  {line}\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.dev:
        from cds_service.app import create_app

        sys.stderr.write("vte-cds: Flask development server, for development only\n")
        create_app().run(host=args.host, port=args.port)
        return 0
    from gunicorn.app.wsgiapp import run

    # A gthread worker accepts as many connections as worker-connections allows and keeps
    # them: a small limit spreads keep-alive clients over the workers instead of one taking all.
    sys.argv = ["gunicorn", "--bind", f"{args.host}:{args.port}", "--workers",
                str(args.workers), "--threads", str(args.threads), "--worker-connections",
                str(args.threads * 4), "cds_service.wsgi:app"]
    if args.access_log:
        # the route, not the path: a path can hold a card link's token
        sys.argv[1:1] = ["--access-logfile", "-", "--access-logformat",
                         '%(h)s %(m)s %({x-vte-route}o)s %(s)s %(b)s %(M)sms']
    run()
    return 0


def _load_fhir(url: str, out: TextIO) -> int:
    import requests

    from cds_service.synthetic.loader import LoadError, load_into

    with requests.Session() as session:
        try:
            patients = load_into(url, session)
        except (requests.RequestException, LoadError) as exc:
            sys.stderr.write(f"vte-cds: could not load into {url}: {exc}\n")
            return 1
    out.write(f"loaded {len(patients)} synthetic patients into {url}: {', '.join(patients)}\n")
    return 0


def _feedback_report(out: TextIO) -> int:
    from cds_service.app import create_app
    from cds_service.feedback import open_store

    app = create_app()
    with open_store(str(app.config["DATABASE_URL"])) as store:
        rows = store.report()
    json.dump([dataclasses.asdict(r) for r in rows], out, ensure_ascii=False, indent=2,
              default=str)
    out.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vte-cds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=4)
    serve.add_argument("--access-log", action="store_true",
                       help="log every request line (off by default: it costs throughput)")
    serve.add_argument("--dev", action="store_true",
                       help="Flask's development server instead of gunicorn")
    sub.add_parser("feedback-report", help="feedback per card kind, as JSON")
    load = sub.add_parser("load-fhir", help="load the synthetic patients into a FHIR server")
    load.add_argument("url", help="FHIR base URL, e.g. http://localhost:8090/fhir")
    demo_cmd = sub.add_parser("demo", help="the service and an embedded FHIR server on "
                                           "loopback, with the synthetic patients loaded")
    demo_cmd.add_argument("--port", type=int, default=8080)
    demo_cmd.add_argument("--workdir", help="folder for the FHIR server's data (default: a new "
                                        "temporary folder)")
    sub.add_parser("tables", help="load and check every clinical table")
    assess = sub.add_parser("assess", help="assess a patient-facts JSON document")
    assess.add_argument("file", help="patient facts, a FHIR R4 Bundle or a CDS Hooks request "
                                     "(JSON file, or - for standard input)")
    assess.add_argument("--as-of", help="evaluation date YYYY-MM-DD (default: today)")
    sub.add_parser("demo-assess", help="assess the bundled example patients")
    args = parser.parse_args(argv)
    try:
        check_all()
    except TableError as exc:
        sys.stderr.write(f"vte-cds: refusing to start, a clinical table is invalid: {exc}\n")
        return 3
    if args.command == "serve":
        return _serve(args)
    if args.command == "load-fhir":
        return _load_fhir(args.url, sys.stdout)
    if args.command == "demo":
        from cds_service import demo

        return demo.run(args.port, args.workdir, sys.stdout)
    if args.command == "feedback-report":
        return _feedback_report(sys.stdout)
    if args.command == "tables":
        return _tables(sys.stdout)
    if args.command == "assess":
        return _assess(args.file, sys.stdout, args.as_of)
    return _demo(sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
