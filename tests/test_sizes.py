"""Size limits of the package's code: function bodies, parameter lists and modules.

The brief's limits: a function body at most 60 lines (its docstring excluded), at most 12 parameters (``self`` and
``cls`` excluded), a module at most 400 lines. ``cli/`` is a thin Typer shell whose commands mirror their options, so
it is exempt from the function limits (not from the module limit).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ntpgeom

SRC = Path(ntpgeom.__file__).parent
MAX_BODY_LINES = 60
MAX_PARAMS = 12
MAX_MODULE_LINES = 400

# Allow-list of known violations, empty since the entry points took configuration dataclasses (issue 20): an entry
# must name a function that still breaks a limit (the test below fails on a stale entry).
KNOWN: set[str] = set()


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def _n_params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    names = [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
    names += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    return len([n for n in names if n not in ("self", "cls")])


def _violations() -> dict[str, str]:
    """``{"layer/module.py::function": "why"}`` for every function over the limits outside ``cli/``."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            why = []
            if (n := _body_lines(node)) > MAX_BODY_LINES:
                why.append(f"{n} body lines > {MAX_BODY_LINES}")
            if (k := _n_params(node)) > MAX_PARAMS:
                why.append(f"{k} parameters > {MAX_PARAMS}")
            if why:
                found[f"{rel}::{node.name}"] = ", ".join(why)
    return found


def test_the_measures_count_what_they_claim():
    fn = ast.parse('def f(self, a, /, b, *c, d, **e):\n    """Doc\n    string."""\n    x = 1\n\n    return x\n')
    node = fn.body[0]
    assert _n_params(node) == 5  # self excluded
    assert _body_lines(node) == 3  # docstring excluded, blank line inside counted
    assert _body_lines(ast.parse("def g():\n    'only a docstring'\n").body[0]) == 0


def test_function_bodies_and_parameter_lists_stay_small():
    bad = {k: v for k, v in _violations().items() if k not in KNOWN}
    assert not bad, "over the size limits (split the function or group its options):\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(bad.items())
    )


def test_the_allow_list_holds_only_live_violations():
    stale = KNOWN - set(_violations())
    assert not stale, f"these now fit the limits: remove them from KNOWN in tests/test_sizes.py: {sorted(stale)}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: p.relative_to(SRC).as_posix())
def test_modules_stay_under_the_line_limit(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.relative_to(SRC)} has {n} lines > {MAX_MODULE_LINES}: split it"
