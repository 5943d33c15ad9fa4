"""Snapshots that hold a subset of the contexts (``Snapshot.contexts``) are measured against the theory restricted to
those columns (ntpgeom.metrics.restrict), with hand-computed oracles: the π-weighted CE and ℋ over the subset, the
direction to the restricted L_mm / S̃ computed with numpy from the counts, the Gram of H against ``G_H[K, K]``."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.data import synthetic
from ntpgeom.metrics import MetricsError, reference, restrict, run_metrics, snapshot_metrics
from ntpgeom.metrics.distances import gram_distance
from ntpgeom.theory import compute_theory, grams
from ntpgeom.train import Snapshot


@pytest.fixture(scope="module")
def setup():
    data = synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0)
    th = compute_theory(data)
    rng = np.random.default_rng(1)
    W, H = rng.normal(size=(data.V, 7)), rng.normal(size=(7, data.m)) * 3
    K = np.sort(rng.choice(data.m, 30, replace=False))
    return data, th, W, H, K


def _hand(data, L, K):
    """CE and ℋ over the contexts K by hand: π renormalised over K, per-context cross-entropy of softmax(L_j)."""
    counts = np.asarray(data.dense_counts(), dtype=np.float64)[:, K]
    pi = counts.sum(axis=0) / counts.sum()
    P = counts / counts.sum(axis=0)
    logsm = L - L.max(axis=0) - np.log(np.exp(L - L.max(axis=0)).sum(axis=0))
    ce = float((pi * -(P * logsm).sum(axis=0)).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = float((pi * -np.where(P > 0, P * np.log(P), 0.0).sum(axis=0)).sum())
    return ce, ent


def _unit(A):
    return A / np.linalg.norm(A)


def test_subset_snapshot_matches_hand_computed_restriction(setup):
    data, th, W, H, K = setup
    snap = Snapshot(7, W, H[:, K], W @ H[:, K], np.zeros(data.V), False, K)
    row = snapshot_metrics(snap, th, data, n_perm=5)
    Lk = W @ H[:, K]
    Lc = Lk - Lk.mean(axis=0)
    ce, ent = _hand(data, Lk, K)
    assert row["ce"] == pytest.approx(ce, rel=1e-10)
    assert row["gap"] == pytest.approx(ce - ent, rel=1e-8, abs=1e-12)
    S = (np.asarray(data.dense_counts()) > 0).astype(float)[:, K]
    St = S - S.mean(axis=0)  # (I − 11ᵀ/V) S, column-wise
    assert row["dir_tilde"] == pytest.approx(np.linalg.norm(_unit(Lc) - _unit(St)), abs=1e-10)
    Lmm_K = np.asarray(th.L_mm)[:, K]
    assert row["dir_mm"] == pytest.approx(np.linalg.norm(_unit(Lc) - _unit(Lmm_K)), abs=1e-10)
    # Gram of the visible H on K against the *whole* theory's G_H restricted to K (not a factor of L_mm[:, K])
    GH_K = grams(th.L_mm)[1][np.ix_(K, K)]
    Wc = W - W.mean(axis=0)
    Vt = np.linalg.svd(Wc, full_matrices=False)[2]
    Hv = Vt[: np.linalg.matrix_rank(Wc)] @ H[:, K]
    assert row["gram_H_mm"] == pytest.approx(gram_distance(Hv.T @ Hv, GH_K), abs=1e-8)
    assert row["pred_is_path"] == 0.0  # no finite-norm path point on a subset


def test_column_wise_metrics_equal_full_code_on_subset_data(setup):
    """Without a theory, the column-wise columns equal the full-m code on the dataset of exactly those contexts."""
    data, _th, W, H, K = setup
    snap = {"step": 3, "W": W, "H": H[:, K], "L": W @ H[:, K], "contexts": K}
    got = snapshot_metrics(snap, None, data, n_perm=5)
    want = snapshot_metrics({"step": 3, "W": W, "H": H[:, K], "L": W @ H[:, K]}, None, data.select_contexts(K),
                            n_perm=5)
    for col in ("ce", "gap", "softlabel_err", "softlabel_rel", "dir_tilde", "dir_perp_tilde", "slr_resid", "norm_H"):
        assert got[col] == pytest.approx(want[col], rel=1e-10, abs=1e-12), col


def test_all_contexts_equal_the_full_measurement(setup):
    data, th, W, H, _K = setup
    full = snapshot_metrics((W, H), th, data, n_perm=5)
    same = snapshot_metrics(Snapshot(0, W, H, W @ H, np.zeros(data.V), False, np.arange(data.m)), th, data, n_perm=5)
    for col in ("ce", "gap", "dir_mm", "gram_H_mm", "gram_W_mm", "offp_H", "collapse_H"):
        assert same[col] == pytest.approx(full[col], rel=1e-12, abs=1e-14), col


def test_subset_is_never_compared_with_all_columns(setup):
    """A full-data reference passed in is restricted (no shape error); a snapshot whose contexts do not match its
    columns, or lie outside the data, is refused with a message."""
    data, th, W, H, K = setup
    ref = reference(th, data)
    snap = Snapshot(1, W, H[:, K], W @ H[:, K], np.zeros(data.V), False, K)
    row = snapshot_metrics(snap, th, data, ref=ref, n_perm=5)
    assert row["ce"] == pytest.approx(_hand(data, W @ H[:, K], K)[0], rel=1e-10)
    with pytest.raises(MetricsError, match="logits have shape"):
        snapshot_metrics(Snapshot(1, W, H[:, K[:-1]], W @ H[:, K[:-1]], np.zeros(data.V), False, K), th, data)
    with pytest.raises(MetricsError, match="outside"):
        snapshot_metrics({"L": W @ H[:, :2], "contexts": np.array([0, data.m])}, th, data)
    with pytest.raises(MetricsError, match="repeat"):
        restrict(th, data, np.array([1, 1]))


def test_restricted_data_renormalises_pi(setup):
    """The data restricted with the theory: π over the subset (the theory's restriction is tested in
    tests/theory/test_restrict.py)."""
    data, th, _W, _H, K = setup
    tk, dk = restrict(th, data, K)
    assert dk.m == len(K) and tk.data_hash == dk.hash and np.array_equal(tk.contexts, K)
    np.testing.assert_allclose(dk.pi, data.pi[K] / data.pi[K].sum())
    assert restrict(None, data, K)[0] is None


class _Run:
    def __init__(self, data, snaps):
        self.data, self._snaps, self.path = data, {s.step: s for s in snaps}, "fake"

    @property
    def steps(self):
        return sorted(self._snaps)

    def snapshot(self, step):
        return self._snaps[step]


def test_run_metrics_on_subset_snapshots(setup):
    data, th, W, H, K = setup
    snaps = [Snapshot(s, W * (1 + s), H[:, K], (1 + s) * W @ H[:, K], np.zeros(data.V), False, K) for s in (0, 5)]
    table = run_metrics(_Run(data, snaps), th, n_perm=5)
    assert table["ce"][1] == pytest.approx(_hand(data, 6 * W @ H[:, K], K)[0], rel=1e-10)
    assert np.all(table["pred_is_path"] == 0.0)


def test_prefix_subset_is_not_mistaken_for_all_contexts(setup):
    """Contexts 0..k-1 of m are a subset (no finite-norm path point, π renormalised), not the whole data."""
    data, th, W, H, _K = setup
    K = np.arange(20)
    snaps = [Snapshot(s, W, H[:, K], (1 + s) * W @ H[:, K], np.zeros(data.V), False, K) for s in (0, 3)]
    table = run_metrics(_Run(data, snaps), th, n_perm=5, finite_norm="all")
    assert np.all(table["pred_is_path"] == 0.0)
    assert table["ce"][1] == pytest.approx(_hand(data, 4 * W @ H[:, K], K)[0], rel=1e-10)
