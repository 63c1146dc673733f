"""What the JWT tests share (test_auth.py, test_issuer_profiles.py): a clock the test sets and
the public JWK of a key made here. The keys themselves and the mocked HTTP layer are fixtures in
conftest.py (``ec_key``, ``rsa_key``, ``http``)."""

from __future__ import annotations

from typing import Any

from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class Clock:
    """Seconds since the epoch, as the test sets them (``clock.now = ...``)."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    """The public half of ``private_key`` as a JWK for signatures with ``alg``."""
    algorithm = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}
