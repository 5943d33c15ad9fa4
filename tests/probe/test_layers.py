"""Every layer: per-layer H against the model's own output_hidden_states, the logit lens against a direct
computation (final norm applied once), streamed against all at once, the folder round trip, and the definitions of
cdnv and RankMe recomputed from .H and .groups."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

import torch  # noqa: E402

from _probe_helpers import class_corpus, make_model, make_tokenizer  # noqa: E402
from ntpgeom.errors import ProbeError  # noqa: E402
from ntpgeom.probe import load_probe, probe  # noqa: E402
from ntpgeom.probe.layers import parse_layers  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
KW = dict(min_count=20, n_other=2, max_contexts=40)


@pytest.fixture(scope="module")
def normed_llama(tmp_path_factory):
    """A tiny Llama whose final RMSNorm has non-unit weights (so norm(norm(h)) != norm(h): a second norm shows)."""
    tok = make_tokenizer()
    model = make_model("llama", len(tok), seed=3)
    with torch.no_grad():
        torch.manual_seed(7)
        model.model.norm.weight.copy_(0.5 + torch.rand_like(model.model.norm.weight) * 2)
    d = tmp_path_factory.mktemp("normed") / "llama"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def res_all(normed_llama):
    return probe(normed_llama, class_corpus(), 2, layers="all", **KW)


def _direct(folder, contexts):
    """The model's own hidden states at the last position, and its final norm and head, one context at a time."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    hs = []
    with torch.no_grad():
        for c in contexts:
            out = model(input_ids=torch.tensor([list(c)]), output_hidden_states=True)
            hs.append(torch.stack([h[0, -1] for h in out.hidden_states]).double().numpy())
    return np.stack(hs, axis=2), model  # (layers, d, m)


def test_layer_H_equals_output_hidden_states(res_all, normed_llama):
    r = res_all
    assert [x.index for x in r.layers] == [0, 1, 2]
    direct, _ = _direct(normed_llama, r.contexts.tolist())
    for layer in r.layers:
        D = direct[layer.index]
        assert layer.H.shape == D.shape == (32, r.data.m)
        # one float32 forward pass in another batch shape: rounding of O(depth · d) operations of size |h|
        tol = 64 * EPS32 * np.abs(D).max() * (layer.index + 1)
        np.testing.assert_allclose(layer.H.astype(np.float64), D, rtol=0, atol=tol)
    np.testing.assert_array_equal(r.layers[-1].H.astype(np.float64), r.H)  # the last layer is the probe's H


def _ce_direct(r, logits: np.ndarray) -> float:
    """CE under the full softmax of (m, V_model) logits, π- and P-weighted over the support rows (model ids)."""
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    P, ids = r.data.P.toarray(), np.asarray(r.data.meta["token_ids"])
    return float(-(r.data.pi[None, :] * P * logp[:, ids].T).sum())


def test_logit_lens_applies_the_final_norm_once(res_all, normed_llama):
    r = res_all
    direct, model = _direct(normed_llama, r.contexts.tolist())
    W = model.lm_head.weight.detach().double().numpy()
    norm = model.model.norm
    for layer in r.layers:
        h = torch.tensor(direct[layer.index].T, dtype=torch.float32)
        z = h if layer.index == 2 else norm(h)  # hidden_states[-1] is already normalised
        ce = _ce_direct(r, z.detach().double().numpy() @ W.T)
        assert layer.metrics["ce_full"] == pytest.approx(ce, rel=1e-5, abs=1e-6)
    twice = _ce_direct(r, norm(torch.tensor(direct[2].T, dtype=torch.float32)).detach().double().numpy() @ W.T)
    assert abs(r.layers[-1].metrics["ce_full"] - twice) > 1e-3  # a second norm would be visible


def test_last_layer_agrees_with_the_last_layer_probe(res_all, normed_llama):
    last = probe(normed_llama, class_corpus(), 2, **KW)
    assert [x.index for x in last.layers] == [2]
    np.testing.assert_array_equal(last.H, res_all.H)
    for k, v in last.metrics.items():
        if k.endswith("_seconds"):  # wall time
            continue
        w = res_all.metrics[k]
        assert (v == w) or (isinstance(v, float) and math.isnan(v) and math.isnan(w)), k
        assert res_all.layers[-1].metrics[k] == w or (isinstance(w, float) and math.isnan(w)), k


