"""Every error the service answers with, as one exception tree.

``CdsError`` (500, "internal error")
  ``BadRequest`` (400): malformed JSON, wrong types, a missing hook field
  ``Unauthorized`` (401): no, invalid or untrusted JWT
  ``Forbidden`` (403): a ``fhirServer`` or ``jku`` outside the allow-list
  ``NotFound`` (404): unknown service id or route
  ``PayloadTooLarge`` (413): body over the configured limit
  ``PrefetchUnavailable`` (412): data the rules need is neither prefetched nor fetchable
  ``UpstreamError`` (502): the FHIR server failed (timeout, 5xx, garbage)
  ``StoreUnavailable`` (503): feedback could not be made durable

Every error becomes ``{"error": <code>, "message": <text>}``; messages never carry request data,
tokens or patient data. An error may also carry a ``reason``, one word from a closed vocabulary
that the metrics count refusals and failures by (``cds_service.instruments``); it is not sent.
A 401 or 403 also carries an RFC 6750 challenge,
``WWW-Authenticate: Bearer realm="vte-cds", error="...", error_description="<message>"``, with
``invalid_token`` for a refused token (a 401, or a 403 for a ``jku`` outside the allow-list) and
``insufficient_scope`` for a call the caller may not make.
"""

from __future__ import annotations

import re

# RFC 6750 section 3: error_description holds printable ASCII except '"' and '\'.
_NOT_IN_QUOTED = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


class CdsError(Exception):
    status = 500
    code = "internal_error"
    challenge: str | None = None

    def __init__(self, message: str = "internal error", *, challenge: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        if challenge is not None:
            self.challenge = challenge

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}

    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` value this error answers with, if any."""
        if self.challenge is None:
            return None
        description = _NOT_IN_QUOTED.sub("?", self.message)
        return (f'Bearer realm="vte-cds", error="{self.challenge}", '
                f'error_description="{description}"')


class BadRequest(CdsError):
    status = 400
    code = "bad_request"


class Unauthorized(CdsError):
    status = 401
    code = "unauthorized"
    challenge = "invalid_token"


class Forbidden(CdsError):
    status = 403
    code = "forbidden"
    challenge = "insufficient_scope"


class NotFound(CdsError):
    status = 404
    code = "not_found"


class PrefetchUnavailable(CdsError):
    status = 412
    code = "prefetch_unavailable"


class PayloadTooLarge(CdsError):
    status = 413
    code = "payload_too_large"


class UpstreamError(CdsError):
    status = 502
    code = "fhir_server_error"


class StoreUnavailable(CdsError):
    status = 503
    code = "store_unavailable"
