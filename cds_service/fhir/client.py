"""Fetch what the prefetch left out from the EHR's FHIR server, and nothing else.

- Only servers in the allow-list are contacted (``fhirServer`` comes from the caller: fetching
  any URL would be server-side request forgery); anything else is `Forbidden` before a socket is
  opened.
- The EHR's bearer token goes to URLs under the allow-listed base only, never logged, never
  stored. Every URL is checked before a request carries it (`off_base`): same scheme, host and
  port, no user info, its path under the base path, and no ``.`` or ``..`` segment, written plainly
  or percent-encoded (``%2e%2e``, ``%252e``): an HTTP client or proxy that resolves them would
  take the token elsewhere on the host. The resource path of a query is ``Type`` or
  ``Type/id`` with a FHIR id (`is_fhir_id`). Redirects are not followed.
- Time: all fetching for one call ends by its deadline, 1.5 x ``timeout`` after it starts. Each
  socket operation waits at most ``timeout`` and never past the deadline; a body is read as it
  arrives and the deadline checked between reads, so a server trickling bytes is cut off too.
  At the deadline the call answers 412 and its queries are abandoned: one not yet started never
  starts, one running stops at its next read, so threads never outlive their call by more than a
  read and a slow server cannot starve the pool for later calls.
- Size: bodies are streamed (decompressed as they arrive) and one call reads at most
  ``max_bytes``, every query and page together; a larger answer is 412 at the byte that crosses
  the cap (or at once, from ``Content-Length``).
- Pages: searchset paging follows ``next`` links under the same base, at most ``max_pages`` pages.
  Every page must be a Bundle; anything else (an OperationOutcome, an array, JSON too deep or not
  JSON at all) is 412 saying what came instead. A Bundle whose ``entry`` or ``link`` is malformed
  makes its query incomplete (`Fetched.complete`): what it could not read is unknown, never
  "nothing found".
- Failures are `PrefetchUnavailable` (412) naming the query and the reason, never the data.
- Every query is counted once, by resource type and outcome (``vte_cds_fhir_queries_total``):
  ``ok``, ``incomplete``, ``not_found`` (a read of a resource that does not exist), or what
  stopped it: ``not_allowed`` (the server is not allow-listed: nothing sent), ``timeout``,
  ``abandoned`` (the call ended first), ``unreachable``, ``http_error``, ``not_json``,
  ``wrong_type``, ``too_large``, ``too_many_pages``, ``off_base``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError

from cds_service.errors import BadRequest, Forbidden, PrefetchUnavailable
from cds_service.instruments import FHIR_QUERIES
from cds_service.json_depth import MAX_DEPTH
from cds_service.json_read import read

# FHIR R4 id: https://hl7.org/fhir/R4/datatypes.html#id
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_ISSUE_CODE = re.compile(r"[a-z][a-z-]{0,39}")
READ_BYTES = 65536
DEADLINE_FACTOR = 1.5
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_base(url: str) -> str:
    return url.strip().rstrip("/")


def is_fhir_id(value: str) -> bool:
    """FHIR id syntax, and not a path's dot segment (``.`` and ``..`` match the syntax)."""
    return bool(FHIR_ID.fullmatch(value)) and value not in (".", "..")


@dataclass(frozen=True)
class Fetched:
    """What one query brought back: the resource, the searchset Bundle of every page's entries,
    or None (a read of a resource that does not exist).

    ``complete`` is False when a page could not be read whole (``entry`` or ``link`` malformed):
    the resources it held are unknown, so an absence in this query proves nothing. ``problems``
    says which page and what, in words that carry no data.
    """

    value: Any
    complete: bool = True
    problems: tuple[str, ...] = ()


class _Call:
    """One hook call's fetching: its deadline, its byte budget, and whether it was abandoned."""

    def __init__(self, timeout: float, max_bytes: int) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout * DEADLINE_FACTOR
        self.bytes_left = max_bytes
        self.max_bytes = max_bytes
        self.abandoned = threading.Event()
        self.lock = threading.Lock()

    def wait(self, what: str) -> float:
        """Seconds the next socket operation may take; 412 when the call is over."""
        left = self.deadline - time.monotonic()
        if self.abandoned.is_set():
            raise PrefetchUnavailable(f"FHIR server timed out for {what} (too slow)",
                                      reason="abandoned")
        if left <= 0:
            raise PrefetchUnavailable(f"FHIR server timed out for {what} (too slow)",
                                      reason="timeout")
        return min(self.timeout, left)

    def take(self, count: int, what: str, keep: bool = True) -> None:
        """Count ``count`` bytes against the budget (``keep=False``: only check they fit)."""
        with self.lock:
            over = count > self.bytes_left
            if keep:
                self.bytes_left -= count
        if over:
            raise PrefetchUnavailable(f"FHIR server sent more than {self.max_bytes} bytes for "
                                      f"{what} (VTE_CDS_FHIR_MAX_BYTES)", reason="too_large")


