"""The large-instance NTP-SVM* solver against independent oracles: cvxpy + SCS (the optimum), the existing ADMM
solver (mid size), the dense reduction, and the definition of dual feasibility."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import synthetic
from ntpgeom.theory import S_tilde, SolverError, SolverWarning, max_violation, reduce_pattern, solve_ntp_svm
from ntpgeom.theory.large_ops import project_rows, reduce_sparse
from ntpgeom.theory.svm_large import solve_ntp_svm_large


def _random_mask(rng, V, m, kmax):
    M = np.zeros((V, m), dtype=bool)
    for j in range(m):
        M[rng.choice(V, size=rng.integers(1, kmax + 1), replace=False), j] = True
    return M


@functools.lru_cache(maxsize=16)
def _cvx_optimum_seed(seed):
    return _cvx_optimum(_random_mask(np.random.default_rng(seed), 8, 20, 4))


def _cvx_optimum(mask):
    """min ‖L‖_* s.t. the NTP-SVM* constraints, written directly in cvxpy, solved by SCS to high accuracy."""
    cp = pytest.importorskip("cvxpy")
    V, m = mask.shape
    L, a = cp.Variable((V, m)), cp.Variable(m)
    M = mask.astype(float)
    diff = L - np.ones((V, 1)) @ cp.reshape(a, (1, m), order="C")
    prob = cp.Problem(cp.Minimize(cp.normNuc(L)), [cp.multiply(M, diff) == 0, cp.multiply(1 - M, diff + 1) <= 0])
    prob.solve(solver=cp.SCS, eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    return float(prob.value)


def _check_dual_feasible(A, mask, atol=1e-9):
    assert np.linalg.norm(A, 2) <= 1 + 1e-9
    assert np.abs(A.sum(axis=0)).max() <= atol
    assert A[~mask].max(initial=-np.inf) <= atol


def _check_bound(res, mask, p_opt, slack=1e-6):
    """The returned point is feasible and its certified gap upper-bounds its true relative suboptimality."""
    assert max_violation(res.L, mask) <= 1e-9
    assert abs(np.linalg.svd(res.L, compute_uv=False).sum() - res.nuclear_norm) <= 1e-9 * res.nuclear_norm
    _check_dual_feasible(res.dual, mask)
    assert res.dual_value <= p_opt * (1 + slack)  # a true lower bound
    assert (res.nuclear_norm - p_opt) / res.nuclear_norm <= res.gap + slack


# --------------------------------------------------------------------------------- certificate vs cvxpy + SCS
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_iter", [3, 2000])
@pytest.mark.parametrize("tol", [1e-7, 1e-4])  # float64 throughout; the default float32 ladder
def test_certified_gap_is_a_true_bound_vs_cvxpy(seed, max_iter, tol):
    mask = _random_mask(np.random.default_rng(seed), 8, 20, 4)
    p_opt = _cvx_optimum_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        res = solve_ntp_svm_large(mask, tol=tol, max_iter=max_iter, check_every=1, use_certificate=False)
    _check_bound(res, mask, p_opt)
    assert res.info["phases"][0]["dtype"] == ("torch.float64" if tol < 1e-5 else "torch.float32")
    if max_iter == 2000:
        assert res.converged and abs(res.nuclear_norm - p_opt) <= 10 * tol * p_opt


def test_float32_iterations_keep_a_true_float64_certificate():
    mask = _random_mask(np.random.default_rng(5), 8, 20, 4)
    p_opt = _cvx_optimum(mask)
    res = solve_ntp_svm_large(mask, tol=1e-4, dtype=torch.float32, use_certificate=False)
    assert res.converged and res.info["dtype"] == "torch.float32"
    _check_bound(res, mask, p_opt)


# --------------------------------------------------------------------------------- vs the existing ADMM solver
def test_agrees_with_existing_admm_mid_size():
    data = synthetic.random_supports(80, 600, (1, 6), n_supports=150, seed=3)
    ref = solve_ntp_svm(data, tol=1e-8)
    res = solve_ntp_svm_large(data, tol=1e-6)
    assert ref.method == "fast" and res.method == "large" and res.converged
    assert res.reduced_shape == ref.reduced_shape
    mask = data.S.toarray() != 0
    _check_bound(res, mask, ref.nuclear_norm, slack=1e-8)
    assert abs(res.nuclear_norm - ref.nuclear_norm) <= 1e-6 * ref.nuclear_norm


def test_default_float32_ladder_agrees_with_existing_admm_mid_size():
    data = synthetic.random_supports(80, 600, (1, 6), n_supports=150, seed=4)
    ref = solve_ntp_svm(data, tol=1e-8)
    res = solve_ntp_svm_large(data, tol=1e-4, threads=1)
    assert res.converged and res.gap <= 1e-4 and res.stats.threads == 1 == res.info["threads"]
    ph = res.info["phases"][0]
    assert (ph["dtype"], ph["eigh_dtype"]) == ("torch.float32", "torch.float64") and ph["iterations"] > 0
    assert 0 < res.info["svt_rank"] <= min(res.reduced_shape)
    _check_bound(res, data.S.toarray() != 0, ref.nuclear_norm, slack=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
def test_float32_eigensolver_phase_hands_over_and_stays_a_true_bound(seed):
    """The CUDA default ladder (float32 eigensolver first), forced on the CPU."""
    mask = _random_mask(np.random.default_rng(seed), 8, 20, 4)
    p_opt = _cvx_optimum_seed(seed)
    res = solve_ntp_svm_large(mask, tol=1e-6, dtype=torch.float32, fast_eigh=True, use_certificate=False,
                              check_every=1)
    ph = res.info["phases"]
    assert (ph[0]["dtype"], ph[0]["eigh_dtype"]) == ("torch.float32", "torch.float32")
    assert res.converged and res.gap <= 1e-6 and (len(ph) == 1 or ph[0]["end"] == "stalled")
    _check_bound(res, mask, p_opt)


def test_time_limit_returns_best_certified_point():
    data = synthetic.random_supports(80, 600, (1, 6), n_supports=150, seed=3)
    ref = solve_ntp_svm(data, tol=1e-8)
    full = solve_ntp_svm_large(data, tol=1e-6)
    with pytest.warns(SolverWarning, match="time_limit"):
        cut = solve_ntp_svm_large(data, tol=1e-6, time_limit=1e-3)
    assert not cut.converged and cut.info["status"] == "time_limit"
    assert cut.gap > full.gap
    assert [x[0] for x in cut.info["ladder"]][0] == "tilde"
    gaps = [x[5] for x in cut.info["ladder"]]
    assert gaps == sorted(gaps, reverse=True) and cut.gap == gaps[-1]
    _check_bound(cut, data.S.toarray() != 0, ref.nuclear_norm, slack=1e-8)


# --------------------------------------------------------------------------------- reduced memory path == dense
def test_sparse_reduction_equals_dense_reduction():
    rng = np.random.default_rng(0)
    mask = _random_mask(rng, 30, 200, 3)
    mask[:, 100:] = mask[:, :100]  # repeated supports
    mask[20:, :] = mask[10:20, :]  # repeated token rows
    mask[0, ~mask.any(axis=0)] = True
    a, b = reduce_sparse(sp.csc_array(mask.astype(float))), reduce_pattern(mask)
    for name in ("mask", "r", "c", "row_group", "col_group"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_reduced_solve_equals_dense_expansion():
    mask = _random_mask(np.random.default_rng(1), 12, 60, 3)
    mask[:, 30:] = mask[:, :30]
    dense = solve_ntp_svm_large(mask, tol=1e-7, use_certificate=False)
    red = solve_ntp_svm_large(sp.csr_array(mask.astype(float)), tol=1e-7, use_certificate=False, expand=False)
    np.testing.assert_allclose(red.info["reduction"].expand(red.L), dense.L, atol=1e-12)
    assert red.L.shape == red.reduced_shape and dense.L.shape == mask.shape
    assert red.nuclear_norm == pytest.approx(dense.nuclear_norm, rel=1e-12)


def test_projection_matches_bruteforce_qp():
    """Oracle: the per-context projection as a 1-D minimisation over the level a on a fine grid + local refinement."""
    rng = np.random.default_rng(2)
    V = 7
    mask = _random_mask(rng, V, 40, 3)
    Z = rng.normal(scale=2.0, size=(V, 40))
    r = rng.integers(1, 4, size=V).astype(float)
    P = project_rows(torch.as_tensor(Z.T), torch.as_tensor(mask.T), torch.as_tensor(r)).numpy().T
    for j in range(40):
        s = mask[:, j]

        def cost(a):  # a: (g,) levels -> (g,) weighted squared distances
            x = np.where(s, a[:, None], np.minimum(Z[:, j], a[:, None] - 1))
            return (r * (x - Z[:, j]) ** 2).sum(axis=1)

        grid = np.linspace(Z[:, j].min() - 2, Z[:, j].max() + 2, 200_001)
        assert cost(P[s, j][:1])[0] <= cost(grid).min() + 1e-9
        assert np.ptp(P[s, j]) == 0 and (P[~s, j] <= P[s, j][0] - 1 + 1e-12).all()


# --------------------------------------------------------------------------------- properties on random patterns
@settings(max_examples=30, deadline=None)
@given(st.integers(3, 7), st.integers(1, 12), st.integers(0, 10_000), st.sampled_from([1e-6, 1e-4]),
       st.sampled_from([3, 3000]))
def test_random_patterns_feasible_and_bounded(V, m, seed, tol, max_iter):
    """Both precision paths (float64 at tol 1e-6, the float32 ladder at 1e-4), stopped early or run to the end."""
    rng = np.random.default_rng(seed)
    mask = _random_mask(rng, V, m, V - 1)
    ref = solve_ntp_svm(mask, tol=1e-9, max_iter=50_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SolverWarning)
        res = solve_ntp_svm_large(mask, tol=tol, max_iter=max_iter, check_every=1, use_certificate=False)
    p_opt = ref.dual_value  # a certified lower bound on the optimum from the other solver
    assert max_violation(res.L, mask) <= 1e-9
    _check_dual_feasible(res.dual, mask)
    assert res.dual_value <= ref.nuclear_norm * (1 + 1e-9)
    assert (res.nuclear_norm - p_opt) / res.nuclear_norm <= res.gap + ref.gap + 1e-9


def test_tilde_rung_when_prop3_certifies():
    d = synthetic.all_k_subsets(6, 2)
    res = solve_ntp_svm_large(d, tol=1e-6)
    assert res.method == "tilde" and res.certificate_holds and res.iterations == 0 and res.gap <= 1e-9
    np.testing.assert_allclose(res.L, S_tilde(d), atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"tol": 0}, "tol"), ({"time_limit": -1.0}, "time_limit"), ({"max_iter": 0}, "max_iter"),
     ({"dtype": torch.float16}, "dtype")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(SolverError, match=match):
        solve_ntp_svm_large(np.eye(3), **kwargs)


def test_bad_patterns():
    with pytest.raises(SolverError, match="only 0 and 1"):
        solve_ntp_svm_large(sp.csc_array(np.array([[2.0, 0], [0, 1]])))
    with pytest.raises(SolverError, match="empty support"):
        solve_ntp_svm_large(sp.csc_array(np.array([[1.0, 0], [0, 0]])))
    if not torch.cuda.is_available():
        with pytest.raises(SolverError, match="CUDA"):
            solve_ntp_svm_large(np.eye(3), device="cuda")


# --------------------------------------------------------------------------------- hookup into solve_ntp_svm
def test_solve_ntp_svm_routes_large_and_auto(monkeypatch):
    from ntpgeom.theory import svm as svm_mod

    mask = _random_mask(np.random.default_rng(4), 10, 30, 3)
    ref = solve_ntp_svm(mask, tol=1e-9, method="fast", use_certificate=False)
    big = solve_ntp_svm(mask, tol=1e-7, method="large", use_certificate=False)
    assert ref.method == "fast" and big.method == "large"
    assert big.nuclear_norm == pytest.approx(ref.nuclear_norm, rel=1e-6)
    assert solve_ntp_svm(mask, tol=1e-7, use_certificate=False).method == "fast"  # small: auto keeps ADMM
    monkeypatch.setattr(svm_mod, "LARGE_AUTO_SIZE", 0)
    assert solve_ntp_svm(mask, tol=1e-7, use_certificate=False).method == "large"


def test_float32_below_its_floor_finishes_in_float64():
    mask = _random_mask(np.random.default_rng(0), 8, 20, 4)  # S̃ is 1.2 % above the optimum here
    p_opt = _cvx_optimum(mask)
    res = solve_ntp_svm_large(mask, tol=1e-9, dtype=torch.float32, use_certificate=False, max_iter=20_000)
    assert res.converged and res.gap <= 1e-9 and "-> torch.float64" in res.info["dtype"]
    _check_bound(res, mask, p_opt)


def test_tuning_record_and_keywords_are_the_same_solve():
    """``tuning=LargeTuning(...)`` and the same fields as keywords run the same iterations; keywords override the
    record; a misspelt keyword is refused."""
    from ntpgeom.theory.large_state import LargeTuning

    mask = _random_mask(np.random.default_rng(5), 8, 30, 3)
    kw = solve_ntp_svm_large(mask, tol=1e-6, dtype=torch.float64, check_every=3, anderson=0, use_certificate=False)
    rec = solve_ntp_svm_large(mask, tol=1e-6, dtype=torch.float64,
                              tuning=LargeTuning(check_every=3, anderson=0, use_certificate=False))
    over = solve_ntp_svm_large(mask, tol=1e-6, dtype=torch.float64, tuning=LargeTuning(check_every=3, anderson=0),
                               use_certificate=False)
    for r in (rec, over):
        assert r.iterations == kw.iterations and r.method == kw.method
        np.testing.assert_array_equal(r.L, kw.L)
    with pytest.raises(TypeError, match="check_evry"):
        solve_ntp_svm_large(mask, check_evry=3)
