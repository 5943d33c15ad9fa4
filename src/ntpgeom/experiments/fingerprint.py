"""Which implicit bias does each optimiser follow? (``reproduce -e fingerprint``; issue 23, docs/experiments.md)

On ``synthetic``, free logits ``L`` and the UFM ``L = W H`` (d = V, N(0, 0.1²) initialisation, no ridge) trained
full-batch on the π-weighted cross-entropy by GD, normalised GD, sign descent, Adam and Muon
(:mod:`ntpgeom.train.optim`; in-process, float64, one seed), each trajectory judged against every max-margin prediction by
:func:`ntpgeom.metrics.fingerprint.fingerprint` (nuclear, Frobenius, max-norm, spectral; the token-centred max-norm
solution is S̃, so Frobenius and max-norm merge as ``fro=max``). The theory expects GD on free logits → fro (S̃),
GD on the UFM → nuclear (L_mm), Muon → spectral; sign descent / Adam → max-norm on free logits (which, centred, is
S̃ again). Figure: distance to each prediction over steps, one panel per model and optimiser; table: the decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data import NTPData, corpora
from ..metrics.fingerprint import Fingerprint, bias_predictions, fingerprint
from ..report.result import AppendixResult
from ..report.style import EXTRA_COLORS, new_figure, save, styled
from ..train.optim import make_optimizer
from ..train.plain import snapshot_schedule
from .experiment import Experiment, Runs

if TYPE_CHECKING:
    from ..theory import Theory

NAME = "fingerprint"
TITLE = "Which implicit bias? Optimisers against the max-margin predictions of four norms"

#: (model, optimiser) -> learning rate; GD on free logits takes lr / π_max (the step of ``train.plain``)
#: (lr sensitivity, measured: Muon on free logits approaches spectral at lr 0.01 but fro=max at 0.05; sign descent on
#: the UFM saturates the float64 softmax, gradients exactly 0, at lr 0.01)
RECIPE: dict[tuple[str, str], float] = {
    ("free", "gd"): 2.0, ("free", "ngd"): 0.5, ("free", "sign"): 0.05, ("free", "adam"): 0.05, ("free", "muon"): 0.01,
    ("ufm", "gd"): 0.5, ("ufm", "ngd"): 0.1, ("ufm", "sign"): 0.002, ("ufm", "adam"): 0.005, ("ufm", "muon"): 0.01}
#: steps of every trajectory and bootstrap replicates per budget (the experiment trains in-process: ``runs`` is empty,
#: and the budget travels in the data's metadata, ``meta["fingerprint_budget"]``, which the data hash ignores)
BUDGET = {"default": (1500, 100), "quick": (300, 30)}
STEPS, BOOT = BUDGET["default"]

#: the figure's rows and the table's model names
MODELS = ("free", "free-raw", "ufm")
MODEL_NAMES = {"free": "free logits", "free-raw": "free logits, raw", "ufm": "UFM"}
PRED_COLORS = {"nuclear": "#0072B2", "fro=max": "#D55E00", "fro": "#D55E00", "max": "#E69F00", "spectral": "#009E73",
               "fixed": "#CC79A7"}


def train_trajectory(data: NTPData, model: str, optimizer: str, lr: float, steps: int, *, seed: int = 0,
                     init_scale: float = 0.1, snapshots: int = 7) -> list[tuple[int, np.ndarray]]:
    """``(step, L)`` snapshots (log-spaced, :func:`ntpgeom.train.plain.snapshot_schedule`) of free logits
    (``model="free"``, L ~ N(0, init_scale²)) or the UFM (``"ufm"``: W (V x V), H (V x m) ~ N(0, init_scale²)) trained
    full-batch by ``optimizer`` (:func:`ntpgeom.train.optim.make_optimizer`, no weight decay, no momentum) in
    float64. GD on free logits uses the step ``lr / π_max``."""
    P = torch.tensor(data.P.toarray(), dtype=torch.float64)
    pi = torch.tensor(np.asarray(data.pi, dtype=np.float64))
    gen = torch.Generator().manual_seed(seed)
    V, m = data.V, data.m
    shapes = [(V, m)] if model == "free" else [(V, V), (V, m)]
    params = [torch.nn.Parameter(init_scale * torch.randn(*s, generator=gen, dtype=torch.float64)) for s in shapes]
    step_lr = lr / float(pi.max()) if (model, optimizer) == ("free", "gd") else lr
    opt = make_optimizer(optimizer, params, step_lr, 0.0, 0.0, (0.9, 0.999), 1e-8)
    want, out = set(snapshot_schedule(steps, snapshots)) | {0}, []
    for t in range(steps + 1):
        L = params[0] if model == "free" else params[0] @ params[1]
        if t in want:
            out.append((t, L.detach().numpy().copy()))
        if t == steps:
            break
        opt.zero_grad()
        loss = -(pi * (P * torch.log_softmax(L, dim=0)).sum(dim=0)).sum()
        loss.backward()
        opt.step()
    return out


def fingerprints(data: NTPData, steps: int = STEPS, B: int = BOOT,
                 recipe: dict[tuple[str, str], float] | None = None) -> dict[str, Fingerprint]:
    """The fingerprint of every recipe (default :data:`RECIPE`) on the token-centred logits, by label
    ``"<model> <optimiser>"``, and for free logits also on the raw logits (``centre=False``: the view that tells
    ``fro`` from ``max``), by label ``"free-raw <optimiser>"``."""
    preds, out = bias_predictions(data), {}
    for (mo, op), lr in (recipe or RECIPE).items():
        traj = train_trajectory(data, mo, op, lr, steps)
        out[f"{mo} {op}"] = fingerprint(data, traj, preds, B=B)
        if mo == "free":
            out[f"free-raw {op}"] = fingerprint(data, traj, preds, B=B, centre=False)
    return dict(sorted(out.items(), key=lambda kv: MODELS.index(kv[0].split()[0])))


def fig_fingerprint(fps: dict[str, Fingerprint], path: str | Path) -> Path:
    """Distance to each prediction over steps: one panel per (model, optimiser); rows free logits (centred), free
    logits (raw), UFM."""
    ops = list(dict.fromkeys(k.split()[1] for k in fps))
    models = [mo for mo in MODELS if any(k.split()[0] == mo for k in fps)]
    with styled():
        fig = new_figure(3.0 * len(ops), 3.0 * len(models))
        fig.subplots_adjust(hspace=0.35, wspace=0.08)
        axes = np.atleast_2d(fig.subplots(len(models), len(ops), sharey=True, squeeze=False))
        for i, mo in enumerate(models):
            for j, op in enumerate(ops):
                ax, fp = axes[i, j], fps.get(f"{mo} {op}")
                if fp is None:
                    continue
                x = np.maximum(np.array(fp.steps), 1)
                for k, (name, d) in enumerate(fp.distances.items()):
                    ax.plot(x, d, marker="o", markersize=3, label=name,
                            color=PRED_COLORS.get(name, EXTRA_COLORS[k % len(EXTRA_COLORS)]))
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_title(f"{MODEL_NAMES[mo]}, {op}: {fp.approaches}", fontsize=9)
                if i == len(models) - 1:
                    ax.set_xlabel("step (0 drawn at 1)")
                if j == 0:
                    ax.set_ylabel("d(P⊥L, Y)")
        for row in axes:
            row[0].legend(loc="lower left", fontsize=8)
        return save(fig, path)


def candidates(fps: dict[str, Fingerprint]) -> list[str]:
    """Every candidate name over the fingerprints (merged names included), in order of first appearance."""
    return list(dict.fromkeys(n for fp in fps.values() for n in fp.distances))


def table_rows(fps: dict[str, Fingerprint]) -> list[dict[str, Any]]:
    """One row per trajectory: the decision, the closest prediction with its μ interval, every distance at the end."""
    rows, names = [], candidates(fps)
    for label, fp in fps.items():
        mo, op = label.split()
        best = fp.rows[0]
        rows.append({"model": MODEL_NAMES[mo], "optimizer": op,
                     "approaches": fp.approaches, "closest": best.prediction, "mu": best.mu,
                     "mu_interval": f"[{best.lo:.3f}, {best.hi:.3f}]",
                     **{f"d_{r.prediction}": r.d_last for r in fp.rows}})
        rows[-1].update({f"d_{n}": None for n in names if f"d_{n}" not in rows[-1]})
    return rows


def measure(data: NTPData, runs: Runs, theory: Theory | None, folder: Path) -> AppendixResult:
    """Train every recipe in-process (``runs`` is empty), fingerprint, draw and tabulate."""
    steps, B = BUDGET[str(data.meta.get("fingerprint_budget", "default"))]
    fps = fingerprints(data, steps, B)
    fig = fig_fingerprint(fps, folder / "fingerprint.png")
    table = table_rows(fps)
    names = candidates(fps)
    said = "; ".join(f"{r['model']} {r['optimizer']} → {r['approaches']}" for r in table)
    caption = ("Implicit-bias fingerprint on 'synthetic' (issue 23): free logits and the UFM (d = V, no ridge) trained "
               "full-batch by GD, normalised GD, sign descent, Adam and Muon; per snapshot the π-weighted direction "
               "distance of the token-centred F⊥ part of the logits to each max-margin prediction (nuclear = L_mm, "
               "Frobenius = S̃, max-norm, spectral; fro and max coincide once centred, so free logits are also "
               "measured on their raw values, 'free logits, raw'). A trajectory 'approaches' a "
               "prediction when its rival-normalised position's 95 % bootstrap interval is > 0 at the last snapshot "
               f"and its distance decreases (Spearman, one-sided p <= 0.05); else 'undecided'. Measured: {said}.")
    cols = (("model", "model"), ("optimizer", "optimizer"), ("approaches", "approaches"), ("closest", "closest"),
            ("mu", "μ (closest vs nearest rival)"), ("mu_interval", "95 % interval"),
            *((f"d_{n}", f"d({n})") for n in names))
    numbers = {"decisions": {f"{r['model']} {r['optimizer']}": r["approaches"] for r in table}, "steps": {
        k: list(v.steps) for k, v in fps.items()}}
    series = {k: [{"step": s, **{n: float(d[i]) for n, d in v.distances.items()}} for i, s in enumerate(v.steps)]
              for k, v in fps.items()}
    return AppendixResult(NAME, TITLE, caption, fig, cols, table, numbers, series, said)


def experiment_data(quick: bool) -> NTPData:
    """The built-in ``synthetic`` data, its budget recorded in ``meta["fingerprint_budget"]``."""
    data = corpora.synthetic()
    return data.select_contexts(np.arange(data.m), fingerprint_budget="quick" if quick else "default")


EXPERIMENT = Experiment(NAME, TITLE, experiment_data, {"default": (), "quick": ()}, measure, needs_L_mm=False,
                        appendix=True)
