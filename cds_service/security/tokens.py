"""JWT authentication of CDS clients (CDS Hooks 2.0, "Trusting CDS Clients").

Threat model: anyone who can reach the service can send any ``Authorization`` header. We trust
only issuers named in configuration (``VTE_CDS_TRUSTED_ISSUERS``, see ``issuers.py``) and only keys
inlined there or published at the key locations their profile allows.

- Forged tokens: the signature must verify under such a key, with an algorithm from the issuer's
  asymmetric allow-list, so ``alg: none`` and "HS256 keyed with the public key" both fail.
- SSRF through ``jku``: a ``jku`` is honoured only if its issuer's profile allows it (one of the
  configured URLs; for ``epic`` an https URL on the issuer's own host; for ``oracle-health`` one
  listed by the configured JKU list). Anything else is refused before any request is made (403,
  as ``errors.py`` lists ``jku`` outside the allow-list under ``Forbidden``; every other token
  problem is 401). Redirects are not followed.
- Replay: ``aud`` must be the URL called, a token lives at most its profile's lifetime, and an
  ``(iss, jti)`` pair is accepted once until the token expires. The service keeps that record in
  its store (``cds_service.storage.replays``), so a replay to another worker or instance is
  refused too; an ``Authenticator`` built without one (``vte-cds check-ehr``, unit tests) keeps
  it in memory.
- Key-fetch abuse: an unknown ``kid`` or ``jku`` refetches each document at most once per
  ``MIN_REFETCH_SECONDS``; documents are size-capped and every fetch has a timeout; failures are
  401, never 500.

``Authenticator.verify`` runs the checks below in order and stops at the first failure;
``check_ehr.py`` runs the same steps one by one to report each of them.

Every refusal carries a ``reason``, the word the metrics count it by: ``missing``, ``malformed``,
``algorithm``, ``issuer``, ``jku``, ``keys_unavailable``, ``unknown_kid``, ``signature``,
``claims``, ``audience``, ``subject``, ``expired``, ``not_yet_valid``, ``lifetime``, ``replayed``.

Not covered: a trusted issuer's stolen private key. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import requests

from cds_service.errors import Forbidden, Unauthorized
from cds_service.instruments import AUTH_REFUSALS
from cds_service.security.issuers import ASYMMETRIC_ALGORITHMS, Issuer, check_unique
from cds_service.security.keys import (
    DocumentCache,
    JwkMap,
    KeysUnavailableError,
    key_url_list,
    keys_by_kid,
)

LEEWAY_SECONDS = 30
MIN_REFETCH_SECONDS = 30.0
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
_MAX_TOKEN_CHARS = 16 * 1024


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its caller (``sub`` is None when the issuer sent none)."""

    iss: str
    sub: str | None
    aud: str
    jti: str
    exp: float
    iat: float
    tenant: str | None = None


@dataclass(frozen=True)
class Token:
    """A bearer token as read before any check of its signature."""

    raw: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def alg(self) -> str:
        return str(self.header.get("alg"))

    @property
    def kid(self) -> str:
        return str(self.header.get("kid"))

    @property
    def jku(self) -> str | None:
        jku = self.header.get("jku")
        return jku if isinstance(jku, str) else None

    @property
    def iss(self) -> str:
        iss = self.claims.get("iss")
        return iss if isinstance(iss, str) else ""


class ReplayRecord(Protocol):
    def first_use(self, key: tuple[str, str], until: float, now: float) -> bool:
        """True the first time ``key`` is seen, False again until ``until``."""
        ...


