"""The embedded FHIR server for integration tests (the code lives in cds_service.embedded_fhir,
which ``vte-cds demo`` uses too)."""

from cds_service.embedded_fhir import (
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
