"""Issuer profiles: tokens shaped as Epic and Oracle Health send them get in, with keys made here;
forged tokens, foreign key locations and wrong client ids stay out.

Epic: RS384, `jku` under the organisation's own base URL, a base64 `kid`, `nbf` five minutes
before `iat`, `sub` the CDS Hooks client id, 900 s between `iat` and `exp` (the example in Epic's
"Trusting CDS Clients"). Oracle Health: issuer https://cds-hooks.cerner.com, and the token's `jku`
must be among the key URLs its authorization server lists.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.app import create_app
from cds_service.errors import Forbidden, Unauthorized
from cds_service.security.issuers import ORACLE_HEALTH_ISSUER, issuers_from_config
from cds_service.security.tokens import Authenticator
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.cds_service.signing import Clock, public_jwk

NOW = 1_796_000_000
SERVICE = "https://cds.hospital.example"
AUD = f"{SERVICE}/cds-services/vte-patient-view"

EPIC = "https://fhir.hospital.example/interconnect-fhir-oauth/api/FHIR/R4"
EPIC_JKU = ("https://fhir.hospital.example/interconnect-fhir-oauth/api/epic/2019/Security/Open/"
            "PublicKeys/530013/530013")
EPIC_KID = "d3bmo5HzW61TUgikHZH+A8Tx4UOXz2iOs4KvVU4eLY0="
EPIC_CLIENT = "8d6bf8b2-1f1a-4c5e-9a49-vte-cds"

ORACLE_LIST = "https://authorization.cerner.example/jwk"
ORACLE_JKU = "https://authorization.cerner.example/jwk/cds-hooks/keys.json"
ORACLE_KID = "2026-11-30T02:43:14.896.ec"


@pytest.fixture
def clock():
    return Clock(NOW)


def authenticator(config, clock):
    return Authenticator(issuers_from_config(config), requests.Session(), clock=clock)


def epic_token(key, *, kid=EPIC_KID, jku=EPIC_JKU, alg="RS384", **changes):
    claims = {"iss": EPIC, "sub": EPIC_CLIENT, "aud": AUD, "iat": NOW, "nbf": NOW - 300,
              "exp": NOW + 900, "jti": str(uuid.uuid4()), **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    header = {"kid": kid, "typ": "JWT", **({"jku": jku} if jku else {})}
    return "Bearer " + jwt.encode(claims, key, algorithm=alg, headers=header)


def oracle_token(key, *, jku=ORACLE_JKU, **changes):
    claims = {"iss": ORACLE_HEALTH_ISSUER, "sub": "cerner-cds-client", "aud": AUD, "iat": NOW,
              "exp": NOW + 300, "jti": str(uuid.uuid4()), "tenant": "ec2458f2-tenant",
              **changes}
    header = {"kid": ORACLE_KID, "typ": "JWT", **({"jku": jku} if jku else {})}
    return "Bearer " + jwt.encode(claims, key, algorithm="ES384", headers=header)


EPIC_CONFIG = {EPIC: {"profile": "epic", "sub": [EPIC_CLIENT]}}
ORACLE_CONFIG = {ORACLE_HEALTH_ISSUER: {"profile": "oracle-health", "jku_list_url": ORACLE_LIST}}


def refused(check, message, error=Unauthorized):
    with pytest.raises(error, match=message):
        check()


def patient_view(issuers, tmp_path, authorization):
    """The myeloma patient through vte-patient-view, with AUTH on and these trusted issuers."""
    client = create_app({"AUTH": "on", "PUBLIC_URL": SERVICE, "TRUSTED_ISSUERS": issuers,
                         "TODAY": TODAY, "CLOCK": Clock(NOW),
                         "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"}).test_client()
    return client.post("/cds-services/vte-patient-view",
                       json=myeloma_on_lenalidomide_dexamethasone(),
                       headers={"Authorization": authorization})


# Epic


def test_epic_token_is_verified_with_the_key_set_its_jku_names_on_the_issuers_host(
    http, clock, rsa_key
):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    claims = authenticator(EPIC_CONFIG, clock).verify(epic_token(rsa_key), AUD)
    assert (claims.iss, claims.sub) == (EPIC, EPIC_CLIENT)
    assert [call.request.url for call in http.calls] == [EPIC_JKU]


def test_epic_token_living_900_seconds_is_accepted_and_901_refused(http, clock, rsa_key):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    checker = authenticator(EPIC_CONFIG, clock)
    assert checker.verify(epic_token(rsa_key, exp=NOW + 900), AUD).exp == NOW + 900
    refused(lambda: checker.verify(epic_token(rsa_key, exp=NOW + 901), AUD),
            "lifetime exceeds 900 seconds")


def test_epic_token_before_its_nbf_is_refused(http, clock, rsa_key):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(
        epic_token(rsa_key, nbf=NOW + 120), AUD), r"not yet valid \(nbf\)")


@pytest.mark.parametrize("jku", [
    "https://attacker.example/api/epic/2019/Security/Open/PublicKeys/530013/530013",
    "http://fhir.hospital.example/interconnect-fhir-oauth/api/epic/2019/keys",
    "https://fhir.hospital.example:8443/keys",
    "https://fhir.hospital.example.attacker.example/keys",
], ids=["other-host", "plain-http", "other-port", "suffix-host"])
def test_epic_jku_off_the_issuers_own_host_is_forbidden_without_a_fetch(http, clock, rsa_key,
                                                                        jku):
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(epic_token(rsa_key, jku=jku), AUD),
            "jku is not a key location", Forbidden)
    assert len(http.calls) == 0


def test_epic_token_without_jku_is_refused(http, clock, rsa_key):
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(epic_token(rsa_key, jku=None), AUD),
            "lacks jku, which the epic profile requires")
    assert len(http.calls) == 0


def test_epic_token_signed_es384_is_refused(http, clock, ec_key):
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(
        epic_token(ec_key, alg="ES384"), AUD), "algorithm not allowed")


def test_epic_token_from_another_client_id_is_refused(http, clock, rsa_key):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(
        epic_token(rsa_key, sub="another-cds-client"), AUD), "sub is not a client id")


def test_epic_token_signed_by_another_key_under_the_same_kid_is_refused(http, clock, rsa_key):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(lambda: authenticator(EPIC_CONFIG, clock).verify(epic_token(impostor), AUD),
            "signature is invalid")


def test_epic_with_configured_key_urls_accepts_only_those(http, clock, rsa_key):
    config = {EPIC: {"profile": "epic", "jwks_url": EPIC_JKU}}
    other = "https://fhir.hospital.example/interconnect-fhir-oauth/api/epic/2019/other-keys"
    refused(lambda: authenticator(config, clock).verify(epic_token(rsa_key, jku=other), AUD),
            "jku is not a key location", Forbidden)
    assert len(http.calls) == 0


def test_epic_key_url_on_another_host_is_refused_in_configuration():
    with pytest.raises(ValueError, match="not on the issuer's own host"):
        issuers_from_config({EPIC: {"profile": "epic",
                                    "jwks_url": "https://keys.example/jwks.json"}})


def test_epic_shaped_token_gets_cards_over_http(http, rsa_key, tmp_path):
    http.get(EPIC_JKU, json={"keys": [public_jwk(rsa_key, EPIC_KID, "RS384")]})
    response = patient_view(EPIC_CONFIG, tmp_path, epic_token(rsa_key))
    assert response.status_code == 200
    assert response.json["cards"]


# Oracle Health


def serve_oracle(http, key, listed=(ORACLE_JKU,)):
    http.get(ORACLE_LIST, json=list(listed))
    http.get(ORACLE_JKU, json={"keys": [public_jwk(key, ORACLE_KID, "ES384")]})


def test_oracle_health_token_is_verified_when_its_jku_is_listed(http, clock, ec_key):
    serve_oracle(http, ec_key)
    claims = authenticator(ORACLE_CONFIG, clock).verify(oracle_token(ec_key), AUD)
    assert (claims.iss, claims.tenant) == (ORACLE_HEALTH_ISSUER, "ec2458f2-tenant")
    assert [call.request.url for call in http.calls] == [ORACLE_LIST, ORACLE_JKU]


def test_oracle_health_list_may_be_an_object_holding_the_urls(http, clock, ec_key):
    http.get(ORACLE_LIST, json={"jkus": [ORACLE_JKU], "note": "whatever else"})
    http.get(ORACLE_JKU, json={"keys": [public_jwk(ec_key, ORACLE_KID, "ES384")]})
    assert authenticator(ORACLE_CONFIG, clock).verify(oracle_token(ec_key), AUD).iss == \
        ORACLE_HEALTH_ISSUER


def test_oracle_health_jku_not_listed_is_forbidden_and_never_fetched(http, clock, ec_key):
    serve_oracle(http, ec_key)
    attacker = "https://attacker.example/keys.json"
    refused(lambda: authenticator(ORACLE_CONFIG, clock).verify(
        oracle_token(ec_key, jku=attacker), AUD), "jku is not a key location", Forbidden)
    assert attacker not in [call.request.url for call in http.calls]


def test_oracle_health_list_is_fetched_again_at_most_once_per_30_seconds(http, clock, ec_key):
    serve_oracle(http, ec_key)
    checker = authenticator(ORACLE_CONFIG, clock)
    checker.verify(oracle_token(ec_key), AUD)
    clock.now += 31
    unlisted = "https://authorization.cerner.example/jwk/rotated.json"
    for _ in range(3):
        refused(lambda: checker.verify(oracle_token(ec_key, jku=unlisted), AUD),
                "jku is not a key location", Forbidden)
    assert [call.request.url for call in http.calls].count(ORACLE_LIST) == 2


def test_oracle_health_list_that_cannot_be_read_is_401_not_a_crash(http, clock, ec_key):
    # a JWKS, no URLs
    http.get(ORACLE_LIST, json={"keys": [public_jwk(ec_key, ORACLE_KID, "ES384")]})
    refused(lambda: authenticator(ORACLE_CONFIG, clock).verify(oracle_token(ec_key), AUD),
            "issuer key list unavailable")


def test_oracle_health_token_without_jku_is_refused(http, clock, ec_key):
    refused(lambda: authenticator(ORACLE_CONFIG, clock).verify(
        oracle_token(ec_key, jku=None), AUD), "lacks jku")
    assert len(http.calls) == 0


def test_oracle_health_token_signed_by_another_key_is_refused(http, clock, ec_key):
    serve_oracle(http, ec_key)
    impostor = ec.generate_private_key(ec.SECP384R1())
    refused(lambda: authenticator(ORACLE_CONFIG, clock).verify(oracle_token(impostor), AUD),
            "signature is invalid")


def test_oracle_health_profile_needs_its_jku_list_url():
    with pytest.raises(ValueError, match="needs 'jku_list_url'"):
        issuers_from_config({ORACLE_HEALTH_ISSUER: {"profile": "oracle-health"}})


def test_oracle_health_shaped_token_gets_cards_over_http(http, ec_key, tmp_path):
    serve_oracle(http, ec_key)
    response = patient_view(ORACLE_CONFIG, tmp_path, oracle_token(ec_key))
    assert response.status_code == 200
    assert response.json["cards"]


# The sandbox profile and configuration


def test_sandbox_profile_takes_the_sandboxs_key_url_and_es384_only():
    (issuer,) = issuers_from_config(
        '{"https://sandbox.cds-hooks.org": {"profile": "cds-hooks-sandbox"}}')
    assert issuer.jwks_urls == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)
    assert (issuer.algorithms, issuer.max_lifetime_seconds, issuer.subjects) == (
        ("ES384",), 300, None)


def test_sandbox_profile_refuses_a_token_without_jku(http, clock, ec_key):
    config = {"https://sandbox.cds-hooks.org": {
        "profile": "cds-hooks-sandbox", "jwks": {"keys": [public_jwk(ec_key, "k", "ES384")]}}}
    token = jwt.encode({"iss": "https://sandbox.cds-hooks.org", "aud": AUD, "iat": NOW,
                        "exp": NOW + 300, "jti": "j"}, ec_key, algorithm="ES384",
                       headers={"kid": "k"})
    refused(lambda: authenticator(config, clock).verify(f"Bearer {token}", AUD),
            "lacks jku, which the cds-hooks-sandbox profile requires")


@pytest.mark.parametrize(("spec", "message"), [
    ({"profile": "epik"}, "unknown profile 'epik'"),
    ({"profile": "generic", "jwks_url": "https://k.example/j", "jku_list_url": ORACLE_LIST},
     "'jku_list_url' is only for the oracle-health profile"),
    ({"jwks_url": "https://k.example/j", "sub": []}, "'sub' lists no client id"),
    ({"jwks_url": "https://k.example/j", "sub": [7]}, "'sub' must be a client id"),
    ({"jwks_url": "https://k.example/j", "max_lifetime_seconds": 86400}, "max_lifetime_seconds"),
    ({"profile": "oracle-health", "jku_list_url": "http://lists.example/jwk"}, "https URL"),
], ids=["unknown", "list-on-generic", "empty-sub", "sub-not-text", "lifetime", "http-list"])
def test_profile_configuration_mistakes_are_clear_value_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        issuers_from_config({EPIC: spec})


def test_a_client_id_may_be_given_as_one_string():
    (issuer,) = issuers_from_config(json.dumps({EPIC: {"profile": "epic", "sub": EPIC_CLIENT}}))
    assert issuer.subjects == frozenset({EPIC_CLIENT})


def test_every_issuer_example_in_the_readme_and_security_doc_is_accepted():
    root = Path(__file__).resolve().parents[2]
    examples = [example for doc in ("README.md", "docs/security.md")
                for example in re.findall(r"VTE_CDS_TRUSTED_ISSUERS='([^']+)'",
                                          (root / doc).read_text("utf-8"))]
    profiles = {issuer.profile for example in examples
                for issuer in issuers_from_config(example)}
    assert profiles == {"generic", "cds-hooks-sandbox", "epic", "oracle-health"}