class _ReplayCache:
    """``(iss, jti)`` pairs already accepted, each remembered until its token can no longer pass."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[tuple[str, str], float] = {}
        self._expiries: list[tuple[float, tuple[str, str]]] = []

    def first_use(self, key: tuple[str, str], until: float, now: float) -> bool:
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                _, old = heapq.heappop(self._expiries)
                del self._until[old]
            if key in self._until:
                return False
            self._until[key] = until
            heapq.heappush(self._expiries, (until, key))
            return True


class Authenticator:
    """Verifies CDS Hooks bearer tokens against the configured trusted issuers."""

    def __init__(
        self,
        issuers: Iterable[Issuer],
        session: requests.Session,
        *,
        leeway_seconds: int = LEEWAY_SECONDS,
        jwks_ttl_seconds: int = 300,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
        replays: ReplayRecord | None = None,
    ) -> None:
        issuers = tuple(issuers)
        check_unique(issuers)
        self._issuers = {issuer.iss: issuer for issuer in issuers}
        self._inline: dict[str, JwkMap] = {
            issuer.iss: keys_by_kid(issuer.jwks) for issuer in issuers if issuer.jwks is not None
        }
        self.leeway = leeway_seconds
        self._jwks_ttl = jwks_ttl_seconds
        self.clock = clock
        self._keys: DocumentCache[JwkMap] = DocumentCache(session, timeout, clock, keys_by_kid)
        self._jku_lists: DocumentCache[frozenset[str]] = DocumentCache(
            session, timeout, clock, key_url_list
        )
        self._replays: ReplayRecord = replays if replays is not None else _ReplayCache()

    def verify(self, authorization: str | None, audience: str) -> Claims:
        """Check an ``Authorization`` header for a call to ``audience`` (the URL called).

        Raises Unauthorized for any token problem and Forbidden for a ``jku`` its issuer does not
        allow; each refusal is counted by its reason (``vte_cds_auth_refusals_total``).
        """
        try:
            return self._verify(authorization, audience)
        except (Unauthorized, Forbidden) as refusal:
            AUTH_REFUSALS.labels(refusal.reason or "other").inc()
            raise

    def _verify(self, authorization: str | None, audience: str) -> Claims:
        token = read_token(authorization)
        issuer = self.issuer(token)
        check_header(token, issuer)
        jwk = self.signing_key(issuer, self.key_locations(issuer, token), token.kid)
        payload = verified_payload(token, jwk, issuer)
        aud = matching_audience(payload["aud"], audience)
        exp, iat = self.check_times(payload, issuer)
        sub = check_subject(payload, issuer)
        jti = payload["jti"]
        if not isinstance(jti, str) or not jti:
            raise Unauthorized("token lacks jti", reason="claims")
        tenant = payload.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise Unauthorized("token tenant must be a string", reason="claims")
        # Last, so that a token refused for another reason does not use up its jti.
        if not self._replays.first_use((payload["iss"], jti), exp + self.leeway, self.clock()):
            raise Unauthorized("token has already been used", reason="replayed")
        return Claims(iss=payload["iss"], sub=sub, aud=aud, jti=jti, exp=exp, iat=iat,
                      tenant=tenant)

    def issuer(self, token: Token) -> Issuer:
        """The configured issuer the token claims to come from (claimed, not yet verified)."""
        issuer = self._issuers.get(token.iss)
        if issuer is None:
            raise Unauthorized("token issuer is not trusted", reason="issuer")
        return issuer

    def key_locations(self, issuer: Issuer, token: Token) -> tuple[str, ...]:
        """The URLs this token's key may be fetched from; a ``jku`` the issuer does not allow is
        refused here, before any request to it."""
        jku = token.jku
        if "jku" in token.header and jku is None:
            raise Unauthorized("token jku must be a URL", reason="malformed")
        if jku is None:
            if issuer.shape.requires_jku:
                raise Unauthorized(f"token header lacks jku, which the {issuer.profile} "
                                   "profile requires", reason="jku")
            return issuer.jwks_urls
        if issuer.jwks_urls and jku in issuer.jwks_urls:
            return (jku,)
        if issuer.shape.jku_on_issuer_host and not issuer.jwks_urls and issuer.on_issuer_host(jku):
            return (jku,)
        if issuer.jku_list_url is not None and jku in self.listed_key_urls(issuer.jku_list_url,
                                                                            jku):
            return (jku,)
        raise Forbidden("token jku is not a key location allowed for its issuer",
                        challenge="invalid_token", reason="jku")

    def listed_key_urls(self, list_url: str, jku: str) -> frozenset[str]:
        """The key URLs the JKU list at ``list_url`` names, fetched again (at most once per
        ``MIN_REFETCH_SECONDS``) when ``jku`` is not among them."""
        try:
            listed = self._jku_lists.get(list_url, max_age=self._jwks_ttl)
            if jku not in listed:
                listed = self._jku_lists.get(list_url, max_age=MIN_REFETCH_SECONDS)
        except KeysUnavailableError:
            raise Unauthorized("issuer key list unavailable", reason="keys_unavailable") from None
        return listed

    def key_set(self, url: str, *, refetch: bool = False) -> JwkMap:
        """The keys published at ``url``; raises KeysUnavailableError."""
        return self._keys.get(url, max_age=MIN_REFETCH_SECONDS if refetch else self._jwks_ttl)

    def inline_keys(self, issuer: Issuer) -> JwkMap:
        return self._inline.get(issuer.iss, {})

    def signing_key(self, issuer: Issuer, urls: tuple[str, ...], kid: str) -> Mapping[str, Any]:
        inline = self.inline_keys(issuer)
        if kid in inline:
            return inline[kid]
        failed: set[str] = set()
        # First the cached keys; then, for a kid not seen (the issuer may have rotated), at most
        # one refetch per URL, and none if the copy is younger than MIN_REFETCH_SECONDS.
        for refetch in (False, True):
            for url in urls:
                if url in failed:
                    continue
                try:
                    found = self.key_set(url, refetch=refetch).get(kid)
                except KeysUnavailableError:
                    failed.add(url)
                    continue
                if found is not None:
                    return found
        if failed:
            raise Unauthorized("issuer keys unavailable", reason="keys_unavailable")
        raise Unauthorized("token signing key is unknown", reason="unknown_kid")

    def check_times(self, payload: Mapping[str, Any], issuer: Issuer) -> tuple[float, float]:
        """``exp``, ``iat`` and ``nbf`` against this authenticator's clock, then the token's
        lifetime against its issuer's profile; (exp, iat)."""
        exp, iat = check_clock(payload, self.clock(), self.leeway)
        check_lifetime(exp, iat, issuer)
        return exp, iat


