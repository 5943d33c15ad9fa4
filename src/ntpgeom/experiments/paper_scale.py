"""``reproduce --text FILE --paper-scale``: the paper's TinyStories experiment (App. D) on the user's corpus.

Settings (:data:`SETTINGS`): BPE vocabulary 128 (``bpe:128``), context length 6, lower-cased, **all** contexts (no
top-K), the 128 most frequent next tokens. The theory is computed on all m contexts: NTP-SVM* by the solver ``auto``
picks (the large ADMM solver at these sizes; 126 x 2360 reduced on the 200-story sample, ~10 s on one CPU thread),
under :data:`THEORY_SECONDS`; past that budget its best certified point stands in (the report says so), and beyond
``compute_theory``'s size limit the S̃ proxy with Prop. 3's certificate.

Every run snapshots a fixed, seeded subset of :data:`SNAPSHOT_CONTEXTS` contexts (``snapshot_contexts``; the paper
measured TinyStories on a sample), so measuring stays seconds; the snapshots are measured against the theory
restricted to those columns (:mod:`ntpgeom.metrics.restrict`) and the controls are built and judged on the same
subset. The logged loss uses all m contexts.

Budgets (:func:`recipes`):

``full`` (CUDA; a few minutes on an H100): the UFM (d = V, full batch, Adam 0.05, 3000 steps) and the paper's
    12-layer d = 256 transformer (preset ``paper-tinystories``: AdamW, weight decay 1e-6, x0.4 step decay) with
    mini-batches of 4096 contexts drawn by π, bf16 autocast (float32 master weights), 2000 steps. Deviation from the
    paper, as in the default budget: lr 1e-3 (not 1e-4) with 100 warm-up steps and the x0.4 decay at half the run,
    so that minutes reach the regime the paper's hours did.
``reduced`` (what a CPU runs, after printing how long ``full`` would take there): the same data, theory and subset;
    the UFM for 80 full-batch steps in float32 (a UFM step over all 71 940 contexts, or a mini-batch step with
    Adam over its 9M parameters, costs about 0.5-1 s on one CPU thread) and a 2-layer d = 64 transformer (batch
    256, π) for 400 steps with the loss logged at its 3 snapshots only (a loss over all m contexts costs seconds
    per evaluation on a CPU).

``auto`` picks ``full`` when CUDA is available, else ``reduced``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..data import NTPData
from ..errors import ReproduceError
from ..theory import Theory
from .jobs import RunSpec

if TYPE_CHECKING:
    from ..verdicts import ControlsTable

#: the paper's data settings (App. D): BPE 128, context length 6, all contexts
SETTINGS: dict[str, Any] = {"context_len": 6, "tokenizer": "bpe:128", "max_vocab": 128, "max_contexts": None}
#: contexts in every snapshot (a fixed, seeded subset; the metrics and controls use exactly these)
SNAPSHOT_CONTEXTS = 2000
#: seconds NTP-SVM* may take before its best certified point is used
THEORY_SECONDS = 120.0
BUDGETS = ("auto", "full", "reduced")

_COMMON = {"snapshot_contexts": SNAPSHOT_CONTEXTS}
FULL: list[RunSpec] = [
    RunSpec("ufm", {**_COMMON, "optimizer": "adam", "lr": 0.05, "ridge": 1e-5, "steps": 3000}),
    RunSpec("transformer", {**_COMMON, "preset": "paper-tinystories", "lr": 1e-3, "warmup": 100, "step_size": 1000,
                            "batch_size": 4096, "sampler": "pi", "autocast": "bf16", "log_every": 250,
                            "steps": 2000}),
]
REDUCED: list[RunSpec] = [
    RunSpec("ufm", {**_COMMON, "optimizer": "adam", "lr": 0.05, "ridge": 1e-5, "dtype": "float32", "steps": 80,
                    "snapshot_steps": [0, 8, 80]}),
    RunSpec("transformer", {**_COMMON, "preset": "paper-tinystories", "d": 64, "layers": 2, "lr": 1e-3,
                            "warmup": 20, "step_size": 200, "batch_size": 256, "sampler": "pi", "log_every": 400,
                            "steps": 400, "snapshot_steps": [0, 40, 400]}),
]
#: what ``reduced`` changes, in words (printed and recorded)
REDUCED_TEXT = ("UFM: 80 full-batch steps in float32 instead of 3000 in float64; transformer: "
                "2 layers, d = 64, batch 256 for 400 steps instead of 12 layers, d = 256, batch 4096 for 2000; "
                "no bf16; 3 snapshots per run")
#: the probe of the CPU estimate: contexts per probe step (the full batch is extrapolated linearly from it)
PROBE_BATCH = 128


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def recipes(budget: str, cuda: bool, m: int | None = None) -> tuple[str, list[RunSpec]]:
    """``(budget that runs, its run specs)``; ``auto``: ``full`` with CUDA, else ``reduced``. Without CUDA the bf16
    autocast is dropped; with ``m`` (the data's contexts) a batch of at least m contexts becomes the full batch (and
    its sampler goes with it: a small corpus trains full batch)."""
    chosen = ("full" if cuda else "reduced") if budget == "auto" else budget
    out = []
    for s in FULL if chosen == "full" else REDUCED:
        kw = dict(s.kwargs)
        if not cuda:  # bf16 autocast is for CUDA (float32 master weights either way)
            kw.pop("autocast", None)
        if m is not None and kw.get("batch_size") is not None and kw["batch_size"] >= m:
            kw.pop("batch_size"), kw.pop("sampler", None)
        out.append(RunSpec(s.model, kw))
    return chosen, out


def _evaluations(kw: dict[str, Any]) -> int:
    """Full-data loss evaluations of a run: logged steps and snapshot steps (log-spaced when not listed)."""
    from ..train.run import log_spaced_steps

    steps = int(kw["steps"])
    snaps = set(kw.get("snapshot_steps") or log_spaced_steps(steps))
    every = kw.get("log_every")
    logged = set(range(0, steps + 1, every)) if every else set(range(steps + 1))
    return len(snaps | logged | {steps})


def estimate(data: NTPData, specs: list[RunSpec], say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """How long ``specs`` would train on this machine's CPU: per run, :func:`ntpgeom.train.estimate_seconds` of a few
    steps on the CPU; a mini-batch run is probed at :data:`PROBE_BATCH` contexts on a subset of twice as many and
    extrapolated linearly to its batch, plus its full-data evaluations at a third of a step per batch of contexts
    (forward only). The probe runs on one thread and errs long (its rate includes two evaluations of the probe's
    contexts). Returns ``{"seconds", "runs": {model: {"seconds_per_step", "steps", "evaluation_seconds",
    "seconds", "how"}}, "threads": 1}``."""
    import numpy as np

    from ..train import estimate_seconds

    runs, total = {}, 0.0
    for spec in specs:
        kw = {k: v for k, v in spec.kwargs.items() if k not in ("steps", "snapshot_steps", "log_every")}
        kw.update(device="cpu", autocast="none", threads=1)
        b = kw.get("batch_size")
        steps = int(spec.kwargs["steps"])
        if b is None or b >= data.m:
            e = estimate_seconds(data, steps, model=spec.model, **kw)
            per, how = e["seconds_per_step"], "measured"
        else:
            probe = min(PROBE_BATCH, b)
            sub = data.select_contexts(np.arange(min(data.m, 2 * probe + 1)))
            e = estimate_seconds(sub, steps, model=spec.model, **{**kw, "batch_size": probe}, probe_steps=4)
            per = e["seconds_per_step"] * b / probe
            how = f"measured at batch {probe}, scaled x{b / probe:g}"
        evals = _evaluations(spec.kwargs) * (data.m / (b or data.m)) * per / 3 if b else 0.0
        runs[spec.model] = {"seconds_per_step": per, "steps": steps, "evaluation_seconds": evals,
                            "seconds": per * steps + evals, "how": how}
        total += per * steps + evals
        if say is not None:
            say(f"  estimate {spec.model}: {per:.3g} s/step x {steps} steps + {evals:.0f} s of evaluations ({how})")
    return {"seconds": total, "runs": runs, "threads": 1}


def duration(seconds: float) -> str:
    """``93 s``, ``12 min``, ``3.4 h``, ``2.1 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check_options(text: str | Path | None, quick: bool) -> None:
    """``--paper-scale`` needs ``--text`` and excludes ``--quick`` (the budget itself is checked by
    :data:`ntpgeom.experiments.config.CONSTRAINTS`)."""
    if text is None:
        raise ReproduceError("--paper-scale needs a corpus: pass --text FILE (e.g. the TinyStories sample)")
    if quick:
        raise ReproduceError("--paper-scale and --quick exclude each other; on a CPU --paper-scale already runs a "
                             "smaller budget (drop --quick)")


