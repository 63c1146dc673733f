"""Hooks against a real FHIR server on loopback: the service fetches what the prefetch lacks."""

from __future__ import annotations

import copy

import pytest

from cds_service.app import create_app
from tests.cds_service.card_checks import assert_valid_card
from tests.cds_service.scenarios import (
    TODAY,
    cmvt_low_risk,
    myeloma_gfr_25,
    myeloma_on_lenalidomide_dexamethasone,
)


def resources_of(body):
    out = [body["prefetch"]["patient"]]
    for key, value in body["prefetch"].items():
        if key != "patient":
            out.extend(e["resource"] for e in value.get("entry", []))
    return out


@pytest.fixture(scope="module")
def loaded(fhir_server):
    for build in (myeloma_on_lenalidomide_dexamethasone, myeloma_gfr_25, cmvt_low_risk):
        fhir_server.load(resources_of(build()))
    return fhir_server


@pytest.fixture
def client(loaded, tmp_path):
    app = create_app({"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "https://cds.example",
                      "FHIR_ALLOWLIST": loaded.base_url,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    return app.test_client()


def cards(client, body):
    response = client.post("/cds-services/vte-patient-view", json=body)
    assert response.status_code == 200, response.json
    for card in response.json["cards"]:
        assert_valid_card(card)
    return response.json["cards"]


@pytest.mark.parametrize("build", [myeloma_on_lenalidomide_dexamethasone, myeloma_gfr_25,
                                   cmvt_low_risk])
def test_no_prefetch_fetches_everything_and_gives_the_same_cards(client, loaded, build):
    full = build()
    expected = cards(client, full)
    fetched = copy.deepcopy(full)
    del fetched["prefetch"]
    fetched["fhirServer"] = loaded.base_url
    fetched["fhirAuthorization"] = {"access_token": "t0k3n", "token_type": "Bearer",
                                    "expires_in": 300, "scope": "patient/*.read",
                                    "subject": "cds-service"}
    got = cards(client, fetched)
    assert [c["summary"] for c in got] == [c["summary"] for c in expected]
    assert [c["detail"] for c in got] == [c["detail"] for c in expected]


def test_partial_prefetch_fetches_only_the_missing_keys(client, loaded):
    body = myeloma_on_lenalidomide_dexamethasone()
    expected = cards(client, body)
    body["prefetch"]["observations"] = None      # the client failed to fetch it
    del body["prefetch"]["medications"]          # or silently left it out
    body["fhirServer"] = loaded.base_url
    got = cards(client, body)
    assert [c["summary"] for c in got] == [c["summary"] for c in expected]
    assert got[0]["summary"].startswith("High VTE risk (score 10)")


def test_fhir_server_not_in_the_allow_list_is_refused(loaded, tmp_path):
    app = create_app({"AUTH": "off", "TODAY": TODAY, "FHIR_ALLOWLIST": "",
                      "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    body = myeloma_on_lenalidomide_dexamethasone()
    del body["prefetch"]
    body["fhirServer"] = loaded.base_url
    response = app.test_client().post("/cds-services/vte-patient-view", json=body)
    assert response.status_code == 403
    assert "allow-list" in response.json["message"]
