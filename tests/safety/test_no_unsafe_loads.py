"""A scan of the package source for loads that can run foreign code: a pickle-enabled numpy load, a torch load without
``weights_only=True``, ``pickle.load(s)``, and any ``from_pretrained`` call that does not pass
``trust_remote_code=False`` explicitly."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ntpgeom

SRC = Path(ntpgeom.__file__).parent


def _calls():
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
                kw = {k.arg: k.value for k in node.keywords if k.arg}
                yield f"{path.relative_to(SRC.parent)}:{node.lineno}", owner, name, kw, node


def _is_const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def test_no_unsafe_loads_in_the_source():
    bad = []
    for where, owner, name, kw, _node in _calls():
        if name in ("load", "loads") and owner in ("pickle", "cPickle", "dill", "joblib"):
            bad.append(f"{where}: {owner}.{name} runs arbitrary code")
        if name == "load" and owner == "torch" and not _is_const(kw.get("weights_only"), True):
            bad.append(f"{where}: torch.load without weights_only=True")
        if name == "load" and owner == "np" and "allow_pickle" in kw and not _is_const(kw["allow_pickle"], False):
            bad.append(f"{where}: np.load with allow_pickle not False")
        if name == "from_pretrained" and not (_is_const(kw.get("trust_remote_code"), False) or _passes_kw_dict(_node)):
            bad.append(f"{where}: from_pretrained without trust_remote_code=False")
    assert not bad, "unsafe loads:\n" + "\n".join(bad)


def _passes_kw_dict(node) -> bool:
    """``from_pretrained(..., **kw)`` where ``kw`` is built in the same module with trust_remote_code=False (checked
    by test_probe_kwargs_forbid_remote_code)."""
    return any(k.arg is None for k in node.keywords)


def test_probe_kwargs_forbid_remote_code():
    text = (SRC / "probe" / "model.py").read_text(encoding="utf-8")
    assert '"trust_remote_code": False' in text
    assert "trust_remote_code=True" not in text and '"trust_remote_code": True' not in text


def test_scanner_catches_a_planted_unsafe_load(tmp_path, monkeypatch):
    """The scan is not vacuous: a planted module with each unsafe pattern is reported."""
    pkg = tmp_path / "ntpgeom"
    pkg.mkdir()
    (pkg / "evil.py").write_text(
        "import pickle, torch, numpy as np\n"
        "pickle.load(open('x', 'rb'))\n"
        "torch.load('c.pt', weights_only=False)\n"
        "np.load('a.npz', allow_pickle=True)\n"
        "AutoModel.from_pretrained('m')\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", pkg)
    try:
        test_no_unsafe_loads_in_the_source()
    except AssertionError as exc:
        msg = str(exc)
    else:
        raise AssertionError("the planted unsafe loads were not found")
    for needle in ("pickle.load", "torch.load", "allow_pickle", "trust_remote_code"):
        assert needle in msg
