"""Where a request ends, as the serving worker finds it before handing the request to a thread
(cds_service/worker.py `Framing`), byte by byte as slow clients send it; and which URLs may carry
the EHR's FHIR token (cds_service/fhir/client.py `off_base`, `is_fhir_id`)."""

from __future__ import annotations

import pytest

from cds_service.fhir.client import is_fhir_id, off_base
from cds_service.worker import Framing

HEAD = b"POST /cds-services/vte-patient-view HTTP/1.1\r\nHost: x\r\n"


def framed(data: bytes, *, max_head: int = 4096, max_body: int = 100,
           one_byte_at_a_time: bool = True) -> Framing:
    framing = Framing(max_head, max_body)
    pieces = [data[i:i + 1] for i in range(len(data))] if one_byte_at_a_time else [data]
    for piece in pieces:
        if framing.feed(piece) is not None or framing.complete:
            break
    return framing


@pytest.mark.parametrize("whole", [True, False], ids=["at-once", "byte-by-byte"])
def test_a_request_with_a_length_ends_after_its_body(whole):
    request = HEAD + b"Content-Length: 4\r\n\r\n{}  "
    framing = framed(request + b"GET /next", one_byte_at_a_time=not whole)
    assert framing.refusal is None
    assert framing.end == len(request)


def test_a_request_without_a_body_ends_after_its_headers():
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert framed(request).end == len(request)


def test_empty_lines_before_a_request_are_skipped():
    request = b"\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n"
    assert framed(request).end == len(request)


def test_headers_still_coming_are_not_complete():
    framing = framed(HEAD + b"X-Slow: aaaa")
    assert not framing.complete
    assert framing.refusal is None


def test_a_chunked_body_ends_after_its_last_chunk_and_trailers():
    body = b"4;ext=1\r\n{\"a\"\r\n2\r\n:1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n"
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body
    framing = framed(request + b"GET /next")
    assert framing.refusal is None
    assert framing.end == len(request)


@pytest.mark.parametrize(("head", "body", "status"), [
    (b"Content-Length: 101\r\n", b"", 413),
    (b"Transfer-Encoding: chunked\r\n", b"65\r\n" + b"a" * 101 + b"\r\n0\r\n\r\n", 413),
    (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", b"abc", 400),
    (b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abc", 400),
    (b"Content-Length: +3\r\n", b"abc", 400),
    (b"Transfer-Encoding: gzip\r\n", b"", 501),
    (b"Transfer-Encoding: chunked\r\n", b"zz\r\n", 400),
    (b"Transfer-Encoding: chunked\r\n", b"2\r\nabXX", 400),
    (b"X-Big: " + b"a" * 5000 + b"\r\n", b"", 431),
], ids=["length-over-cap", "chunks-over-cap", "length-and-chunked", "two-lengths",
        "signed-length", "gzip-coding", "bad-chunk-size", "chunk-without-crlf",
        "headers-over-cap"])
def test_framing_that_cannot_be_trusted_is_refused(head, body, status):
    framing = framed(HEAD + head + b"\r\n" + body)
    assert framing.refusal is not None
    assert framing.refusal.status == status
    assert b"aaaa" not in framing.refusal.response()


def test_a_body_is_refused_for_its_declared_length_before_a_byte_of_it():
    framing = framed(HEAD + b"Content-Length: 1000000\r\n\r\n")
    assert framing.refusal is not None
    assert framing.refusal.status == 413


def test_only_an_http_11_request_with_a_body_wants_100_continue():
    assert framed(HEAD + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n").wants_continue
    assert not framed(HEAD + b"Expect: 100-continue\r\n\r\n").wants_continue
    old = HEAD.replace(b"HTTP/1.1", b"HTTP/1.0")
    assert not framed(old + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n").wants_continue


BASE = "https://fhir.example/r4"


@pytest.mark.parametrize("url", [
    f"{BASE}/Condition?patient=p1&_page=2",
    f"{BASE}/Condition/_search?page=2",
    "HTTPS://FHIR.EXAMPLE:443/r4/Condition?page=2",
    f"{BASE}/Condition/..x?page=2",
])
def test_a_url_under_the_base_may_carry_the_token(url):
    assert off_base(url, BASE) is None


@pytest.mark.parametrize(("url", "why"), [
    (f"{BASE}/../admin", "dot segments"),
    (f"{BASE}/%2e%2e/admin", "dot segments"),
    (f"{BASE}/%252E%252E/admin", "dot segments"),
    (f"{BASE}/Condition/..%2f..%2fadmin", "dot segments"),
    (f"{BASE}/.%2E/admin", "dot segments"),
    (f"{BASE}/Condition%5c..%5cadmin", "dot segments"),
    (f"{BASE}/./Condition", "dot segments"),
    ("https://fhir.example/r4-admin/Condition", "outside the allow-listed base"),
    ("https://fhir.example/Condition", "outside the allow-listed base"),
    ("http://fhir.example/r4/Condition", "another server"),
    ("https://fhir.example:8443/r4/Condition", "another server"),
    ("https://fhir.example@evil.example/r4/Condition", "another server"),
    ("https://user:pw@fhir.example/r4/Condition", "another server"),
    ("https://fhir.example:port/r4/Condition", "another server"),
    ("/r4/Condition?page=2", "another server"),
])
def test_a_url_off_the_base_may_not(url, why):
    found = off_base(url, BASE)
    assert found is not None
    assert why in found


@pytest.mark.parametrize(("value", "ok"), [
    ("mm-rd", True), ("A.b-9", True), ("x" * 64, True), ("...", True),
    (".", False), ("..", False), ("x" * 65, False), ("", False), ("a/b", False),
    ("a b", False), ("%2e%2e", False), ("p1?_include=*", False), ("日本", False),
])
def test_fhir_id_syntax(value, ok):
    assert is_fhir_id(value) is ok
