"""``cds_service.json_read.loads`` gives what ``json.loads`` gives (issue 15: request bodies and
FHIR pages parsed with orjson where it agrees), and ``read`` the depth ``too_deep`` gives.

"The same" means the same value, with the same types (an integer stays an integer, exact), the
same key order and the same float bits (``-0.0``, NaN), or the same exception. Held on: every
request the project holds (synthetic patients and review charts through each hook, the stored
fuzz corpus with its hostile values), documents Hypothesis draws (any JSON, written with and
without ASCII escapes), number texts near every edge orjson has, and encodings and nestings
orjson refuses. The generated ones are drawn the same on every run (``FUZZ``: derandomized), so a
run in CI meets what a run here met.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.json_depth import MAX_DEPTH, too_deep
from cds_service.json_read import loads, read
from tests.cds_service.all_charts import calls
from tests.reliability.support import FUZZ
from tests.reliability.test_fuzz_answers_unchanged import corpus


def exact(value: Any) -> Any:
    """``value`` with every type, key order and float bit pattern spelled out."""
    if isinstance(value, dict):
        return ("object", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [exact(item) for item in value])
    if isinstance(value, float):
        return ("float", struct.pack(">d", value).hex() if not math.isnan(value) else "nan")
    return (type(value).__name__, value)


def outcome(parse: Any, data: bytes) -> Any:
    try:
        return exact(parse(data))
    except (ValueError, RecursionError) as exc:
        return ("raised", type(exc).__name__)


def same(data: bytes) -> None:
    assert outcome(loads, data) == outcome(json.loads, data), data[:200]


def test_every_request_the_project_holds_reads_the_same():
    bodies = [json.dumps(call.body).encode() for call in calls()]
    bodies += [json.dumps(entry).encode() for entry in corpus()]
    assert len(bodies) > 2000
    for body in bodies:
        same(body)
        same(json.dumps(json.loads(body), ensure_ascii=False).encode())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=5),
    max_leaves=40)


@settings(FUZZ, max_examples=1500)
@given(JSON, st.booleans())
def test_any_document_reads_the_same(value, ascii_only):
    same(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


NUMBER = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.from_regex(r"0|[1-9][0-9]{0,24}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"\.[0-9]{1,24}", fullmatch=True),
    st.sampled_from([""]) | st.from_regex(r"[eE][+-]?[0-9]{1,4}", fullmatch=True))


@settings(FUZZ, max_examples=3000)
@given(NUMBER)
def test_any_number_reads_the_same(text):
    same(text.encode())
    same(f'{{"valueQuantity": {{"value": {text}}}}}'.encode())


@pytest.mark.parametrize("data", [
    b"NaN", b"-Infinity", b'{"value": Infinity}', b"1e400", b"-1e400", b"1.7976931348623157e309",
    b"4.9e-325", b"2.2250738585072011e-308", b"9007199254740993",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
    b"-9223372036854775809", b"18446744073709551615", b"18446744073709551616",
    b"123456789012345678901234567890", b'{"id": "1234567890123456789012"}', b"-0", b"-0.0",
    b'"\\ud800"', b'"\\udc00x"', b'"\\ud83d\\ude00"', b'"\\u0000"', b'"\xff"', b'"\xed\xa0\x80"',
    b"\xef\xbb\xbf{}", "{\"a\": \"\u6c49\"}".encode("utf-16"), "[1]".encode("utf-32-le"),
    b'{"a": 1, "a": 2}', b'{"a": {"x": 1}, "b": 0, "a": [2]}', b"[" * 1100 + b"]" * 1100,
    b"[" * 200_000, b"", b"null", b" \t\r\n{}\n", b"{}\x00", b"{}x", b"[1,]", b"{'a': 1}",
    b"01", b"1.", b".5", b"+1", b'"\t"', b"[1 2]", b"tru", b"\x00",
])
def test_hostile_texts_read_or_fail_the_same(data):
    same(data)


# --- depth read off the text ---------------------------------------------------------------


def same_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    value, deep = read(data, limit)
    assert exact(value) == exact(json.loads(data))
    assert deep == too_deep(value, limit), data[:200]


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value, "s": "]}\\\"[{"}
    return value


TRICKY = st.text(alphabet='{}[]"\\/:,abc ', max_size=12)


def test_every_request_the_project_holds_has_the_depth_the_walk_gives():
    for call in calls():
        same_depth(json.dumps(call.body).encode())
    for entry in corpus():
        same_depth(json.dumps(entry).encode())
        same_depth(json.dumps(entry).encode(), limit=6)


@settings(FUZZ, max_examples=2000)
@given(st.recursive(st.none() | st.integers() | TRICKY | st.text(),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TRICKY | st.text(max_size=6), inner, max_size=4),
                    max_leaves=60),
       st.integers(min_value=1, max_value=8), st.booleans())
def test_any_document_has_the_depth_the_walk_gives(value, limit, ascii_only):
    same_depth(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"),
               limit)


@pytest.mark.parametrize("depth", [0, 1, 2, 63, 64, 65, 66, 200, 300])
@pytest.mark.parametrize("leaf", [1, "{[", '"]}', "\\", "\\\"}", "a\\\\\"[[[", {}, []])
def test_nesting_around_the_limit_reads_as_the_walk_does(depth, leaf):
    same_depth(json.dumps(nested(depth, leaf)).encode())
    same_depth(json.dumps(nested(depth, leaf), indent=1).encode())


@pytest.mark.parametrize("data", [
    b'"\\\\"', b'["\\\\", "["]', b'["\\\\\\"[", {"a": "\\\\"}]', b'{"a": "x\\n\\"{"}',
    b'[["]"], ["["]]', b'{"{": "}", "[": ["]"]}', b'""', b"[]", b"{}", b"1",
    b'["\\u005c", "\\u0022[", "\\/"]', "[\"\u6c49{\", [\"\u00e9]\"]]".encode(),
])
def test_quotes_brackets_and_escapes_in_strings_are_not_structure(data):
    same_depth(data)
    same_depth(data, limit=1)
