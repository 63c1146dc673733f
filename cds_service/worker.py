"""The gunicorn worker ``vte-cds serve`` runs: gthread, except that a request reaches a thread only
once all of it has arrived.

gunicorn's gthread worker hands a connection to one of its few threads as soon as the first byte
arrives, and the thread then waits, as long as it takes, for the rest of the request. Thirty-two
clients sending their headers a byte at a time hold every thread of a two-worker service, and
nobody else is answered. Here the worker's main loop reads every request itself, without
blocking, alongside all the others:

- the head (request line and headers) must be complete within ``CLIENT_HEADER_TIMEOUT`` seconds
  of the connection being accepted (or, kept alive, of its next request starting), and hold at
  most ``MAX_HEAD_BYTES``; otherwise 408 or 431;
- the body, within ``CLIENT_BODY_TIMEOUT`` seconds after the head, and at most ``MAX_BODY_BYTES``,
  declared (``Content-Length``) or counted (chunked, decoded); otherwise 408, or 413 at once
  without reading it (``Expect: 100-continue`` is answered here, when the body is wanted);
- framing it cannot trust (both ``Content-Length`` and ``Transfer-Encoding``, several lengths, a
  transfer coding other than chunked, a malformed chunk) is 400 or 501.

A complete request goes to a thread with every byte already in memory: the thread parses it
without waiting for the client, and its writes are bounded by ``WRITE_TIMEOUT``. A slow client
costs a socket and a buffer, not a thread; a worker reads at most ``MAX_READING`` requests and
``MAX_BUFFERED_BYTES`` at once (further connections wait in the listen backlog, a request that
would go over the byte budget is 503). ``worker_connections`` still bounds the connections a
worker serves or keeps alive, so that keep-alive clients spread over the workers; connections
still being read do not count against it.

Errors the worker answers itself, and gunicorn's own (a header line too long, 431), are the
service's JSON ``{"error", "message"}`` with ``Connection: close``, never quoting the request; the
log line names the error kind only (a request line can hold a card link's token). The limits are
the service's settings (``VTE_CDS_CLIENT_HEADER_TIMEOUT``, ``VTE_CDS_CLIENT_BODY_TIMEOUT``,
``VTE_CDS_MAX_BODY_BYTES``), read from the application the worker serves. TLS is not terminated
here: put the service behind a TLS proxy.
"""

from __future__ import annotations

import errno
import json
import re
import selectors
import socket
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

MAX_HEAD_BYTES = 65536
MAX_READING = 512
WRITE_TIMEOUT = 10.0
LINGER_SECONDS = 2.0  # after refusing a body, how long its bytes are read and dropped
RECV_BYTES = 262144
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_DEFAULTS = {"CLIENT_HEADER_TIMEOUT": 10.0, "CLIENT_BODY_TIMEOUT": 30.0,
             "MAX_BODY_BYTES": 5_000_000}
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 431:
            "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable"}
