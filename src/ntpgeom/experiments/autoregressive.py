"""App. D.3 (``reproduce -e autoregressive``): one transformer trained on every context length at once.

Character-level text made of the ``synthetic`` corpus's sentences (context + next word, once per count; one document
each), contexts of every length 1..16 (the paper's range; quick: 1..4). Per length T: ℋ_T, ``CE_T − ℋ_T`` (π
normalised within the length) and the direction distance of ``P_⊥(L)`` restricted to those contexts to the S̃ proxy
(NTP-SVM* is not solved for this V x m). Recipe, data, measurement, figure and table; lab notes in
docs/experiments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data import NTPData, corpora, from_text
from ..report.result import AppendixResult
from ..report.style import new_figure, save, styled
from ..theory import S_tilde, centre, direction_distance, proj_perp
from .common import Rows, col, plot_finite, quick_factor, snap_arrays
from .experiment import Experiment, Runs
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..theory import Theory
    from ..train import Run

NAME = "autoregressive"
TITLE = "D.3: autoregressive training over every context length"


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


def per_context_ce(L: np.ndarray, data: NTPData) -> np.ndarray:
    """``CE_j = −Σ_z P[z, j] log softmax(L[:, j])_z``, shape (m,)."""
    Z = L - L.max(axis=0, keepdims=True)
    logsm = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    P = data.P.tocoo()
    out = np.zeros(data.m)
    np.add.at(out, P.col, -P.data * logsm[P.row, P.col])
    return out


def by_length(run: Run, steps: Sequence[int] | None = None) -> list[dict[str, float]]:
    """Rows ``step, T, contexts, H_T, gap_T, dir_perp_tilde`` for every snapshot step in ``steps`` (default: the
    last) and every context length T of the run's data (which must have ``context_lengths``)."""
    data = run.data
    if data.context_lengths is None:
        raise ValueError("by_length needs data with several context lengths (context_len=(lo, hi))")
    lengths = np.asarray(data.context_lengths)
    H_T = data.entropy_by_length()
    St = S_tilde(data)
    rows = []
    for step in steps if steps is not None else run.steps[-1:]:
        L = snap_arrays(run.snapshot(step))[2]
        ce, perp = per_context_ce(L, data), proj_perp(centre(L), data)
        for T in sorted(H_T):
            sel = lengths == T
            w = data.pi[sel] / data.pi[sel].sum()
            d = direction_distance(perp[:, sel], St[:, sel]) if np.any(St[:, sel]) else float("nan")
            rows.append({"step": int(step), "T": int(T), "contexts": int(sel.sum()), "H_T": H_T[T],
                         "gap_T": float(w @ ce[sel]) - H_T[T], "dir_perp_tilde": d})
    return rows


def _log_steps(steps: list[int], k: int = 4) -> list[int]:
    pos = [s for s in steps if s > 0]
    if len(pos) <= k:
        return pos or steps[-1:]
    targets = np.geomspace(pos[0], pos[-1], k)
    return sorted({min(pos, key=lambda s: abs(np.log(s) - np.log(t))) for t in targets})


