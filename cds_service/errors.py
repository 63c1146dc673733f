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
tokens or patient data.
"""

from __future__ import annotations


class CdsError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str = "internal error") -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class BadRequest(CdsError):
    status = 400
    code = "bad_request"


class Unauthorized(CdsError):
    status = 401
    code = "unauthorized"


class Forbidden(CdsError):
    status = 403
    code = "forbidden"


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
