"""What the reliability tests share: the app they drive, the property every answer must have,
valid requests for every service, and loopback listeners that count who calls them.

Traffic goes only to 127.0.0.1; every listener stops by itself when its test ends.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from cds_service.app import create_app
from tests.cds_service.card_checks import assert_valid_card
from tests.cds_service.scenarios import SCENARIOS, TODAY, request

SERVICES = {"vte-patient-view": "patient-view", "vte-order-select": "order-select",
            "vte-order-sign": "order-sign"}
PUBLIC_URL = "https://cds.example"


def make_app(tmp_path, **overrides: Any):
    config = {"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": PUBLIC_URL,
              "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db", "FHIR_ALLOWLIST": ""}
    config.update(overrides)
    return create_app(config)


def scenario_request(name: str, service_id: str) -> dict[str, Any]:
    """Scenario ``name`` as a valid request to ``service_id`` (drafts kept or made empty)."""
    build, _ = SCENARIOS[name]
    body = build()
    hook = SERVICES[service_id]
    drafts = [e["resource"] for e in
              body["context"].get("draftOrders", {}).get("entry", [])]
    return request(hook, body["context"]["patientId"], body["prefetch"], drafts)


def strict_json(text: str) -> Any:
    """JSON as any client parses it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def kind_of(path: str) -> str:
    if path.startswith("/assessments/view/"):
        return "view"
    if path.startswith("/assessments"):
        return "assessment"
    if path.endswith("/feedback"):
        return "feedback"
    return "hook"


def assert_clean_answer(response, path: str) -> Any:
    """The property: a 2xx with the body its route promises, or a 4xx ``{error, message}``.

    Never a 5xx, never a body a strict JSON parser refuses."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert status < 500, f"{status} from {path}: {text[:300]}"
    if kind_of(path) == "view" and status == 200 and response.mimetype == "text/html":
        return text
    body = strict_json(text)
    if 200 <= status < 300:
        kind = kind_of(path)
        if kind == "hook":
            assert set(body) == {"cards"}, body
            assert isinstance(body["cards"], list)
            for card in body["cards"]:
                assert_valid_card(card)
        elif kind == "feedback":
            assert set(body) == {"recorded", "snoozed"}
            assert isinstance(body["recorded"], int)
            assert body["recorded"] >= 0
        else:
            assert {"as_of", "scores", "recommendations", "data_issues"} <= set(body)
    else:
        assert 400 <= status < 500, f"{status} from {path}"
        assert set(body) == {"error", "message"}, body
        assert isinstance(body["error"], str)
        assert body["error"]
        assert isinstance(body["message"], str)
        assert body["message"]
    return body


# --- loopback listeners ----------------------------------------------------------------------


Handler = Callable[[socket.socket, threading.Event], None]


class Loopback:
    """A TCP listener on 127.0.0.1 that counts connections and hands each to ``handler``.

    ``handler(conn, stopping)`` answers (or does not); ``stopping`` is set when the test ends,
    and every connection still open is then closed, so nothing outlives the test.
    """

    def __init__(self, handler: Handler, limit_seconds: float = 60.0) -> None:
        self.handler = handler
        self.limit = limit_seconds
        self.connections = 0
        self.requests: list[bytes] = []
        self._stopping = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Loopback:
        thread = threading.Thread(target=self._serve, daemon=True, name="loopback")
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stopping.set()
            for conn in self._open:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self.connections += 1
                self._open.append(conn)
                worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
                self._threads.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self.limit)
            self.requests.append(read_request(conn))
            self.handler(conn, self._stopping)
        except OSError:
            pass
        finally:
            conn.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def silent(conn: socket.socket, stopping: threading.Event) -> None:
    """Accept, read the request, never answer."""
    stopping.wait(30)


def answer(status: int, body: bytes | str, headers: dict[str, str] | None = None) -> Handler:
    payload = body.encode() if isinstance(body, str) else body

    def handle(conn: socket.socket, stopping: threading.Event) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}",
                 "Content-Type: application/json", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)

    return handle


def trickle(body: bytes, interval: float, slow_bytes: int) -> Handler:
    """Headers at once, then ``slow_bytes`` of the body one byte per ``interval``, then the rest:
    no single read ever waits longer than ``interval``."""

    def handle(conn: socket.socket, stopping: threading.Event) -> None:
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        conn.sendall(head)
        for i in range(slow_bytes):
            if stopping.wait(interval):
                return
            conn.sendall(body[i:i + 1])
        conn.sendall(body[slow_bytes:])

    return handle


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (connections are refused)."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield port
