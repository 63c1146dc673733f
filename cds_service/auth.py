"""JWT authentication of CDS clients (CDS Hooks 2.0, "Trusting CDS Clients").

Threat model: anyone who can reach the service can send any ``Authorization`` header. We trust
only issuers named in configuration (``VTE_CDS_TRUSTED_ISSUERS``) and only keys inlined there or
published at the JWKS URLs configured for them.

- Forged tokens: the signature must verify under such a key, with an algorithm from a fixed
  asymmetric allow-list, so ``alg: none`` and "HS256 keyed with the public key" both fail.
- SSRF through ``jku``: a ``jku`` is honoured only if it is one of its issuer's configured URLs;
  anything else is refused before any request is made (403, as ``errors.py`` lists ``jku`` outside
  the allow-list under ``Forbidden``; every other token problem is 401). Redirects are not followed.
- Replay: ``aud`` must be the URL called, a token lives at most ``max_lifetime_seconds``, and an
  ``(iss, jti)`` pair is accepted once until the token expires. The memory is per process: behind
  several workers a replay to another worker succeeds within the token's short life.
- Key-fetch abuse: an unknown ``kid`` refetches each URL at most once per ``_MIN_REFETCH_SECONDS``;
  JWKS bodies are size-capped and every fetch has a timeout; failures are 401, never 500.

Not covered: a trusted issuer's stolen private key. Tokens never appear in messages or logs.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from cds_service.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

DEFAULT_ALGORITHMS: tuple[str, ...] = ("ES384", "RS384")
# Asymmetric only: with a symmetric algorithm anyone holding the public JWKS could sign.
_ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"]
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ISSUER_FIELDS = ("jwks_url", "jwks_urls", "jwks")
_MAX_TOKEN_CHARS = 16 * 1024
_MAX_JWKS_BYTES = 512 * 1024
_MIN_REFETCH_SECONDS = 30.0

JwkMap = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Issuer:
    """A trusted token issuer and where its verification keys come from.

    ``jwks`` is an inline JWKS (offline use, tests); ``jwks_urls`` are the only URLs ever fetched
    for this issuer, and the only values its tokens may carry as ``jku``.
    """

    iss: str
    jwks_urls: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.iss, str) or not self.iss:
            raise ValueError("a trusted issuer needs a non-empty 'iss' string")
        if not isinstance(self.jwks_urls, tuple):
            raise ValueError(f"issuer {self.iss!r}: jwks_urls must be a tuple of URLs")
        for url in self.jwks_urls:
            _check_jwks_url(self.iss, url)
        if self.jwks is not None:
            _check_inline_jwks(self.iss, self.jwks)
        if not self.jwks_urls and self.jwks is None:
            raise ValueError(f"issuer {self.iss!r}: give 'jwks_url', 'jwks_urls' or 'jwks'")


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its caller."""

    iss: str
    sub: str
    aud: str
    jti: str
    exp: float
    iat: float
    tenant: str | None = None


def issuers_from_config(raw: str | Mapping[str, Any] | list[Any]) -> tuple[Issuer, ...]:
    """Parse ``VTE_CDS_TRUSTED_ISSUERS``.

    Either an object keyed by issuer, ``{"https://ehr.example": {"jwks_url": "https://..."}}``, or a
    list of such objects carrying an ``"iss"`` field. Each issuer gives ``jwks_url`` (a string),
    ``jwks_urls`` (a list) and/or ``jwks`` (an inline JWKS). Raises ValueError saying what is wrong.
    """
    document: object = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"VTE_CDS_TRUSTED_ISSUERS is not valid JSON ({exc.msg} at position {exc.pos})"
            ) from None
    if isinstance(document, Mapping):
        entries = list(document.items())
    elif isinstance(document, list):
        entries = [_list_entry(position, item) for position, item in enumerate(document)]
    else:
        raise ValueError(
            "VTE_CDS_TRUSTED_ISSUERS must be a JSON object keyed by issuer, or a list of issuers"
        )
    if not entries:
        raise ValueError("VTE_CDS_TRUSTED_ISSUERS names no issuer")
    issuers = tuple(_issuer_from_entry(iss, spec) for iss, spec in entries)
    _check_unique(issuers)
    return issuers


def _list_entry(position: int, item: object) -> tuple[object, object]:
    if not isinstance(item, Mapping) or "iss" not in item:
        raise ValueError(f"VTE_CDS_TRUSTED_ISSUERS[{position}] must be an object with an 'iss'")
    return item["iss"], {name: value for name, value in item.items() if name != "iss"}


