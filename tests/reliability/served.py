"""The service as it is deployed, for the reliability tests: ``vte-cds serve`` (gunicorn, the
project's worker) on 127.0.0.1 with chosen settings, plain HTTP clients, and a FHIR server on
loopback whose every answer the test writes.

``FakeFhir`` serves many FHIR bases at once, ``http://127.0.0.1:<port>/s<n>/fhir``, each with the
behaviour one test gives it (`FakeFhir.base`), so that one gunicorn, started with all of them in
its allow-list, serves a whole module. It records every request it receives (path and
``Authorization`` header), wherever on the host it was sent. Everything stops when the module's
tests end; traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.serving import LOOPBACK, Gunicorn
from tests.cds_service.scenarios import TODAY

SLOTS = 48
TOKEN = "ehr-fhir-token-5d1c9e0b7a"

Reply = Callable[[BaseHTTPRequestHandler, str], None]


@dataclass(frozen=True)
class Seen:
    path: str
    authorization: str | None


class FakeFhir:
    """A loopback HTTP server; each base ``/s<n>/fhir`` answers as its test says."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._next = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake.seen.append(Seen(self.path, self.headers.get("Authorization")))
                slot = self.path.split("/")[1] if self.path.startswith("/s") else ""
                reply = fake.replies.get(slot)
                if reply is None:
                    answer(self, 404, {"resourceType": "OperationOutcome"})
                    return
                with suppress(OSError):
                    reply(self, self.path.split(f"/{slot}/fhir", 1)[-1])

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.root = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def allowlist(self) -> str:
        return ",".join(f"{self.root}/s{n}/fhir" for n in range(SLOTS))

    def base(self, reply: Reply) -> str:
        """A new allow-listed base answering with ``reply(handler, path_after_base)``."""
        slot = f"s{self._next}"
        self._next += 1
        assert self._next <= SLOTS, "more bases than the allow-list holds"
        self.replies[slot] = reply
        return f"{self.root}/{slot}/fhir"

    def seen_under(self, base: str) -> list[Seen]:
        path = base.removeprefix(self.root)
        return [s for s in self.seen if s.path.startswith(path + "/") or s.path == path]

    def __enter__(self) -> FakeFhir:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def answer(handler: BaseHTTPRequestHandler, status: int, body: Any,
           content_type: str = "application/fhir+json") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def bundle(*resources: dict[str, Any], next_url: str | None = None,
           **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                           "entry": [{"resource": r} for r in resources]}
    if next_url is not None:
        doc["link"] = [{"relation": "next", "url": next_url}]
    doc.update(fields)
    return doc


def service(fhir: FakeFhir | None = None, **settings: Any) -> Gunicorn:
    """``vte-cds serve`` with authentication off, the scenarios' date, a SQLite store of its own
    and ``fhir``'s bases allow-listed (not started: use it as a context manager)."""
    server = Gunicorn("service")
    server.env.update({"VTE_CDS_TODAY": TODAY, "VTE_CDS_FHIR_TIMEOUT": "1.0"})
    if fhir is not None:
        server.env["VTE_CDS_FHIR_ALLOWLIST"] = fhir.allowlist()
    server.env.update({f"VTE_CDS_{k}": str(v) for k, v in settings.items()})
    return server


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.text)


def call(port: int, method: str, path: str, body: Any = None, *, timeout: float = 30.0,
         headers: dict[str, str] | None = None) -> Answer:
    """One request on a fresh connection; the status, headers, text and time it took."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    started = time.monotonic()
    try:
        sent = {"Content-Type": "application/json"} if data is not None else {}
        sent.update(headers or {})
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text,
                      time.monotonic() - started)
    finally:
        conn.close()


def raw(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    """Send ``data`` as is and read until the service closes the connection."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        with suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                out += chunk
        return out


def status_and_json(response: bytes) -> tuple[int, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)
