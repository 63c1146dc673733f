"""schemathesis against the OpenAPI document the service publishes (GET /openapi.json): every
operation, positive and negative examples, over WSGI (no socket). Checks: no 5xx, every status
and content type documented, every response body valid against its schema.

The document is cds_service/api/openapi.json, served by cds_service.api.openapi.bp; a route or
response that drifts from it fails here.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.support import make_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
CALLS = {"operations": set(), "cases": 0}
OPERATIONS = {"GET /cds-services", "POST /cds-services/{id}", "POST /cds-services/{id}/feedback",
              "POST /assessments", "GET /assessments/view/{token}", "GET /healthz",
              "GET /openapi.json", "GET /readyz", "GET /metrics"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("schemathesis"))


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", api_app)


schema = schemathesis.pytest.from_fixture("api_schema")


def test_the_document_is_served_and_describes_every_route(api_app):
    document = api_app.test_client().get("/openapi.json").json
    assert document["openapi"].startswith("3.0")
    described = {f"{method.upper()} {path}" for path, item in document["paths"].items()
                 for method in item}
    assert described == OPERATIONS
    served = {f"{method} {rule.rule}".replace("<service_id>", "{id}").replace("<token>",
                                                                               "{token}")
              for rule in api_app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}
              if rule.endpoint.split(".")[0] in ("cds", "openapi", "health", "metrics")}
    assert served == OPERATIONS


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
def test_every_operation_conforms_to_the_document(case):
    CALLS["operations"].add(f"{case.operation.method.upper()} {case.operation.path}")
    CALLS["cases"] += 1
    case.call_and_validate(checks=CHECKS)


def test_every_operation_was_exercised():
    if not CALLS["cases"]:
        pytest.skip("run the whole file")
    print(f"\nschemathesis: {CALLS['cases']} cases over {len(CALLS['operations'])} operations")
    # schemathesis leaves out the operation that serves the document itself
    assert CALLS["operations"] == OPERATIONS - {"GET /openapi.json"}
