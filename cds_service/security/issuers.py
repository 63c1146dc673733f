"""Trusted token issuers and the profiles of the CDS clients behind them.

``VTE_CDS_TRUSTED_ISSUERS`` is a JSON object keyed by issuer (``iss``), or a list of objects with
an ``"iss"``. Each issuer names a ``profile`` (default ``generic``) and may add:

``jwks_url`` / ``jwks_urls``  the only URLs its keys are fetched from (https; http on loopback only)
``jwks``                     an inline public JWKS (offline use, tests)
``jku_list_url``             a document listing the key URLs its tokens may name (``oracle-health``)
``sub``                      the client ids it may send; given, a token must carry one of them
``algorithms``               replaces the profile's signing algorithms (asymmetric ones only)
``max_lifetime_seconds``     replaces the profile's longest ``exp - iat`` (at most 3600)

A profile says what one kind of client really sends, so the service asks exactly that:

- ``generic`` (the default): ES384 or RS384; keys from ``jwks_url(s)`` or ``jwks``; a ``jku``, if
  sent, must be one of the URLs; tokens live at most 300 s.
- ``cds-hooks-sandbox``: ES384; keys from ``https://sandbox.cds-hooks.org/.well-known/jwks.json``
  unless other URLs are given; ``jku`` required and one of the URLs; 300 s.
- ``epic``: RS384; ``jku`` required, an https URL on the issuer's own host (and one of
  ``jwks_url(s)`` when they are given); 900 s.
- ``oracle-health``: ES384 or RS384; ``jku`` required and listed by the document at
  ``jku_list_url``; 300 s.

Where the profiles come from: the sandbox's from its captured traffic
(``tests/fixtures/cds-hooks-sandbox/README.md``: ES384, ``kid`` and ``jku``, no ``sub``); Epic's
from its "Trusting CDS Clients" documentation (RS384 by default, ``jku`` under the organisation's
own base URL, ``nbf`` set before ``iat``, ``sub`` the CDS Hooks client id, and an example token
living 900 s); Oracle Health's from its CDS Hooks documentation (``iss``
``https://cds-hooks.cerner.com``; the token's ``jku`` must be among the JKUs listed at a URL of
its authorization server, ``https://authorization.cerner.com/jwk`` in that documentation). No
public document shows that list's shape, so ``jku_list_url`` is always configured, and the list
is read as a JSON array of URLs or an object holding such arrays (``keys.key_url_list``).

``sub`` is never required by a profile: the sandbox sends none. It is required, and must be one of
the listed values, exactly when the issuer's configuration lists ``sub``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt

from cds_service.security.keys import PRIVATE_JWK_MEMBERS, is_key_url, keys_by_kid

# Asymmetric only: with a symmetric algorithm anyone holding the public JWKS could sign.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS_URL = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
ORACLE_HEALTH_ISSUER = "https://cds-hooks.cerner.com"
_LONGEST_LIFETIME = 3600
_FIELDS = ("profile", "jwks_url", "jwks_urls", "jwks", "jku_list_url", "sub", "algorithms",
           "max_lifetime_seconds")


@dataclass(frozen=True)
class Profile:
    """What one kind of CDS client sends, and so what its tokens must show."""

    name: str
    algorithms: tuple[str, ...]
    max_lifetime_seconds: int
    requires_jku: bool
    default_jwks_urls: tuple[str, ...] = ()
    # The token's jku may be any https URL on the issuer's own host.
    jku_on_issuer_host: bool = False
    # The token's jku must be listed by the document at the issuer's jku_list_url.
    uses_jku_list: bool = False


PROFILES: dict[str, Profile] = {
    "generic": Profile("generic", ("ES384", "RS384"), 300, requires_jku=False),
    "cds-hooks-sandbox": Profile("cds-hooks-sandbox", ("ES384",), 300, requires_jku=True,
                                 default_jwks_urls=(SANDBOX_JWKS_URL,)),
    "epic": Profile("epic", ("RS384",), 900, requires_jku=True, jku_on_issuer_host=True),
    "oracle-health": Profile("oracle-health", ("ES384", "RS384"), 300, requires_jku=True,
                             uses_jku_list=True),
}


@dataclass(frozen=True)
class Issuer:
    """A trusted token issuer: its profile, where its keys may come from, what it may claim.

    Left empty, ``algorithms``, ``max_lifetime_seconds`` and (for the sandbox) ``jwks_urls`` take
    the profile's values. ``subjects`` is None when ``sub`` is not checked.
    """

    iss: str
    jwks_urls: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = field(default=None, hash=False)
    profile: str = "generic"
    jku_list_url: str | None = None
    subjects: frozenset[str] | None = None
    algorithms: tuple[str, ...] = ()
    max_lifetime_seconds: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.iss, str) or not self.iss:
            raise ValueError("a trusted issuer needs a non-empty 'iss' string")
        shape = PROFILES.get(self.profile)
        if shape is None:
            raise ValueError(f"issuer {self.iss!r}: unknown profile {self.profile!r}; "
                             f"expected one of {', '.join(PROFILES)}")
        if not isinstance(self.jwks_urls, tuple):
            raise ValueError(f"issuer {self.iss!r}: jwks_urls must be a tuple of URLs")
        if not self.jwks_urls and shape.default_jwks_urls:
            object.__setattr__(self, "jwks_urls", shape.default_jwks_urls)
        if not self.algorithms:
            object.__setattr__(self, "algorithms", shape.algorithms)
        if not self.max_lifetime_seconds:
            object.__setattr__(self, "max_lifetime_seconds", shape.max_lifetime_seconds)
        self._check(shape)

    @property
    def shape(self) -> Profile:
        return PROFILES[self.profile]

    def _check(self, shape: Profile) -> None:
        for url in self.jwks_urls:
            _check_key_url(self.iss, "JWKS URL", url)
            if shape.jku_on_issuer_host and not self.on_issuer_host(url):
                raise ValueError(f"issuer {self.iss!r}: JWKS URL {url!r} is not on the issuer's "
                                 f"own host, as the {shape.name} profile requires")
        if self.jwks is not None:
            _check_inline_jwks(self.iss, self.jwks)
        refused = sorted(set(self.algorithms) - ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ValueError(f"issuer {self.iss!r}: algorithms must be asymmetric, from "
                             f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))}; refused: "
                             f"{', '.join(refused)}")
        if not 0 < self.max_lifetime_seconds <= _LONGEST_LIFETIME:
            raise ValueError(f"issuer {self.iss!r}: max_lifetime_seconds must be 1 to "
                             f"{_LONGEST_LIFETIME}")
        if self.subjects is not None and not self.subjects:
            raise ValueError(f"issuer {self.iss!r}: 'sub' lists no client id")
        if shape.uses_jku_list:
            if self.jku_list_url is None:
                raise ValueError(f"issuer {self.iss!r}: the {shape.name} profile needs "
                                 "'jku_list_url', the document listing its key URLs")
            _check_key_url(self.iss, "jku_list_url", self.jku_list_url)
        elif self.jku_list_url is not None:
            raise ValueError(f"issuer {self.iss!r}: 'jku_list_url' is only for the "
                             "oracle-health profile")
        if not (self.jwks_urls or self.jwks is not None or shape.jku_on_issuer_host
                or shape.uses_jku_list):
            raise ValueError(f"issuer {self.iss!r}: give 'jwks_url', 'jwks_urls' or 'jwks'")

    def on_issuer_host(self, url: str) -> bool:
        """Whether ``url`` is an https URL on this issuer's own host and port."""
        mine, theirs = urlsplit(self.iss), urlsplit(url)
        return (theirs.scheme == "https" and mine.scheme == "https"
                and bool(theirs.hostname) and theirs.hostname == mine.hostname
                and theirs.port == mine.port)


