"""The WSGI application gunicorn serves: ``gunicorn cds_service.wsgi:app``."""

from __future__ import annotations

from cds_service import logs
from cds_service.app import create_app, tune_collector

logs.configure(logs.environment_format())
app = create_app()
tune_collector()
