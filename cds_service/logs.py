"""How the service writes its logs: plain text (the default) or, with ``VTE_CDS_LOG_FORMAT=json``,
one JSON object per line for a log collector.

A JSON line holds ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message`` and
``pid``; written while a request is answered, also the request's ``method`` (from a fixed list,
else ``other``) and ``route``, the route rule (``/assessments/view/<token>``: never the path, which
can hold a card link's token, nor the query). In JSON mode every request ends with one line from
the ``vte_cds.request`` logger that adds its ``status`` and ``ms`` (the application's time, from
routing to the response). A record's exception is given by its type only (``exception``), never
a traceback or its message, which can quote request data.

The records are the ones the text format writes (``docs/security.md``, "What is logged"); JSON
only shapes them. Under ``vte-cds serve`` gunicorn's own lines (workers booting, refusals by the
serving worker) come out in the same format (``cds_service.gunicorn_config.JsonLogger``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from flask import has_request_context, request

FORMATS = ("text", "json")
# The methods a log line or a metric label may name; any other token a client sends is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REQUEST_LOGGER = "vte_cds.request"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int((record.created - seconds) * 1000):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if has_request_context():
            doc["method"] = method_label(request.method)
            doc["route"] = request.url_rule.rule if request.url_rule else "unmatched"
        for field in ("status", "ms"):
            value = record.__dict__.get(field)
            if value is not None:
                doc[field] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["exception"] = record.exc_info[0].__name__
        return json.dumps(doc, ensure_ascii=False, default=str)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(log_format: str) -> None:
    """The root logger at INFO, writing to standard error in ``log_format``."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def environment_format() -> str:
    """``VTE_CDS_LOG_FORMAT`` as this process sees it (checked by ``config.check``)."""
    return os.environ.get("VTE_CDS_LOG_FORMAT", "text").strip().lower()


def request_done(status: int, ms: float) -> None:
    """The line that ends a request in JSON mode (method and route come from the request)."""
    logging.getLogger(REQUEST_LOGGER).info(
        "%s %s %d", method_label(request.method),
        request.url_rule.rule if request.url_rule else "unmatched", status,
        extra={"status": status, "ms": round(ms, 1)})

