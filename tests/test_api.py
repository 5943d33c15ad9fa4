"""The public API and the package's layering rules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ntpgeom

SRC = Path(ntpgeom.__file__).parent
# data flows one way: a layer may import only the layers to its left
LAYERS = ["data", "theory", "train", "metrics", "verdicts", "report", "probe", "cli"]
ALLOWED = {
    "data": set(),
    "theory": {"data"},
    "train": {"data", "theory"},
    "metrics": {"data", "theory"},
    "verdicts": {"data", "theory", "metrics"},
    "report": {"data", "theory", "train", "metrics", "verdicts"},
    "probe": {"data", "theory", "metrics", "verdicts", "report"},
    "cli": set(LAYERS) - {"cli"},
}


def _imported_layers(path: Path, layer: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    rel = path.relative_to(SRC).parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("ntpgeom."):
                found.add(node.module.split(".")[1])
            elif node.level >= 2 or (node.level == 1 and len(rel) == 1):
                # relative import leaving the subpackage: ..theory or .theory from a top-level module
                up = rel[: len(rel) - node.level]
                target = (node.module or "").split(".")[0]
                if not up and target:
                    found.add(target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ntpgeom."):
                    found.add(alias.name.split(".")[1])
    return (found & set(LAYERS)) - {layer}


@pytest.mark.parametrize("layer", LAYERS)
def test_lower_layers_never_import_higher_ones(layer):
    base = SRC / layer
    files = list(base.rglob("*.py")) if base.is_dir() else [SRC / f"{layer}.py"]
    assert files, f"layer {layer} not found"
    for f in files:
        bad = _imported_layers(f, layer) - ALLOWED[layer]
        assert not bad, f"{f.relative_to(SRC)} imports higher/forbidden layer(s) {sorted(bad)}"


def test_import_is_light():
    code = "import sys, ntpgeom; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"], "import ntpgeom must not import torch or matplotlib"


def test_public_names_resolve():
    for name in ntpgeom.__all__:
        assert getattr(ntpgeom, name) is not None, name
    with pytest.raises(AttributeError):
        ntpgeom.no_such_thing  # noqa: B018


def test_train_is_module_and_callable(tmp_path):
    import ntpgeom.train as train_pkg

    assert train_pkg is ntpgeom.train and callable(ntpgeom.train)
    run = ntpgeom.train(ntpgeom.corpora.synthetic(), model="ufm", steps=3, lr=0.01, optimizer="adam", out=tmp_path / "r")
    assert ntpgeom.load_run(tmp_path / "r").final_step == run.final_step == 3


def test_probe_is_module_and_callable():
    pytest.importorskip("transformers")
    import ntpgeom.probe as probe_pkg

    assert probe_pkg is ntpgeom.probe and callable(ntpgeom.probe)
    assert ntpgeom.ProbeResult is probe_pkg.ProbeResult


def test_files_are_written_with_normal_permissions(tmp_path):
    import os

    path = ntpgeom.corpora.synthetic().save(tmp_path / "d.npz")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
