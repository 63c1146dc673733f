from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fhir_server import FhirServer, sekmet_problem


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """A started sekmet-fhir server on 127.0.0.1, shared by the whole session.

    The store is shared: give every test its own patient and resource ids.
    """
    problem = sekmet_problem()
    if problem is not None:
        pytest.fail(
            f"The integration tests need the FHIR server sekmet-fhir, but {problem}. "
            "Run the README test command, bin/test: it installs the test extras "
            "(pip install -e '.[test]'), which include sekmet-fhir.",
            pytrace=False,
        )
    with FhirServer(tmp_path_factory.mktemp("fhir-server")) as server:
        yield server
