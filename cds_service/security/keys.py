"""Key documents fetched for token checks: JWK sets, and the lists of key URLs some clients publish.

Only URLs that configuration allows reach this module (``issuers.py`` and ``tokens.py`` decide);
here every fetch has a timeout, follows no redirect and reads at most ``MAX_DOCUMENT_BYTES``.
A document is cached per URL and fetched once at a time, so concurrent misses fetch it once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MAX_DOCUMENT_BYTES = 512 * 1024
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

JwkMap = Mapping[str, Mapping[str, Any]]
T = TypeVar("T")


class KeysUnavailableError(Exception):
    """A key document could not be fetched or read; ``reason`` says why, without its content."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


def is_key_url(url: str) -> bool:
    """An absolute https URL, or plain http on loopback (tests and local issuers)."""
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    return bool(parts.hostname) and (parts.scheme == "https" or loopback)


def keys_by_kid(document: object) -> dict[str, Mapping[str, Any]]:
    """The public signing keys of a JWKS by ``kid``; entries a verifier cannot use are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS (an object with a 'keys' list)")
    keys: dict[str, Mapping[str, Any]] = {}
    for jwk in document["keys"]:
        if (
            isinstance(jwk, Mapping)
            and isinstance(jwk.get("kid"), str)
            and jwk.get("use", "sig") == "sig"
            and not PRIVATE_JWK_MEMBERS & set(jwk)
        ):
            keys.setdefault(jwk["kid"], jwk)
    return keys


def key_url_list(document: object) -> frozenset[str]:
    """The key URLs a JKU list names: a JSON array of URLs, or an object holding such arrays.

    Entries that are not https URLs (http on loopback) are ignored; a list naming none is refused.
    """
    if isinstance(document, list):
        entries: list[object] = document
    elif isinstance(document, Mapping):
        entries = [item for value in document.values() if isinstance(value, list)
                   for item in value]
    else:
        raise ValueError("not a list of key URLs")
    urls = frozenset(item for item in entries if isinstance(item, str) and is_key_url(item))
    if not urls:
        raise ValueError("names no https key URL")
    return urls


@dataclass(frozen=True)
class _Entry(Generic[T]):
    fetched_at: float
    value: T


class DocumentCache(Generic[T]):
    """Documents per URL, parsed by ``parse`` (which raises ValueError for a wrong shape)."""

    def __init__(
        self,
        session: requests.Session,
        timeout: float,
        clock: Callable[[], float],
        parse: Callable[[object], T],
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._parse = parse
        self._entries: dict[str, _Entry[T]] = {}
        self._url_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, url: str, *, max_age: float) -> T:
        """The document at ``url``, fetched again if the cached copy is ``max_age`` seconds old."""
        with self._lock_for(url):
            entry = self._entries.get(url)
            if entry is None or self._clock() - entry.fetched_at >= max_age:
                entry = _Entry(self._clock(), self._fetch(url))
                self._entries[url] = entry
            return entry.value

    def _lock_for(self, url: str) -> threading.Lock:
        with self._guard:
            return self._url_locks.setdefault(url, threading.Lock())

    def _fetch(self, url: str) -> T:
        try:
            with self._session.get(
                url,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
                headers={"Accept": "application/json"},
            ) as response:
                if response.status_code != 200:
                    raise KeysUnavailableError(url, f"HTTP {response.status_code}")
                body = _read_capped(url, response)
            try:
                document = json.loads(body)
            except ValueError:
                raise KeysUnavailableError(url, "the answer is not JSON") from None
            try:
                return self._parse(document)
            except ValueError as exc:
                raise KeysUnavailableError(url, f"the answer is {exc}") from None
        except requests.RequestException as exc:
            failure = KeysUnavailableError(url, type(exc).__name__)
        except KeysUnavailableError as exc:
            failure = exc
        log.warning("key document fetch from %s failed: %s", url, failure.reason)
        raise failure


def _read_capped(url: str, response: requests.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=64 * 1024):
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise KeysUnavailableError(url, f"the answer is larger than {MAX_DOCUMENT_BYTES} bytes")
    return bytes(body)