def issuers_from_config(raw: str | Mapping[str, Any] | list[Any]) -> tuple[Issuer, ...]:
    """Parse ``VTE_CDS_TRUSTED_ISSUERS``; raises ValueError saying what is wrong."""
    document: object = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if isinstance(document, Mapping):
        entries = list(document.items())
    elif isinstance(document, list):
        entries = [_list_entry(position, item) for position, item in enumerate(document)]
    else:
        raise ValueError("must be a JSON object keyed by issuer, or a list of issuers")
    if not entries:
        raise ValueError("names no issuer")
    issuers = tuple(_issuer_from_entry(iss, spec) for iss, spec in entries)
    check_unique(issuers)
    return issuers


def check_unique(issuers: Iterable[Issuer]) -> None:
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.iss in seen:
            raise ValueError(f"issuer {issuer.iss!r} is configured twice")
        seen.add(issuer.iss)


def _list_entry(position: int, item: object) -> tuple[object, object]:
    if not isinstance(item, Mapping) or "iss" not in item:
        raise ValueError(f"entry [{position}] must be an object with an 'iss'")
    return item["iss"], {name: value for name, value in item.items() if name != "iss"}


def _issuer_from_entry(iss: object, spec: object) -> Issuer:
    if not isinstance(iss, str) or not iss:
        raise ValueError("a trusted issuer needs a non-empty 'iss' string")
    if not isinstance(spec, Mapping):
        raise ValueError(f"issuer {iss!r}: expected an object with {', '.join(_FIELDS)}")
    unknown = sorted(str(name) for name in spec if name not in _FIELDS)
    if unknown:
        raise ValueError(f"issuer {iss!r}: unknown field(s) {', '.join(unknown)}; "
                         f"expected {', '.join(_FIELDS)}")
    profile = spec.get("profile", "generic")
    if not isinstance(profile, str):
        raise ValueError(f"issuer {iss!r}: 'profile' must be one of {', '.join(PROFILES)}")
    jwks = spec.get("jwks")
    if jwks is not None and not isinstance(jwks, Mapping):
        raise ValueError(f"issuer {iss!r}: 'jwks' must be a JWKS object")
    jku_list_url = spec.get("jku_list_url")
    if jku_list_url is not None and not isinstance(jku_list_url, str):
        raise ValueError(f"issuer {iss!r}: 'jku_list_url' must be a URL")
    lifetime = spec.get("max_lifetime_seconds", 0)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        raise ValueError(f"issuer {iss!r}: 'max_lifetime_seconds' must be a whole number")
    return Issuer(iss=iss, jwks_urls=_urls(iss, spec), jwks=jwks, profile=profile,
                  jku_list_url=jku_list_url, subjects=_subjects(iss, spec),
                  algorithms=_strings(iss, spec, "algorithms"), max_lifetime_seconds=lifetime)


