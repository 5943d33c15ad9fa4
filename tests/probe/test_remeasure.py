"""probe/remeasure.py: ``--from DIR`` keeps the saved probe's per-layer results (the last layer re-measured)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

from ntpgeom.probe import load_probe, probe, remeasure  # noqa: E402

OPTS = dict(min_count=20, n_other=2, max_contexts=24, solve=False, n_perm=2, layers="all")


@pytest.fixture(scope="module")
def saved(tiny_models, corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("rm") / "p"
    r = probe(tiny_models["llama"], corpus_file, 2, **OPTS)
    r.save(out)
    return r, out


def test_layers_kept_and_last_remeasured(saved):
    r, out = saved
    again = remeasure(out)
    assert [x.index for x in again.layers] == [x.index for x in r.layers] == [0, 1, 2]
    for old, new in zip(r.layers, again.layers):
        np.testing.assert_array_equal(new.H, old.H)
    for old, new in zip(r.layers[:-1], again.layers[:-1]):  # the lens layers as saved
        assert new.metrics == load_probe(out).layer(old.index).metrics
    last_old, last_new = r.layers[-1].metrics, again.layers[-1].metrics
    for key in ("cdnv", "rankme", "gap", "dir_tilde"):  # same arrays, same theory: the same values
        assert last_new[key] == pytest.approx(last_old[key], rel=1e-5, abs=1e-9)
    assert last_new["gap"] == pytest.approx(again.metrics["gap"])


def test_cli_from_writes_the_layers(saved, tmp_path):
    from typer.testing import CliRunner

    from ntpgeom.cli import app

    _, out = saved
    res = CliRunner().invoke(app, ["probe", "--from", str(out), "-o", str(tmp_path / "again"), "--no-report"])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert [row["index"] for row in s["layers"]] == [0, 1, 2]
    assert [x.index for x in load_probe(tmp_path / "again").layers] == [0, 1, 2]
