"""How deep JSON may nest, checked without recursion: request bodies (``api.body``) and FHIR
server answers (``fhir.client``) both refuse deeper input. FHIR nests a dozen levels; deeper
input only serves to exhaust the stack of whatever reads it next."""

from __future__ import annotations

from itertools import chain
from typing import Any

MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON (as ``json.loads`` gives it) nests more than ``limit`` objects and arrays
    one inside the other.

    Level by level, without recursion (hostile input cannot exhaust the stack), one pass over
    each level's values: a long chart holds hundreds of thousands of them, and this runs on
    every request body and every FHIR page."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        values = chain.from_iterable(n.values() if type(n) is dict else n for n in level)
        level = [v for v in values if type(v) is dict or type(v) is list]
    return False
