"""What one process holds between requests: the FHIR client, the authenticator, and handles on
the store, where everything that outlives a request lives (``cds_service.storage``), so that any
worker of any instance can answer the next request. The feedback store is opened on first use."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from cds_service.fhir.client import FhirClient
from cds_service.security.tokens import Authenticator
from cds_service.storage.links import AssessmentLinks
from cds_service.storage.sessions import SmartSessions
from cds_service.storage.shared import SharedStore
from cds_service.storage.snoozes import Snoozes


@dataclass
class Components:
    fhir: FhirClient
    authenticator: Authenticator | None
    shared: SharedStore
    cache: AssessmentLinks
    sessions: SmartSessions
    snoozes: Snoozes
    store: Any = None
    store_lock: threading.Lock = field(default_factory=threading.Lock)


def components() -> Components:
    found: Components = current_app.extensions["vte_cds"]
    return found
