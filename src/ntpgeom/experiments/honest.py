"""``honest_controls``: train the honest controls of one dataset by plain full-batch GD (:mod:`ntpgeom.train.plain`)
and judge them over their trajectories (:mod:`ntpgeom.verdicts.honest`, which describes them and the power table).
In the experiments layer because it trains (verdicts never import train)."""

from __future__ import annotations

from typing import Any

from ..data import NTPData
from ..theory import Theory
from ..train.plain import gd_free_logits, gd_ufm, relabel
from ..verdicts.honest import HonestControls, expected_outcomes, judge_controls
from ..verdicts.trajectory import probed_face

__all__ = ["honest_controls"]


def honest_controls(data: NTPData, theory: Theory, *, seed: int = 0, steps: int = 3000, B: int = 200,
                    alpha: float = 0.05, threads: int = 1, name: str = "", lr: float = 3.0,
                    snapshots: int = 6) -> HonestControls:
    """Train the GD UFM, GD free logits and the UFM on token-relabelled data (seed ``seed + 1``) on ``data`` (V x m)
    by plain GD (``steps`` steps, step size ``lr``, ``snapshots`` log-spaced snapshots, seeded by ``seed``) and judge
    each against ``theory`` (needs L_mm unless S̃ is optimal; then the optimal face is probed once) with B bootstrap
    replicates at level 1 − α, on ``threads`` BLAS threads."""
    exp = expected_outcomes(theory)
    kw: dict[str, Any] = dict(steps=steps, lr=lr, seed=seed, snapshot_steps=snapshots)
    face = None
    if exp["GD free logits"] == "pass":  # S̃ optimal: judged against the optimal face, probed once (cached)
        face = probed_face(data, theory.L_mm if theory.L_mm is not None else theory.S_tilde)
    trained = (("GD UFM", exp["GD UFM"], lambda: gd_ufm(data, threads=threads, **kw)),
               ("GD free logits", exp["GD free logits"], lambda: gd_free_logits(data, **kw)),
               ("relabelled UFM", exp["relabelled UFM"], lambda: gd_ufm(relabel(data, seed + 1), threads=threads, **kw)))
    return judge_controls(data, theory, trained, seed=seed, B=B, alpha=alpha, threads=threads, name=name, face=face,
                          steps=steps)