class FhirClient:
    def __init__(self, session: requests.Session, allowlist: tuple[str, ...], timeout: float,
                 max_pages: int, max_bytes: int = 20_000_000, workers: int = 48) -> None:
        self.session = session
        self.allowlist = frozenset(normalise_base(u) for u in allowlist if u.strip())
        self.timeout = timeout
        self.max_pages = max_pages
        self.max_bytes = max_bytes
        # enough threads for every prefetch key of every request thread at once: a query that
        # waits for a thread would make the hook wait for two rounds instead of one
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fhir")

    def allowed(self, base: str) -> bool:
        return normalise_base(base) in self.allowlist

    def fetch_all(self, base: str, token: str | None,
                  queries: Mapping[str, str]) -> dict[str, Fetched]:
        """Run every query against ``base`` in parallel; key -> what it brought."""
        if not self.allowed(base):
            for query in queries.values():
                FHIR_QUERIES.labels(_kind(query), "not_allowed").inc()
            raise Forbidden("fhirServer is not in this service's allow-list; nothing was "
                            "fetched")
        base = normalise_base(base)
        for query in queries.values():
            _check_query(query)
        call = _Call(self.timeout, self.max_bytes)
        futures: dict[str, Future[Fetched]] = {
            key: self.pool.submit(self._query, base, token, query, call)
            for key, query in queries.items()}
        try:
            return {key: self._result(future, call, queries[key])
                    for key, future in futures.items()}
        finally:
            # the call is over (answered or failed): nothing it started may go on
            call.abandoned.set()
            for future in futures.values():
                future.cancel()

    @staticmethod
    def _result(future: Future[Fetched], call: _Call, query: str) -> Fetched:
        try:
            return future.result(timeout=max(0.0, call.deadline - time.monotonic()))
        except FutureTimeout as exc:
            # the query goes on until its next read, and counts its own outcome then
            raise PrefetchUnavailable(
                f"FHIR server timed out for {_kind(query)} (too slow)", reason="timeout") from exc

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _get(self, url: str, token: str | None, what: str, call: _Call,
             read: bool = False) -> Any:
        wait = call.wait(what)
        try:
            # no redirects: an allow-listed server must not send the token elsewhere
            response = self.session.get(url, headers=self._headers(token), timeout=wait,
                                        allow_redirects=False, stream=True)
        except requests.Timeout as exc:
            raise PrefetchUnavailable(f"FHIR server timed out for {what}",
                                      reason="timeout") from exc
        except requests.RequestException as exc:
            raise PrefetchUnavailable(f"FHIR server unreachable for {what}",
                                      reason="unreachable") from exc
        with response:
            if response.status_code == 404 and read:
                return None  # a read of a resource that does not exist: nothing to map
            if response.status_code != 200:
                raise PrefetchUnavailable(
                    f"FHIR server answered {response.status_code} for {what}",
                    reason="http_error")
            return _parse(self._body(response, what, call), what)

    @staticmethod
    def _body(response: requests.Response, what: str, call: _Call) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit():
            call.take(int(declared), what, keep=False)  # refused before a byte is read
        # the socket's own timeout, set per read, so that no read outlasts the deadline
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        data = bytearray()
        try:
            while True:
                wait = call.wait(what)
                if sock is not None:
                    sock.settimeout(wait)
                chunk = response.raw.read1(READ_BYTES, decode_content=True)
                if not chunk:
                    return bytes(data)
                call.take(len(chunk), what)
                data += chunk
        except (ReadTimeoutError, TimeoutError) as exc:
            raise PrefetchUnavailable(f"FHIR server timed out for {what}",
                                      reason="timeout") from exc
        except (Urllib3Error, OSError) as exc:  # the connection or the compression broke
            raise PrefetchUnavailable(f"FHIR server broke off {what}",
                                      reason="unreachable") from exc

    def _query(self, base: str, token: str | None, query: str, call: _Call) -> Fetched:
        """One query, counted by its outcome."""
        what = _kind(query)
        try:
            fetched = self._fetch(base, token, query, call, what)
        except PrefetchUnavailable as exc:
            FHIR_QUERIES.labels(what, exc.reason or "failed").inc()
            raise
        outcome = "ok" if fetched.complete else "incomplete"
        FHIR_QUERIES.labels(what, "not_found" if fetched.value is None else outcome).inc()
        return fetched

    def _fetch(self, base: str, token: str | None, query: str, call: _Call,
               what: str) -> Fetched:
        url = f"{base}/{query.lstrip('/')}"
        why = off_base(url, base)
        if why is not None:
            raise PrefetchUnavailable(f"the {what} query would leave the FHIR base URL ({why})",
                                      reason="off_base")
        if "?" not in query:
            resource = self._get(url, token, f"{what} read", call, read=True)
            if resource is not None and (not isinstance(resource, dict)
                                         or resource.get("resourceType") != what):
                raise PrefetchUnavailable(f"FHIR server sent {_what_came(resource)} instead of "
                                          f"a {what} for the {what} read", reason="wrong_type")
            return Fetched(resource)
        return self._search(base, url, token, what, call)

    def _search(self, base: str, url: str, token: str | None, what: str,
                call: _Call) -> Fetched:
        first: dict[str, Any] | None = None
        entries: list[Any] = []
        problems: list[str] = []
        page = 1
        while True:
            label = f"{what} search" if page == 1 else f"{what} search page {page}"
            bundle = self._get(url, token, label, call)
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise PrefetchUnavailable(f"FHIR server sent {_what_came(bundle)} instead of a "
                                          f"Bundle for the {label}", reason="wrong_type")
            first = first or bundle
            entry = bundle.get("entry")
            if isinstance(entry, list):
                entries.extend(entry)
            elif entry is not None:
                problems.append(f"page {page} of the {what} search: Bundle.entry is not a list, "
                                "its resources could not be read")
            link, problem = _next_link(bundle)
            if problem is not None:
                problems.append(f"page {page} of the {what} search: {problem}, so later pages "
                                "could not be followed")
            if link is None:
                break
            if page >= self.max_pages:
                raise PrefetchUnavailable(f"FHIR server returned more than {self.max_pages} "
                                          f"pages for {what}", reason="too_many_pages")
            why = off_base(link, base)
            if why is not None:
                raise PrefetchUnavailable(f"FHIR server paged {what} to {why}; the link was not "
                                          "followed", reason="off_base")
            url, page = link, page + 1
        merged = {**first, "entry": entries, "link": []}
        return Fetched(merged, not problems, tuple(problems))