def fig_by_length(rows: Rows, path: str | Path) -> Path:
    """D.3: ℋ_T and CE_T, CE_T − ℋ_T at several snapshots, and the per-length geometry, against the length T."""
    steps = sorted({int(r["step"]) for r in rows})
    last = [r for r in rows if int(r["step"]) == steps[-1]]
    T = col(last, "T")
    with styled():
        fig = new_figure(12.0, 3.5)
        axes = fig.subplots(1, 3)
        axes[0].plot(T, col(last, "H_T"), "o-", color="#000000", label="ℋ_T (entropy bound)")
        axes[0].plot(T, col(last, "H_T") + col(last, "gap_T"), "s--", color="#D55E00",
                     label=f"CE_T (step {steps[-1]})")
        axes[0].set_ylabel("nats")
        axes[0].set_title("Entropy bound and loss per length")
        for i, s in enumerate(steps):
            sub = [r for r in rows if int(r["step"]) == s]
            shade = 0.25 + 0.75 * (i + 1) / len(steps)
            plot_finite(axes[1], col(sub, "T"), col(sub, "gap_T"), True, color="#D55E00", alpha=shade, marker=".",
                  label=f"step {s}")
        axes[1].set_yscale("log")
        axes[1].set_ylabel("CE_T − ℋ_T  (nats)")
        axes[1].set_title("Loss gap per length over training")
        plot_finite(axes[2], T, col(last, "dir_perp_tilde"), color="#0072B2", marker="o", label=f"step {steps[-1]}")
        axes[2].set_ylabel("dir(P_⊥L_T, S̃_T)  (contexts of length T)")
        axes[2].set_title("Geometry per length: P_⊥(L) vs the S̃ proxy")
        for ax in axes:
            ax.set_xlabel("context length T")
            ax.set_xticks(T[:: max(1, len(T) // 8)])
            ax.legend(loc="best")
        return save(fig, path)


def measure(data: NTPData, runs: Runs, theory: Theory | None, folder: Path) -> AppendixResult:
    run = next(iter(runs.values()))
    rows = by_length(run, _log_steps(run.steps))
    fig = fig_by_length(rows, folder / "autoregressive.png")
    last = [r for r in rows if r["step"] == rows[-1]["step"]]
    loop = {int(k): float(v) for k, v in (run.config.get("gap_by_length") or {}).items()}
    table = [{**r, "gap_T_loop": loop.get(r["T"])} for r in last]
    g = [r["gap_T"] for r in last]
    said = (f"ℋ_T {last[0]['H_T']:.3f} (T = {last[0]['T']}) → {last[-1]['H_T']:.3f} (T = {last[-1]['T']}); "
            f"CE_T − ℋ_T after {last[0]['step']} steps from {min(g):.3g} (T = {last[int(np.argmin(g))]['T']}) to "
            f"{max(g):.3g} (T = {last[int(np.argmax(g))]['T']})")
    caption = (f"App. D.3, autoregressive: character-level contexts of every length 1..{last[-1]['T']} from the "
               "'synthetic' corpus's sentences, one transformer trained on all lengths at once (the LM objective). "
               "Left: the entropy bound ℋ_T (π normalised within each length) and CE_T; middle: CE_T − ℋ_T at "
               "log-spaced steps; right: the direction distance of P_⊥(L) on the contexts of length T to the S̃ "
               "proxy (NTP-SVM* is not solved at this size). The paper trains on every prefix length at once and "
               f"reads the geometry per length. Measured: {said}.")
    cols = (("T", "T"), ("contexts", "contexts"), ("H_T", "ℋ_T"), ("gap_T", "CE_T − ℋ_T"),
            ("gap_T_loop", "CE_T − ℋ_T (training loop)"), ("dir_perp_tilde", "dir(P⊥L_T, S̃_T)"))
    numbers = {"steps": last[0]["step"], "H_T": {r["T"]: r["H_T"] for r in last},
               "gap_T": {r["T"]: r["gap_T"] for r in last}, "dir_perp_tilde": {r["T"]: r["dir_perp_tilde"] for r in last}}
    return AppendixResult(NAME, TITLE, caption, fig,
                          cols, table, numbers, {"transformer": rows}, said)


def recipes(quick: bool) -> tuple[RunSpec, ...]:
    """A 2-layer transformer (d = 32, 4 heads) at AdamW 1e-2 for 200 steps (quick: 100)."""
    q = quick_factor(quick)
    return (RunSpec("transformer", {"d": 32, "layers": 2, "heads": 4, "optimizer": "adamw", "lr": 1e-2,
                                    "steps": 200 // (q // 2 or 1)}),)


EXPERIMENT = Experiment(NAME, TITLE,
                        lambda quick: autoregressive_data(4 if quick else 16),
                        {"default": recipes(False), "quick": recipes(True)}, measure, needs_L_mm=False, appendix=True)
