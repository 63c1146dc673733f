"""The embedded FHIR server for integration tests (the code lives in cds_service.fhir.embedded,
which ``vte-cds demo`` uses too)."""

from cds_service.fhir.embedded import (
    DISTRIBUTION,
    LOOPBACK,
    MAX_PAGES,
    REQUEST_TIMEOUT,
    START_ATTEMPTS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    FhirResponse,
    FhirServer,
    FhirServerError,
    free_loopback_port,
    search_matches,
    sekmet_problem,
)

__all__ = [
    "DISTRIBUTION",
    "LOOPBACK",
    "MAX_PAGES",
    "REQUEST_TIMEOUT",
    "START_ATTEMPTS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "FhirResponse",
    "FhirServer",
    "FhirServerError",
    "free_loopback_port",
    "search_matches",
    "sekmet_problem",
]
