"""Every output of the package goes through the one writer: a scan of the source for file writes (``open`` for
writing, ``write_text``/``write_bytes``, ``np.save*``, ``torch.save``, ``savefig``, ``shutil.move``/``copy``,
``os.replace``/``os.rename``) outside a ``with atomic_path(...)`` block (``ntpgeom/_io.py`` itself excepted)."""

from __future__ import annotations

import ast
from pathlib import Path

import ntpgeom

SRC = Path(ntpgeom.__file__).parent
_WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "savefig", "move", "copy", "copyfile",
            "copy2", "replace", "rename", "to_parquet", "write_table", "dump"}


def _is_write(node: ast.Call) -> bool:
    f = node.func
    if isinstance(f, ast.Name) and f.id == "open":
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")
    if not isinstance(f, ast.Attribute) or f.attr not in _WRITERS:
        return False
    owner = f.value.id if isinstance(f.value, ast.Name) else ""
    if f.attr == "save":
        return owner in ("np", "numpy", "torch")
    if f.attr in ("replace", "rename"):
        return owner == "os"
    if f.attr in ("move", "copy", "copyfile", "copy2"):
        return owner == "shutil"
    if f.attr == "dump":
        return owner in ("json", "pickle")
    return True


def _inside_atomic(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(
            isinstance(i.context_expr, ast.Call) and getattr(i.context_expr.func, "attr", getattr(i.context_expr.func, "id", ""))
            == "atomic_path" for i in node.items
        ):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def unguarded_writes(src: Path) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        if path.name == "_io.py" and path.parent == src:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ok = _inside_atomic(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_write(node) and node.lineno not in ok:
                bad.append(f"{path.relative_to(src.parent)}:{node.lineno}: {ast.unparse(node.func)}")
    return bad


def test_every_write_goes_through_the_one_writer():
    bad = unguarded_writes(SRC)
    assert not bad, "writes outside ntpgeom._io.atomic_path:\n" + "\n".join(bad)


def test_scan_is_not_vacuous(tmp_path):
    pkg = tmp_path / "ntpgeom"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import numpy as np, os\n"
        "from pathlib import Path\n"
        "Path('x').write_text('a')\n"
        "np.savez('a.npz', x=1)\n"
        "os.replace('a', 'b')\n"
        "with open('f', 'w') as fh:\n    pass\n"
        "with atomic_path('y') as tmp:\n    tmp.write_text('ok')\n"
    )
    found = unguarded_writes(pkg)
    assert len(found) == 4 and not any(":9:" in f for f in found), found
