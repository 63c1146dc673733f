"""Every deployment the project ships serves through the worker that reads requests whole before
a thread takes them (cds_service/worker.py): ``vte-cds serve`` passes it to gunicorn, the image's
command is ``vte-cds serve``, and docker-compose runs the image's command. How the worker holds
against slow clients is tested against gunicorn in tests/reliability/test_slow_clients.py.
"""

from __future__ import annotations

import json
import subprocess
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


def test_a_serving_worker_freezes_what_it_built_and_collects_less_often(tmp_path):
    """cds_service/wsgi.py (what every gunicorn worker imports) tunes the collector: a long
    chart's hundreds of thousands of short-lived objects are not walked every 700 allocations."""
    code = ("import gc; import cds_service.wsgi; from cds_service.app import COLLECT_EVERY; "
            "print(gc.get_threshold()[0] == COLLECT_EVERY, gc.get_freeze_count() > 10000)")
    env = {"VTE_CDS_AUTH": "off", "VTE_CDS_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
           "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["True", "True"]
