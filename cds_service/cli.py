"""The ``vte-cds`` command line.

``vte-cds serve``         run the CDS Hooks service under gunicorn (``--dev``: Flask's server)
``vte-cds demo``          the service and an embedded FHIR server with the patients loaded
``vte-cds check-ehr FILE`` check the token of a captured EHR request, one line per check
``vte-cds feedback-report`` acceptance and override reasons per card kind
``vte-cds load-fhir URL``  load the synthetic patients into a FHIR server
``vte-cds tables``        load and check every clinical table, print their versions
``vte-cds assess FILE``   assess a patient-facts JSON document (``-`` reads standard input)
``vte-cds demo-assess``   assess the bundled example patients and print the result

A setting the service cannot work with stops ``serve`` (before gunicorn starts a worker) and any
command that reads it, with exit status 2 and one line naming the variable and the way out.
Commands that serve nothing read no serving setting: ``feedback-report`` reads only
``VTE_CDS_DATABASE_URL``, ``check-ehr`` only the issuers and the public URL.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from importlib import resources
from typing import Any, TextIO

from cds_service import config, logs
from cds_service.config import ConfigError
from hooks.words import english
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
    result = assess_all(chart.facts, word=english)
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
            result = assess_all(facts_from_json(doc), word=english)
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
        result = assess_all(facts_from_json(doc), word=english)
        out.write(f"== {entry.name}\n{doc.get('description', '')}\n")
        for line in _summary(result):
            out.write(f"  {line}\n")
    return 0


MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def port_problem(host: str, port: int) -> str | None:
    """Why the service could not listen on ``host:port``, or None if it can."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (f"cannot listen on {host}:{port} ({exc.strerror or exc}): stop what listens "
                    "there, or choose another port with --port")
    return None


def _serve(args: argparse.Namespace) -> int:
    if args.dev:
        from cds_service.app import check_settings, create_app

        check_settings()
        sys.stderr.write("vte-cds: Flask development server, for development only\n")
        create_app().run(host=args.host, port=args.port)
        return 0
    # Every worker writes its metrics to files here and /metrics adds them up. Set before
    # anything imports prometheus_client, which chooses where values live when it is imported;
    # the workers, forked from this process, inherit the choice. A new folder per run: the
    # files of an earlier run would add its counts to this one's.
    metrics_dir = tempfile.mkdtemp(prefix="vte-cds-metrics-")
    before = os.environ.get(MULTIPROC_DIR)
    os.environ[MULTIPROC_DIR] = metrics_dir
    master = os.getpid()
    try:
        return _gunicorn(args)
    finally:
        # gunicorn's workers return through here too (they are forked inside run()): only the
        # process that made the folder removes it
        if os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            if before is None:
                del os.environ[MULTIPROC_DIR]
            else:
                os.environ[MULTIPROC_DIR] = before


WSGI_APP = "cds_service.wsgi:app"


def gunicorn_argv(host: str, port: int, workers: int, threads: int, access_log: bool = False,
                  app: str = WSGI_APP) -> list[str]:
    """The gunicorn command line ``vte-cds serve`` runs (bench/ serves its baseline app with the
    same one, ``app`` aside, so that the two are measured alike)."""
    # The worker reads each request whole, with header and body deadlines, before a thread
    # takes it (cds_service/worker.py): slow clients cannot hold the threads. It serves as many
    # connections as worker-connections allows and keeps them: a small limit spreads keep-alive
    # clients over the workers instead of one taking all.
    argv = ["gunicorn", "--config", "python:cds_service.gunicorn_config", "--bind",
            f"{host}:{port}", "--workers", str(workers), "--threads", str(threads),
            "--worker-class", "cds_service.worker.GuardedThreadWorker", "--worker-connections",
            str(threads * 4), app]
    if logs.environment_format() == "json":
        # gunicorn's lines in JSON too; the application writes one line per request itself
        # (method, route rule, status, ms), so gunicorn's access log is not added
        argv[1:1] = ["--logger-class", "cds_service.gunicorn_config.JsonLogger"]
    elif access_log:
        # the route, not the path: a path can hold a card link's token
        argv[1:1] = ["--access-logfile", "-", "--access-logformat",
                     '%(h)s %(m)s %({x-vte-route}o)s %(s)s %(b)s %(M)sms']
    return argv


