"""``ntpgeom probe --from DIR``: measure a saved probe again without the model, e.g. against an L_mm solved on another
machine from the probe's ``data.npz``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..data import NTPData
from ..theory import SupportPattern, Theory, support_pattern
from .layers import LayerResult, representation_metrics
from .measure import measure_subset
from .reference import given_theory, probe_theory
from .run import ProbeResult, load_probe, probe_versions


def remeasure(
    probe_dir: str | Path,
    theory: str | Path | Theory | None = None,
    *,
    solve: bool | str = "auto",
    max_reduced: int = 40_000,
    solve_budget: float | None = None,
    n_perm: int | None = None,
    seed: int | None = None,
    stage: Callable[[str], None] | None = None,
    pattern: SupportPattern | None = None,
) -> ProbeResult:
    """Measure a saved probe again (``ntpgeom probe --from DIR``) without the model: the arrays of ``DIR/probe.npz``
    against ``theory`` (a file checked by data hash, e.g. L_mm solved on another machine from ``DIR/data.npz``), or a
    theory computed here (``solve``, ``max_reduced``, ``solve_budget`` as in :func:`probe`). ``n_perm``/``seed``
    default to the saved probe's; ``pattern``: ``support_pattern`` of ``DIR/data.npz`` if computed already (its
    reduced SVD of S̃ is reused)."""
    say = stage or (lambda _s: None)
    src = Path(probe_dir)
    saved = load_probe(src)
    data, idx = saved.source_data, np.arange(saved.source_data.m) if saved.idx is None else saved.idx
    cfg = dict(saved.info["config"])
    n_perm = int(cfg.get("n_perm", 20) if n_perm is None else n_perm)
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    t0 = time.perf_counter()
    pattern = pattern if pattern is not None and pattern.shape == (data.V, data.m) else support_pattern(data)
    if theory is not None:
        th, why = given_theory(theory, data), f"read from {theory if isinstance(theory, (str, Path)) else 'the given Theory'}"
    else:
        say("theory")
        th, why = probe_theory(data, solve=solve, max_reduced=max_reduced, solve_budget=solve_budget, pattern=pattern)
    t_theory = time.perf_counter() - t0
    say("measuring")
    t1 = time.perf_counter()
    f64 = {k: None if v is None else np.asarray(v, dtype=np.float64) for k, v in (
        ("H", saved.H), ("W", saved.W), ("L", saved.L), ("lse", saved.lse), ("b", saved.b), ("H_mean", saved.H_mean),
        ("H_gram", saved.H_gram))}
    sub, sub_theory, metrics = measure_subset(data, idx, f64["W"], f64["H"], f64["L"], f64["lse"], f64["b"], th, why,
                                              H_mean=f64["H_mean"], H_gram=f64["H_gram"], n_perm=n_perm, seed=seed,
                                              pattern=pattern)
    cfg.update(solve=solve, max_reduced=max_reduced, solve_budget=solve_budget, n_perm=n_perm, seed=seed,
               remeasured_from=str(src))
    info = {"model": saved.info["model"], "config": cfg, "wh_check": saved.info["wh_check"],
            "versions": probe_versions(), "theory_file": str(theory) if isinstance(theory, (str, Path)) else None,
            "timings": {**(saved.info["timings"] or {}), "theory_s": t_theory, "measure_s": time.perf_counter() - t1},
            "baseline": saved.info.get("baseline"), "fixed_features": saved.info.get("fixed_features")}
    return ProbeResult(sub, f64["H"], f64["W"], f64["L"], f64["lse"], f64["b"], metrics, sub_theory, info,
                       source=data, idx=idx, source_theory=th, H_mean=f64["H_mean"], H_gram=f64["H_gram"],
                       layers=kept_layers(saved.layers, sub, f64["W"], metrics))


def kept_layers(layers: Sequence[LayerResult], sub: NTPData, W: np.ndarray, metrics: dict[str, Any]
                ) -> tuple[LayerResult, ...]:
    """The saved probe's layers, its last one (the LM head's input) re-measured: ``metrics`` plus
    ``layer_metrics`` of its H. The earlier layers are kept as saved (their H, and their logit-lens metrics against
    the saved probe's theory: the lens needs the model's final norm, which ``--from`` does not load).

    Parameters
    ----------
    layers : sequence of LayerResult
        ``load_probe(DIR).layers`` (by depth; () for a folder written before layers existed).
    sub : NTPData
        The measured data.
    W : ndarray, shape (V, d)
        The unembedding rows.
    metrics : dict
        The last layer's new measurements.

    Returns
    -------
    tuple of LayerResult
    """
    if not layers:
        return ()
    last = layers[-1]
    rep = representation_metrics(np.asarray(last.H, dtype=np.float64), sub, W)
    return (*layers[:-1], LayerResult(last.index, last.H, {**metrics, **rep}))
