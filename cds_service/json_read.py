"""JSON text to Python values: what ``json.loads`` gives, in about half its time.

Request bodies and FHIR pages are parsed with orjson where orjson is known to give exactly what
``json.loads`` gives, and with ``json.loads`` otherwise:

- orjson refuses what ``json.loads`` reads (NaN and Infinity, numbers too large for a float such
  as ``1e400``, lone surrogates such as ``"\\ud800"``, a UTF-8 byte order mark, UTF-16 and UTF-32,
  nesting over 1,024 levels): ``json.loads`` then reads it, and answers or fails as before;
- orjson reads integers beyond 64 bits as floats where ``json.loads`` keeps them exact: a text
  holding any run of 19 or more digits (in a number or a string alike) goes to ``json.loads``.

``read(data, limit)`` also says whether the value nests deeper than ``limit`` (as
``json_depth.too_deep`` would say of it). Where orjson read the text, the text is valid UTF-8 JSON,
and the nesting is read off the bytes, which is a few C-level passes instead of a walk of every
object and array (a 5,000-resource chart holds over 100,000 of them):

1. escapes that could hide a quote go first: each escaped backslash, then each escaped quote (a
   left-to-right scan pairs backslashes as a JSON reader does); skipped when there is no
   backslash at all;
2. only quotes and brackets are kept; quoted text then holds no quote, so the quotes pair up
   in order, and each adjacent pair ``""`` can go (it is a string holding no bracket, or the end
   of one string and the start of the next with no bracket between, so what stays quoted stays
   quoted); what is left between the remaining pairs is text, not structure, and goes too;
3. what remains is the document's brackets, which nest as its objects and arrays do: removing
   every innermost pair ``()`` once per round empties it in exactly as many rounds as it is
   deep.

``tests/cds_service/test_json_read.py`` holds ``loads`` to ``json.loads`` (values, types, key
order, errors) and ``read``'s depth to ``too_deep`` on generated documents (brackets, quotes and
backslashes inside strings, nesting around the limit) and hostile numbers, strings and encodings.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from cds_service.json_depth import too_deep

# Every digit to "0", everything else to " ": a run of 19 digits is then a plain substring search
# (a regular expression scans several times slower than the parse it guards).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_RUN = b"0" * 19


_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"()()")


def _fast(data: bytes) -> Any:
    """orjson's reading of ``data`` when it is ``json.loads``'; ``_SLOW`` otherwise."""
    if _LONG_RUN not in data.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return _SLOW


_SLOW = object()


def loads(data: bytes) -> Any:
    """``json.loads(data)``: the same value, or the same exception (ValueError, RecursionError)."""
    value = _fast(data)
    return json.loads(data) if value is _SLOW else value


def read(data: bytes, limit: int) -> tuple[Any, bool]:
    """``(loads(data), too_deep(that value, limit))``, or the exception ``loads`` raises."""
    value = _fast(data)
    if value is _SLOW:
        value = json.loads(data)
        return value, too_deep(value, limit)
    return value, _nests_deeper(data, limit)


def _nests_deeper(text: bytes, limit: int) -> bool:
    """Whether valid UTF-8 JSON ``text`` nests more than ``limit`` objects and arrays."""
    if b"\\" in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = text.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    brackets = brackets.translate(_OPEN_CLOSE)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"()", b"")
    return bool(brackets)