def read_token(authorization: str | None) -> Token:
    """The bearer token of an ``Authorization`` header, its header and its claims, unverified."""
    if authorization is None or not authorization.strip():
        raise Unauthorized("missing Authorization header", reason="missing")
    scheme, _, raw = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization header must use the Bearer scheme", reason="malformed")
    raw = raw.strip()
    if not raw or not raw.isascii() or " " in raw or len(raw) > _MAX_TOKEN_CHARS:
        raise Unauthorized("malformed bearer token", reason="malformed")
    # `from None` everywhere below: PyJWT's messages may quote parts of the token.
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError:
        raise Unauthorized("malformed bearer token", reason="malformed") from None
    if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
        raise Unauthorized("token algorithm not allowed", reason="algorithm")
    try:
        claims = jwt.decode(raw, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Unauthorized("malformed bearer token", reason="malformed") from None
    return Token(raw, header, claims)


def check_header(token: Token, issuer: Issuer) -> None:
    """``alg`` among the issuer's algorithms, ``typ`` JWT, a ``kid``."""
    if token.alg not in issuer.algorithms:
        raise Unauthorized("token algorithm not allowed", reason="algorithm")
    typ = token.header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise Unauthorized("token typ must be JWT", reason="malformed")
    kid = token.header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("token header lacks kid", reason="malformed")


def verified_payload(token: Token, jwk: Mapping[str, Any], issuer: Issuer) -> dict[str, Any]:
    """The claims, once the signature verifies under ``jwk`` and the required claims are there."""
    alg = token.alg
    if jwk.get("alg", alg) != alg:
        raise Unauthorized("token algorithm does not match its key", reason="algorithm")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("token algorithm does not match its key", reason="algorithm") from None
    required = [*_REQUIRED_CLAIMS, *(["sub"] if issuer.subjects is not None else [])]
    try:
        return jwt.decode(
            token.raw,
            key=key,
            algorithms=[alg],
            options={
                "require": required,
                # Time and audience are checked by the Authenticator, against its clock and with
                # the trailing-slash tolerance; the issuer was matched when choosing the key.
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "verify_sub": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidSignatureError:
        raise Unauthorized("token signature is invalid", reason="signature") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"token lacks the {exc.claim} claim", reason="claims") from None
    except jwt.PyJWTError:
        raise Unauthorized("token is invalid", reason="malformed") from None


def matching_audience(claimed: object, audience: str) -> str:
    """The claimed audience equal to the URL called, give or take one trailing slash."""
    candidates = claimed if isinstance(claimed, list) else [claimed]
    for candidate in candidates:
        if isinstance(candidate, str) and (
            candidate.removesuffix("/") == audience.removesuffix("/")
        ):
            return candidate
    raise Unauthorized("token audience is not this service", reason="audience")


def check_subject(payload: Mapping[str, Any], issuer: Issuer) -> str | None:
    """``sub`` as sent; one of the issuer's listed client ids when it lists any."""
    sub = payload.get("sub")
    if sub is not None and not isinstance(sub, str):
        raise Unauthorized("token sub must be a string", reason="claims")
    if issuer.subjects is not None and sub not in issuer.subjects:
        raise Unauthorized("token sub is not a client id configured for its issuer",
                           reason="subject")
    return sub


def check_clock(payload: Mapping[str, Any], now: float, leeway: float) -> tuple[float, float]:
    """(exp, iat), once the token is valid at ``now`` give or take ``leeway`` seconds."""
    exp = numeric_date(payload, "exp")
    iat = numeric_date(payload, "iat")
    if exp <= now - leeway:
        raise Unauthorized("token has expired", reason="expired")
    if iat > now + leeway:
        raise Unauthorized("token is not yet valid (issued in the future)", reason="not_yet_valid")
    if "nbf" in payload and numeric_date(payload, "nbf") > now + leeway:
        raise Unauthorized("token is not yet valid (nbf)", reason="not_yet_valid")
    return exp, iat


def check_lifetime(exp: float, iat: float, issuer: Issuer) -> None:
    if exp <= iat:
        raise Unauthorized("token expires before it was issued", reason="lifetime")
    if exp - iat > issuer.max_lifetime_seconds:
        raise Unauthorized(f"token lifetime exceeds {issuer.max_lifetime_seconds} seconds",
                           reason="lifetime")


def numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    # JSON from PyJWT may carry NaN or Infinity, which would slip through every comparison.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"token {claim} must be a number of seconds", reason="claims")
    return float(value)