def choose_budget(data: NTPData, choice: str, say: Callable[[str], None]) -> tuple[str, list[RunSpec], dict]:
    """The budget that runs (``paper-scale`` or ``paper-scale-reduced``), its runs, and what to record: on a CPU the
    measured estimate of the full budget and what the reduced one changes."""
    cuda = cuda_available()
    chosen, specs = recipes(choice, cuda, data.m)
    info: dict[str, Any] = {"budget": chosen, "device": "cuda" if cuda else "cpu",
                            "snapshot_contexts": min(SNAPSHOT_CONTEXTS, data.m), "m": data.m, "V": data.V}
    if not cuda:
        say("measuring how long the paper-scale budget would take on this CPU (a few steps of each run)")
        est = estimate(data, recipes("full", False, data.m)[1], say)
        info["full_estimate"] = est
        info["message"] = f"the paper-scale budget would take ~{duration(est['seconds'])} on this CPU (1 thread)"
        if chosen == "reduced":
            info["message"] += f"; running a smaller budget ({REDUCED_TEXT})"
        say(info["message"])
    if chosen == "reduced":
        info["reduced"] = REDUCED_TEXT
    return ("paper-scale" if chosen == "full" else "paper-scale-reduced"), specs, info


def subset_controls(datasets: list[tuple[str, NTPData, Theory]], runs: dict[str, Path],
                    seed: int = 0) -> list[ControlsTable]:
    """The controls of every ``(name, data, theory)`` built and judged on the snapshot subset of the run
    ``runs[name]`` (the theory restricted to it, the asymptotic prediction, no face): exactly as the runs' snapshots
    are measured (the usual controls when its snapshots hold every context)."""
    from ..metrics import restrict
    from ..metrics.restrict import snapshot_contexts
    from ..train import load_run
    from ..verdicts import controls_tables

    out = []
    for name, data, theory in datasets:
        run = load_run(runs[name])
        ctx = snapshot_contexts(run.snapshot(run.steps[-1]))
        if ctx is None:  # the snapshots hold every context: the usual controls
            out += controls_tables([(name, data, theory)], seed=seed)
            continue
        th, sub = restrict(theory, data, ctx)
        out += controls_tables([(name, sub, th)], seed=seed, finite_norm=False, face=None)
    return out


def theory_used(th: Theory) -> str:
    """What stands for L_mm, in words: the solved L_mm (and how well), its best certified point, or S̃."""
    svm = th.svm
    cert = "holds" if th.certificate.holds else "fails"
    if svm is None:
        return f"S̃ proxy (NTP-SVM* not solved at this size; Prop. 3 certificate {cert})"
    sm = svm.summary()
    gap_s = "" if sm.get("gap") is None else f", relative gap {float(sm['gap']):.2g}"
    if sm.get("converged", True):
        return f"L_mm solved ({sm.get('method')} solver{gap_s}, {sm.get('seconds', 0):.0f} s; Prop. 3 certificate {cert})"
    return f"best certified point of NTP-SVM* within {THEORY_SECONDS:.0f} s (not converged{gap_s})"


def provenance_rows(config: dict[str, Any]) -> dict[str, str]:
    paper = config.get("paper_scale")
    if paper is None:
        return {}
    row = {"paper scale": f"{paper['budget']} budget on {paper['device']}; snapshots on {paper['snapshot_contexts']} "
                          f"of {paper['m']} contexts; theory: {paper.get('theory', '?')}"}
    if "message" in paper:
        row["paper-scale estimate"] = paper["message"]
    return row
