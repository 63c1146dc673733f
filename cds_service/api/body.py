"""A request's JSON body, read the one way every route reads it.

- At most ``MAX_BODY_BYTES``: larger is ``PayloadTooLarge`` (413), whether the client declared the
  length or sent the body chunked (Werkzeug's own cap cuts a chunked body off silently, and the
  truncated JSON was answered as a 400).
- Valid JSON (``BadRequest``, 400): ``[`` x 200,000 raises ``RecursionError`` in the parser, which
  is caught like any other malformed input.
- A JSON object, nesting at most ``MAX_DEPTH`` levels (400): FHIR nests a dozen levels, deeper
  input only serves to exhaust the stack of whatever reads it next.

Messages never quote the body.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from cds_service.errors import BadRequest, PayloadTooLarge
from cds_service.json_depth import MAX_DEPTH, too_deep
from cds_service.json_read import read

__all__ = ["MAX_DEPTH", "json_object", "raw", "too_deep"]

CHUNK_BYTES = 65536


def raw() -> bytes:
    """The body's bytes; 413 when over ``MAX_BODY_BYTES`` (declared or counted)."""
    if request.content_length is not None:
        # Flask refuses a declared length over MAX_CONTENT_LENGTH (the same cap) with a 413
        return request.get_data(cache=False)
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # no length, and a server that does not end the stream: nothing to read
    # Chunked: Werkzeug would stop at the cap silently, so count here, one chunk past it at most.
    limit = int(current_app.config["MAX_BODY_BYTES"])
    stream = request.environ["wsgi.input"]
    data = bytearray()
    while chunk := stream.read(CHUNK_BYTES):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"request body over {limit} bytes")
    return bytes(data)


def json_object() -> dict[str, Any]:
    """The body as a JSON object, or a 400/413 that says what is wrong with it."""
    try:
        body, deep = read(raw() or b"null", MAX_DEPTH)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if deep:
        raise BadRequest(f"request body nests deeper than {MAX_DEPTH} levels")
    return body
