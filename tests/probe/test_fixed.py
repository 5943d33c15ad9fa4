"""probe/fixed.py: the model's own LM head against the fixed-features W_mm of its own last-layer H, checked against
the library's ``fixed_features`` called directly and distances recomputed here from their definitions."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

from ntpgeom.probe import load_probe, probe  # noqa: E402
from ntpgeom.probe.config import ProbeConfig  # noqa: E402
from ntpgeom.errors import ProbeError, SolverWarning  # noqa: E402
from ntpgeom.theory import fixed_features  # noqa: E402

OPTS = dict(min_count=20, n_other=1, max_contexts=24, solve=False, n_perm=2)


@pytest.fixture(scope="module")
def res_ff(tiny_models, corpus_file):
    return probe(tiny_models["llama"], corpus_file, 2, fixed_features=True, fixed_features_budget=30.0, **OPTS)


def _dir(A, B):
    return float(np.linalg.norm(A / np.linalg.norm(A) - B / np.linalg.norm(B)))


def _perp_centred(L, mask):
    """L minus its F part (in-support entries minus their in-support mean), then token-centred."""
    k = mask.sum(axis=0)
    mean = np.where(mask, L, 0.0).sum(axis=0) / np.maximum(k, 1)
    X = L - np.where(mask, L - mean, 0.0)
    return X - X.mean(axis=0, keepdims=True)


def test_head_is_the_model_rows_of_the_data_tokens(res_ff, tiny_models):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["llama"])
    ids = np.asarray(res_ff.data.meta["token_ids"])
    assert res_ff.data.V < model.config.vocab_size  # the data's vocabulary is a strict subset: the mapping matters
    W_model = model.lm_head.weight.detach().double().numpy()[ids]
    np.testing.assert_allclose(res_ff.W, W_model, rtol=0, atol=1e-6)


def test_against_the_library_call(res_ff):
    ff = res_ff.info["fixed_features"]
    ref = fixed_features(res_ff.data, np.asarray(res_ff.H, dtype=np.float64), time_limit=30.0)
    W, H = np.asarray(res_ff.W, dtype=np.float64), np.asarray(res_ff.H, dtype=np.float64)
    assert ff["status"] == ref.status.value and ff["separable"] == ref.separable
    assert ff["compatible"] == ref.compatible
    assert ff["features_in_residual"] == pytest.approx(ref.in_residual, rel=1e-6, abs=1e-9)
    assert ff["norm"] == pytest.approx(ref.norm, rel=1e-4)
    assert ff["dist_W"] == pytest.approx(_dir(W, ref.W_mm), abs=1e-4)
    mask = np.asarray(res_ff.data.S).astype(bool) if not hasattr(res_ff.data.S, "toarray") else \
        res_ff.data.S.toarray().astype(bool)
    s = np.sqrt(np.asarray(res_ff.data.pi, dtype=np.float64))
    X = _perp_centred(W @ H, mask) * s
    Y = (ref.W_mm @ H - (ref.W_mm @ H).mean(axis=0, keepdims=True)) * s
    assert ff["dist_L"] == pytest.approx(_dir(X, Y), abs=1e-4)
    assert 0.0 <= ff["dist_W"] <= 2.0 and ff["max_iter"] == 20000 and ff["time_limit"] == 30.0


def test_in_summary_and_read_back(res_ff, tmp_path):
    res_ff.save(tmp_path / "p")
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert s["fixed_features"]["dist_W"] == pytest.approx(res_ff.info["fixed_features"]["dist_W"])
    assert load_probe(tmp_path / "p").info["fixed_features"]["status"] == res_ff.info["fixed_features"]["status"]


def test_off_by_default_and_limits_checked(tiny_models, corpus_file):
    r = probe(tiny_models["llama"], corpus_file, 2, **OPTS)
    assert r.info.get("fixed_features") is None and r.summary()["fixed_features"] is None
    with pytest.raises(ProbeError):
        ProbeConfig(context_len=2, fixed_features_budget=0.0)
    with pytest.raises(ProbeError):
        ProbeConfig(context_len=2, fixed_features_iter=0)


def test_iteration_cap_is_reported_not_certified(tiny_models, corpus_file):
    with pytest.warns(SolverWarning, match="not certified"):
        r = probe(tiny_models["llama"], corpus_file, 2, fixed_features=True, fixed_features_iter=1, **OPTS)
    ff = r.info["fixed_features"]
    assert ff["max_iter"] == 1
    assert ff["certified"] is False and ff["status"] != "optimal"


def test_cli_flag(res_ff, tiny_models, corpus_file, tmp_path):
    from typer.testing import CliRunner

    from ntpgeom.cli import app

    out = tmp_path / "cli"
    args = ["probe", "--model", str(tiny_models["llama"]), "--text", str(corpus_file), "-T", "2", "-c", "20",
            "--n-other", "1", "-K", "24", "--solve", "no", "--no-report", "--fixed-features",
            "--fixed-features-budget", "30", "-o", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "fixed features: W to W_mm" in res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["fixed_features"]["dist_W"] == pytest.approx(res_ff.info["fixed_features"]["dist_W"], abs=1e-6)


def test_non_separable_features_said_plainly(tiny_models, corpus_file, tmp_path):
    """Longer contexts give more contexts (m = 48 at T-1 = 2 → more at T-1 = 3) than d = 32 features can separate
    here: the library certifies that (separable False) and the page says so."""
    from ntpgeom.report.probe_report import write_probe_report

    with pytest.warns(SolverWarning):
        r = probe(tiny_models["llama"], corpus_file, 3, fixed_features=True, **{**OPTS, "min_count": 2,
                                                                                  "max_contexts": 200})
        ref = fixed_features(r.data, np.asarray(r.H, dtype=np.float64))
    ff = r.info["fixed_features"]
    assert ff["separable"] is ref.separable is False and ff["certified"] is False
    page = write_probe_report(r, tmp_path / "rep")
    html = (page if page.suffix == ".html" else page / "index.html").read_text(encoding="utf-8")
    assert "cannot separate the supports" in html and "direction distance of W to W_mm" in html