def _gunicorn(args: argparse.Namespace) -> int:
    from cds_service.app import check_settings

    # Here, in the one process: gunicorn's workers would each print a traceback instead.
    check_settings()
    problem = port_problem(args.host, args.port)
    if problem is not None:
        sys.stderr.write(f"vte-cds: {problem}\n")
        return 2
    from gunicorn.app.wsgiapp import run

    sys.argv = gunicorn_argv(args.host, args.port, args.workers, args.threads, args.access_log)
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
    from cds_service.storage.feedback import open_store

    settings = config.environment()
    config.check(settings, ["DATABASE_URL"])
    with open_store(str(settings["DATABASE_URL"])) as store:
        rows = store.report()
    json.dump([dataclasses.asdict(r) for r in rows], out, ensure_ascii=False, indent=2,
              default=str)
    out.write("\n")
    return 0


def _when(text: str, capture: dict[str, Any]) -> float:
    """``--at``: seconds since the epoch, an ISO 8601 time (UTC unless it says), or ``capture``."""
    if text == "capture":
        captured = capture.get("captured_at_epoch")
        if isinstance(captured, int | float) and not isinstance(captured, bool):
            return float(captured)
        raise ValueError("--at capture needs a capture with captured_at_epoch")
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at {text!r} is neither seconds since the epoch, an ISO 8601 time, "
                         "nor 'capture'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _option_text(value: str) -> str:
    """An option's value, or the text of the file it names as ``@path``."""
    if not value.startswith("@"):
        return value
    with open(value[1:], encoding="utf-8") as fh:
        return fh.read()


def _check_ehr(args: argparse.Namespace, out: TextIO) -> int:
    import logging

    import requests

    from cds_service.app import trusted_issuers
    from cds_service.security import check_ehr

    try:
        capture = _read(args.file)
        issuers_text = None if args.issuers is None else _option_text(args.issuers)
    except (OSError, json.JSONDecodeError) as exc:
        name = exc.filename if isinstance(exc, OSError) else args.file
        sys.stderr.write(f"vte-cds: cannot read {name}: {exc}\n")
        return 2
    if not isinstance(capture, dict) or not isinstance(capture.get("headers"), dict):
        sys.stderr.write("vte-cds: the capture must be a JSON object with 'path', 'headers' "
                         "(holding Authorization) and 'body'\n")
        return 2
    settings = config.environment()
    if issuers_text is not None:
        settings["TRUSTED_ISSUERS"] = issuers_text
    if args.public_url is not None:
        settings["PUBLIC_URL"] = args.public_url
    config.check(settings, ["PUBLIC_URL", "TRUSTED_ISSUERS"])
    issuers = trusted_issuers(settings, none=(
        "names no issuer", f"give --issuers, or {config.ISSUERS_HELP}"))
    try:
        now = _when(args.at, capture) if args.at else time.time()
    except ValueError as exc:
        sys.stderr.write(f"vte-cds: {exc}\n")
        return 2
    logging.basicConfig(level=logging.ERROR)  # a failed fetch is a line of the report, not a log
    with requests.Session() as session:
        report = check_ehr.check(capture, issuers, str(settings["PUBLIC_URL"]), now=now,
                                 session=session)
    report.write(out)
    return 0 if report.passed else 1


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
    check = sub.add_parser("check-ehr", help="check the token of a captured EHR request, line by "
                                             "line (exit 1 when a check fails)")
    check.add_argument("file", help="captured request: JSON with path, headers and body (- for "
                                    "standard input)")
    check.add_argument("--issuers", help="trusted issuers as JSON, or @file holding it "
                                         "(default: VTE_CDS_TRUSTED_ISSUERS)")
    check.add_argument("--public-url", help="base URL the EHR calls (default: "
                                            "VTE_CDS_PUBLIC_URL)")
    check.add_argument("--at", help="evaluate the clock at this time: seconds since the epoch, "
                                    "ISO 8601, or 'capture' for the capture's captured_at_epoch "
                                    "(default: now)")
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
    try:
        return _command(args)
    except ConfigError as exc:
        sys.stderr.write(f"vte-cds: {exc}\n")
        return 2


def _command(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "load-fhir":
        return _load_fhir(args.url, sys.stdout)
    if args.command == "demo":
        from cds_service import demo

        return demo.run(args.port, args.workdir, sys.stdout)
    if args.command == "check-ehr":
        return _check_ehr(args, sys.stdout)
    if args.command == "feedback-report":
        return _feedback_report(sys.stdout)
    if args.command == "tables":
        return _tables(sys.stdout)
    if args.command == "assess":
        return _assess(args.file, sys.stdout, args.as_of)
    return _demo(sys.stdout)


if __name__ == "__main__":
    raise SystemExit(main())
