"""The optimal face of NTP-SVM*: the 5-cycle (non-unique, theory.md §8), unique patterns (Prop. 3: one-hot, all
k-subsets), and face_distance against a brute-force search over the hull."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntpgeom.data import corpora, synthetic
from ntpgeom.theory import S_tilde, SolverError, direction_distance, max_violation, solve_ntp_svm
from ntpgeom.status import SolverStats, Status
from ntpgeom.theory.face import Face, face_distance, optimal_face


def _cycle() -> np.ndarray:
    M = np.zeros((5, 5), dtype=bool)
    for j in range(5):
        M[j, j] = M[(j + 1) % 5, j] = True
    return M


def _nuc(L) -> float:
    return float(np.linalg.svd(np.asarray(L), compute_uv=False).sum())


def _face(members: list[np.ndarray]) -> Face:
    arr = np.stack(members)
    stats = SolverStats(Status.OPTIMAL, "cvxpy", 0, 0.0, float("nan"), 0.0, 1e-3, 0)
    return Face(arr, float("nan"), None, float("nan"), "probed", 1.0, 1e-3, 0.05, 0.0, arr.shape[1:], 0.0, stats)


# ------------------------------------------------------------------------------------------------ cvxpy probes
def test_five_cycle_face_is_not_a_point_and_contains_S_tilde():
    pytest.importorskip("cvxpy")
    M = _cycle()
    svm = solve_ntp_svm(M)
    face = optimal_face(M, svm)
    assert face.detail == "probed" and face.status is Status.OPTIMAL
    assert face.opt == pytest.approx(2 * np.sqrt(5), rel=1e-6)  # theory.md §8: ‖·‖_* = 2√5 on the face
    assert face.is_point is False
    assert face.diameter > 0.25 and face.diameter_fine > 0.25  # does not shrink with the slack
    for L in face.members:
        assert max_violation(L, M) <= 1e-7
        assert np.abs(L.sum(axis=0)).max() <= 1e-8
        assert _nuc(L) <= face.opt * (1 + face.tol) * (1 + 1e-5)
    St = S_tilde(M)
    assert _nuc(St) <= face.opt * (1 + face.tol)  # S̃ is optimal here
    d_tilde = face_distance(face, St)
    assert d_tilde < 0.6 * direction_distance(St, svm.L)  # the face reaches nearer S̃ than the solver's answer
    assert d_tilde < 0.25 * face.diameter
    assert face_distance(face, svm.L) <= 1e-9


@pytest.mark.parametrize("data", [synthetic.one_hot(4, 2), synthetic.all_k_subsets(5, 2)], ids=["one_hot", "k_subsets"])
def test_unique_patterns_give_a_point(data):
    pytest.importorskip("cvxpy")
    svm = solve_ntp_svm(data)
    face = optimal_face(data, svm)
    assert face.detail == "probed" and face.status is Status.OPTIMAL
    assert face.is_point is True
    assert face.diameter <= face.resolution
    assert face.members.shape == (9, data.V, data.m)
    assert face_distance(face, S_tilde(data)) <= face.resolution  # Prop. 3: S̃ is the unique optimum


@pytest.mark.slow
def test_synthetic_face_shrinks_with_the_slack():
    pytest.importorskip("cvxpy")
    data = corpora.synthetic()
    face = optimal_face(data, solve_ntp_svm(data))
    assert face.diameter > face.resolution  # quadratic growth: wide at tol = 1e-3 ...
    assert face.diameter_fine <= 0.5 * face.diameter  # ... but shrinking: a unique optimum
    assert face.is_point is True


def test_same_seed_same_face():
    pytest.importorskip("cvxpy")
    M = _cycle()
    svm = solve_ntp_svm(M)
    a = optimal_face(M, svm, n_directions=1, seed=3)
    b = optimal_face(M, svm, n_directions=1, seed=3)
    np.testing.assert_array_equal(a.members, b.members)


def test_suboptimal_L_mm_is_rejected():
    pytest.importorskip("cvxpy")
    data = synthetic.one_hot(4, 1)
    with pytest.raises(SolverError, match="not optimal"):
        optimal_face(data, 2.0 * S_tilde(data))  # feasible (margin 2), twice the optimal norm


# -------------------------------------------------------------------------------------------- without probing
def test_large_patterns_are_reported_not_probed():
    data = corpora.synthetic()
    svm = solve_ntp_svm(data)
    face = optimal_face(data, svm, max_entries=10)
    assert face.detail.startswith("not probed") and not face.probed and face.status is Status.SKIPPED
    assert face.is_point is None and np.isnan(face.diameter)
    assert face.members.shape == (1, data.V, data.m)
    St = S_tilde(data)
    assert face_distance(face, St) == pytest.approx(direction_distance(St, svm.L), abs=1e-9)


def test_invalid_inputs_are_rejected():
    M = _cycle()
    with pytest.raises(SolverError, match="violates"):
        optimal_face(M, np.zeros((5, 5)))
    with pytest.raises(SolverError, match="shape"):
        optimal_face(M, np.zeros((4, 5)))
    with pytest.raises(SolverError, match="tol"):
        optimal_face(M, S_tilde(M), tol=0.0)
    with pytest.raises(SolverError, match="n_directions"):
        optimal_face(M, S_tilde(M), n_directions=0)
    with pytest.raises(SolverError, match="shape"):
        face_distance(_face([S_tilde(M)]), np.ones((3, 3)))


# ------------------------------------------------------------------------ face_distance: oracle = brute force
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_face_distance_matches_a_brute_force_search_over_the_segment(seed):
    rng = np.random.default_rng(seed)
    A, B, L = (rng.normal(size=(4, 3)) for _ in range(3))
    A, B, L = (X - X.mean(axis=0) for X in (A, B, L))
    got = face_distance(_face([A, B]), L)
    ts = np.linspace(0.0, 1.0, 20001)[:, None, None]
    X = (1 - ts) * A + ts * B
    X = X / np.linalg.norm(X, axis=(1, 2), keepdims=True)
    brute = float(np.linalg.norm(X - L / np.linalg.norm(L), axis=(1, 2)).min())
    assert got <= brute + 1e-9
    assert got >= brute - 1e-3


def test_face_distance_is_zero_inside_and_shift_invariant():
    rng = np.random.default_rng(1)
    A, B, Cm = (rng.normal(size=(5, 4)) for _ in range(3))
    A, B, Cm = (X - X.mean(axis=0) for X in (A, B, Cm))
    face = _face([A, B, Cm])
    inside = 0.2 * A + 0.5 * B + 0.3 * Cm
    assert face_distance(face, 3.0 * inside + rng.normal(size=(1, 4))) <= 1e-6
    assert np.isnan(face_distance(face, np.ones((5, 4))))  # centred to zero: no direction
