"""An embedded FHIR R4 server: sekmet-fhir, run as a subprocess on 127.0.0.1.

Used by ``vte-cds demo`` and by the integration tests.

``FhirServer`` writes a settings file into a working directory (loopback only, a free port, the
simulator off, the SQLite store inside that directory), starts ``sekmet serve`` with the same
interpreter as the tests, waits for ``GET {base}/metadata`` and stops the process again. Every wait
is bounded, and the client only ever talks to its own ``base_url``, never through a proxy.

See docs/fhir-server-for-tests.md for the settings, the searches that work and the quirks.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

LOOPBACK = "127.0.0.1"
DISTRIBUTION = "sekmet-fhir"
START_TIMEOUT = 30.0  # seconds for the server to answer /metadata
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
REQUEST_TIMEOUT = 30.0  # seconds for any one HTTP request
START_ATTEMPTS = 3  # a fresh port is tried if the chosen one was taken in the meantime
MAX_PAGES = 100  # search_all() follows at most this many "next" links

# Runs `sekmet serve` in the child. A watcher thread ends the child if the test process that started
# it goes away without stopping it (killed, crashed), so no server outlives its test run.
_BOOTSTRAP = """\
import os, sys, threading, time
parent = int(sys.argv[1])
def _watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(70)
threading.Thread(target=_watch, name="parent-watch", daemon=True).start()
from sekmet.cli import app
app(args=["serve", "--config", sys.argv[2]], prog_name="sekmet")
"""


class FhirServerError(RuntimeError):
    """The server could not be started, or answered a helper call with an unexpected status."""


def sekmet_problem() -> str | None:
    """None when sekmet-fhir is importable by this interpreter, else what is wrong."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"the package {DISTRIBUTION!r} is not installed for {sys.executable}"
    if importlib.util.find_spec("sekmet") is None:
        return f"{DISTRIBUTION} {version} is installed but its module 'sekmet' cannot be imported"
    return None


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class FhirResponse:
    status: int
    body: Any  # parsed JSON, or None for an empty body
    headers: Mapping[str, str] = field(default_factory=dict)


