"""The probe at scale (issue 14): streamed extraction against numpy on the full arrays, measurement on a context
subset against the full measurement restricted by hand, a theory read from a file (checked by data hash, also for a
saved probe measured again), and a time-limited solve that reports its certified gap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

from typer.testing import CliRunner  # noqa: E402

from _probe_helpers import WORDS, class_corpus
from ntpgeom.probe import RunningMoments, extract, load_model, probe, remeasure
from ntpgeom.probe.extract import corpus_data, measured_tokens

N_SUB = 12


def _cli(args):
    from ntpgeom.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------ streaming
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_running_moments_equal_numpy(sizes, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(3.0, 2.0, size=(5, sum(sizes)))
    acc = RunningMoments(5)
    for part in np.split(X, np.cumsum(sizes)[:-1], axis=1):
        acc.add(part)
    assert acc.n == X.shape[1]
    np.testing.assert_allclose(acc.mean, X.mean(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc.gram, X @ X.T / X.shape[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(acc.cov, np.cov(X, bias=True), rtol=1e-10, atol=1e-10)


def assert_f32_close(got: np.ndarray, ref: np.ndarray, ulps: int = 32, ref_scale: float | None = None) -> None:
    """Equal up to ``ulps`` float32 ulps of the largest entry (or of ``ref_scale``, the size of the summands of a
    mean): what float32 forward passes of other batches allow (their rounding differs, and differs by CPU)."""
    scale = np.abs(ref).max() if ref_scale is None else ref_scale
    np.testing.assert_allclose(got, ref, rtol=0, atol=ulps * np.finfo(np.float32).eps * scale)


def test_streamed_extraction_equals_all_at_once(tiny_models):
    lm = load_model(tiny_models["llama"])
    data = corpus_data(lm, class_corpus(), 2, min_count=1)
    rows, _ = measured_tokens(data, lm.info["V_model"], 2)
    full = extract(lm, data.contexts, rows, batch_size=5)
    keep = np.sort(np.random.default_rng(3).choice(data.m, size=7, replace=False))
    part = extract(lm, data.contexts, rows, batch_size=3, keep=keep)
    np.testing.assert_array_equal(part.idx, keep)
    # The model runs in float32 and a different batch composition changes the rounding (AMD and Intel CPUs differ
    # here too): allow a few dozen float32 ulps of the largest entry, far below any real mismatch (a wrong context
    # moves entries by O(max |H|)).
    for got, ref in ((part.H, full.H[:, keep]), (part.L, full.L[:, keep]), (part.lse, full.lse[keep])):
        assert_f32_close(got, ref)
    H = full.H  # oracle: numpy on the full arrays
    # the accumulators always cover all m contexts, whatever is kept (part's H came from other batches: float32)
    np.testing.assert_allclose(full.H_mean, H.mean(axis=1), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(full.H_gram, H @ H.T / data.m, rtol=1e-6, atol=1e-9)
    assert_f32_close(part.H_mean, H.mean(axis=1), ref_scale=np.abs(H).max())
    assert_f32_close(part.H_gram, H @ H.T / data.m, ref_scale=np.abs(H).max() ** 2)
    WH = lm.W(rows) @ H
    rel = np.linalg.norm(full.L - WH) / np.linalg.norm(full.L)
    assert full.wh_rel_err == pytest.approx(rel, rel=1e-6, abs=1e-12)
    assert part.wh_rel_err == pytest.approx(rel, rel=1e-3, abs=1e-7)  # batch composition changes float32 rounding
    assert full.wh_max_abs_err == pytest.approx(np.abs(full.L - WH).max(), rel=1e-6, abs=1e-12)


# ------------------------------------------------------------------------------------------------ subset
@pytest.fixture(scope="module")
def full_and_sub(tiny_models):
    kw = dict(min_count=20, n_other=2, max_contexts=40, solve=True)
    return probe(tiny_models["llama"], class_corpus(), 2, **kw), \
        probe(tiny_models["llama"], class_corpus(), 2, measure_contexts=N_SUB, **kw)


def _ce_mass(L, lse, C):
    """Full-softmax CE and support mass by hand from counts C (V x m), with π = column counts / total."""
    n = C.sum()
    logp = L - lse[None, :]
    ce = -(C * np.where(C > 0, logp, 0)).sum() / n
    mass = ((C.sum(axis=0) / n) * np.where(C > 0, np.exp(logp), 0).sum(axis=0)).sum()
    return ce, mass


def _collapse(X, groups):
    U = X / np.linalg.norm(X, axis=0)
    within = sum(((U[:, groups == g] - U[:, groups == g].mean(axis=1, keepdims=True)) ** 2).sum() for g in set(groups))
    return within / ((U - U.mean(axis=1, keepdims=True)) ** 2).sum()


def test_load_probe_of_a_subset(tmp_path, full_and_sub):
    from ntpgeom.probe import load_probe

    _, sub = full_and_sub
    sub.save(tmp_path)
    back = load_probe(tmp_path)
    np.testing.assert_array_equal(back.idx, sub.idx)
    assert back.data.hash == sub.data.hash and back.source_data.hash == sub.source.hash != back.data.hash
    np.testing.assert_array_equal(back.H_gram, sub.H_gram)
    assert back.H.shape == (sub.H.shape[0], N_SUB) and back.info["config"]["measure_contexts"] == N_SUB


def test_subset_equals_full_restricted_by_hand(full_and_sub):
    full, sub = full_and_sub
    idx = sub.idx
    assert idx.size == N_SUB == sub.data.m and full.data.m == 40 and np.all(np.diff(idx) > 0)
    assert sub.source.hash == full.data.hash  # the saved data (what `ntpgeom solve` takes) is all the contexts
    C = full.data.dense_counts()[:, idx]
    np.testing.assert_array_equal(sub.data.dense_counts(), C)
    assert_f32_close(sub.H, full.H[:, idx])  # other batches: float32 rounding differs (see assert_f32_close)
    assert_f32_close(sub.L, full.L[:, idx])
    ce, mass = _ce_mass(full.L[:, idx], full.lse[idx], C)
    assert sub.metrics["ce_full"] == pytest.approx(ce, rel=1e-5)
    assert sub.metrics["support_mass"] == pytest.approx(mass, rel=1e-5)
    # the reference is the theory of all 40 contexts restricted to the sample, not a theory of the sample
    th, ths = full.theory, sub.theory
    for name in ("L_in", "S_tilde", "L_mm", "H_mm"):
        np.testing.assert_allclose(getattr(ths, name), getattr(th, name)[:, idx], atol=1e-10)
    np.testing.assert_allclose(ths.G_H, th.G_H[np.ix_(idx, idx)], atol=1e-8)
    np.testing.assert_allclose(ths.G_H_proxy, th.G_H_proxy[np.ix_(idx, idx)], atol=1e-8)
    np.testing.assert_allclose(ths.G_W, th.G_W, atol=1e-10)
    # H is centred by the mean over all contexts (streamed), not the sample's
    Hc = full.H[:, idx] - full.H.mean(axis=1, keepdims=True)
    assert sub.metrics["collapse_Hc"] == pytest.approx(_collapse(Hc, np.asarray(sub.data.support_groups)), rel=1e-6)
    assert sub.metrics["n_contexts_measured"] == N_SUB and sub.metrics["n_contexts_total"] == 40
    mu, G = full.H.mean(axis=1), full.H @ full.H.T / 40
    assert sub.metrics["H_offset_share"] == pytest.approx(mu @ mu / np.trace(G), rel=1e-6)


def test_restricted_proxy_gram_from_the_reduced_svd(full_and_sub):
    """Without the theory's m x m proxy Gram, the restriction is computed from the reduced SVD of the full S̃."""
    from dataclasses import replace

    from ntpgeom.probe import restrict_theory
    from ntpgeom.theory import proxy_grams

    full, sub = full_and_sub
    th = replace(full.theory, G_H_proxy=None)
    r = restrict_theory(th, full.data, sub.idx, sub.data)
    GHp = proxy_grams(full.data)[1]
    np.testing.assert_allclose(r.G_H_proxy, GHp[np.ix_(sub.idx, sub.idx)], atol=1e-10)


