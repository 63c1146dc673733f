"""The WSGI application gunicorn serves: ``gunicorn cds_service.wsgi:app``."""

from __future__ import annotations

import logging

from cds_service.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
app = create_app()
