"""The paper's experiments (docs/theory.md §6): ``ufm-synthetic`` (a), ``synthetic`` (b) and ``stories`` (c), each one
dataset and its training runs per budget, and the runs ``reproduce --text`` trains on a corpus of the user's.

Their runs are measured, judged on the paper's claims (with controls) and drawn by
:func:`ntpgeom.report.build_report`, so their records carry no ``measure`` of their own. The measurements behind every
step count and rate are in docs/experiments.md.
"""

from __future__ import annotations

from typing import Any

from ..data import corpora, synthetic
from .experiment import Experiment
from .jobs import RunSpec


def ufm_spec(steps: int, d: int | None = None, lr: float = 0.05, optimizer: str = "adam",
             tol: float | None = None) -> RunSpec:
    """A UFM run with the paper's small ridge (λ = 1e-5)."""
    kw: dict[str, Any] = {"optimizer": optimizer, "lr": lr, "steps": steps, "ridge": 1e-5}
    if tol is not None:
        kw["tol"] = tol
    if d is not None:
        kw["d"] = d
    return RunSpec("ufm", kw)


def deep_spec(model: str, steps: int, lr: float, **extra: Any) -> RunSpec:
    """A transformer (4 layers, no positional encoding) or LSTM (2 layers, RMS-normalised features) run, d = 128,
    AdamW with the paper's weight decay 1e-6."""
    kw: dict[str, Any] = {"d": 128, "optimizer": "adamw", "lr": lr, "weight_decay": 1e-6, "steps": steps}
    if model == "transformer":
        kw.update(layers=4, positional="none")
    else:
        kw.update(layers=2, lstm_norm=True)  # RMS-normalised features: the tanh-bounded H can then grow and align
    kw.update(extra)
    return RunSpec(model, kw)


# Experiment (a) trains with full-batch GD until CE − ℋ < tol, as in the paper; the other runs train for a fixed number
# of steps (stopping at a loss tolerance would freeze the direction early, while the geometry keeps converging long
# after the loss is flat: Adam reaches 1e-4 in ~75 steps on "synthetic"). The deep models use AdamW with the paper's
# weight decay (1e-6) and rates 10-30x the paper's 1e-4, so that minutes (not hours) of CPU reach the regime it
# describes. ``quick`` holds only the runs that train within seconds; the ``stories`` transformer and LSTM need
# minutes (docs/experiments.md).
UFM_SYNTHETIC = Experiment(
    "ufm-synthetic", "(a) the UFM on random supports (V = 10, m = 95, Dirichlet soft labels)",
    lambda quick: synthetic.random_supports(10, 95, (1, 5), probs="dirichlet", seed=0),
    {"default": (ufm_spec(40000, d=10, lr=2.0, optimizer="gd", tol=1e-4),),
     "quick": (ufm_spec(3000, d=10, lr=2.0, optimizer="gd", tol=1e-3),)})
SYNTHETIC = Experiment(
    "synthetic", "(b) the built-in 16-context corpus: UFM, transformer, LSTM", lambda quick: corpora.synthetic(),
    {"default": (ufm_spec(3000), deep_spec("transformer", 1000, 1e-3), deep_spec("lstm", 1500, 1e-3)),
     "quick": (ufm_spec(800), deep_spec("transformer", 200, 3e-3), deep_spec("lstm", 150, 3e-3))})
STORIES = Experiment(
    "stories", "(c) the built-in simplified stories: UFM, transformer, LSTM", lambda quick: corpora.stories(),
    {"default": (ufm_spec(3000), deep_spec("transformer", 1100, 1e-3),
                 deep_spec("lstm", 6000, 1e-3, schedule="step", step_size=3000, gamma=0.4)),
     "quick": (ufm_spec(500),)})

#: the paper's experiments, in the order ``reproduce`` runs them
EXPERIMENTS = (UFM_SYNTHETIC, SYNTHETIC, STORIES)

#: ``reproduce --text``: the stories recipe; with ``--quick`` a smoke run of all three models on the user's corpus
#: (the deep ones visibly under-trained)
TEXT_RUNS: dict[str, tuple[RunSpec, ...]] = {
    "default": STORIES.runs["default"],
    "quick": (ufm_spec(500), deep_spec("transformer", 40, 3e-3), deep_spec("lstm", 60, 3e-3)),
}

#: --text: solve NTP-SVM* exactly only up to this many entries V x m (otherwise the S̃ proxy stands in).
TEXT_SOLVE_MAX_ENTRIES = 1_000_000

#: Help text of ``ntpgeom reproduce --quick`` (what the quick budget includes, and why).
QUICK_HELP = ("Seconds instead of minutes (see benchmarks/bench_timings.py): experiment (a), the three 'synthetic' "
              "runs and the 'stories' UFM (seconds each), with the honest controls; the 'stories' transformer and "
              "LSTM need the default budget.")