def _urls(iss: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
    urls: list[object] = []
    if "jwks_url" in spec:
        urls.append(spec["jwks_url"])
    if "jwks_urls" in spec:
        if not isinstance(spec["jwks_urls"], list):
            raise ValueError(f"issuer {iss!r}: 'jwks_urls' must be a list of URLs")
        urls.extend(spec["jwks_urls"])
    return tuple(_check_key_url(iss, "JWKS URL", url) for url in urls)


def _subjects(iss: str, spec: Mapping[str, Any]) -> frozenset[str] | None:
    if "sub" not in spec:
        return None
    value = spec["sub"]
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not all(isinstance(s, str) and s for s in listed):
        raise ValueError(f"issuer {iss!r}: 'sub' must be a client id or a list of them")
    return frozenset(listed)


def _strings(iss: str, spec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = spec.get(name, [])
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"issuer {iss!r}: '{name}' must be a list of strings")
    if name in spec and not value:
        raise ValueError(f"issuer {iss!r}: '{name}' must not be empty")
    return tuple(value)


def _check_key_url(iss: str, what: str, url: object) -> str:
    if not isinstance(url, str) or not is_key_url(url):
        raise ValueError(f"issuer {iss!r}: {what} {url!r} must be an absolute https URL "
                         "(plain http only on loopback)")
    return url


def _check_inline_jwks(iss: str, jwks: Mapping[str, Any]) -> None:
    raw_keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(raw_keys, list):
        raise ValueError(f"issuer {iss!r}: 'jwks' must be an object with a 'keys' list")
    for jwk in raw_keys:
        if isinstance(jwk, Mapping) and PRIVATE_JWK_MEMBERS & set(jwk):
            raise ValueError(f"issuer {iss!r}: 'jwks' holds private or symmetric key material")
    keys = keys_by_kid(jwks)
    if not keys:
        raise ValueError(f"issuer {iss!r}: 'jwks' has no signing key with a 'kid'")
    for kid, jwk in keys.items():
        try:
            jwt.PyJWK(dict(jwk))
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise ValueError(f"issuer {iss!r}: key {kid!r} in 'jwks' is unusable ({exc})") from None