def search_matches(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle whose search.mode is 'match' (not include/outcome)."""
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e.get("search", {}).get("mode", "match") == "match" and "resource" in e
    ]


class FhirServer:
    """sekmet-fhir on 127.0.0.1, in a subprocess; use as a context manager or start()/stop()."""

    def __init__(
        self,
        workdir: str | Path | None = None,
        *,
        inbound_validation: str = "strict",
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        if inbound_validation not in ("strict", "warn", "off"):
            raise ValueError(
                f"inbound_validation must be strict, warn or off, not {inbound_validation!r}"
            )
        self._owns_workdir = workdir is None
        self.workdir = (
            Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="fhir-server-"))
        )
        self.inbound_validation = inbound_validation
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.request_timeout = request_timeout
        self.settings_path = self.workdir / "settings.yaml"
        self.log_path = self.workdir / "server.log"
        self.settings: dict[str, Any] = {}
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # never a proxy: the only address this client may reach is the server's own loopback one
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ---------------- lifecycle ----------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise FhirServerError("the FHIR server has not been started")
        return f"http://{LOOPBACK}:{self.port}/fhir"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def settings_for(self, port: int) -> dict[str, Any]:
        """The sekmet settings used: loopback only, simulator off, every file under workdir."""
        data = self.workdir / "data"
        return {
            "host": LOOPBACK,
            "port": port,
            "base_url": f"http://{LOOPBACK}:{port}/fhir",
            "public_url": f"http://{LOOPBACK}:{port}",
            "data_dir": str(data),
            "db_path": str(data / "sekmet.db"),
            "own_private_key_path": str(self.workdir / "keys" / "sekmet_private.pem"),
            "server_auth": {"types": ["none"]},
            "simulator": {"enabled": False, "auto": []},
            "validation": {"inbound": self.inbound_validation, "validator_jar": None},
            "peers": {},
            "log_inbound": False,
        }

    def start(self) -> FhirServer:
        if self.running:
            return self
        if sekmet_problem() is not None:
            raise FhirServerError(f"cannot start the FHIR server: {sekmet_problem()}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)
        failure = ""
        for _ in range(START_ATTEMPTS):
            self._spawn(free_loopback_port())
            failure = self._wait_ready()
            if not failure:
                return self
            self._terminate()
            if "address already in use" not in self.log_tail().lower():
                break
        message = (
            f"sekmet-fhir did not become ready: {failure}\n"
            f"--- last lines of {self.log_path} ---\n{self.log_tail()}"
        )
        self.stop()
        raise FhirServerError(message)

    def _spawn(self, port: int) -> None:
        self.port = port
        self.settings = self.settings_for(port)
        # JSON is YAML: sekmet reads this with yaml.safe_load
        self.settings_path.write_text(json.dumps(self.settings, indent=2) + "\n", encoding="utf-8")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("SEKMET_")
        }  # env overrides the file
        env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": LOOPBACK, "no_proxy": LOOPBACK})
        self._close_log()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), str(self.settings_path)],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self) -> str:
        """'' once /metadata answers 200 with a CapabilityStatement, else why not (bounded)."""
        deadline = time.monotonic() + self.start_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                return f"the server process exited with code {code}"
            try:
                resp = self.request("GET", "metadata", timeout=min(2.0, self.start_timeout))
            except (OSError, urllib.error.URLError) as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if (
                    resp.status == 200
                    and (resp.body or {}).get("resourceType") == "CapabilityStatement"
                ):
                    return ""
                last = f"GET /metadata answered {resp.status}"
            time.sleep(0.1)
        return f"no 200 from {self.base_url}/metadata within {self.start_timeout:g} s ({last})"

    def _terminate(self) -> None:
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Terminate the server (SIGKILL after stop_timeout); safe to call more than once."""
        self._terminate()
        atexit.unregister(self.stop)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FhirServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(
                self.log_path.read_text("utf-8", errors="replace").splitlines()[-lines:]
            )
        return "(no server log)"

    # ---------------- HTTP ----------------

    def url(self, path: str) -> str:
        """Absolute URL for a path relative to base_url; absolute URLs must be on this server."""
        if path.startswith(("http://", "https://")):
            if not (
                path == self.base_url
                or path.startswith(self.base_url + "/")
                or path.startswith(self.base_url + "?")
            ):
                raise FhirServerError(f"refusing a URL that is not on {self.base_url}: {path}")
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> FhirResponse:
        """One HTTP request; any status is returned (not raised) with its JSON body parsed."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        hdrs = {"Accept": "application/fhir+json"}
        if data is not None:
            hdrs["Content-Type"] = "application/fhir+json"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url(path), data=data, headers=hdrs, method=method)
        try:
            with self._opener.open(req, timeout=timeout or self.request_timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            with e:
                status, raw, resp_headers = e.code, e.read(), dict(e.headers)
        parsed = json.loads(raw) if raw.strip() else None
        return FhirResponse(status, parsed, resp_headers)

    def get(self, path: str) -> FhirResponse:
        return self.request("GET", path)

    def load(
        self, resources_or_bundle: Mapping[str, Any] | Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Store resources and return them as stored.

        A transaction or batch Bundle is POSTed to the base as it is. Anything else (one
        resource, a list of resources, a collection/searchset Bundle) becomes one transaction:
        PUT Type/id for a resource with an id, POST Type for one without. A failed transaction
        is rolled back by the server and raises FhirServerError; so does any failed batch entry.
        """
        if isinstance(resources_or_bundle, Mapping):
            item = resources_or_bundle
            if item.get("resourceType") == "Bundle" and item.get("type") in (
                "transaction",
                "batch",
            ):
                bundle: Mapping[str, Any] = item
            elif item.get("resourceType") == "Bundle":
                bundle = _transaction(
                    [e["resource"] for e in item.get("entry", []) if "resource" in e]
                )
            else:
                bundle = _transaction([item])
        else:
            bundle = _transaction(list(resources_or_bundle))
        resp = self.request("POST", "", bundle)
        expected = f"{bundle['type']}-response"
        if resp.status != 200 or (resp.body or {}).get("type") != expected:
            raise FhirServerError(
                f"load: {bundle['type']} answered {resp.status}: {_diagnostics(resp.body)}"
            )
        entries = resp.body.get("entry", [])
        failed = [
            f"entry {i}: {r.get('status')} {_diagnostics(r.get('outcome'))}"
            for i, r in enumerate(e.get("response", {}) for e in entries)
            if not str(r.get("status", "")).startswith("2")
        ]
        if failed:
            raise FhirServerError("load: " + "; ".join(failed))
        return [e["resource"] for e in entries if "resource" in e]

    def search(self, path: str) -> dict[str, Any]:
        """GET a search ('Observation?patient=it-1'); the searchset Bundle, or FhirServerError."""
        resp = self.get(path)
        body = resp.body or {}
        if (
            resp.status != 200
            or body.get("resourceType") != "Bundle"
            or body.get("type") != "searchset"
        ):
            raise FhirServerError(f"search {path}: {resp.status} {_diagnostics(body)}")
        result: dict[str, Any] = body
        return result

    def search_all(self, path: str, max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
        """The matches of a search across all its pages, following the Bundle's 'next' links."""
        found: list[dict[str, Any]] = []
        next_path: str | None = path
        for _ in range(max_pages):
            if next_path is None:
                return found
            bundle = self.search(next_path)
            found += search_matches(bundle)
            next_path = next(
                (lk["url"] for lk in bundle.get("link", []) if lk.get("relation") == "next"), None
            )
        if next_path is not None:
            raise FhirServerError(f"search_all {path}: more than {max_pages} pages")
        return found


def _transaction(resources: list[Mapping[str, Any]]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for res in resources:
        rtype = res["resourceType"]
        if res.get("id"):
            entries.append(
                {"resource": dict(res), "request": {"method": "PUT", "url": f"{rtype}/{res['id']}"}}
            )
        else:
            entries.append(
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "resource": dict(res),
                    "request": {"method": "POST", "url": rtype},
                }
            )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _diagnostics(body: Any) -> str:
    if isinstance(body, Mapping) and body.get("resourceType") == "OperationOutcome":
        return "; ".join(str(i.get("diagnostics") or i.get("code")) for i in body.get("issue", []))
    return "" if body is None else json.dumps(body)[:500]
