"""The Theory bundle: computed once per dataset, saved to one file and loaded back unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from ntpgeom._io import load_npz, save_npz
from ntpgeom.data import corpora, synthetic
from ntpgeom.errors import NTPGeomError
from ntpgeom.status import SolverStats, Status
from ntpgeom.theory import SVMResult, Theory, TheoryLike, compute_theory, load_theory
from ntpgeom.theory.bundle import FORMAT_NAME, FORMAT_VERSION

_ARRAYS = ("L_in", "S_tilde", "L_mm", "W_mm", "H_mm", "G_W", "G_H", "G_W_proxy", "G_H_proxy", "H_proxy", "contexts")


def _assert_same_theory(a: Theory, b: Theory) -> None:
    """Every field equal: arrays bit for bit, the solve (primal, dual, scalars, stats, info) included."""
    for name in _ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or np.array_equal(x, y), name
    fields = ("data_hash", "certificate", "dist_mm_tilde", "status", "stats", "tilde_optimal")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert dict(a.meta) == dict(b.meta) and a.summary() == b.summary()
    if a.svm is None:
        assert b.svm is None
        return
    assert isinstance(b.svm, SVMResult) and b.svm.L is b.L_mm
    assert np.array_equal(a.svm.L, b.svm.L) and np.array_equal(a.svm.dual, b.svm.dual)
    for f in ("nuclear_norm", "dual_value", "rank", "certificate_holds", "reduced_shape", "stats", "info"):
        assert getattr(a.svm, f) == getattr(b.svm, f), f


@pytest.mark.parametrize("case", ["fast", "tilde", "unsolved"])
def test_load_theory_returns_what_compute_theory_returned(tmp_path, case):
    if case == "fast":
        d = synthetic.random_supports(10, 40, (1, 4), seed=2)
        th = compute_theory(d, tol=1e-7)
        assert th.status is Status.OPTIMAL and th.svm.method == "fast"
    elif case == "tilde":
        d = synthetic.all_k_subsets(6, 2)
        th = compute_theory(d)
        assert th.status is Status.CERTIFIED_BY_PROP3
    else:
        d = synthetic.random_supports(8, 20, (1, 3), seed=1)
        th = compute_theory(d, solve=False)
        assert th.status is Status.SKIPPED and th.stats is None and th.svm_summary == {}
    back = load_theory(th.save(tmp_path / "th.npz"), data=d)
    _assert_same_theory(th, back)
    assert isinstance(th, TheoryLike) and isinstance(back, TheoryLike)


def test_a_theory_file_without_status_still_loads(tmp_path):
    """Files written before the status vocabulary (header ``svm`` without ``status``, no ``svm_info``) load, with
    the status derived from the gap."""
    d = synthetic.random_supports(10, 40, (1, 4), seed=2)
    th = compute_theory(d, tol=1e-7)
    header, arrays = load_npz(th.save(tmp_path / "new.npz"), FORMAT_NAME, FORMAT_VERSION, "theory", "")
    del header["svm"]["status"], header["svm_info"]
    back = load_theory(save_npz(tmp_path / "old.npz", header, arrays))
    assert back.status is Status.OPTIMAL and back.svm.stats == th.svm.stats and back.svm.info == {}
    header["svm"] = {}
    with pytest.raises(NTPGeomError, match="dual or solve record"):
        load_theory(save_npz(tmp_path / "bad.npz", header, arrays))


def test_solver_stats_round_trip():
    s = SolverStats(Status.USER_LIMIT, "fast", 10, 0.5, 1e-3, 1e-12, 1e-6, 2)
    assert SolverStats.from_dict(s.to_dict()) == s and s.to_dict()["status"] == "user_limit" and not s.converged


def test_compute_theory_roundtrip(tmp_path):
    d = corpora.stories()
    th = compute_theory(d)
    assert th.svm is not None and th.svm.converged and not th.certificate.holds
    assert th.L_mm.shape == (d.V, d.m) and np.allclose(th.W_mm @ th.H_mm, th.L_mm, atol=1e-8)
    assert th.dist_mm_tilde > 1e-3
    # contexts with identical supports get identical columns of L_mm (subspace collapse)
    g = d.support_groups
    j0, j1 = np.flatnonzero(g == g[np.bincount(g).argmax()])[:2]
    assert np.allclose(th.L_mm[:, j0], th.L_mm[:, j1])
    p = th.save(tmp_path / "th.npz")
    back = load_theory(p, data=d)
    assert back.data_hash == d.hash and np.array_equal(back.L_mm, th.L_mm) and np.array_equal(back.G_H, th.G_H)
    assert back.svm_summary["gap"] == th.svm.gap and back.certificate == th.certificate
    with pytest.raises(NTPGeomError):
        load_theory(p, data=synthetic.one_hot(3))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(NTPGeomError):
        load_theory(bad)


def test_compute_theory_certificate_shortcut_and_no_solve():
    d = synthetic.all_k_subsets(6, 3)
    th = compute_theory(d)
    assert th.certificate.holds and th.svm.method == "tilde" and np.allclose(th.L_mm, th.S_tilde)
    assert th.dist_mm_tilde == pytest.approx(0.0, abs=1e-12)
    th2 = compute_theory(d, solve=False)
    assert th2.svm is None and th2.L_mm is None and th2.G_W_proxy is not None
    with pytest.raises(NTPGeomError):
        compute_theory(d.S)
