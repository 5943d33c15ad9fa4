"""The one reader of JSON text: :func:`loads_json` (``json.loads`` with a depth limit).

``json.loads`` on ``[[[[...]]]]`` a hundred thousand levels deep raises ``RecursionError``, which no caller expects,
and a document a few hundred levels deep parses but breaks recursive code further on. :func:`loads_json` turns both
into :class:`JSONDepthError`, a ``json.JSONDecodeError``: every caller's existing handling of bad JSON (one
``error:`` line naming the file) covers them.
"""

from __future__ import annotations

import json
from typing import Any

#: no ntpgeom file nests deeper than a few levels; a model's config.json or a tokenizer file under 20
MAX_DEPTH = 100


class JSONDepthError(json.JSONDecodeError):
    """JSON nested deeper than :data:`MAX_DEPTH` (or than Python's recursion limit)."""

    def __init__(self, msg: str) -> None:
        ValueError.__init__(self, msg)
        self.msg, self.doc, self.pos, self.lineno, self.colno = msg, "", 0, 1, 1

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.msg,)


def json_depth(obj: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar: 0, ``[]``: 1, ``[[1]]``: 2), without recursion."""
    depth, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            depth = max(depth, d)
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return depth


def loads_json(text: str | bytes | bytearray, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``, refusing a document nested deeper than ``max_depth`` with :class:`JSONDepthError`
    (a ``json.JSONDecodeError``); other malformed text raises ``json.JSONDecodeError`` as ``json.loads`` does."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise JSONDepthError(f"JSON nested too deeply (more than {max_depth} levels)") from None
    depth = json_depth(obj)
    if depth > max_depth:
        raise JSONDepthError(f"JSON nested {depth} levels deep, more than {max_depth}")
    return obj
