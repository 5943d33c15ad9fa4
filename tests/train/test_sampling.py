"""Mini-batch samplers, gradient accumulation, autocast, deferred log reads, the bottleneck and variable-length
contexts (sampling.py and their use in loop.py / models.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from ntpgeom.data import corpora, from_tokens, synthetic
from ntpgeom.train import TrainError, train
from ntpgeom.train.config import param_count, resolve
from ntpgeom.train.loop import Trainer
from ntpgeom.train.models import build_model
from ntpgeom.train.objective import SoftLabelCE
from ntpgeom.train.sampling import BatchSampler


@pytest.fixture(scope="module")
def small():
    return synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)


def _ce_numpy(Lt, data):
    P = data.P.toarray()
    L = Lt.T
    return -(data.pi[None, :] * P * (L - logsumexp(L, axis=0, keepdims=True))).sum(0)  # per context, π-weighted


@pytest.mark.parametrize("kind", ["uniform", "pi", "group"])
def test_every_sampler_is_unbiased(small, kind):
    rng = np.random.default_rng(0)
    Lt = rng.normal(size=(small.m, small.V)) * 2
    per = _ce_numpy(Lt, small)  # π_j CE_j
    sampler = BatchSampler(kind, 8, small.pi, small.support_groups)
    loss = SoftLabelCE(small)
    gen = torch.Generator().manual_seed(1)
    draws = []
    for _ in range(3000):
        idx, w = sampler.draw(gen)
        est = loss(torch.as_tensor(Lt[idx.numpy()]), idx, w)
        # the same estimate, independently: Σ_rows w_row π_j CE_j
        ww = np.full(len(idx), small.m / 8) if w is None else w.numpy()
        assert float(est) == pytest.approx(float((ww * per[idx.numpy()]).sum()), rel=1e-10)
        draws.append(float(est))
    draws = np.array(draws)
    assert abs(draws.mean() - per.sum()) < 4 * draws.std() / np.sqrt(len(draws))


def test_group_sampler_balances_supports(small):
    sampler = BatchSampler("group", 64, small.pi, small.support_groups)
    gen = torch.Generator().manual_seed(0)
    g = small.support_groups[np.concatenate([sampler.draw(gen)[0].numpy() for _ in range(200)])]
    freq = np.bincount(g, minlength=small.n_supports) / len(g)
    np.testing.assert_allclose(freq, 1 / small.n_supports, atol=0.02)


def test_full_batch_accumulation_is_the_exact_gradient(tmp_path, small):
    kw = dict(model="ufm", optimizer="gd", lr=0.5, ridge=1e-2, steps=15, snapshot_steps=[15])
    one = train(small, out=tmp_path / "a", **kw)
    three = train(small, out=tmp_path / "b", accumulate=3, **kw)
    np.testing.assert_allclose(three.loss["objective"], one.loss["objective"], rtol=1e-12)
    np.testing.assert_allclose(three.snapshot(15).L, one.snapshot(15).L, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(sampler="pi", accumulate=2), dict(sampler="group", ridge=1e-3)])
def test_samplers_resume_bit_identically_and_train(tmp_path, small, kw):
    kw = dict(model="ufm", optimizer="adam", lr=0.05, batch_size=16, **kw)
    whole = train(small, steps=40, out=tmp_path / "w", **kw)
    train(small, steps=20, out=tmp_path / "p", **kw)
    part = train(steps=40, out=tmp_path / "p", resume=True)
    for k in whole.loss:
        assert np.array_equal(whole.loss[k], part.loss[k]), k
    assert np.array_equal(whole.snapshot(40).L, part.snapshot(40).L)
    assert whole.loss["ce"][-1] < whole.loss["ce"][0]


def test_deferred_log_reads_give_the_same_run(tmp_path, small, monkeypatch):
    kw = dict(model="ufm", lr=0.05, steps=700, checkpoint_every=300)
    now = train(small, out=tmp_path / "a", **kw)
    monkeypatch.setattr(Trainer, "defer_sync", True)
    later = train(small, out=tmp_path / "b", **kw)
    for k in now.loss:
        assert np.array_equal(now.loss[k], later.loss[k]), k
    assert now.steps == later.steps and np.array_equal(now.snapshot(700).L, later.snapshot(700).L)


def test_bf16_autocast_keeps_float32_master_weights(tmp_path):
    data = corpora.synthetic()
    kw = dict(model="transformer", d=32, layers=2, steps=30, lr=3e-3, device="cpu")
    fp32 = train(data, out=tmp_path / "a", **kw)
    bf16 = train(data, out=tmp_path / "b", autocast="bf16", **kw)
    assert bf16.config["dtype"] == "float32"
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert all(t.dtype == torch.float32 for t in ck["model"].values())
    assert abs(bf16.loss["ce"][0] - fp32.loss["ce"][0]) < 2e-2 * fp32.loss["ce"][0]  # same init, bf16 rounding
    assert bf16.loss["ce"][-1] < 0.8 * bf16.loss["ce"][0]
    assert bf16.snapshot(30).L.dtype == np.float64


@pytest.mark.parametrize("kw, match", [
    (dict(sampler="pi"), "batch_size"), (dict(autocast="bf16", dtype="float64"), "float32"),
    (dict(bottleneck=3), "UFM"), (dict(accumulate=0), "accumulate"), (dict(autocast="fp8"), "autocast"),
])
def test_bad_options(tmp_path, small, kw, match):
    with pytest.raises(TrainError, match=match):
        train(small, out=tmp_path / "r", steps=1, **kw)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", ["transformer", "lstm", "mlp"])
def test_bottleneck_sets_the_embedding_dimension(tmp_path, model):
    data = corpora.stories()
    run = train(data, model=model, d=32, bottleneck=5, steps=3, out=tmp_path / "r", device="cpu")
    s = run.snapshot(3)
    assert s.W.shape == (data.V, 5) and s.H.shape == (5, data.m)
    np.testing.assert_allclose(s.L, s.W @ s.H, rtol=1e-5, atol=1e-5)
    cfg = resolve(data, {"model": model, "d": 32, "bottleneck": 5, "device": "cpu"})
    net = build_model(cfg, data)
    assert param_count(cfg, data) == sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("model, positional", [("transformer", "none"), ("transformer", "rope"), ("lstm", "none")])
def test_variable_length_contexts_equal_each_context_alone(model, positional):
    docs = [[0, 1, 2, 0, 1, 3, 0, 1, 2, 2], [2, 0, 1, 2, 2, 1], [1, 0, 1, 2, 0, 1, 3, 3, 1]]
    data = from_tokens(docs, (1, 4))
    torch.manual_seed(0)
    cfg = resolve(data, {"model": model, "d": 16, "layers": 2, "heads": 2, "positional": positional, "device": "cpu"})
    net = build_model(cfg, data).double()
    with torch.no_grad():
        tree = net.features()
        net.tree = None
        dense = net.features()
        lengths, net.lengths = net.lengths, None
        for j in range(data.m):  # oracle: the fixed-length model on context j's own tokens only
            net.contexts = torch.tensor(data.contexts[j:j + 1, :int(lengths[j])])
            alone = net.features()[0]
            torch.testing.assert_close(tree[j], alone, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(dense[j], alone, rtol=1e-10, atol=1e-12)


def test_run_reports_gap_by_length(tmp_path):
    docs = [[0, 1, 2, 0, 1, 3, 0, 1, 2, 2], [2, 0, 1, 2, 2, 1], [1, 0, 1, 2, 0, 1, 3, 3, 1]]
    data = from_tokens(docs, (1, 3))
    run = train(data, model="transformer", d=16, layers=1, heads=2, steps=5, out=tmp_path / "r", device="cpu")
    gaps = run.summary()["gap_by_length"]
    s = run.snapshot(5)
    L = s.L
    logp = L - logsumexp(L, axis=0, keepdims=True)
    P = data.P.toarray()
    for T, H_T in data.entropy_by_length().items():
        sel = data.context_lengths == T
        ce_T = -(data.pi[sel] * (P[:, sel] * logp[:, sel]).sum(0)).sum() / data.pi[sel].sum()
        assert gaps[str(T)] == pytest.approx(ce_T - H_T, rel=1e-5, abs=1e-6)


def test_snapshots_of_a_fixed_context_subset(tmp_path, small):
    full = train(small, model="ufm", lr=0.05, steps=10, out=tmp_path / "a")
    sub = train(small, model="ufm", lr=0.05, steps=10, snapshot_contexts=20, out=tmp_path / "b")
    np.testing.assert_array_equal(sub.loss["ce"], full.loss["ce"])  # the logged loss uses every context
    s, f = sub.snapshot(10), full.snapshot(10)
    assert s.contexts.shape == (20,) and np.all(np.diff(s.contexts) > 0) and f.contexts is None
    np.testing.assert_array_equal(s.L, f.L[:, s.contexts])
    np.testing.assert_array_equal(s.H, f.H[:, s.contexts])
    assert np.array_equal(sub.snapshot(0).contexts, s.contexts)  # the same subset at every step


def test_estimate_extrapolates_a_measured_rate_and_leaves_nothing(tmp_path, small, monkeypatch):
    import tempfile as tf

    from ntpgeom.train import estimate_seconds

    monkeypatch.setattr(tf, "tempdir", str(tmp_path))
    est = estimate_seconds(small, 10_000, model="ufm", lr=0.05, device="cpu", probe_steps=20)
    assert est["device"] == "cpu" and est["steps"] == 10_000
    assert est["seconds"] == pytest.approx(10_000 * est["seconds_per_step"])
    assert 1e-6 < est["seconds_per_step"] < 1.0  # a UFM step on 95 contexts: well under a second
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("ntpgeom-")]  # the probe folder is gone


def test_paper_tinystories_preset(small):
    cfg = resolve(corpora.stories(), {"preset": "paper-tinystories", "device": "cpu"})
    assert (cfg.model, cfg.d, cfg.layers, cfg.optimizer, cfg.lr, cfg.schedule) == ("transformer", 256, 12, "adamw",
                                                                                     1e-4, "step")
    assert resolve(corpora.stories(), {"preset": "paper-tinystories", "d": 64, "device": "cpu"}).d == 64


def test_deferred_reads_still_stop_on_a_nonfinite_loss(tmp_path, small, monkeypatch):
    monkeypatch.setattr(Trainer, "defer_sync", True)
    run = train(small, model="ufm", optimizer="gd", lr=1e12, steps=300, dtype="float32", snapshot_steps=[],
                out=tmp_path / "r")
    assert run.config["stop_reason"] == "nonfinite" and run.status == "stopped"
    assert not np.isfinite(run.loss["ce"][-1]) and np.all(np.isfinite(run.loss["ce"][:-1]))
    assert run.final_step < 300
