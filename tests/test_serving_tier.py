"""Every deployment the project ships serves through the worker that reads requests whole before
a thread takes them (cds_service/worker.py): ``vte-cds serve`` passes it to gunicorn, the image's
command is ``vte-cds serve``, and docker-compose runs the image's command. How the worker holds
against slow clients is tested against gunicorn in tests/reliability/test_slow_clients.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from cds_service import cli
from cds_service.fhir.embedded import free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
WORKER = "cds_service.worker.GuardedThreadWorker"


def test_vte_cds_serve_runs_gunicorn_with_the_guarded_worker(monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setenv("VTE_CDS_AUTH", "off")
    monkeypatch.setattr("gunicorn.app.wsgiapp.run", lambda: started.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["vte-cds"])
    assert cli.main(["serve", "--port", str(free_loopback_port())]) == 0
    (argv,) = started
    assert argv[argv.index("--worker-class") + 1] == WORKER


def test_the_image_runs_vte_cds_serve():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    (cmd,) = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith("CMD ")]
    assert json.loads(cmd)[:2] == ["vte-cds", "serve"]


@pytest.mark.parametrize("key", ["command", "entrypoint"])
def test_compose_runs_the_images_command_for_the_service(key):
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert key not in services["services"]["vte-cds"]
