"""The metric families every layer counts into, defined once; ``GET /metrics`` shows them in the
Prometheus text format (``cds_service.api.metrics``).

=====================================  =========  ==========================================
family                                 type       labels
=====================================  =========  ==========================================
``vte_cds_http_requests_total``        counter    ``method``, ``route``, ``status``
``vte_cds_http_requests_in_progress``  gauge      (none; live workers only)
``vte_cds_hook_duration_seconds``      histogram  ``service``, ``status``
``vte_cds_cards_total``                counter    ``service``, ``kind``, ``indicator``
``vte_cds_fhir_queries_total``         counter    ``resource``, ``outcome``
``vte_cds_auth_refusals_total``        counter    ``reason``
``vte_cds_store_errors_total``         counter    ``error``
``vte_cds_readiness_failures_total``   counter    (none)
=====================================  =========  ==========================================

Every label holds a word from a closed vocabulary: a method from ``cds_service.logs.METHODS``
(else ``other``), the route rule (``/assessments/view/<token>``, never the path), an HTTP status,
a service id from the registry, a card kind and indicator, a FHIR resource type from the services'
prefetch templates, and the outcome, reason and error words written where they are counted.
Never a patient id, a hook instance, a token or a URL.

Under ``vte-cds serve`` each gunicorn worker writes its values to files in the folder
``PROMETHEUS_MULTIPROC_DIR`` names (prometheus-client's multiprocess mode; ``serve`` makes one per
run), and ``/metrics`` adds up every worker's files: counters keep what a worker that has ended
counted, the gauge counts live workers only (``livesum``: the gunicorn ``child_exit`` hook strikes
a worker that ended off, ``cds_service.gunicorn_config``). Elsewhere (the Flask test client,
``serve --dev``) the values are this process's.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# Seconds: a hook answered from its prefetch takes milliseconds, one that fetches from the FHIR
# server up to 1.5 x VTE_CDS_FHIR_TIMEOUT.
HOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Where every worker's values are, or None: prometheus-client chose when it was imported (now).
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
# Each counter's "_created" series would double the output; multiprocess mode has none anyway.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry()

HTTP_REQUESTS = Counter(
    "vte_cds_http_requests", "Requests answered by the application, by method, route rule and "
    "status (GET /metrics itself is not counted)", ["method", "route", "status"],
    registry=REGISTRY)
IN_PROGRESS = Gauge(
    "vte_cds_http_requests_in_progress", "Requests being answered now, over live workers",
    multiprocess_mode="livesum", registry=REGISTRY)
HOOK_SECONDS = Histogram(
    "vte_cds_hook_duration_seconds", "Time to answer a hook call, by service and status",
    ["service", "status"], buckets=HOOK_BUCKETS, registry=REGISTRY)
CARDS = Counter(
    "vte_cds_cards", "Cards returned by hook calls, by service, card kind and indicator",
    ["service", "kind", "indicator"], registry=REGISTRY)
FHIR_QUERIES = Counter(
    "vte_cds_fhir_queries", "Queries sent to (or refused before) an EHR's FHIR server, by "
    "resource type and outcome", ["resource", "outcome"], registry=REGISTRY)
AUTH_REFUSALS = Counter(
    "vte_cds_auth_refusals", "EHR calls refused by the JWT check, by reason",
    ["reason"], registry=REGISTRY)
STORE_ERRORS = Counter(
    "vte_cds_store_errors", "Store calls that failed, by kind of error", ["error"],
    registry=REGISTRY)
READINESS_FAILURES = Counter(
    "vte_cds_readiness_failures", "GET /readyz answered 503: the store could not answer",
    registry=REGISTRY)
