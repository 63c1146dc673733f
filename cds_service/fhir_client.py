"""Fetch what the prefetch left out from the EHR's FHIR server, and nothing else.

- Only servers in the allow-list are contacted (``fhirServer`` comes from the caller: fetching
  any URL would be server-side request forgery); anything else is `Forbidden` before a socket is
  opened.
- The EHR's bearer token is sent to that server only, never logged, never stored.
- One `requests.Session` per process (connection reuse); every request has a timeout; queries
  run in parallel, so the wait is the slowest query's, not the sum.
- Searchset paging follows ``next`` links on the same server, at most ``max_pages`` pages.
- Failures are `PrefetchUnavailable` (412) naming the query and the HTTP status, never the data.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import requests

from cds_service.errors import Forbidden, PrefetchUnavailable


def normalise_base(url: str) -> str:
    return url.strip().rstrip("/")


class FhirClient:
    def __init__(self, session: requests.Session, allowlist: tuple[str, ...], timeout: float,
                 max_pages: int, workers: int = 48) -> None:
        self.session = session
        self.allowlist = frozenset(normalise_base(u) for u in allowlist if u.strip())
        self.timeout = timeout
        self.max_pages = max_pages
        # enough threads for every prefetch key of every request thread at once: a query that
        # waits for a thread would make the hook wait for two rounds instead of one
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fhir")

    def allowed(self, base: str) -> bool:
        return normalise_base(base) in self.allowlist

    def fetch_all(self, base: str, token: str | None,
                  queries: Mapping[str, str]) -> dict[str, Any]:
        """Run every query against ``base`` in parallel; key -> resource or Bundle."""
        if not self.allowed(base):
            raise Forbidden("fhirServer is not in this service's allow-list; nothing was "
                            "fetched")
        futures = {key: self.pool.submit(self._get_all, normalise_base(base), token, query)
                   for key, query in queries.items()}
        # a total deadline of 1.5 timeouts for all queries together (they run in parallel):
        # the per-request timeout bounds each socket read, and a server trickling bytes could
        # otherwise hold the hook for many timeouts
        deadline = time.monotonic() + self.timeout * 1.5
        results = {}
        for key, future in futures.items():
            try:
                results[key] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout as exc:
                raise PrefetchUnavailable(
                    f"FHIR server timed out for {_kind(queries[key])} (too slow)") from exc
        return results

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _get(self, url: str, token: str | None, what: str, read: bool = False) -> Any:
        try:
            # no redirects: an allow-listed server must not send the token elsewhere
            response = self.session.get(url, headers=self._headers(token), timeout=self.timeout,
                                        allow_redirects=False)
        except requests.Timeout as exc:
            raise PrefetchUnavailable(f"FHIR server timed out for {what}") from exc
        except requests.RequestException as exc:
            raise PrefetchUnavailable(f"FHIR server unreachable for {what}") from exc
        if response.status_code == 404 and read:
            return None  # a read of a resource that does not exist: nothing to map
        if response.status_code != 200:
            raise PrefetchUnavailable(
                f"FHIR server answered {response.status_code} for {what}")
        try:
            return response.json()
        except ValueError as exc:
            raise PrefetchUnavailable(f"FHIR server sent no JSON for {what}") from exc

    def _get_all(self, base: str, token: str | None, query: str) -> Any:
        what = _kind(query)
        search = "?" in query
        first = self._get(f"{base}/{query.lstrip('/')}", token,
                          f"{what} search" if search else f"{what} read", read=not search)
        if not search:
            if first is not None and (not isinstance(first, dict)
                                      or first.get("resourceType") != what):
                raise PrefetchUnavailable(f"FHIR server sent no {what} for the {what} read")
            return first
        if not isinstance(first, dict) or first.get("resourceType") != "Bundle":
            raise PrefetchUnavailable(f"FHIR server sent no Bundle for the {what} search")
        entries = list(first.get("entry") or [])
        page, link = 1, _next_link(first)
        while link and page < self.max_pages:
            if not _same_server(link, base):
                raise PrefetchUnavailable(f"FHIR server paged {what} to another server")
            nxt = self._get(link, token, f"{what} search page {page + 1}")
            if not isinstance(nxt, dict):
                break
            entries.extend(nxt.get("entry") or [])
            page, link = page + 1, _next_link(nxt)
        if link:
            raise PrefetchUnavailable(f"FHIR server returned more than {self.max_pages} pages "
                                      f"for {what}")
        return {**first, "entry": entries, "link": []}


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None


def _kind(query: str) -> str:
    """The resource type a query asks for (never its ids or parameters: they name the
    patient)."""
    return query.split("?")[0].split("/")[0] or "resource"


def _same_server(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    path = b.path.rstrip("/")
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and (
        a.path == path or a.path.startswith(path + "/"))
