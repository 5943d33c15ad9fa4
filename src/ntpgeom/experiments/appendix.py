"""The paper's appendix experiments and its open question 2, as extra experiments of ``reproduce`` (built-in data,
offline). Each one: a dataset, training runs (:class:`~ntpgeom.report.jobs.RunSpec`, trained by the same job
machinery as the main experiments: reuse, resume and worker processes apply), a measurement
(:mod:`~ntpgeom.report.appendix_measure`), one figure (:mod:`~ntpgeom.report.appendix_figures`) and a small table.

``mlp`` (App. D.2)
    ``stories``: the UFM and a 4-layer MLP (d = 128). Per snapshot the *coarse* geometry (collapse index of Ḣ by
    support group over its random-grouping baseline, the C3 ratio) and the *fine* geometry (Pearson of corr(Ḣ) with
    L_mm's corr(H) over pairs of contexts with different supports). The paper: an MLP learns the coarse but not the
    fine geometry.
``optimizers`` (open question 2, docs/theory.md §7-8)
    ``synthetic``: the UFM (d = V, no ridge, one initialisation) trained by GD, normalised GD and Adam. Per snapshot
    the distance of the centred logits L_k to the certified path point L̂_B of their own nuclear norm
    B = ‖L_k‖_* (``ntpgeom.theory.path_points``), to L_mm, and the excess CE(L_k) − CE(L̂_B) ≥ 0.
``autoregressive`` (App. D.3)
    Character-level text made of the ``synthetic`` corpus's sentences (context + next word, once per count; one
    document each), contexts of every length 1..16 (the paper's range; quick: 1..4), one transformer trained on all
    lengths at once (the LM objective). Per length T: ℋ_T, CE_T − ℋ_T, and dir(P_⊥L_T, S̃_T) (S̃: the Frobenius
    max-margin proxy; NTP-SVM* is not solved for this V x m).
``bottleneck`` (App. D.4)
    ``synthetic`` (V = 30): the UFM at widths d = k ∈ {V, V/2, V/4, V/8, V/16}; the loss gap, the direction of P_⊥L
    against L_mm and against the best rank-≤k NTP-SVM* point the factored heuristic finds
    (``ntpgeom.theory.rank_constrained``), with rank(L_mm) marked.

Budgets (:data:`APPENDIX_RECIPES`). ``default``: ``reproduce -e appendix`` took 82 s of CPU on 1 thread (user time;
236 s wall on 2 cores shared at load ~7), seed 0:

* ``mlp``: 1000 steps each (Adam 0.05 with ridge 1e-5 for the UFM as in the main ``stories`` recipe; AdamW 1e-3 for
  the MLP). Both collapse by support group early (coarse ratio below the C3 threshold 0.069 within ~20 steps); the
  fine Pearson reaches 0.93 (UFM) but stays at 0.42 (MLP): coarse yes, fine no, as the paper says. 250 steps
  (``quick``) already show it (0.86 vs 0.40). The paper's MLP has 20 layers; 4 keep this minutes-cheap (a deeper
  plain GELU MLP trains more slowly per step and is not needed to show the effect).
* ``optimizers``: GD (lr 2.0, the rate of experiment (a)) and normalised GD (lr 0.1) 3000 steps, Adam (lr 0.05)
  1000 steps: the three reach overlapping nuclear norms (6 to ~230; Adam ~380) with CE − ℋ 2e-4 to 8e-4. The path
  points cost most (certified to relative gap 1e-3, at most 5000 iterations each, ~10 s in all).
* ``autoregressive``: lengths 1..16 give m = 4096 contexts (V = 23); a 2-layer transformer (d = 32) at AdamW 1e-2
  reached CE − ℋ 8.3e-3 in 200 steps (31 s CPU), against 7.3e-3 in 400 steps at 3e-3 (57 s) and 1.7e-2 with one
  layer at 1e-2 (14 s).
* ``bottleneck``: 2000 Adam steps per width (~2 s CPU each); the heuristic costs ~1 s per width below rank L_mm.

``quick`` (smoke size, ~20 s CPU): a quarter of the steps (a sixteenth for ``optimizers``), lengths 1..4, three
widths.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._io import write_json_atomic
from ..data import NTPData, corpora, from_text
from ..errors import ReproduceError
from .appendix_tables import MEASURES
from .jobs import Job, RunSpec
from .result import AppendixResult
from .style import output

#: The experiment names (``reproduce --experiment NAME``); ``appendix`` selects all of them.
NAMES = ("mlp", "optimizers", "autoregressive", "bottleneck")
ALL = "appendix"


def lm_text(data: NTPData) -> str:
    """A text made of a built-in corpus's sentences: each context followed by each of its next tokens, repeated
    by its count, one sentence per document (documents separated by blank lines)."""
    ctx, counts = data.context_strings(), data.dense_counts()
    docs = [f"{ctx[j]} {data.vocab[i]}" for j in range(data.m) for i in np.flatnonzero(counts[:, j])
            for _ in range(int(counts[i, j]))]
    return "\n\n".join(docs)


def autoregressive_data(max_len: int = 16) -> NTPData:
    """Character-level contexts of every length 1..``max_len`` from :func:`lm_text` of the ``synthetic`` corpus."""
    return from_text(lm_text(corpora.synthetic()), (1, int(max_len)), "char")


def _ufm(steps: int, name: str, optimizer: str = "adam", lr: float = 0.05, **kw: Any) -> RunSpec:
    return RunSpec("ufm", {"optimizer": optimizer, "lr": lr, "steps": steps, **kw}, name)


def _recipes(quick: bool) -> dict[str, list[RunSpec]]:
    q = 4 if quick else 1  # quick: a smoke size (the figures and tables, not the converged numbers)
    V = corpora.synthetic().V
    widths = sorted({V, *(max(1, -(-V // f)) for f in (2, 4, 8, 16))}, reverse=True)
    return {
        "mlp": [_ufm(1000 // q, "ufm", ridge=1e-5),
                RunSpec("mlp", {"d": 128, "layers": 4, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-6,
                                "steps": 1000 // q})],
        "optimizers": [_ufm(3000 // q ** 2, "gd", "gd", 2.0), _ufm(3000 // q ** 2, "ngd", "ngd", 0.1),
                       _ufm(1000 // q ** 2, "adam", "adam", 0.05)],  # quick: /16 (the path points cost most)
        "autoregressive": [RunSpec("transformer", {"d": 32, "layers": 2, "heads": 4, "optimizer": "adamw",
                                                   "lr": 1e-2, "steps": 200 // (q // 2 or 1)})],
        "bottleneck": [_ufm(2000 // q, f"ufm-d{k}", d=k) for k in (widths[:3] if quick else widths)],
    }


#: budget -> experiment -> runs (see the module docstring).
APPENDIX_RECIPES: dict[str, dict[str, list[RunSpec]]] = {"default": _recipes(False), "quick": _recipes(True)}

DATASETS: dict[str, Callable[[bool], NTPData]] = {
    "mlp": lambda quick: corpora.stories(),
    "optimizers": lambda quick: corpora.synthetic(),
    "autoregressive": lambda quick: autoregressive_data(4 if quick else 16),
    "bottleneck": lambda quick: corpora.synthetic(),
}


def split_experiments(experiments: Sequence[str] | None, appendix: bool, known: Sequence[str] | None = None
                      ) -> tuple[list[str] | None, list[str]]:
    """``(main experiments, appendix experiments)`` from ``--experiment`` names and ``--appendix``.

    Main: None (all of them) when no names were given, else the main names among them (possibly none). Appendix: all
    of :data:`NAMES` with ``appendix`` (or the name ``appendix``), else the appendix names given. With ``known`` (the
    main experiments' names), an unknown name raises :class:`ReproduceError` listing every choice.
    """
    names = list(experiments or [])
    unknown = [n for n in names if known is not None and n not in (*known, *NAMES, ALL)]
    if unknown:
        raise ReproduceError(f"unknown experiment(s) {unknown}; choose from {[*(known or []), *NAMES, ALL]}")
    chosen = [n for n in NAMES if appendix or ALL in names or n in names]
    main = [n for n in names if n not in NAMES and n != ALL]
    return (None if experiments is None or not names else main), chosen


def plan(names: Sequence[str], quick: bool) -> list[tuple[str, NTPData, list[RunSpec]]]:
    """The appendix experiments as a ``reproduce`` plan: ``(appendix/<name>, data, runs)`` each."""
    budget = "quick" if quick else "default"
    return [(f"appendix/{n}", DATASETS[n](quick), APPENDIX_RECIPES[budget][n]) for n in names]


def run_appendix(plan_: list[tuple[str, NTPData, list[RunSpec]]], jobs: Sequence[Job], out: Path,
                 theories: dict[str, Any], say: Callable[[str], None],
                 figs: tuple[int | None, bool] = (None, True)) -> list[AppendixResult]:
    """Measure, draw and tabulate every appendix experiment of ``plan_`` from its trained ``jobs``; the files go to
    ``OUT/appendix/<name>/`` (``<name>.png``/``.svg``, ``measurements.json``). ``theories`` (data hash -> Theory)
    is reused and filled."""
    from threadpoolctl import threadpool_limits

    from ..train import load_run

    results = []
    for exp, data, _specs in plan_:
        name = exp.split("/", 1)[1]
        t0 = time.perf_counter()
        say(f"[{exp}] measuring and drawing")
        runs = {j.path.name: load_run(j.path) for j in jobs if j.experiment == exp}
        with threadpool_limits(1), output(*figs):
            res = MEASURES[name](data, runs, _theory(exp, data, theories, out, name != "autoregressive"), out / exp)
        write_json_atomic(out / exp / "measurements.json", res.as_json(out / exp))
        say(f"[{exp}] {res.summary} ({time.perf_counter() - t0:.1f}s)")
        results.append(res)
    return results


def _theory(exp: str, data: NTPData, theories: dict[str, Any], out: Path, need: bool) -> Any:
    if not need:
        return None
    if data.hash not in theories:
        from ..theory import compute_theory

        theories[data.hash] = compute_theory(data)
        theories[data.hash].save(out / exp / "theory.npz")
    th = theories[data.hash]
    if th.L_mm is None:
        raise ReproduceError(f"{exp}: NTP-SVM* was not solved for its data; the experiment needs L_mm")
    return th
