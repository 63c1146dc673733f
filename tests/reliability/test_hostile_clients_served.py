"""What any client that reaches the port can send, against the service as deployed (``vte-cds
serve`` under gunicorn on 127.0.0.1): no body on any route is a 500, oversize and malformed
requests are the service's JSON errors (413, 431, 400) and never quote the request.
"""

from __future__ import annotations

import json

import pytest

from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.reliability.served import call, raw, service, status_and_json
from tests.reliability.support import make_app

MAX_BODY = 5_000_000
SAMPLES = {"<service_id>": "vte-patient-view", "<token>": "x" * 22,
           "<path:filename>": "app.js"}


@pytest.fixture(scope="module")
def served():
    with service() as server:
        yield server


def chunked(body: bytes, piece: int = 65536) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + piece]), body[i:i + piece])
                    for i in range(0, len(body), piece)) + b"0\r\n\r\n"


def post_raw(path: str, head: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{head}Connection: close\r\n\r\n").encode() + body


def assert_error(status: int, body, expected: int, code: str) -> None:
    assert status == expected, body
    assert set(body) == {"error", "message"}
    assert body["error"] == code


# --- the small ones ---------------------------------------------------------------------------


@pytest.mark.parametrize("service_id", ["<script>alert(1)</script>", "x" * 100,
                                        "vte-patient-view'--"])
def test_unknown_service_id_is_404_that_does_not_echo_it(served, service_id):
    from urllib.parse import quote

    answer = call(served.port, "POST", f"/cds-services/{quote(service_id, safe='')}", {})
    assert answer.status == 404
    body = answer.json()
    assert body["error"] == "not_found"
    assert service_id[:8] not in body["message"]
    assert "script" not in body["message"]


def test_a_6_mb_chunked_body_is_413_json(served):
    body = b'{"hook": "patient-view", "pad": "' + b"a" * (6 * 1024 * 1024) + b'"}'
    answer = raw(served.port, post_raw("/cds-services/vte-patient-view",
                                       "Transfer-Encoding: chunked\r\n", chunked(body)))
    status, doc = status_and_json(answer)
    assert_error(status, doc, 413, "payload_too_large")
    assert str(MAX_BODY) in doc["message"]


def test_a_6_mb_declared_body_is_413_json_before_it_is_sent(served):
    answer = raw(served.port, post_raw("/assessments", "Content-Length: 6291456\r\n", b"{"))
    status, doc = status_and_json(answer)
    assert_error(status, doc, 413, "payload_too_large")


def test_a_chunked_hook_call_within_the_limit_is_answered(served):
    body = json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()
    answer = raw(served.port, post_raw("/cds-services/vte-patient-view",
                                       "Transfer-Encoding: chunked\r\n", chunked(body, 1000)))
    status, doc = status_and_json(answer)
    assert status == 200, doc
    assert doc["cards"]


@pytest.mark.parametrize("headers", [
    "X-Big: " + "a" * 9000 + "\r\n",                                   # one field too long
    "".join(f"X-F{i}: {'a' * 1000}\r\n" for i in range(70)),           # 70 KB of headers
    "".join(f"X-F{i}: a\r\n" for i in range(120)),                     # too many fields
], ids=["field-9000-bytes", "headers-70-kb", "fields-120"])
def test_oversize_headers_are_431_json(served, headers):
    answer = raw(served.port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                              "Connection: close\r\n\r\n".encode())
    status, doc = status_and_json(answer)
    assert_error(status, doc, 431, "headers_too_large")
    assert "aaaa" not in json.dumps(doc)


def test_a_request_line_too_long_is_414_json_without_the_path(served):
    path = "/assessments/view/" + "secret" * 1000
    answer = raw(served.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status, doc = status_and_json(answer)
    assert_error(status, doc, 414, "uri_too_long")
    assert "secret" not in json.dumps(doc)


@pytest.mark.parametrize("head", [
    "Content-Length: 10\r\nTransfer-Encoding: chunked\r\n",
    "Content-Length: 10\r\nContent-Length: 11\r\n",
    "Content-Length: -1\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
], ids=["length-and-chunked", "two-lengths", "negative-length", "gzip-coding"])
def test_framing_that_cannot_be_trusted_is_refused_as_json(served, head):
    status, doc = status_and_json(raw(served.port, post_raw("/assessments", head, b"{}")))
    assert status in (400, 501), doc
    assert set(doc) == {"error", "message"}


def test_a_malformed_request_line_is_400_json_without_quoting_it(served):
    status, doc = status_and_json(raw(served.port, b"GET /x<secret> HTTP/9.9\r\n\r\n"))
    assert_error(status, doc, 400, "bad_request")
    assert "secret" not in json.dumps(doc)


# --- no body on any route is a 500 --------------------------------------------------------------


def _routes() -> list[tuple[str, str]]:
    """Every route and method the service has (and POST to each), with sample path values."""
    import tempfile

    app = make_app(tempfile.mkdtemp())
    found = set()
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for name, value in SAMPLES.items():
            path = path.replace(name, value)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"} | {"POST", "PUT"}:
            found.add((method, path))
    return sorted(found)


BODIES = {
    "open-brackets-200000": b"[" * 200_000,
    "nested-objects-5000": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "nested-arrays-100": b"[" * 100 + b"]" * 100,
    "nested-object-100": json.dumps(
        {"patient": "x", "overrides": json.loads('{"a":' * 99 + "1" + "}" * 99)}).encode(),
    "invalid-utf8": b'{"hook": "\xff\xfe"}',
    "bundle-entry-5": json.dumps({"resourceType": "Bundle", "entry": 5}).encode(),
    "bundle-link-5": json.dumps({"resourceType": "Bundle", "link": 5, "entry": []}).encode(),
    "hook-prefetch-entry-5": json.dumps({
        **myeloma_on_lenalidomide_dexamethasone(),
        "prefetch": {"conditions": {"resourceType": "Bundle", "entry": 5}}}).encode(),
    "empty": b"",
    "null": b"null",
}


@pytest.mark.parametrize(("method", "path"), _routes())
def test_no_body_on_any_route_is_a_500(served, method, path):
    """A refusal is the JSON error (the SMART launch pages, made for people, answer a page)."""
    for name, body in BODIES.items():
        answer = call(served.port, method, path, body)
        assert answer.status < 500, f"{method} {path} {name}: {answer.status} {answer.text[:200]}"
        if answer.status >= 400 and "json" in answer.headers.get("content-type", ""):
            assert set(answer.json()) == {"error", "message"}, answer.text[:200]


def test_deeply_nested_json_to_the_smart_assess_api_is_400_unauthenticated(served):
    for body in (b"[" * 200_000, b'{"patient":' * 50_000 + b"1" + b"}" * 50_000):
        answer = call(served.port, "POST", "/smart/api/assess", body)
        assert answer.status == 400, answer.text
        assert answer.json()["error"] == "bad_request"
