"""Real traffic from the public CDS Hooks sandbox, replayed with its real tokens.

`tests/fixtures/cds-hooks-sandbox/` holds every POST the sandbox sent during one session (its
README says how it was captured). Each token is verified at its capture time by fixing the
service's clock, never by widening its leeway; the sandbox's tokens carry no `sub`, which the
service must accept. Forged and replayed variants of the same traffic stay refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.app import create_app
from cds_service.security.issuers import SANDBOX_ISSUER, SANDBOX_JWKS_URL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks-sandbox"
CAPTURES = sorted(FIXTURES.glob("[0-9][0-9]-*.json"))
SANDBOX_JWKS = json.loads((FIXTURES / "sandbox-jwks.json").read_text("utf-8"))
README = Path(__file__).resolve().parents[2] / "README.md"
# The service the sandbox called during the capture (README of the fixtures).
CAPTURED_SERVICE = "http://127.0.0.1:5001"
LEEWAY = 30
# The calls of the session that warrant a card: the chart of a high-risk myeloma patient
# (patient-view), aspirin drafted for her (order-select, order-sign), rivaroxaban with eGFR < 30.
# The others draft no medication yet, niacin, or the tier's own enoxaparin 40 mg.
CARD_CALLS = {"01", "05", "09", "12"}
# The day of the capture: the evaluation date the sandbox's session had.
CAPTURE_DAY = dt.datetime.fromtimestamp(
    json.loads(CAPTURES[0].read_text("utf-8"))["captured_at_epoch"], dt.UTC).date().isoformat()


def load(path: Path) -> dict[str, Any]:
    capture: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return capture


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sandbox_app(tmp_path, clock, issuers=None, **settings):
    return create_app({
        "AUTH": "on", "PUBLIC_URL": CAPTURED_SERVICE, "FHIR_ALLOWLIST": "",
        "TRUSTED_ISSUERS": issuers or {SANDBOX_ISSUER: {"profile": "cds-hooks-sandbox",
                                                        "jwks": SANDBOX_JWKS}},
        "TODAY": CAPTURE_DAY, "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db",
        "CLOCK": clock, **settings})


def replay(client, capture, *, authorization=None, path=None):
    headers = dict(capture["headers"])
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.post(path or capture["path"], data=json.dumps(capture["body"]),
                       headers=headers)


def unb64(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def token_parts(capture) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The captured token's header and claims (as the sandbox wrote them) and its signature."""
    head, body, signature = capture["headers"]["Authorization"].removeprefix("Bearer ").split(".")
    return unb64(head), unb64(body), signature


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_the_fixtures_are_the_whole_captured_session():
    assert len(CAPTURES) == 14
    hooks = [c for c in CAPTURES if not c.name.endswith("_feedback.json")]
    assert len(hooks) == 8
    for path in CAPTURES:
        header, claims, _ = token_parts(load(path))
        assert "sub" not in claims  # the sandbox sends none: the point of this replay
        assert (header["alg"], header["jku"], claims["iss"]) == (
            "ES384", SANDBOX_JWKS_URL, SANDBOX_ISSUER)


def test_every_captured_hook_call_and_feedback_is_answered_at_its_capture_time(tmp_path, clock):
    client = sandbox_app(tmp_path, clock).test_client()
    answered = []
    for path in CAPTURES:
        capture = load(path)
        clock.now = capture["captured_at_epoch"]
        response = replay(client, capture)
        assert response.status_code == 200, (path.name, response.json)
        if "feedback" in capture["body"]:
            assert response.json["recorded"] == len(capture["body"]["feedback"]), path.name
        else:
            cards = response.json["cards"]
            assert isinstance(cards, list)
            if path.name[:2] in CARD_CALLS:
                assert cards, f"{path.name}: no card"
        answered.append(path.name)
    assert len(answered) == 14


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.name[:2])
def test_each_captured_token_is_refused_a_second_time(tmp_path, clock, path):
    capture = load(path)
    clock.now = capture["captured_at_epoch"]
    client = sandbox_app(tmp_path, clock).test_client()
    assert replay(client, capture).status_code == 200
    again = replay(client, capture)
    assert again.status_code == 401
    assert again.json["message"] == "token has already been used"
    assert again.headers["WWW-Authenticate"] == (
        'Bearer realm="vte-cds", error="invalid_token", '
        'error_description="token has already been used"')


def test_a_captured_token_is_refused_once_past_exp_and_the_fixed_leeway(tmp_path, clock):
    capture = load(CAPTURES[0])
    _, claims, _ = token_parts(capture)
    clock.now = claims["exp"] + LEEWAY
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture)
    assert (response.status_code, response.json["message"]) == (401, "token has expired")


