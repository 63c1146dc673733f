"""``vte-cds check-ehr``: why an EHR's token passes or fails, one line per check.

The input is one captured request, a JSON object with ``path`` (the path called, e.g.
``/cds-services/vte-patient-view``), ``headers`` (with ``Authorization``) and ``body``; a capture
may also carry ``captured_at_epoch``. The checks are the ``Authenticator``'s own steps
(``tokens.py``), run one by one so that a failure does not hide the checks after it: issuer,
header, key location, key set, ``kid``, algorithm and signature, ``aud``, clock, lifetime, ``sub``.
The replay check is not run: the report uses a fresh authenticator and remembers nothing.

Each line is ``ok``, ``FAIL`` or ``--`` (not checked, and why), a name and what was found. The
token itself is never printed; its claims and header fields are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import requests

from cds_service.errors import CdsError
from cds_service.security.issuers import Issuer
from cds_service.security.keys import KeysUnavailableError
from cds_service.security.tokens import (
    Authenticator,
    Token,
    check_clock,
    check_header,
    check_lifetime,
    check_subject,
    matching_audience,
    numeric_date,
    read_token,
    verified_payload,
)

OK, FAIL, SKIP = "ok", "FAIL", "--"


@dataclass
class Report:
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, status: str, name: str, text: str) -> None:
        self.lines.append((status, name, text))

    @property
    def passed(self) -> bool:
        return all(status != FAIL for status, _, _ in self.lines)

    def write(self, out: TextIO) -> None:
        for status, name, text in self.lines:
            out.write(f"{status:<5} {name:<10} {text}\n")


def _instant(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _relative(seconds: float) -> str:
    if round(seconds) == 0:
        return "now"
    return f"in {seconds:.0f} s" if seconds > 0 else f"{-seconds:.0f} s before"


def _header(capture: Mapping[str, Any], name: str) -> str | None:
    headers = capture.get("headers")
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name.lower() and isinstance(value, str):
            return value
    return None


def check(
    capture: Mapping[str, Any],
    issuers: tuple[Issuer, ...],
    public_url: str,
    *,
    now: float,
    session: requests.Session,
) -> Report:
    """Check the token of ``capture`` as this service would at time ``now``."""
    report = Report()
    authenticator = Authenticator(issuers, session, clock=lambda: now)
    try:
        token = read_token(_header(capture, "Authorization"))
    except CdsError as error:
        report.add(FAIL, "token", error.message)
        return report
    report.add(OK, "token", f"bearer JWT: alg {token.alg}, kid {token.kid}, "
                            f"jku {token.jku or '(none)'}, iss {token.iss or '(none)'}")
    try:
        issuer = authenticator.issuer(token)
    except CdsError as error:
        configured = ", ".join(i.iss for i in issuers)
        report.add(FAIL, "issuer", f"{error.message}: {token.iss or '(none)'} is not among "
                                   f"{configured}")
        return report
    report.add(OK, "issuer", f"{issuer.iss} is trusted (profile {issuer.profile})")
    _algorithm(report, token, issuer)
    jwk = _key(report, authenticator, issuer, token)
    payload = _signature(report, token, jwk, issuer)
    if payload is None:
        payload = dict(token.claims)
        report.add(SKIP, "claims", "the checks below read the claims unverified")
    _audience(report, payload, public_url, capture)
    _clock(report, authenticator, payload, issuer, now)
    _subject(report, payload, issuer)
    return report


def _algorithm(report: Report, token: Token, issuer: Issuer) -> None:
    try:
        check_header(token, issuer)
    except CdsError as error:
        report.add(FAIL, "algorithm", f"{error.message} (header alg {token.alg}, typ "
                                      f"{token.header.get('typ')}; the {issuer.profile} profile "
                                      f"allows {', '.join(issuer.algorithms)})")
        return
    report.add(OK, "algorithm", f"{token.alg} is allowed for this issuer "
                                f"({', '.join(issuer.algorithms)})")


def _key(report: Report, authenticator: Authenticator, issuer: Issuer,
         token: Token) -> Mapping[str, Any] | None:
    try:
        urls = authenticator.key_locations(issuer, token)
    except CdsError as error:
        report.add(FAIL, "jku", error.message)
        return None
    if token.jku is not None:
        report.add(OK, "jku", f"{token.jku} is a key location allowed for this issuer")
    else:
        report.add(SKIP, "jku", "(none): the keys come from the issuer's configuration")
    inline = authenticator.inline_keys(issuer)
    if token.kid in inline:
        report.add(OK, "key set", "the issuer's inline jwks")
        report.add(OK, "kid", f"{token.kid} found in the inline jwks")
        return inline[token.kid]
    found: Mapping[str, Any] | None = None
    seen: list[str] = []
    for url in urls:
        try:
            keys = authenticator.key_set(url)
        except KeysUnavailableError as error:
            report.add(FAIL, "key set", f"{url} unreachable: {error.reason}")
            continue
        report.add(OK, "key set", f"{url} answered with {len(keys)} signing key(s)")
        seen.extend(keys)
        found = found or keys.get(token.kid)
    if not urls and not inline:
        report.add(FAIL, "key set", "no key location for this token")
    if found is None:
        known = ", ".join(seen + list(inline)) or "none"
        report.add(FAIL, "kid", f"{token.kid} is in no key set (kids seen: {known})")
        return None
    report.add(OK, "kid", f"{token.kid} found")
    return found


def _signature(report: Report, token: Token, jwk: Mapping[str, Any] | None,
               issuer: Issuer) -> dict[str, Any] | None:
    if jwk is None:
        report.add(SKIP, "signature", "not checked: no key")
        return None
    try:
        # sub has its own line below; here only the signature and the claims every token needs
        payload = verified_payload(token, jwk, replace(issuer, subjects=None))
    except CdsError as error:
        report.add(FAIL, "signature", error.message)
        return None
    report.add(OK, "signature", f"valid ({token.alg}, key {token.kid})")
    return payload


def _audience(report: Report, payload: Mapping[str, Any], public_url: str,
              capture: Mapping[str, Any]) -> None:
    path = capture.get("path")
    claimed = payload.get("aud")
    if not public_url or not isinstance(path, str):
        report.add(SKIP, "aud", f"{claimed}: not checked, give --public-url (or set "
                                "VTE_CDS_PUBLIC_URL) and a capture with a 'path'")
        return
    called = f"{public_url.rstrip('/')}{path}"
    try:
        matching_audience(claimed, called)
    except CdsError:
        report.add(FAIL, "aud", f"{claimed} is not the URL called, {called} (public URL "
                                f"{public_url} plus the path); set VTE_CDS_PUBLIC_URL to what "
                                "the EHR calls")
        return
    report.add(OK, "aud", f"{claimed} is the URL called (public URL plus {path})")


def _clock(report: Report, authenticator: Authenticator, payload: Mapping[str, Any],
           issuer: Issuer, now: float) -> None:
    try:
        exp, iat = numeric_date(payload, "exp"), numeric_date(payload, "iat")
    except (CdsError, KeyError):
        report.add(FAIL, "clock", f"iat {payload.get('iat')} and exp {payload.get('exp')} must "
                                  "both be numbers of seconds")
        return
    nbf = payload.get("nbf")
    seen = (f"checked at {_instant(now)}: issued {_relative(iat - now)}, "
            + (f"valid from {_relative(nbf - now)}, " if isinstance(nbf, int | float) else "")
            + f"expires {_relative(exp - now)}; leeway {authenticator.leeway} s")
    try:
        check_clock(payload, now, authenticator.leeway)
    except CdsError as error:
        report.add(FAIL, "clock", f"{error.message} ({seen}); --at evaluates at another time")
    else:
        report.add(OK, "clock", seen)
    try:
        check_lifetime(exp, iat, issuer)
    except CdsError as error:
        report.add(FAIL, "lifetime", f"{error.message} (exp - iat = {exp - iat:.0f} s)")
        return
    report.add(OK, "lifetime", f"{exp - iat:.0f} s (at most {issuer.max_lifetime_seconds} s for "
                               f"the {issuer.profile} profile)")


def _subject(report: Report, payload: Mapping[str, Any], issuer: Issuer) -> None:
    sub = payload.get("sub")
    if issuer.subjects is None:
        report.add(SKIP, "sub", f"{sub if sub is not None else '(none)'}: not checked, the issuer "
                                "lists no client id ('sub')")
        return
    try:
        check_subject(payload, issuer)
    except CdsError as error:
        report.add(FAIL, "sub", f"{error.message}: {sub if sub is not None else '(none)'} is not "
                                f"among {', '.join(sorted(issuer.subjects))}")
        return
    report.add(OK, "sub", f"{sub} is a configured client id")

