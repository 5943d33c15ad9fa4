"""``ntpgeom.assess`` checks its arrays at the boundary (issue 24, medium): NaN/inf in W, H, L or b is one MetricsError
naming the array and the entry (was ``LinAlgError: SVD did not converge``); mismatched shapes are one ShapeError (was
a raw NumPy error); huge-but-finite arrays are scaled, not refused, and keep every direction; a theory of another
dataset is refused by its hash before anything is computed from it."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom.errors import MetricsError, ShapeError


@pytest.fixture(scope="module")
def case():
    data = g.corpora.synthetic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        th = g.compute_theory(data)
    rng = np.random.default_rng(0)
    return data, th, rng.standard_normal((data.V, 4)), rng.standard_normal((4, data.m))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["W", "H", "L", "b"])
def test_non_finite_entries_are_one_metrics_error(case, bad, which):
    data, th, W, H = case
    arrays = {"W": W.copy(), "H": H.copy(), "L": None, "b": np.zeros(data.V)}
    if which == "L":
        arrays = {"L": W @ H}
    arrays[which][(0,) * arrays[which].ndim] = bad
    with pytest.raises(MetricsError, match=rf"^{which} has 1 non-finite entries"):
        g.assess(data, th, **arrays, n_perm=2, face=None, finite_norm=False)


def test_non_finite_first_and_snapshot_are_named(case):
    data, th, W, H = case
    Wn = W.copy()
    Wn[1, 1] = np.nan
    with pytest.raises(MetricsError, match="first: W"):
        g.assess(data, th, W=W, H=H, first=(Wn, H), n_perm=2, face=None, finite_norm=False)
    with pytest.raises(MetricsError, match="snapshot 1: W"):
        g.assess(data, th, snapshots=[{"step": 1, "W": W, "H": H}, {"step": 2, "W": Wn, "H": H}], n_perm=2, face=None, finite_norm=False)


@pytest.mark.parametrize("kw,msg", [
    (lambda W, H: {"W": W, "H": H[:3]}, "do not multiply"),
    (lambda W, H: {"W": W[:5], "H": H}, "one row per token"),
    (lambda W, H: {"W": W, "H": H[:, :3]}, "one column per context"),
    (lambda W, H: {"L": (W @ H)[:, :3]}, "the data's logits"),
    (lambda W, H: {"W": W, "H": H, "b": np.zeros(3)}, "one entry per token"),
    (lambda W, H: {"W": W[0], "H": H}, "must be 2-D"),
])
def test_mismatched_shapes_are_one_shape_error(case, kw, msg):
    data, th, W, H = case
    with pytest.raises(ShapeError, match=msg):
        g.assess(data, th, **kw(W, H), n_perm=2, face=None, finite_norm=False)


@pytest.mark.parametrize("scale", [2.0 ** 700, 2.0 ** 1000])
def test_huge_finite_arrays_are_scaled_and_keep_their_directions(case, scale):
    data, th, W, H = case
    ref = g.assess(data, th, W=W, H=H, n_perm=2, face=None, finite_norm=False)
    big = g.assess(data, th, W=W * scale, H=H, n_perm=2, face=None, finite_norm=False)  # W H overflows without scaling
    for name in ("dist_mm", "dist_tilde", "dist_perp_mm", "dist_perp_tilde"):
        assert math.isfinite(getattr(big, name))
        assert getattr(big, name) == pytest.approx(getattr(ref, name), abs=1e-9)
    assert {v.claim: v.status for v in big.verdicts if v.claim in ("C1", "C2", "C4")} == \
        {v.claim: v.status for v in ref.verdicts if v.claim in ("C1", "C2", "C4")}
    assert any("scaled by 2^-" in n for n in big.notes)
    assert not any("scaled by 2^-" in n for n in ref.notes)


def test_theory_of_another_dataset_is_refused_first(case):
    data, th, W, H = case
    other = g.data.synthetic.random_supports(6, 5, (1, 3), seed=3)
    with pytest.raises(MetricsError, match="computed for dataset"):
        g.assess(other, th, W=np.ones((6, 2)), H=np.ones((2, 5)), n_perm=2, face=None, finite_norm=False)