def _parse(data: bytes, what: str) -> Any:
    try:
        value, deep = read(data, MAX_DEPTH)
    except RecursionError as exc:
        raise PrefetchUnavailable(f"FHIR server sent JSON nested too deep for {what}",
                                  reason="not_json") from exc
    except ValueError as exc:
        raise PrefetchUnavailable(f"FHIR server sent no JSON for {what}",
                                  reason="not_json") from exc
    if deep:
        raise PrefetchUnavailable(f"FHIR server sent JSON nested deeper than {MAX_DEPTH} levels "
                                  f"for {what}", reason="not_json")
    return value


def _what_came(value: Any) -> str:
    """What a FHIR server sent instead of what was asked, in words that carry no data."""
    if isinstance(value, list):
        return "a JSON array"
    if not isinstance(value, dict):
        return "a JSON " + {str: "string", bool: "boolean", type(None): "null"}.get(
            type(value), "number")
    rtype = value.get("resourceType")
    if not isinstance(rtype, str) or not _RESOURCE_TYPE.fullmatch(rtype):
        return "JSON that is no FHIR resource"
    if rtype != "OperationOutcome":
        return f"a {rtype}"
    codes = [i.get("code") for i in value.get("issue") or [] if isinstance(i, dict)] \
        if isinstance(value.get("issue"), list) else []
    shown = [c for c in codes if isinstance(c, str) and _ISSUE_CODE.fullmatch(c)][:3]
    return "an OperationOutcome" + (f" ({', '.join(shown)})" if shown else "")


def _next_link(bundle: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The ``next`` link, and what is wrong with ``Bundle.link`` when it cannot be read."""
    links = bundle.get("link")
    if links is None:
        return None, None
    if not isinstance(links, list):
        return None, "Bundle.link is not a list"
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str):
                return None, "its next link has no URL"
            return url, None
    return None, None


def _kind(query: str) -> str:
    """The resource type a query asks for (never its ids or parameters: they name the
    patient)."""
    kind = query.split("?")[0].split("/")[0]
    return kind if _RESOURCE_TYPE.fullmatch(kind) else "resource"


def _check_query(query: str) -> None:
    """A query's resource path is ``Type`` or ``Type/id``: nothing else may be put in front of
    the token (a patient id of ``../x`` would be)."""
    path = query.split("?")[0].strip("/").split("/")
    if not _RESOURCE_TYPE.fullmatch(path[0]) or len(path) > 2 or (
            len(path) == 2 and not is_fhir_id(path[1])):
        raise BadRequest(f"the {_kind(query)} query does not name a FHIR id; ids are letters, "
                         "digits, '-' and '.', at most 64")


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def _decoded(path: str) -> str:
    """The path with percent-escapes undone until none is left (``%252e`` -> ``%2e`` -> ``.``)."""
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path


def off_base(url: str, base: str) -> str | None:
    """Why ``url`` may not carry the token for the allow-listed ``base``; None when it may."""
    try:
        a, b = urlsplit(url), urlsplit(base)
        if _origin(a) != _origin(b) or a.username is not None or a.password is not None:
            return "another server"
    except ValueError:  # a port that is not a number
        return "another server"
    segments = _decoded(a.path).replace("\\", "/").split("/")
    if "." in segments or ".." in segments:
        return "a path with dot segments"
    root = b.path.rstrip("/")
    if not (a.path == root or a.path.startswith(root + "/")):
        return "a path outside the allow-listed base"
    return None
