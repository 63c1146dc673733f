"""Slow clients against ``vte-cds serve`` (gunicorn with the project's worker,
cds_service/worker.py, on 127.0.0.1): others are answered while 64 clients send their headers or
bodies a byte at a time, a client too slow is cut off with a JSON 408, and what the worker must
not break still works (keep-alive, pipelined requests, ``Expect: 100-continue``).

bench/slow_clients.py drives the load (``python -m bench.slow_clients`` is the long run).
"""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from bench.serving import LOOPBACK
from bench.slow_clients import run, summary
from tests.cds_service.scenarios import myeloma_on_lenalidomide_dexamethasone
from tests.reliability.served import service, status_and_json

SECONDS = 6.0
CUT_OFF = 1.0  # header and body timeouts of the short-fused server


def test_serve_keeps_answering_others_while_64_clients_send_slowly():
    (result,) = run(clients=64, seconds=SECONDS, mode="both", baseline=False)
    figures = summary([result])
    assert result.sent >= 20, figures
    assert result.share == 1.0, figures
    assert result.p(99) < 2000, figures


@pytest.fixture(scope="module")
def short_fused():
    with service(CLIENT_HEADER_TIMEOUT=CUT_OFF, CLIENT_BODY_TIMEOUT=CUT_OFF) as server:
        yield server


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_a_client_too_slow_with_its_headers_gets_a_json_408(short_fused):
    with socket.create_connection((LOOPBACK, short_fused.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        answer = read_all(sock)
        elapsed = time.monotonic() - started
    status, body = status_and_json(answer)
    assert status == 408
    assert body == {"error": "request_timeout",
                    "message": f"request headers not received within {CUT_OFF:g} s"}
    assert CUT_OFF - 0.1 <= elapsed < CUT_OFF + 2


def test_a_client_too_slow_with_its_body_gets_a_json_408(short_fused):
    with socket.create_connection((LOOPBACK, short_fused.port), timeout=10) as sock:
        sock.sendall(b"POST /assessments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        for _ in range(3):  # still sending, just too slowly
            time.sleep(0.3)
            sock.sendall(b" ")
        answer = read_all(sock)
    status, body = status_and_json(answer)
    assert status == 408
    assert body["message"] == f"request body not received within {CUT_OFF:g} s"


def test_an_idle_connection_costs_no_thread_and_is_closed(short_fused):
    """Connected, never a byte: cut off like a slow client, and others are served meanwhile."""
    idle = [socket.create_connection((LOOPBACK, short_fused.port)) for _ in range(40)]
    try:
        conn = http.client.HTTPConnection(LOOPBACK, short_fused.port, timeout=5)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
        idle[0].settimeout(CUT_OFF + 3)
        assert read_all(idle[0]).split(b" ")[1] == b"408"
    finally:
        for sock in idle:
            sock.close()


def hook_bytes() -> bytes:
    return json.dumps(myeloma_on_lenalidomide_dexamethasone()).encode()


def test_keep_alive_serves_several_requests_on_one_connection(short_fused):
    conn = http.client.HTTPConnection(LOOPBACK, short_fused.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("POST", "/cds-services/vte-patient-view", body=hook_bytes(),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["cards"]
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(short_fused):
    body = hook_bytes()
    one = (b"POST /cds-services/vte-patient-view HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    last = b"GET /cds-services HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection((LOOPBACK, short_fused.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + one + last)
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    routes = [line for line in answer.split(b"\r\n") if line.startswith(b"X-Vte-Route")]
    assert routes == [b"X-Vte-Route: /healthz", b"X-Vte-Route: /cds-services/<service_id>",
                      b"X-Vte-Route: /cds-services"]


def test_expect_100_continue_is_answered_once_then_the_request(short_fused):
    body = hook_bytes()
    with socket.create_connection((LOOPBACK, short_fused.port), timeout=10) as sock:
        sock.sendall(b"POST /cds-services/vte-patient-view HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"100 Continue" not in answer
