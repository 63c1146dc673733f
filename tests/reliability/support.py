"""What the reliability tests share: the app they drive, the property every answer must have,
valid requests for every service, what the fuzz tests draw and how they mutate a request, and
loopback listeners that count who calls them.

Traffic goes only to 127.0.0.1; every listener stops by itself when its test ends.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from cds_service.app import create_app
from tests.cds_service.card_checks import assert_valid_card
from tests.cds_service.scenarios import HOOK_INSTANCE, SCENARIOS, TODAY, request

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


# --- what the fuzz tests draw, and how they mutate a valid request ---------------------------

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much,
                                       HealthCheck.large_base_example])

FHIR_TYPES = ["Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement",
              "Medication", "Procedure", "Device", "Encounter", "AllergyIntolerance",
              "FamilyMemberHistory", "ServiceRequest", "Bundle", "OperationOutcome", "Binary",
              "", "patient", "Observation ", "__proto__"]

TEXT = st.text(max_size=40)
UNICODE = st.text(alphabet=st.characters(min_codepoint=0x80), min_size=1, max_size=200)
NUMBERS = st.one_of(st.integers(min_value=-(10**400), max_value=10**400),
                    st.floats(allow_nan=True, allow_infinity=True))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


HOSTILE = st.one_of(
    JSON,
    UNICODE,
    st.just("A" * 100_000),
    st.integers(min_value=50, max_value=700).map(nested),
    st.sampled_from(["", " ", "\u0000", "Patient/someone-else", "../../../etc/passwd",
                     "http://127.0.0.1:9/", "{{context.patientId}}", "1e309", "NaN", "-0",
                     "2026-02-30", "9999-12-31", "0000-01-01", "<script>alert(1)</script>",
                     "\u202e\u0645\u0631\u062d\u0628\u0627", "\U0001F489" * 50]),
    st.sampled_from([0, -1, 1.5, -0.0, 2**63, -(2**63), 1e308, -1e308, float("inf"),
                     float("-inf"), float("nan"), True, False, None, [], {}, [None], {"": None}]),
)


def all_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    items = (doc.items() if isinstance(doc, dict)
             else enumerate(doc) if isinstance(doc, list) else ())
    for key, value in items:
        found.append((*prefix, key))
        found.extend(all_paths(value, (*prefix, key)))
    return found


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


def mutate(data: st.DataObject, doc: dict[str, Any], count: int) -> dict[str, Any]:
    """Apply ``count`` mutations at paths drawn from ``doc``; returns the mutated copy."""
    doc = copy.deepcopy(doc)
    for _ in range(count):
        paths = all_paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent, key = parent_of(doc, path), path[-1]
        operation = data.draw(st.sampled_from(
            ["drop", "replace", "replace", "resource_type", "duplicate"]), label="op")
        if operation == "drop":
            del parent[key]
        elif operation == "replace":
            # a copy: HOSTILE's lists and objects are shared, and a later mutation of the value
            # would change what the strategy draws next (Hypothesis then calls it flaky)
            parent[key] = copy.deepcopy(data.draw(HOSTILE, label="value"))
        elif operation == "resource_type":
            resource_type = data.draw(st.sampled_from(FHIR_TYPES), label="type")
            if isinstance(parent[key], dict):
                parent[key]["resourceType"] = resource_type
            else:
                parent[key] = resource_type
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = [copy.deepcopy(parent[key])] * 2
    return doc


LANGUAGES = st.one_of(st.sampled_from(["zh-CN,zh;q=0.9", "en", "*", "fr;q=x", ""]),
                      st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                              max_size=30))


def assessment_body(hook: dict[str, Any], as_bundle: bool) -> dict[str, Any]:
    """A ``POST /assessments`` body holding what the hook request ``hook`` holds: its prefetch
    resources as a collection Bundle, or its context and prefetch as a hook request."""
    if as_bundle:
        entries = []
        for value in hook["prefetch"].values():
            entries += value.get("entry", []) if value["resourceType"] == "Bundle" \
                else [{"resource": value}]
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return {"hook": "patient-view", "hookInstance": HOOK_INSTANCE, "context": hook["context"],
            "prefetch": hook["prefetch"]}


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
