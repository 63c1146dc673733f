"""How deep JSON nests (``cds_service.json_depth.too_deep``: request bodies, FHIR pages).

The level-by-level walk must answer as the plain depth-first walk it replaced (kept here as the
reference) on every input: generated JSON of every shape, nesting around the limit, and the
reliability suite's hostile values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.json_depth import MAX_DEPTH, too_deep
from tests.cds_service.scenarios import SCENARIOS
from tests.reliability.support import FUZZ, HOSTILE, JSON, nested


def reference(value: Any, limit: int = MAX_DEPTH) -> bool:
    """The depth-first walk: each container with its level, deeper than ``limit`` -> True."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


NESTED = st.integers(min_value=0, max_value=130).flatmap(
    lambda n: st.builds(nested, st.just(n), st.one_of(JSON, HOSTILE)))
DOCUMENTS = st.one_of(JSON, HOSTILE, NESTED, st.lists(NESTED, max_size=3),
                      st.dictionaries(st.text(max_size=3), NESTED, max_size=3))


@settings(FUZZ, max_examples=3000)
@given(doc=DOCUMENTS, limit=st.sampled_from([1, 2, 3, 8, MAX_DEPTH]))
def test_the_walk_answers_as_the_depth_first_walk(doc, limit):
    assert too_deep(doc, limit) is reference(doc, limit)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 20_000])
def test_the_limit_counts_objects_and_arrays_one_inside_the_other(depth):
    doc = nested(depth)  # ``depth`` of them around a number
    assert too_deep(doc) is (depth > MAX_DEPTH)
    assert too_deep(doc) is reference(doc)


def test_every_scenario_request_is_within_the_limit():
    for build, _ in SCENARIOS.values():
        doc = json.loads(json.dumps(build()))
        assert not too_deep(doc)
        assert too_deep(doc, 3) is reference(doc, 3)