_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large",
          414: "uri_too_long", 417: "expectation_failed", 431: "headers_too_large",
          500: "internal_error", 501: "not_implemented", 503: "busy"}


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str

    def response(self) -> bytes:
        body = json.dumps({"error": _CODES[self.status], "message": self.message}).encode()
        head = (f"HTTP/1.1 {self.status} {_REASONS[self.status]}\r\n"
                "Content-Type: application/json\r\nConnection: close\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode("ascii") + body


class Framing:
    """Where the request at the start of a buffer ends, found incrementally: `feed` bytes in,
    then `complete`, or a `Refusal`. Nothing here blocks or parses more than framing needs
    (gunicorn's parser checks the rest, from memory)."""

    def __init__(self, max_head: int, max_body: int, data: bytes = b"") -> None:
        self.max_head, self.max_body = max_head, max_body
        self.buffer = bytearray()
        self.head_end: int | None = None
        self.end: int | None = None
        self.wants_continue = False
        self._start = 0
        self._length: int | None = None
        self._chunked = False
        self._pos = 0
        self._chunk_left = 0
        self._decoded = 0
        self._trailers = False
        self._trailer_bytes = 0
        self.refusal: Refusal | None = None
        if data:
            self.feed(data)

    @property
    def complete(self) -> bool:
        return self.end is not None

    @property
    def started(self) -> bool:
        return len(self.buffer) > self._start

    def feed(self, data: bytes) -> Refusal | None:
        self.buffer += data
        if self.refusal is None and self.end is None:
            self.refusal = self._advance()
        return self.refusal

    def _advance(self) -> Refusal | None:
        if self.head_end is None:
            refusal = self._head()
            if refusal is not None or self.head_end is None:
                return refusal
        if self._chunked:
            return self._chunks()
        if len(self.buffer) >= self.head_end + (self._length or 0):
            self.end = self.head_end + (self._length or 0)
        return None

    def _head(self) -> Refusal | None:
        buf = self.buffer
        while buf.startswith(b"\r\n", self._start):  # empty lines before a request are allowed
            self._start += 2
        found = buf.find(b"\r\n\r\n", self._start)
        if found < 0:
            if len(buf) - self._start > self.max_head:
                return Refusal(431, f"request headers over {self.max_head} bytes")
            return None
        if found + 4 - self._start > self.max_head:
            return Refusal(431, f"request headers over {self.max_head} bytes")
        self.head_end = found + 4
        lines = bytes(buf[self._start:found]).split(b"\r\n")
        http11 = lines[0].rstrip().endswith(b"HTTP/1.1")
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if colon:
                fields.setdefault(name.strip().lower(), []).append(value.strip())
        lengths = fields.get(b"content-length", [])
        codings = [c.strip().lower() for v in fields.get(b"transfer-encoding", [])
                   for c in v.split(b",") if c.strip()]
        if codings and lengths:
            return Refusal(400, "a request may not carry both Content-Length and "
                                "Transfer-Encoding")
        if codings:
            if codings != [b"chunked"]:
                return Refusal(501, "the only Transfer-Encoding accepted is chunked")
            self._chunked, self._pos = True, self.head_end
        elif lengths:
            if len(set(lengths)) != 1 or not lengths[0].isdigit():
                return Refusal(400, "Content-Length must be one whole number")
            self._length = int(lengths[0])
            if self._length > self.max_body:
                return Refusal(413, f"request body over {self.max_body} bytes")
        has_body = self._chunked or bool(self._length)
        expects = b"100-continue" in [v.lower() for v in fields.get(b"expect", [])]
        self.wants_continue = http11 and has_body and expects
        return None

    def _chunks(self) -> Refusal | None:
        buf = self.buffer
        while True:
            if self._chunk_left:
                take = min(self._chunk_left, len(buf) - self._pos)
                self._pos += take
                self._chunk_left -= take
                if self._chunk_left:
                    return None
                if buf[self._pos - 2:self._pos] != b"\r\n":
                    return Refusal(400, "malformed chunked body")
                continue
            eol = buf.find(b"\r\n", self._pos)
            if eol < 0:
                if len(buf) - self._pos > 1024:
                    return Refusal(400, "malformed chunked body")
                return None
            line = bytes(buf[self._pos:eol])
            self._pos = eol + 2
            if self._trailers:
                self._trailer_bytes += len(line) + 2
                if self._trailer_bytes > self.max_head:
                    return Refusal(431, f"request trailers over {self.max_head} bytes")
                if not line:
                    self.end = self._pos
                    return None
                continue
            size = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size):
                return Refusal(400, "malformed chunked body")
            length = int(size, 16)
            if length == 0:
                self._trailers = True
                continue
            self._decoded += length
            if self._decoded > self.max_body:
                return Refusal(413, f"request body over {self.max_body} bytes")
            self._chunk_left = length + 2


@dataclass
class _Reading:
    framing: Framing
    deadline: float
    continue_sent: bool = False


@dataclass
class _Lingering:
    deadline: float
    left: int


class GuardedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread, with every request read whole by the main loop before a thread takes it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[TConn, _Reading] = {}
        self.lingering: dict[TConn, _Lingering] = {}
        self.buffered = 0
        self.header_timeout = float(_DEFAULTS["CLIENT_HEADER_TIMEOUT"])
        self.body_timeout = float(_DEFAULTS["CLIENT_BODY_TIMEOUT"])
        self.max_body = int(_DEFAULTS["MAX_BODY_BYTES"])
        self.max_buffered = 8 * self.max_body

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if cfg.is_ssl:
            raise RuntimeError("vte-cds serves plain HTTP: terminate TLS in a proxy in front")
        super().check_config(cfg, log)

    def _settings(self) -> None:
        config: Mapping[str, Any] = getattr(self.wsgi, "config", {})
        self.header_timeout = float(config.get("CLIENT_HEADER_TIMEOUT", self.header_timeout))
        self.body_timeout = float(config.get("CLIENT_BODY_TIMEOUT", self.body_timeout))
        self.max_body = int(config.get("MAX_BODY_BYTES", self.max_body))
        self.max_buffered = 8 * self.max_body

    # --- the main loop ---------------------------------------------------------------------

    def run(self) -> None:
        self._settings()
        self.poller.register(self.method_queue.fileno(), selectors.EVENT_READ,
                             self.method_queue.run_callbacks)
        self.set_accept_enabled(True)
        while self.alive:
            self.notify()
            self.set_accept_enabled(self._may_accept())
            self.wait_for_and_dispatch_events(timeout=self._tick())
            if not self.is_parent_alive():
                break
            self.murder_keepalived()
            self._expire()
        self.set_accept_enabled(False)
        for conn in list(self.reading):  # a request not yet whole is not waited for
            self._drop(conn)
        self._cap_keepalive(time.monotonic() + STOP_KEEPALIVE_LINGER)
        graceful = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() < graceful:
            self.notify()
            self.wait_for_and_dispatch_events(timeout=self._tick())
            self.murder_keepalived()
            self._expire()
        self.murder_keepalived(force=True)
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def _may_accept(self) -> bool:
        served = self.nr_conns - len(self.reading) - len(self.lingering)
        return served < self.worker_connections and len(self.reading) < MAX_READING

    def _tick(self) -> float:
        """Wake up for the earliest deadline (a second at most)."""
        now = time.monotonic()
        soonest = min((r.deadline for r in self.reading.values()), default=now + 1.0)
        soonest = min(soonest, *(lg.deadline for lg in self.lingering.values()), now + 1.0)
        return max(0.0, min(1.0, soonest - now))

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, sock, client, listener.getsockname())
        self._read(conn, b"")

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request starts: read it like a new one."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read(conn, b"")
        self._on_readable(conn)

    def _read(self, conn: TConn, data: bytes) -> None:
        conn.sock.setblocking(False)
        state = _Reading(Framing(MAX_HEAD_BYTES, self.max_body),
                         time.monotonic() + self.header_timeout)
        self.reading[conn] = state
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if data:
            self._take(conn, state, data)

    def _on_readable(self, conn: TConn, *_: Any) -> None:
        state = self.reading.get(conn)
        if state is None:
            return
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not data:
            self._drop(conn)  # the client went away
            return
        self._take(conn, state, data)

    def _take(self, conn: TConn, state: _Reading, data: bytes) -> None:
        if self.buffered + len(data) > self.max_buffered:
            self._refuse(conn, Refusal(503, "too many requests arriving at once; try again"))
            return
        self.buffered += len(data)
        framing = state.framing
        had_head = framing.head_end is not None
        refusal = framing.feed(data)
        if refusal is not None:
            self._refuse(conn, refusal)
            return
        if framing.complete:
            self._hand_over(conn, state)
            return
        if not had_head and framing.head_end is not None:
            state.deadline = time.monotonic() + self.body_timeout
            if framing.wants_continue:
                self._send_quietly(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
                state.continue_sent = True

    def _hand_over(self, conn: TConn, state: _Reading) -> None:
        """The request is whole: a thread parses it from memory."""
        self._forget(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.initialized = True
        conn.data_ready = True
        conn.parser.unreader.unread(bytes(state.framing.buffer))
        conn.continue_sent = state.continue_sent
        self.enqueue_req(conn)

    def _forget(self, conn: TConn) -> None:
        state = self.reading.pop(conn, None)
        if state is not None:
            self.buffered -= len(state.framing.buffer)
            self.poller.unregister(conn.sock)

    def _drop(self, conn: TConn) -> None:
        self._forget(conn)
        self.nr_conns -= 1
        conn.close()

    def _send_quietly(self, conn: TConn, data: bytes) -> None:
        # a client whose buffer is full is not reading: it would not read the answer either
        with suppress(OSError):
            conn.sock.send(data)

    def _refuse(self, conn: TConn, refusal: Refusal) -> None:
        """Answer ``refusal`` and close; a body still coming is read and dropped for a moment,
        so that the client reads the answer rather than a reset."""
        started = conn in self.reading and self.reading[conn].framing.started
        self._forget(conn)
        self.log.info("refused a request: %d %s", refusal.status, _CODES[refusal.status])
        self._send_quietly(conn, refusal.response())
        if not started or refusal.status == 408:
            self.nr_conns -= 1
            conn.close()
            return
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            conn.close()
            return
        self.lingering[conn] = _Lingering(time.monotonic() + LINGER_SECONDS,
                                          2 * self.max_body + MAX_HEAD_BYTES)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger, conn))

    def _on_linger(self, conn: TConn, *_: Any) -> None:
        state = self.lingering.get(conn)
        if state is None:
            return
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        state.left -= len(data)
        if not data or state.left <= 0:
            self._end_linger(conn)

    def _end_linger(self, conn: TConn) -> None:
        if self.lingering.pop(conn, None) is not None:
            self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, state in list(self.reading.items()):
            if state.deadline <= now:
                part = "body" if state.framing.head_end is not None else "headers"
                seconds = self.body_timeout if part == "body" else self.header_timeout
                self._refuse(conn, Refusal(408, f"request {part} not received within "
                                                f"{seconds:g} s"))
        for conn, linger in list(self.lingering.items()):
            if linger.deadline <= now:
                self._end_linger(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        if not keep:
            self.nr_conns -= 1
            conn.close(graceful=True)
            return
        # bytes the client sent behind this request are the start of its next one
        ahead = conn.parser.unreader.take_buffered()
        if ahead:
            self._read(conn, ahead)
            return
        conn.sock.setblocking(False)
        conn.set_timeout()
        if not self.alive:
            conn.timeout = min(conn.timeout, time.monotonic() + STOP_KEEPALIVE_LINGER)
        self.keepalived_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self.on_client_socket_readable, conn))

    # --- a thread ------------------------------------------------------------------------------

    def handle(self, conn: TConn) -> bool:
        """Serve one request whose bytes are all in memory."""
        req = None
        try:
            conn.sock.settimeout(WRITE_TIMEOUT)
            req = next(conn.parser)
            if not req:
                return False
            if getattr(conn, "continue_sent", False):
                req._expected_100_continue = False  # already answered by the main loop
            return bool(self._keepalive_after(conn, self.handle_request(req, conn)))
        except (http_errors.NoMoreData, StopIteration):
            return False
        except TimeoutError:
            self.log.debug("a client did not read its answer within %g s", WRITE_TIMEOUT)
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.warning("socket error while answering: %s", type(exc).__name__)
            return False
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
            return False

    def handle_error(self, req: Any, client: socket.socket, addr: Any,
                     exc: BaseException) -> None:
        """gunicorn's refusals (a header too long, a malformed request line...) as the
        service's JSON errors; anything else is a 500 without detail."""
        status, message = _status_of(exc)
        if status == 500:
            self.log.error("unhandled %s while answering", type(exc).__name__)
        else:
            self.log.info("refused a request: %d %s (%s)", status, _CODES[status],
                          type(exc).__name__)
        with suppress(OSError):
            client.settimeout(WRITE_TIMEOUT)
            client.sendall(Refusal(status, message).response())


def _status_of(exc: BaseException) -> tuple[int, str]:
    e = http_errors
    if isinstance(exc, e.InvalidResponseHeader | e.InvalidResponseHeaderName |
                  e.ConfigurationProblem):
        return 500, "internal error"  # the application's or the configuration's fault
    if isinstance(exc, e.LimitRequestHeaders):
        return 431, "a request header is too large or there are too many"
    if isinstance(exc, e.LimitRequestLine):
        return 414, "the request line is too long"
    if isinstance(exc, e.UnsupportedTransferCoding):
        return 501, "the only Transfer-Encoding accepted is chunked"
    if isinstance(exc, e.ExpectationFailed):
        return 417, "the only expectation accepted is 100-continue"
    if isinstance(exc, e.ParseException):
        return 400, "malformed HTTP request"
    return 500, "internal error"