def _issuer_from_entry(iss: object, spec: object) -> Issuer:
    if not isinstance(iss, str) or not iss:
        raise ValueError("a trusted issuer needs a non-empty 'iss' string")
    if not isinstance(spec, Mapping):
        raise ValueError(f"issuer {iss!r}: expected an object with {', '.join(_ISSUER_FIELDS)}")
    unknown = sorted(str(name) for name in spec if name not in _ISSUER_FIELDS)
    if unknown:
        raise ValueError(
            f"issuer {iss!r}: unknown field(s) {', '.join(unknown)}; "
            f"expected {', '.join(_ISSUER_FIELDS)}"
        )
    urls: list[object] = []
    if "jwks_url" in spec:
        urls.append(spec["jwks_url"])
    if "jwks_urls" in spec:
        if not isinstance(spec["jwks_urls"], list):
            raise ValueError(f"issuer {iss!r}: 'jwks_urls' must be a list of URLs")
        urls.extend(spec["jwks_urls"])
    jwks = spec.get("jwks")
    if jwks is not None and not isinstance(jwks, Mapping):
        raise ValueError(f"issuer {iss!r}: 'jwks' must be a JWKS object")
    checked = tuple(_check_jwks_url(iss, url) for url in urls)
    return Issuer(iss=iss, jwks_urls=checked, jwks=jwks)


def _check_jwks_url(iss: str, url: object) -> str:
    if not isinstance(url, str):
        raise ValueError(f"issuer {iss!r}: a JWKS URL must be a string")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValueError(
            f"issuer {iss!r}: JWKS URL {url!r} must be an absolute https URL "
            "(plain http only on loopback)"
        )
    return url


def _check_inline_jwks(iss: str, jwks: Mapping[str, Any]) -> None:
    raw_keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(raw_keys, list):
        raise ValueError(f"issuer {iss!r}: 'jwks' must be an object with a 'keys' list")
    for jwk in raw_keys:
        if isinstance(jwk, Mapping) and _PRIVATE_JWK_MEMBERS & set(jwk):
            raise ValueError(f"issuer {iss!r}: 'jwks' holds private or symmetric key material")
    keys = _keys_by_kid(jwks)
    if not keys:
        raise ValueError(f"issuer {iss!r}: 'jwks' has no signing key with a 'kid'")
    for kid, jwk in keys.items():
        try:
            jwt.PyJWK(dict(jwk))
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise ValueError(f"issuer {iss!r}: key {kid!r} in 'jwks' is unusable ({exc})") from None


def _check_unique(issuers: Iterable[Issuer]) -> None:
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.iss in seen:
            raise ValueError(f"issuer {issuer.iss!r} is configured twice")
        seen.add(issuer.iss)


