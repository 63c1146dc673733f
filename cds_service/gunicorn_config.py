"""What ``vte-cds serve`` gives gunicorn besides its command line (``-c
python:cds_service.gunicorn_config``): a server hook, which only a configuration module can give,
and the logger class for JSON logs.

``child_exit`` runs in the master when a worker has ended, however it ended (stopped, restarted,
timed out, killed): its live gauges are struck from the metrics folder
(``PROMETHEUS_MULTIPROC_DIR``), so that ``/metrics`` counts the workers that serve, not the ones
that did. Its counters stay: what it did, it did.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from cds_service.logs import JsonFormatter


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's own lines (workers booting and ending, refusals by the serving worker) as JSON,
    like the service's (``VTE_CDS_LOG_FORMAT=json``)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