def test_streamed_equals_all_at_once(res_all, normed_llama):
    """The tap over batches of 3 (and a kept subset) against one batch of every context: same H, same lens lse."""
    from ntpgeom.probe import extract, load_model
    from ntpgeom.probe.layers import LayerTap

    lm = load_model(normed_llama)
    ctx, rows = res_all.contexts, np.asarray(res_all.data.meta["token_ids"])
    keep = np.arange(0, len(ctx), 3)
    taps = {b: LayerTap(lm, (0, 1), keep.size) for b in (3, len(ctx))}
    exs = {b: extract(lm, ctx, rows, batch_size=b, keep=keep, tap=t) for b, t in taps.items()}
    for k in (0, 1):
        a, b = taps[3].H[k], taps[len(ctx)].H[k]
        tol = 64 * EPS32 * float(np.abs(b).max()) * (k + 1)
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)
        np.testing.assert_allclose(taps[3].lse[k], taps[len(ctx)].lse[k], rtol=64 * EPS32, atol=0)
    np.testing.assert_array_equal(taps[3].H[0], res_all.layers[0].H[:, keep])  # the embedding: no arithmetic
    np.testing.assert_allclose(exs[3].H, exs[len(ctx)].H, rtol=0, atol=64 * EPS32 * float(np.abs(exs[3].H).max()))


def _cdnv(H, groups):
    """The definition, by brute force over pairs of groups with >= 2 contexts."""
    stats = []
    for g in np.unique(groups):
        X = H[:, groups == g]
        if X.shape[1] >= 2:
            mu = X.mean(axis=1)
            stats.append((mu, np.mean(np.sum((X - mu[:, None]) ** 2, axis=0))))
    vals = [(sa + sb) / (2 * np.sum((ma - mb) ** 2)) for (ma, sa), (mb, sb) in itertools.combinations(stats, 2)]
    return float(np.mean(vals))


def _rankme(H):
    s = np.linalg.svd(H, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def test_round_trip_and_definitions(tmp_path, res_all):
    res_all.save(tmp_path / "p")
    back = load_probe(tmp_path / "p")
    np.testing.assert_array_equal(back.groups, res_all.groups)
    assert [x.index for x in back.layers] == [0, 1, 2]
    for a, b in zip(back.layers, res_all.layers):
        np.testing.assert_array_equal(a.H, b.H)
        H = a.H.astype(np.float64)
        assert a.metrics["cdnv"] == pytest.approx(_cdnv(H, back.groups), rel=1e-9)
        # metrics.rankme adds Garrido et al.'s ε = 1e-7 to each p_k: a shift of at most n·ε·(1 + |ln ε|) (n = 32)
        assert a.metrics["rankme"] == pytest.approx(_rankme(H), abs=32 * 1e-7 * (1 + abs(math.log(1e-7))) * 12)
        assert a.metrics["cdnv"] == pytest.approx(b.metrics["cdnv"], rel=1e-12)
    assert len(np.unique(back.groups)) >= 2 and np.bincount(back.groups).max() >= 2


def test_layer_selection(normed_llama):
    assert parse_layers("all", 3) == (0, 1, 2, 3)
    assert parse_layers("last", 3) == (3,)
    assert parse_layers([2, 0, 2], 3) == (0, 2)
    for bad in ("0,x", "first", "-1"):
        with pytest.raises(ProbeError, match="--layers"):
            parse_layers(bad, 3)
    with pytest.raises(ProbeError, match="layers 0..3"):
        parse_layers("0,4", 3)
    r = probe(normed_llama, class_corpus(), 2, layers=[0], measure_contexts=20, **KW)
    assert [x.index for x in r.layers] == [0, 2]  # the last layer always
    with pytest.raises(ProbeError, match="layers 0..2"):
        probe(normed_llama, class_corpus(), 2, layers="5", **KW)


def test_cli_layers_all_writes_every_layer(tmp_path, normed_llama, corpus_file):
    import json

    from typer.testing import CliRunner

    from ntpgeom.cli import app

    out = tmp_path / "p"
    res = CliRunner().invoke(app, ["probe", "--model", str(normed_llama), "--text", str(corpus_file), "-T", "2",
                                   "-c", "20", "-K", "20", "--n-other", "2", "--solve", "no", "--layers", "all",
                                   "--baseline", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert [x["index"] for x in s["layers"]] == [0, 1, 2] and s["config"]["layers"] == "all"
    assert s["baseline"]["layers"] == [0, 1, 2] and len(s["baseline"]["metrics"]["rankme"]) == 1
    back = load_probe(out)
    for layer in back.layers:
        H = layer.H.astype(np.float64)
        assert layer.metrics["cdnv"] == pytest.approx(_cdnv(H, back.groups), rel=1e-9)
    assert (out / "figures" / "probe_layers.png").is_file()
    page = (out / "index.html").read_text()
    assert 'id="layers"' in page and "untrained" in page
    bad = CliRunner().invoke(app, ["probe", "--model", str(normed_llama), "--text", str(corpus_file), "-T", "2",
                                   "--layers", "0,x", "-o", str(tmp_path / "q")])
    assert bad.exit_code == 2 and "--layers" in bad.output and not (tmp_path / "q").exists()
