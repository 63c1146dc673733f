"""JWT authentication of CDS clients: who gets in, who is refused, and what is never fetched."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds_service.errors import Forbidden, Unauthorized
from cds_service.security.issuers import Issuer, issuers_from_config
from cds_service.security.tokens import Authenticator, Claims
from tests.cds_service.signing import Clock, public_jwk

NOW = 1_700_000_000
ISS = "https://ehr.example"
JWKS_URL = "https://ehr.example/.well-known/jwks.json"
OTHER_ISS = "https://other-ehr.example"
OTHER_JWKS_URL = "https://other-ehr.example/jwks.json"
AUD = "https://cds.example/cds-services/vte-prophylaxis"


@pytest.fixture
def jwks(ec_key, rsa_key):
    return {"keys": [public_jwk(ec_key, "ec-1", "ES384"), public_jwk(rsa_key, "rsa-1", "RS384")]}


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def make_authenticator(clock):
    def make(issuers=None, **options):
        issuers = issuers or (
            Issuer(ISS, jwks_urls=(JWKS_URL,)),
            Issuer(OTHER_ISS, jwks_urls=(OTHER_JWKS_URL,)),
        )
        return Authenticator(issuers, requests.Session(), clock=clock, **options)

    return make


@pytest.fixture
def authenticator(make_authenticator):
    return make_authenticator()


@pytest.fixture
def serve_jwks(http, jwks):
    http.get(JWKS_URL, json=jwks)
    return http


def claims(**changes):
    body = {
        "iss": ISS,
        "sub": "ehr-client",
        "aud": AUD,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": str(uuid.uuid4()),
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def sign(private_key, payload=None, *, kid="ec-1", alg="ES384", **header):
    return jwt.encode(
        payload or claims(), private_key, algorithm=alg, headers={"kid": kid, **header}
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header, payload, sign_input=lambda _: b""):
    head = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{head}.{b64(sign_input(head.encode()))}"


def refused(authenticator, authorization, message, error=Unauthorized, audience=AUD):
    with pytest.raises(error, match=message) as raised:
        authenticator.verify(authorization, audience)
    token = (authorization or "").partition(" ")[2].strip()
    if token:
        assert token not in raised.value.message
    return raised.value


# Tokens that get in


def test_valid_es384_token_yields_its_claims(authenticator, serve_jwks, ec_key):
    payload = claims(tenant="ward-7")
    result = authenticator.verify(f"Bearer {sign(ec_key, payload)}", AUD)
    assert result == Claims(
        iss=ISS,
        sub="ehr-client",
        aud=AUD,
        jti=payload["jti"],
        exp=NOW + 300,
        iat=NOW,
        tenant="ward-7",
    )


def test_valid_rs384_token_yields_its_claims(authenticator, serve_jwks, rsa_key):
    token = sign(rsa_key, kid="rsa-1", alg="RS384")
    result = authenticator.verify(f"Bearer {token}", AUD)
    assert (result.iss, result.sub, result.tenant) == (ISS, "ehr-client", None)


def test_bearer_scheme_is_case_insensitive(authenticator, serve_jwks, ec_key):
    assert authenticator.verify(f"bearer {sign(ec_key)}", AUD).iss == ISS


@pytest.mark.parametrize(
    ("claimed", "called"), [(AUD + "/", AUD), (AUD, AUD + "/")], ids=["token", "url"]
)
def test_audience_differing_only_by_a_trailing_slash_is_accepted(
    authenticator, serve_jwks, ec_key, claimed, called
):
    result = authenticator.verify(f"Bearer {sign(ec_key, claims(aud=claimed))}", called)
    assert result.aud == claimed


def test_audience_list_containing_the_url_called_is_accepted(authenticator, serve_jwks, ec_key):
    token = sign(ec_key, claims(aud=["https://elsewhere.example", AUD]))
    assert authenticator.verify(f"Bearer {token}", AUD).aud == AUD


def test_token_expired_by_less_than_the_leeway_is_accepted(
    authenticator, serve_jwks, ec_key, clock
):
    token = sign(ec_key)
    clock.now = NOW + 300 + 29
    assert authenticator.verify(f"Bearer {token}", AUD).exp == NOW + 300


def test_inline_jwks_verifies_without_any_request(make_authenticator, http, jwks, ec_key):
    authenticator = make_authenticator((Issuer(ISS, jwks=jwks),))
    assert authenticator.verify(f"Bearer {sign(ec_key)}", AUD).iss == ISS
    assert len(http.calls) == 0


# The Authorization header


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_missing_authorization_header_is_refused(authenticator, http, authorization):
    refused(authenticator, authorization, "missing Authorization header")


def test_non_bearer_scheme_is_refused(authenticator, http):
    refused(authenticator, "Basic dXNlcjpwYXNz", "must use the Bearer scheme")


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "...", "eyJhbGciOiJFUzM4NCJ9.e30", "x" * 20_000, "jwt.with.ü"],
)
def test_garbage_token_is_refused(authenticator, http, token):
    refused(authenticator, f"Bearer {token}", "malformed bearer token")
    assert len(http.calls) == 0


# Algorithms


def test_alg_none_is_refused_without_fetching_keys(authenticator, http):
    token = handmade({"alg": "none", "typ": "JWT", "kid": "ec-1"}, claims())
    refused(authenticator, f"Bearer {token}", "algorithm not allowed")
    assert len(http.calls) == 0


def test_hs256_token_keyed_with_the_public_key_pem_is_refused(authenticator, serve_jwks, rsa_key):
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = handmade(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
        claims(),
        lambda signing_input: hmac.new(pem, signing_input, hashlib.sha256).digest(),
    )
    refused(authenticator, f"Bearer {token}", "algorithm not allowed")


def test_allowed_algorithm_on_a_key_of_another_type_is_refused(authenticator, serve_jwks, rsa_key):
    token = sign(rsa_key, kid="ec-1", alg="RS384")
    refused(authenticator, f"Bearer {token}", "algorithm does not match its key")


def test_es256_is_refused_unless_configured(make_authenticator, http):
    key = ec.generate_private_key(ec.SECP256R1())
    http.get(JWKS_URL, json={"keys": [public_jwk(key, "ec-256", "ES256")]})
    token = f"Bearer {sign(key, kid='ec-256', alg='ES256')}"
    refused(make_authenticator(), token, "algorithm not allowed")
    configured = make_authenticator((Issuer(ISS, jwks_urls=(JWKS_URL,), algorithms=("ES256",)),))
    assert configured.verify(token, AUD).iss == ISS


@pytest.mark.parametrize("algorithms", [["HS256"], ["ES384", "none"], []])
def test_symmetric_none_or_no_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(ValueError, match=r"algorithms must be asymmetric|must not be empty"):
        issuers_from_config({ISS: {"jwks_url": JWKS_URL, "algorithms": algorithms}})


# Header fields


def test_token_without_kid_is_refused(authenticator, http, ec_key):
    token = jwt.encode(claims(), ec_key, algorithm="ES384")
    refused(authenticator, f"Bearer {token}", "lacks kid")


def test_token_typ_other_than_jwt_is_refused(authenticator, http, ec_key):
    refused(authenticator, f"Bearer {sign(ec_key, typ='at+jwt')}", "typ must be JWT")


# Issuers and keys


def test_token_from_an_untrusted_issuer_is_refused_without_fetching_keys(
    authenticator, http, ec_key
):
    token = sign(ec_key, claims(iss="https://attacker.example"))
    refused(authenticator, f"Bearer {token}", "issuer is not trusted")
    assert len(http.calls) == 0


def test_untrusted_jku_is_forbidden_without_any_request(authenticator, http, ec_key):
    token = sign(ec_key, jku="https://attacker.example/jwks.json")
    refused(authenticator, f"Bearer {token}", "jku is not a key location", Forbidden)
    assert len(http.calls) == 0


def test_jku_configured_for_another_issuer_is_forbidden_without_any_request(
    authenticator, http, ec_key
):
    token = sign(ec_key, jku=OTHER_JWKS_URL)
    refused(authenticator, f"Bearer {token}", "jku is not a key location", Forbidden)
    assert len(http.calls) == 0


def test_configured_jku_is_fetched_once_and_cached(authenticator, serve_jwks, ec_key, clock):
    authenticator.verify(f"Bearer {sign(ec_key, jku=JWKS_URL)}", AUD)
    clock.now += 100
    authenticator.verify(
        f"Bearer {sign(ec_key, claims(iat=clock.now, exp=clock.now + 300), jku=JWKS_URL)}", AUD
    )
    assert [call.request.url for call in serve_jwks.calls] == [JWKS_URL]
    assert serve_jwks.calls[0].request.req_kwargs["timeout"] == 3.0


def test_cached_keys_are_fetched_again_after_their_ttl(authenticator, serve_jwks, ec_key, clock):
    authenticator.verify(f"Bearer {sign(ec_key)}", AUD)
    clock.now += 301
    authenticator.verify(f"Bearer {sign(ec_key, claims(iat=clock.now, exp=clock.now + 300))}", AUD)
    assert len(serve_jwks.calls) == 2


def test_token_signed_with_another_key_is_refused(authenticator, serve_jwks):
    impostor = ec.generate_private_key(ec.SECP384R1())
    refused(authenticator, f"Bearer {sign(impostor)}", "signature is invalid")


def test_tampered_claims_are_refused(authenticator, serve_jwks, ec_key):
    head, _, signature = sign(ec_key).split(".")
    forged = b64(json.dumps(claims(sub="someone-else")).encode())
    refused(authenticator, f"Bearer {head}.{forged}.{signature}", "signature is invalid")


def test_unknown_kid_triggers_one_refetch_that_finds_a_rotated_key(
    authenticator, http, jwks, ec_key, clock
):
    rotated = ec.generate_private_key(ec.SECP384R1())
    http.get(JWKS_URL, json=jwks)
    http.get(JWKS_URL, json={"keys": [*jwks["keys"], public_jwk(rotated, "ec-2", "ES384")]})
    authenticator.verify(f"Bearer {sign(ec_key)}", AUD)
    clock.now += 60
    token = sign(rotated, claims(iat=clock.now, exp=clock.now + 300), kid="ec-2")
    assert authenticator.verify(f"Bearer {token}", AUD).iss == ISS
    assert len(http.calls) == 2


def test_unknown_kid_is_refused_after_at_most_one_refetch(authenticator, serve_jwks, ec_key, clock):
    authenticator.verify(f"Bearer {sign(ec_key)}", AUD)
    clock.now += 60
    refused(authenticator, f"Bearer {sign(ec_key, kid='no-such-key')}", "signing key is unknown")
    assert len(serve_jwks.calls) == 2
    refused(authenticator, f"Bearer {sign(ec_key, kid='no-such-key')}", "signing key is unknown")
    assert len(serve_jwks.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 302, "headers": {"Location": "https://elsewhere.example/jwks.json"}},
        {"body": "<html>not json</html>"},
        {"json": {"no": "keys"}},
        {"body": requests.ConnectionError("refused")},
        {"body": requests.Timeout("slow")},
        {"body": b" " * (512 * 1024 + 1)},
    ],
    ids=["http-500", "redirect", "not-json", "not-a-jwks", "connection", "timeout", "too-large"],
)
def test_jwks_endpoint_failure_is_unauthorized_not_a_crash(authenticator, http, ec_key, failure):
    http.get(JWKS_URL, **failure)
    refused(authenticator, f"Bearer {sign(ec_key)}", "issuer keys unavailable")
    assert len(http.calls) == 1


# Audience and time


def test_wrong_audience_is_refused(authenticator, serve_jwks, ec_key):
    token = sign(ec_key, claims(aud="https://cds.example/cds-services/other"))
    refused(authenticator, f"Bearer {token}", "audience is not this service")


def test_audience_with_a_path_prefix_only_is_refused(authenticator, serve_jwks, ec_key):
    token = sign(ec_key, claims(aud="https://cds.example/cds-services"))
    refused(authenticator, f"Bearer {token}", "audience is not this service")


def test_expired_token_is_refused(authenticator, serve_jwks, ec_key, clock):
    token = sign(ec_key)
    clock.now = NOW + 300 + 30
    refused(authenticator, f"Bearer {token}", "token has expired")


def test_token_issued_in_the_future_beyond_the_leeway_is_refused(authenticator, serve_jwks, ec_key):
    token = sign(ec_key, claims(iat=NOW + 31, exp=NOW + 300))
    refused(authenticator, f"Bearer {token}", "not yet valid")


def test_token_with_a_future_nbf_is_refused(authenticator, serve_jwks, ec_key):
    refused(authenticator, f"Bearer {sign(ec_key, claims(nbf=NOW + 60))}", "not yet valid")


def test_exp_more_than_five_minutes_after_iat_is_refused(authenticator, serve_jwks, ec_key):
    token = sign(ec_key, claims(exp=NOW + 301))
    refused(authenticator, f"Bearer {token}", "lifetime exceeds 300 seconds")


def test_non_finite_exp_is_refused(authenticator, serve_jwks, ec_key):
    refused(authenticator, f"Bearer {sign(ec_key, claims(exp=float('nan')))}", "exp must be")


@pytest.mark.parametrize("claim", ["aud", "exp", "iat", "jti"])
def test_token_missing_a_required_claim_is_refused(authenticator, serve_jwks, ec_key, claim):
    payload = claims()
    del payload[claim]
    refused(authenticator, f"Bearer {sign(ec_key, payload)}", f"lacks the {claim} claim")


def test_token_without_sub_is_accepted_when_its_issuer_lists_no_client_id(
    authenticator, serve_jwks, ec_key
):
    assert authenticator.verify(f"Bearer {sign(ec_key, claims(sub=None))}", AUD).sub is None


def test_sub_is_required_and_checked_when_its_issuer_lists_client_ids(
    make_authenticator, serve_jwks, ec_key
):
    listed = make_authenticator((Issuer(ISS, jwks_urls=(JWKS_URL,),
                                        subjects=frozenset({"ehr-client"})),))
    assert listed.verify(f"Bearer {sign(ec_key)}", AUD).sub == "ehr-client"
    refused(listed, f"Bearer {sign(ec_key, claims(sub=None))}", "lacks the sub claim")
    refused(listed, f"Bearer {sign(ec_key, claims(sub='other-app'))}",
            "sub is not a client id configured")


# Replay


def test_replayed_jti_is_refused(authenticator, serve_jwks, ec_key):
    token = sign(ec_key)
    authenticator.verify(f"Bearer {token}", AUD)
    refused(authenticator, f"Bearer {token}", "already been used")


def test_same_jti_from_another_issuer_is_not_a_replay(authenticator, http, jwks, ec_key):
    http.get(JWKS_URL, json=jwks)
    http.get(OTHER_JWKS_URL, json=jwks)
    authenticator.verify(f"Bearer {sign(ec_key, claims(jti='shared'))}", AUD)
    assert authenticator.verify(f"Bearer {sign(ec_key, claims(iss=OTHER_ISS, jti='shared'))}", AUD)


def test_refused_token_does_not_use_up_its_jti(authenticator, serve_jwks, ec_key):
    refused(
        authenticator, f"Bearer {sign(ec_key, claims(jti='j1'))}", "audience", audience=AUD + "x"
    )
    assert authenticator.verify(f"Bearer {sign(ec_key, claims(jti='j1'))}", AUD).jti == "j1"


def test_concurrent_replays_let_exactly_one_through(authenticator, serve_jwks, ec_key):
    token = sign(ec_key)
    authenticator.verify(f"Bearer {sign(ec_key)}", AUD)  # warm the key cache
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            authenticator.verify(f"Bearer {token}", AUD)
            outcomes.append("accepted")
        except Unauthorized:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["refused"] * 7


# Configuration


def test_sandbox_shaped_config_parses():
    issuers = issuers_from_config(
        '{"https://sandbox.cds-hooks.org": '
        '{"jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}}'
    )
    assert issuers == (
        Issuer(
            "https://sandbox.cds-hooks.org",
            jwks_urls=("https://sandbox.cds-hooks.org/.well-known/jwks.json",),
        ),
    )


def test_list_config_with_inline_jwks_parses(jwks):
    issuers = issuers_from_config(
        [{"iss": ISS, "jwks": jwks, "jwks_urls": [JWKS_URL, "http://127.0.0.1:8080/jwks"]}]
    )
    assert issuers[0].jwks_urls == (JWKS_URL, "http://127.0.0.1:8080/jwks")
    assert issuers[0].jwks == jwks


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ('"https://ehr.example"', "must be a JSON object keyed by issuer"),
        ("{}", "names no issuer"),
        ({ISS: {}}, "give 'jwks_url', 'jwks_urls' or 'jwks'"),
        ({ISS: {"jwks_uri": JWKS_URL}}, "unknown field"),
        ({ISS: {"jwks_url": "http://ehr.example/jwks"}}, "must be an absolute https URL"),
        ({ISS: {"jwks_url": "/jwks"}}, "must be an absolute https URL"),
        ({ISS: {"jwks_urls": JWKS_URL}}, "must be a list"),
        ({ISS: {"jwks": {"keys": "none"}}}, "'keys' list"),
        ({ISS: {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}}}, "private"),
        ({ISS: {"jwks": {"keys": [{"kty": "EC", "kid": "e", "crv": "P-384"}]}}}, "unusable"),
        ([{"iss": ISS, "jwks_url": JWKS_URL}, {"iss": ISS, "jwks_url": JWKS_URL}], "twice"),
        ([{"jwks_url": JWKS_URL}], r"\[0\] must be an object with an 'iss'"),
    ],
)
def test_bad_issuer_config_is_a_clear_value_error(raw, message):
    with pytest.raises(ValueError, match=message):
        issuers_from_config(raw)


def test_private_key_in_inline_jwks_is_refused(ec_key):
    private = ECAlgorithm.to_jwk(ec_key, as_dict=True)
    with pytest.raises(ValueError, match="private"):
        issuers_from_config({ISS: {"jwks": {"keys": [{**private, "kid": "p"}]}}})
