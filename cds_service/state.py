"""What one process shares between requests: the FHIR client, the authenticator, the
feedback store (opened on first use) and the assessments behind card links."""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from cds_service.fhir_client import FhirClient
from cds_service.security.tokens import Authenticator


class AssessmentCache:
    """Assessments behind the cards' "full assessment" links: in memory only, for an hour.

    The link carries a random token, never a patient id; nothing is written to disk.
    """

    def __init__(self, ttl_seconds: int = 3600, size: int = 1000) -> None:
        self.ttl, self.size = ttl_seconds, size
        self.items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def put(self, value: Any) -> str:
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.items[token] = (time.monotonic() + self.ttl, value)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return token

    def get(self, token: str) -> Any:
        with self.lock:
            found = self.items.get(token)
            if found is None or found[0] < time.monotonic():
                self.items.pop(token, None)
                return None
            return found[1]


@dataclass
class Components:
    fhir: FhirClient
    authenticator: Authenticator | None
    cache: AssessmentCache = field(default_factory=AssessmentCache)
    store: Any = None
    store_lock: threading.Lock = field(default_factory=threading.Lock)


def components() -> Components:
    found: Components = current_app.extensions["vte_cds"]
    return found


