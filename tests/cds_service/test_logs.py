"""``VTE_CDS_LOG_FORMAT=json``: one JSON object per line, with the request's method, route rule,
status and time, and nothing a text line would not hold."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cds_service.app import check_settings, create_app
from cds_service.config import ConfigError
from cds_service.logs import JsonFormatter
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone

HOOK = "/cds-services/vte-patient-view"


@contextmanager
def json_lines() -> Iterator[list[dict]]:
    """Every record logged inside the block, formatted as it is logged (inside the request), each
    line parsed as JSON when the block ends."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    parsed: list[dict] = []
    try:
        yield parsed
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    parsed.extend(json.loads(line) for line in stream.getvalue().splitlines())


def make_client(tmp_path, log_format: str):
    return create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                       "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db",
                       "LOG_FORMAT": log_format}).test_client()


def test_a_hook_call_logs_json_lines_ending_with_its_request_line(tmp_path):
    client = make_client(tmp_path, "json")
    with json_lines() as with_lines:
        assert client.post(HOOK, json=myeloma_on_lenalidomide_dexamethasone()).status_code == 200
        assert client.get("/assessments/view/" + "x" * 30).status_code == 404
    hook_lines = [line for line in with_lines if line.get("route") == "/cds-services/<service_id>"
                  and line["logger"].startswith("vte_cds")]
    assert [line["logger"] for line in hook_lines] == ["vte_cds", "vte_cds.request"]
    call, done = hook_lines
    assert call["message"].startswith("service=vte-patient-view hookInstance=")
    assert {"time", "level", "logger", "message", "pid", "method", "route"} <= set(call)
    assert "status" not in call
    assert done["message"] == "POST /cds-services/<service_id> 200"
    assert (done["method"], done["status"], done["level"]) == ("POST", 200, "INFO")
    assert 0 < done["ms"] < 10_000
    assert done["time"].endswith("Z")
    assert len(done["time"]) == len("2026-11-27T09:30:00.000Z")
    [link] = [line for line in with_lines if line.get("route") == "/assessments/view/<token>"]
    assert (link["message"], link["status"]) == ("GET /assessments/view/<token> 404", 404)
    assert "x" * 30 not in json.dumps(with_lines)


def test_in_text_mode_no_request_line_is_written(tmp_path, caplog):
    client = make_client(tmp_path, "text")
    caplog.set_level(logging.INFO)
    assert client.post(HOOK, json=myeloma_on_lenalidomide_dexamethasone()).status_code == 200
    assert [r for r in caplog.records if r.name == "vte_cds.request"] == []


def test_an_exception_is_given_by_its_type_only_and_a_line_stays_one_line():
    record = logging.LogRecord("vte_cds", logging.ERROR, __file__, 1,
                               "two\nlines for %s", ("Xiuying",), None)
    try:
        raise KeyError("patient mm-rd")
    except KeyError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["message"] == "two\nlines for Xiuying"
    assert doc["exception"] == "KeyError"
    assert "mm-rd" not in line
    assert "Traceback" not in line
    assert {"method", "route", "status", "ms"}.isdisjoint(doc)


def test_an_unknown_log_format_stops_the_service_at_start():
    with pytest.raises(ConfigError, match="VTE_CDS_LOG_FORMAT must be text or json"):
        check_settings({"AUTH": "off", "LOG_FORMAT": "xml"})
