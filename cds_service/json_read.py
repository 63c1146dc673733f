"""JSON text to Python values: what ``json.loads`` gives, in about half its time.

Request bodies and FHIR pages are parsed with orjson where orjson is known to give exactly what
``json.loads`` gives, and with ``json.loads`` otherwise:

- orjson refuses what ``json.loads`` reads (NaN and Infinity, numbers too large for a float such
  as ``1e400``, lone surrogates such as ``"\\ud800"``, a UTF-8 byte order mark, UTF-16 and UTF-32,
  nesting over 1,024 levels): ``json.loads`` then reads it, and answers or fails as before;
- orjson reads integers beyond 64 bits as floats where ``json.loads`` keeps them exact: a text
  holding any run of 19 or more digits (in a number or a string alike) goes to ``json.loads``.

``tests/cds_service/test_json_read.py`` holds ``loads`` to ``json.loads`` (values, types, key
order, errors) on generated documents and hostile numbers, strings and encodings.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Every digit to "0", everything else to " ": a run of 19 digits is then a plain substring search
# (a regular expression scans several times slower than the parse it guards).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """``json.loads(data)``: the same value, or the same exception (ValueError, RecursionError)."""
    if _LONG_RUN not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
