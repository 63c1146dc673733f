"""How deep JSON may nest, checked without recursion: request bodies (``api.body``) and FHIR
server answers (``fhir.client``) both refuse deeper input. FHIR nests a dozen levels; deeper
input only serves to exhaust the stack of whatever reads it next."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON nests deeper than ``limit`` (iterative: no recursion on hostile input)."""
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