def test_theory_reduced_factors_match_dense_svd(full_and_sub):
    """compute_theory's factors and Grams (from the reduced SVD) against a dense SVD of L_mm."""
    th = full_and_sub[0].theory
    U, s, Vt = np.linalg.svd(th.L_mm, full_matrices=False)
    k = int((s > 1e-8 * s[0]).sum())
    assert th.W_mm.shape[1] == k
    np.testing.assert_allclose(th.W_mm @ th.H_mm, th.L_mm, atol=1e-9)
    np.testing.assert_allclose(th.G_W, (U[:, :k] * s[:k]) @ U[:, :k].T, atol=1e-9)
    np.testing.assert_allclose(th.G_H, (Vt[:k].T * s[:k]) @ Vt[:k], atol=1e-9)


# ------------------------------------------------------------------------------------------------ --theory
def test_theory_file_round_trip_and_remeasure(tmp_path, tiny_models, corpus_file, full_and_sub):
    out, th_file = tmp_path / "p", tmp_path / "th.npz"
    base = ["probe", "--model", tiny_models["llama"], "--text", corpus_file, "-T", 2, "--min-count", 20,
            "--n-other", 2, "--solve", "no", "--no-report", "--json"]
    res = _cli([*base, "-o", out, "--measure-contexts", N_SUB])
    assert res.exit_code == 0, res.output
    s0 = json.loads(res.stdout)
    assert s0["metrics"]["reference"] == "S̃ proxy" and s0["measured"]["contexts"] == N_SUB
    res = _cli(["solve", out / "data.npz", "--tol", "1e-6", "-o", th_file, "--json"])  # what the data file is for
    assert res.exit_code == 0, res.output
    res = _cli([*base, "-o", tmp_path / "q", "--measure-contexts", N_SUB, "--theory", th_file])
    assert res.exit_code == 0, res.output
    s1 = json.loads(res.stdout)
    assert s1["metrics"]["solved"] and s1["theory_file"] == str(th_file)
    assert s1["data_hash"] == s0["data_hash"] and not (tmp_path / "q" / "theory.npz").exists()
    # a saved probe measured again against the file: the same numbers as measuring with it at probe time
    r = remeasure(out, th_file)
    for k in ("ce_full", "collapse_Hc", "softlabel_rel", "dir_mm", "pearson_H_mm"):
        assert r.metrics[k] == pytest.approx(s1["metrics"][k], rel=1e-9, nan_ok=True), k
    res = _cli(["probe", "--from", out, "--theory", th_file, "-o", tmp_path / "r", "--no-report", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metrics"]["dir_mm"] == pytest.approx(s1["metrics"]["dir_mm"], rel=1e-9)


def test_theory_of_other_data_is_refused(tmp_path, tiny_models, corpus_file, capsys):
    from ntpgeom.cli import main
    from ntpgeom.theory import compute_theory

    th_file = tmp_path / "other.npz"
    compute_theory(_other_data(), solve=False).save(th_file)
    for extra in (["--model", tiny_models["llama"], "--text", corpus_file, "-T", 2, "--min-count", 20],
                  ["--from", _saved(tmp_path, tiny_models, corpus_file)]):
        with pytest.raises(SystemExit) as e:
            main(["probe", *map(str, extra), "--theory", str(th_file), "-o", str(tmp_path / "o"), "--no-report"])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and "computed for data" in err[0], err
        assert not (tmp_path / "o").exists()  # nothing half-written


def _other_data():
    from ntpgeom.data import from_tokens

    return from_tokens([np.array([0, 1, 2, 0, 1, 0, 2, 1])], 1, vocab=["a", "b", "c"])


def _saved(tmp_path, tiny_models, corpus_file):
    out = tmp_path / "saved"
    if not out.exists():
        res = _cli(["probe", "--model", tiny_models["llama"], "--text", corpus_file, "-T", 2, "--min-count", 20,
                    "--n-other", 2, "--solve", "no", "--no-report", "-o", out])
        assert res.exit_code == 0, res.output
    return out


# ------------------------------------------------------------------------------------------------ --solve-budget
def _random_corpus(seed=0, n=80):
    rng = np.random.default_rng(seed)
    return " ".join(rng.choice(WORDS, size=n, p=np.linspace(2, 1, len(WORDS)) / np.linspace(2, 1, len(WORDS)).sum()))


def test_solve_budget_stops_with_a_certified_gap(tiny_models, tmp_path):
    from ntpgeom.report.probe_report import reference_line, write_probe_report
    from ntpgeom.theory import solve_ntp_svm

    r = probe(tiny_models["llama"], _random_corpus(), 1, min_count=1, n_other=0, solve_budget=1e-4)
    mt = r.metrics
    assert not r.source_theory.certificate.holds  # random supports: S̃ is not optimal, there is something to solve
    assert mt["svm_status"] == "user_limit" and mt["svm_method"] == "large" and mt["solved"]
    gap = mt["svm_gap"]
    assert 1e-4 < gap < 1 and mt["reference"] == f"L_mm to certified gap {gap:.2g}"
    # the gap is a true bound: the exact optimum (another backend, to 1e-9) is within it
    exact = solve_ntp_svm(r.source, tol=1e-9, method="fast", max_iter=200_000).nuclear_norm
    P = r.source_theory.svm.nuclear_norm
    assert exact <= P * (1 + 1e-9) and (P - exact) / P <= gap
    line = reference_line(mt)
    assert f"certified gap {gap:.2g}" in line and "time budget" in line
    html = write_probe_report(r, tmp_path).read_text()
    assert f"L_mm to certified gap {gap:.2g}" in html
    assert json.loads(json.dumps(r.summary()["metrics"]["svm_gap"])) == gap


def test_solve_budget_refused_with_solve_no(tmp_path, tiny_models, corpus_file, capsys):
    from ntpgeom.cli import main

    with pytest.raises(SystemExit) as e:
        main(["probe", "--model", str(tiny_models["llama"]), "--text", str(corpus_file), "-T", "2", "--solve", "no",
              "--solve-budget", "5", "-o", str(tmp_path / "o")])
    assert e.value.code == 2 and "--solve-budget" in capsys.readouterr().err


def test_restricted_theory_keeps_whether_s_tilde_is_optimal_for_the_whole_problem():
    """On one context the min-norm column S̃_j is never longer than L_mm's column, so judging "is S̃ optimal" from the
    restricted columns would always say yes; the restriction must carry the whole problem's answer (stories: no)."""
    import ntpgeom as g
    from ntpgeom.metrics import reference
    from ntpgeom.probe import restrict_theory

    data = g.corpora.stories()
    th = g.compute_theory(data)
    nuc = lambda A: np.linalg.svd(A, compute_uv=False).sum()  # noqa: E731
    whole = nuc(th.S_tilde) <= nuc(th.L_mm) * (1 + 1e-6)
    assert not whole and th.tilde_optimal is False  # the oracle: numpy on the whole arrays
    idx = np.array([7])
    sub = data.select_contexts(idx, subset_of=data.hash)
    assert nuc(th.S_tilde[:, idx]) <= nuc(th.L_mm[:, idx])  # what the columns alone would suggest
    r = restrict_theory(th, data, idx, sub)
    assert r.tilde_optimal is False
    ref = reference(r, sub)
    assert ref.tilde_optimal is False
