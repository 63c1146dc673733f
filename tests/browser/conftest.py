"""Browser tests of the demo page: Debian's Chromium driven by Playwright's Python package.

Chromium is /usr/bin/chromium from Debian (installed here with apt-get when it is missing and
the tests run as root; Playwright's own browser download is never used). The service runs in a
background thread (werkzeug on 127.0.0.1, a free port, AUTH off, a fixed date) against the real
sekmet-fhir server of tests/integration, with one myeloma patient loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.web import ui
from tests.cds_service.scenarios import TODAY, myeloma_on_lenalidomide_dexamethasone
from tests.integration.conftest import fhir_server  # noqa: F401  (the session's FHIR server)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
APT_TIMEOUT = 900  # seconds for apt-get update + install
CJK_FONT = "fonts-wqy-zenhei"
SCREENSHOTS = Path(__file__).parent / "screenshots"
PATIENT_ID = "ui-mm-rd"
PATIENT_NAME = "Wang Fang"


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *packages]):
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=APT_TIMEOUT, check=False)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed ({result.returncode}): "
                        f"{result.stderr.strip()[-1500:]}", pytrace=False)


def _has_cjk_font() -> bool:
    """Whether fontconfig knows a Chinese font (else 中文 shows as boxes in screenshots)."""
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                           timeout=60, check=False)
    return bool(found.stdout.strip())


def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; installed with apt-get when absent and we are root, else a failure.

    A small Chinese font (fonts-wqy-zenhei) comes along when none is installed, so that the
    Chinese screenshots are readable; the assertions themselves do not depend on fonts.
    """
    missing = not os.path.exists(CHROMIUM)
    if missing and not _root():
        pytest.fail(f"The browser tests need Debian's Chromium at {CHROMIUM}. Install it as "
                    "root: apt-get update && apt-get install -y chromium fonts-wqy-zenhei "
                    "(never 'playwright install').", pytrace=False)
    packages = (["chromium"] if missing else []) + ([] if _has_cjk_font() else [CJK_FONT])
    if packages and _root():
        _apt_install(packages)
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is still missing",
                    pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_context(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium with a fresh profile, shared by the session; each test opens its own page."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser tests need Playwright's Python package: pip install -e "
                    "'.[test]' (the test extras pin it). Never run 'playwright install': the "
                    "tests use Debian's Chromium.", pytrace=False)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium_path,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
            locale="en-US", timeout=60_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def flatten(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a scenario's prefetch: the Patient, then every Bundle's entries."""
    out: list[dict[str, Any]] = []
    for value in request["prefetch"].values():
        if value.get("resourceType") == "Bundle":
            out.extend(e["resource"] for e in value.get("entry", []))
        else:
            out.append(value)
    return out


def ui_patient_request() -> dict[str, Any]:
    """The myeloma scenario (score 10) under ids of its own, with a name for the list."""
    text = json.dumps(myeloma_on_lenalidomide_dexamethasone())
    request: dict[str, Any] = json.loads(text.replace('"mm-rd', f'"{PATIENT_ID}')
                                         .replace("/mm-rd", f"/{PATIENT_ID}"))
    request["prefetch"]["patient"]["name"] = [{"text": PATIENT_NAME, "family": "Wang",
                                                "given": ["Fang"]}]
    return request


@pytest.fixture(scope="session")
def loaded_fhir(fhir_server: Any) -> Any:  # noqa: F811  (the imported session fixture)
    fhir_server.load(flatten(ui_patient_request()))
    return fhir_server


@contextmanager
def serving(config: dict[str, Any]) -> Iterator[str]:
    """The service with the demo page, on 127.0.0.1 and a free port, in a thread."""
    app = create_app(config)
    if "ui" not in app.blueprints:  # until app.py registers it
        app.register_blueprint(ui.bp)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ui-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def base_config(tmp: Path) -> dict[str, Any]:
    return {"AUTH": "off", "TODAY": TODAY, "PUBLIC_URL": "",
            "DATABASE_URL": f"sqlite:///{tmp}/feedback.db", "FHIR_ALLOWLIST": "",
            "UI_FHIR_URL": ""}


@pytest.fixture(scope="session")
def live_url(loaded_fhir: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo configuration: AUTH off, UI_FHIR_URL and the allow-list = the FHIR server."""
    config = base_config(tmp_path_factory.mktemp("ui-service"))
    config.update(UI_FHIR_URL=loaded_fhir.base_url, FHIR_ALLOWLIST=loaded_fhir.base_url)
    with serving(config) as url:
        yield url


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start one more service with some settings changed; stopped after the test."""
    stack: list[Any] = []

    def start(**changes: Any) -> str:
        config = base_config(tmp_path)
        config.update(changes)
        manager = serving(config)
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def shot(page: Any) -> Callable[[str], Path]:
    """Save a full-page screenshot under tests/browser/screenshots/ (kept out of git)."""
    def take(name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
