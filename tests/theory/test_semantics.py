"""orthant_clusters, cluster_purity and learning_times against planted structure and hand-built trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom.errors import ShapeError, ValidationError
from ntpgeom.theory import S_tilde, cluster_purity, learning_times, orthant_clusters, tilde_directions


def _two_topics(seed: int = 0) -> np.ndarray:
    """Tokens 0-4 follow 'topic A' contexts only, tokens 5-9 'topic B' contexts only (random supports inside)."""
    rng = np.random.default_rng(seed)
    M = np.zeros((10, 16), dtype=bool)
    for j in range(16):
        base = 0 if j < 8 else 5
        M[base + rng.choice(5, size=rng.integers(2, 4), replace=False), j] = True
    return M


def test_first_direction_separates_topics():
    M = _two_topics()
    oc = orthant_clusters(M, 1)
    topics = np.r_[np.zeros(5), np.ones(5)]
    assert cluster_purity(oc.token_labels, topics) == 1.0 and len(oc.token_patterns) == 2
    assert cluster_purity(oc.context_labels, np.r_[np.zeros(8), np.ones(8)]) == 1.0
    assert cluster_purity(orthant_clusters(M, 3).token_labels, topics) == 1.0  # refinements stay pure


def test_signs_and_factorisation():
    M = _two_topics(1)
    dirs = tilde_directions(M, 4)
    St = S_tilde(M)
    U, s, Vt = np.linalg.svd(St)
    assert np.allclose(dirs.sigma, s[:4])
    for i in range(4):
        u = dirs.U[:, i]
        assert u[np.argmax(np.abs(u))] > 0  # largest-magnitude entry positive
        assert dirs.U[:, i] @ St @ dirs.Vc[:, i] == pytest.approx(s[i])  # u, v a consistent pair
    same = tilde_directions(St, 4)  # S̃ given directly: the same vectors
    assert np.allclose(same.U, dirs.U, atol=1e-10) and np.allclose(same.Vc, dirs.Vc, atol=1e-10)


def test_relabelling_moves_labels():
    M = _two_topics(2)
    p = np.random.default_rng(0).permutation(10)
    a, b = orthant_clusters(M, 2), orthant_clusters(M[p], 2)
    # the same partition of tokens (ids may be renumbered)
    assert cluster_purity(b.token_labels, a.token_labels[p]) == 1.0
    assert cluster_purity(a.token_labels[p], b.token_labels) == 1.0


def test_cluster_purity_values():
    assert cluster_purity([0, 0, 1, 1], ["a", "a", "b", "c"]) == 0.75
    assert cluster_purity([0, 0, 0, 0], [1, 1, 2, 3]) == 0.5
    with pytest.raises(ShapeError):
        cluster_purity([0, 1], [0])


def test_learning_times_order():
    """L_t = Σ_i (1 − e^{−σ_i t}) σ_i u_i v_iᵀ: larger σ_i reach half their final value first."""
    M = _two_topics(3)
    U, s, Vt = np.linalg.svd(S_tilde(M))
    k = 5
    steps = np.geomspace(0.01, 100, 400)
    traj = [(t, (U[:, :k] * ((1 - np.exp(-s[:k] * t)) * s[:k])) @ Vt[:k]) for t in steps]
    lt = learning_times(traj, M, k)
    half = np.log(2) / s[:k]
    assert np.all(np.abs(lt.steps - half) <= half * 0.03)
    assert lt.spearman == pytest.approx(-1.0) and lt.projections.shape == (400, k)
    Wf = [(t, (L, np.eye(L.shape[1]))) for t, L in traj]  # factors (W, H) give the same times
    assert np.array_equal(learning_times(Wf, M, k).steps, lt.steps)


def test_learning_times_errors():
    M = _two_topics()
    L = S_tilde(M)
    with pytest.raises(ValidationError):
        learning_times([(2, L), (1, L)], M, 2)
    with pytest.raises(ShapeError):
        learning_times([(1, L[:, :3])], M, 2)
    with pytest.raises(ValidationError):
        orthant_clusters(M, 0)
    lt = learning_times([(1, -L), (2, -L)], M, 2)  # projections never positive: not learned
    assert np.all(np.isnan(lt.steps)) and np.isnan(lt.spearman)


def test_k_up_to_the_reduced_rank():
    """With repeated supports the reduced pattern has fewer directions than min(V, m); k may reach that number."""
    M = np.repeat(_two_topics(4), 3, axis=1)  # every support three times
    n = min(np.unique(M, axis=1).shape[1], np.unique(M, axis=0).shape[0])
    oc = orthant_clusters(M, n)
    assert oc.directions.U.shape == (10, n) and oc.context_labels.shape == (48,)
    with pytest.raises(ValidationError):
        orthant_clusters(M, n + 1)