def _keys_by_kid(document: object) -> dict[str, Mapping[str, Any]]:
    """The public signing keys of a JWKS by ``kid``; entries a verifier cannot use are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("a JWKS must be an object with a 'keys' list")
    keys: dict[str, Mapping[str, Any]] = {}
    for jwk in document["keys"]:
        if (
            isinstance(jwk, Mapping)
            and isinstance(jwk.get("kid"), str)
            and jwk.get("use", "sig") == "sig"
            and not _PRIVATE_JWK_MEMBERS & set(jwk)
        ):
            keys.setdefault(jwk["kid"], jwk)
    return keys


class _KeysUnavailableError(Exception):
    """A JWKS URL could not be fetched or parsed."""


@dataclass(frozen=True)
class _KeySet:
    fetched_at: float
    keys: JwkMap


class _JwksCache:
    """JWKS documents per URL; one fetch at a time per URL, so concurrent misses fetch once."""

    def __init__(
        self, session: requests.Session, timeout: float, clock: Callable[[], float]
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._entries: dict[str, _KeySet] = {}
        self._url_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def keys(self, url: str, *, max_age: float) -> JwkMap:
        """The keys at ``url``, fetched again if the cached copy is ``max_age`` seconds old."""
        with self._lock_for(url):
            entry = self._entries.get(url)
            if entry is None or self._clock() - entry.fetched_at >= max_age:
                entry = _KeySet(self._clock(), self._fetch(url))
                self._entries[url] = entry
            return entry.keys

    def _lock_for(self, url: str) -> threading.Lock:
        with self._guard:
            return self._url_locks.setdefault(url, threading.Lock())

    def _fetch(self, url: str) -> JwkMap:
        try:
            with self._session.get(
                url,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise _KeysUnavailableError(f"HTTP {response.status_code}")
                body = _read_capped(response, _MAX_JWKS_BYTES)
            return _keys_by_kid(json.loads(body))
        except (requests.RequestException, ValueError, _KeysUnavailableError) as exc:
            log.warning("JWKS fetch from %s failed: %s: %s", url, type(exc).__name__, exc)
            raise _KeysUnavailableError(url) from None


def _read_capped(response: requests.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        body += chunk
        if len(body) > limit:
            raise _KeysUnavailableError(f"body larger than {limit} bytes")
    return bytes(body)


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
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = 300,
        jwks_ttl_seconds: int = 300,
        timeout: float = 3.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        issuers = tuple(issuers)
        _check_unique(issuers)
        refused = sorted(set(algorithms) - _ASYMMETRIC_ALGORITHMS)
        if refused or not algorithms:
            raise ValueError(
                f"algorithms must be a non-empty subset of {sorted(_ASYMMETRIC_ALGORITHMS)}; "
                f"refused: {refused}"
            )
        self._issuers = {issuer.iss: issuer for issuer in issuers}
        self._inline: dict[str, JwkMap] = {
            issuer.iss: _keys_by_kid(issuer.jwks) for issuer in issuers if issuer.jwks is not None
        }
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._jwks_ttl = jwks_ttl_seconds
        self._clock = clock
        self._jwks = _JwksCache(session, timeout, clock)
        self._replays = _ReplayCache()

    def verify(self, authorization: str | None, audience: str) -> Claims:
        """Check an ``Authorization`` header for a call to ``audience`` (the URL called).

        Raises Unauthorized for any token problem and Forbidden for an untrusted ``jku``.
        """
        token = _bearer_token(authorization)
        header = _unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise Unauthorized("token algorithm not allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise Unauthorized("token typ must be JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token header lacks kid")
        issuer = self._issuers.get(_unverified_issuer(token))
        if issuer is None:
            raise Unauthorized("token issuer is not trusted")
        urls = issuer.jwks_urls
        if "jku" in header:
            if header["jku"] not in issuer.jwks_urls:
                raise Forbidden("token jku is not a key location configured for its issuer")
            urls = (header["jku"],)
        jwk = self._find_key(issuer.iss, urls, kid)
        payload = _verified_payload(token, jwk, alg)
        return self._claims(payload, audience)

    def _find_key(self, iss: str, urls: tuple[str, ...], kid: str) -> Mapping[str, Any]:
        inline = self._inline.get(iss, {})
        if kid in inline:
            return inline[kid]
        failed: set[str] = set()
        # First the cached keys; then, for a kid not seen (the issuer may have rotated), at most
        # one refetch per URL, and none if the copy is younger than _MIN_REFETCH_SECONDS.
        for max_age in (self._jwks_ttl, _MIN_REFETCH_SECONDS):
            for url in urls:
                if url in failed:
                    continue
                try:
                    found = self._jwks.keys(url, max_age=max_age).get(kid)
                except _KeysUnavailableError:
                    failed.add(url)
                    continue
                if found is not None:
                    return found
        if failed:
            raise Unauthorized("issuer keys unavailable")
        raise Unauthorized("token signing key is unknown")

    def _claims(self, payload: Mapping[str, Any], audience: str) -> Claims:
        aud = _matching_audience(payload["aud"], audience)
        exp = _numeric_date(payload, "exp")
        iat = _numeric_date(payload, "iat")
        now = self._clock()
        if exp <= now - self._leeway:
            raise Unauthorized("token has expired")
        if iat > now + self._leeway:
            raise Unauthorized("token is not yet valid (issued in the future)")
        if "nbf" in payload and _numeric_date(payload, "nbf") > now + self._leeway:
            raise Unauthorized("token is not yet valid (nbf)")
        if exp <= iat:
            raise Unauthorized("token expires before it was issued")
        if exp - iat > self._max_lifetime:
            raise Unauthorized(f"token lifetime exceeds {self._max_lifetime} seconds")
        jti = payload["jti"]
        if not jti:
            raise Unauthorized("token lacks jti")
        tenant = payload.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise Unauthorized("token tenant must be a string")
        # Last, so that a token refused for another reason does not use up its jti.
        if not self._replays.first_use((payload["iss"], jti), exp + self._leeway, now):
            raise Unauthorized("token has already been used")
        return Claims(
            iss=payload["iss"],
            sub=payload["sub"],
            aud=aud,
            jti=jti,
            exp=exp,
            iat=iat,
            tenant=tenant,
        )


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise Unauthorized("missing Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token or not token.isascii() or " " in token or len(token) > _MAX_TOKEN_CHARS:
        raise Unauthorized("malformed bearer token")
    return token


def _unverified_header(token: str) -> dict[str, Any]:
    # `from None` everywhere below: PyJWT's messages may quote parts of the token.
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("malformed bearer token") from None


def _unverified_issuer(token: str) -> str:
    """The claimed ``iss``, used only to choose keys; the signature is checked afterwards."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Unauthorized("malformed bearer token") from None
    iss = payload.get("iss")
    return iss if isinstance(iss, str) else ""


def _verified_payload(token: str, jwk: Mapping[str, Any], alg: str) -> dict[str, Any]:
    if jwk.get("alg", alg) != alg:
        raise Unauthorized("token algorithm does not match its key")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise Unauthorized("token algorithm does not match its key") from None
    try:
        return jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            options={
                "require": _REQUIRED_CLAIMS,
                # Time and audience are checked in Authenticator._claims, against its clock and
                # with the trailing-slash tolerance; the issuer was matched when choosing the key.
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.InvalidSignatureError:
        raise Unauthorized("token signature is invalid") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"token lacks the {exc.claim} claim") from None
    except jwt.PyJWTError:
        raise Unauthorized("token is invalid") from None


def _matching_audience(claimed: object, audience: str) -> str:
    """The claimed audience equal to the URL called, give or take one trailing slash."""
    candidates = claimed if isinstance(claimed, list) else [claimed]
    for candidate in candidates:
        if isinstance(candidate, str) and (
            candidate.removesuffix("/") == audience.removesuffix("/")
        ):
            return candidate
    raise Unauthorized("token audience is not this service")


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float:
    value = payload[claim]
    # JSON from PyJWT may carry NaN or Infinity, which would slip through every comparison.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthorized(f"token {claim} must be a number of seconds")
    return float(value)
