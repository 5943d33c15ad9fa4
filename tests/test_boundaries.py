"""Typed boundaries: above the theory layer and outside ``cli/``, every parameter (or dataclass field) that carries one of the package's own
objects — a theory, run, snapshot, result or reference, recognised by its name — has a real type (not ``Any``, not
missing), and no code probes such an object with ``getattr``/``hasattr`` (issue 20: the theory came in three shapes
and 47 ``getattr`` calls told them apart)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ntpgeom"

#: Names that carry the package's own objects: these words alone, or as the last part of a lower-case snake_case name
#: (``sub_theory``, ``source_theory``; not the arrays ``G_ref``, ``X_ref``).
CARRIER = re.compile(r"^(?:[a-z0-9]+_)*(theory|th|run|snapshot|snap|result|ref)$")
#: The layers below the objects' boundaries (they define them) and the CLI shell (it converts user input).
EXEMPT = ("cli", "data", "theory")


def _is_any(ann: ast.expr | None) -> bool:
    """True for a missing annotation, ``Any`` or ``typing.Any``, alone or in a union (also as a string annotation)."""
    if ann is None:
        return True
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        return _is_any(ast.parse(ann.value, mode="eval").body)
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        return _is_any(ann.left) or _is_any(ann.right)
    return (isinstance(ann, ast.Name) and ann.id == "Any") or (isinstance(ann, ast.Attribute) and ann.attr == "Any")


def _dataclass(node: ast.ClassDef) -> bool:
    def name(d: ast.expr) -> str:
        d = d.func if isinstance(d, ast.Call) else d
        return d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else ""
    return any(name(d) == "dataclass" for d in node.decorator_list)


def violations(tree: ast.AST, where: str) -> list[str]:
    """Carrier parameters typed Any or untyped, carrier dataclass fields typed Any, getattr/hasattr on a carrier."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                if CARRIER.search(arg.arg) and _is_any(arg.annotation):
                    out.append(f"{where}:{arg.lineno} {node.name}({arg.arg}) is typed "
                               f"{'Any' if arg.annotation else 'nothing'}")
        elif isinstance(node, ast.ClassDef) and _dataclass(node):
            for st in node.body:
                if (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and CARRIER.search(st.target.id)
                        and _is_any(st.annotation)):
                    out.append(f"{where}:{st.lineno} field {node.name}.{st.target.id} is typed Any")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
              and node.args):
            names = [n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)]
            names += [n.attr for n in ast.walk(node.args[0]) if isinstance(n, ast.Attribute)]
            if any(CARRIER.search(n) for n in names):
                out.append(f"{where}:{node.lineno} {node.func.id}({ast.unparse(node.args[0])}, ...) probes a "
                           "package object")
    return out


def test_no_untyped_or_probed_theory_run_snapshot_or_result_above_the_theory_layer():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in EXEMPT:
            continue
        found += violations(ast.parse(path.read_text(encoding="utf-8")), str(rel))
    assert not found, "type these with the package's classes (Theory, Run, Snapshot, ...):\n" + "\n".join(found)


@pytest.mark.parametrize("code, n", [
    ("def f(theory): pass", 1),
    ("from typing import Any\ndef f(x, *, run: Any = None): pass", 1),
    ("def f(snap: 'Any'): pass", 1),
    ("def f(theory: Theory | None, sub_theory: Theory, ref_idx: int, G_ref: Any, dry_run: bool): pass", 0),
    ("def f(source_theory=None): pass", 1),
    ("def f(theory: str | Path | Any = None): pass", 1),
    ("def f(theory: 'str | Theory' = None): pass", 0),
    ("def f(th: Theory):\n    return getattr(th, 'L_mm', None)", 1),
    ("def f(x: int):\n    return hasattr(x.result, 'summary')", 1),
    ("def f(x: int):\n    return getattr(x, 'y')", 0),
    ("from dataclasses import dataclass\n@dataclass\nclass R:\n    theory: Any\n    run: Run", 1),
    ("class NotData:\n    theory: Any", 0),
])
def test_the_boundary_check_catches_what_it_should(code, n):
    assert len(violations(ast.parse(code), "x.py")) == n