def test_a_captured_token_is_refused_before_it_was_issued(tmp_path, clock):
    capture = load(CAPTURES[0])
    _, claims, _ = token_parts(capture)
    clock.now = claims["iat"] - LEEWAY - 1
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture)
    assert response.status_code == 401
    assert response.json["message"].startswith("token is not yet valid")


def test_a_captured_token_is_refused_on_another_service(tmp_path, clock):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture,
                      path="/cds-services/vte-order-sign")
    assert (response.status_code, response.json["message"]) == (
        401, "token audience is not this service")


def test_a_captured_token_with_edited_claims_is_refused(tmp_path, clock):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    header, claims, signature = token_parts(capture)
    forged = f"{b64(header)}.{b64({**claims, 'jti': 'another-jti'})}.{signature}"
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture,
                      authorization=f"Bearer {forged}")
    assert (response.status_code, response.json["message"]) == (
        401, "token signature is invalid")


def test_a_token_signed_by_another_key_under_the_sandboxs_kid_and_jku_is_refused(
    tmp_path, clock
):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    header, claims, _ = token_parts(capture)
    impostor = ec.generate_private_key(ec.SECP384R1())
    forged = jwt.encode({**claims, "jti": "impostor"}, impostor, algorithm="ES384",
                        headers={"kid": header["kid"], "jku": header["jku"]})
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture,
                      authorization=f"Bearer {forged}")
    assert (response.status_code, response.json["message"]) == (
        401, "token signature is invalid")


def test_a_captured_token_pointing_jku_elsewhere_is_forbidden_before_any_fetch(tmp_path, clock):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    header, claims, signature = token_parts(capture)
    forged = f"{b64({**header, 'jku': 'https://attacker.example/jwks.json'})}.{b64(claims)}." \
             f"{signature}"
    with responses.RequestsMock() as nothing_fetched:
        response = replay(sandbox_app(tmp_path, clock).test_client(), capture,
                          authorization=f"Bearer {forged}")
        assert len(nothing_fetched.calls) == 0
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="vte-cds", error="invalid_token", error_description="token jku is not')


def test_alg_none_with_the_sandboxs_claims_is_refused(tmp_path, clock):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    header, claims, _ = token_parts(capture)
    forged = f"{b64({**header, 'alg': 'none'})}.{b64(claims)}."
    response = replay(sandbox_app(tmp_path, clock).test_client(), capture,
                      authorization=f"Bearer {forged}")
    assert (response.status_code, response.json["message"]) == (
        401, "token algorithm not allowed")


def test_listing_client_ids_for_the_sandbox_refuses_its_tokens_without_sub(tmp_path, clock):
    capture = load(CAPTURES[0])
    clock.now = capture["captured_at_epoch"]
    issuers = {SANDBOX_ISSUER: {"profile": "cds-hooks-sandbox", "jwks": SANDBOX_JWKS,
                                "sub": ["some-client"]}}
    response = replay(sandbox_app(tmp_path, clock, issuers).test_client(), capture)
    assert (response.status_code, response.json["message"]) == (
        401, "token lacks the sub claim")


# The README's sandbox recipe, exactly as written there.

def readme_recipe() -> tuple[dict[str, str], str]:
    text = README.read_text("utf-8")
    section = text[text.index("**The public CDS Hooks sandbox.**"):]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    settings: dict[str, str] = {}
    command = ""
    for line in block.group(1).replace("\\\n", "\n").splitlines():
        found = re.fullmatch(r"VTE_CDS_([A-Z_]+)=(?:'(.*)'|(\S+))", line.strip())
        if found:
            settings[found.group(1)] = found.group(2) if found.group(2) is not None \
                else found.group(3)
        elif line.strip():
            command = line.strip()
    return settings, command


def test_the_readme_sandbox_recipe_serves_the_captured_session(tmp_path, clock):
    settings, command = readme_recipe()
    assert command == "bin/run serve --host 0.0.0.0"
    assert set(settings) == {"PUBLIC_URL", "TRUSTED_ISSUERS", "FHIR_ALLOWLIST"}
    # The capture's service was http://127.0.0.1:5001; the recipe says https://your-host.
    settings["PUBLIC_URL"] = CAPTURED_SERVICE
    with responses.RequestsMock() as sandbox:
        sandbox.get(SANDBOX_JWKS_URL, json=SANDBOX_JWKS)
        client = create_app({**settings, "AUTH": "on", "TODAY": CAPTURE_DAY, "CLOCK": clock,
                             "DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db"}).test_client()
        for path in CAPTURES:
            capture = load(path)
            clock.now = capture["captured_at_epoch"]
            assert replay(client, capture).status_code == 200, path.name
        # the key set, and only it, fetched again once the cached copy is 300 s old
        assert [call.request.url for call in sandbox.calls] == [SANDBOX_JWKS_URL] * 2
