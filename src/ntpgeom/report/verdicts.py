"""Verdicts on the paper's claims (theory.md §4, §6) from a run's metrics table: measured number, threshold, pass/fail.

Every verdict is read off the *last* snapshot of a run (the trend over training is in the figures):

========  ==============================================  =================================================  =========
claim     statement                                       measured                                           passes if
========  ==============================================  =================================================  =========
loss→ℋ    the loss approaches the entropy bound           ``CE(L_k) − ℋ`` (nats)                             ≤ 0.05
C1        logits are sparse plus low rank                 ``‖L_k − L_in − R L_mm‖ / ‖L_k − L_in‖``            ≤ 0.35
          (``L_k ≈ L_in + R·L_mm``)                       (R fitted by least squares)
C2        W and H converge in direction to the factors    ``min(sim(corr(H), pred), sim(corr(Wᵀ), pred))``   ≥ 0.80
          of L_mm (Cor. 1)                                (SSIM structure term, ε = 1e-5)
C3        contexts with equal supports collapse           ``collapse_H / baseline`` (index of H by support   ≤ 0.35
          onto one direction                              group over its random-grouping baseline)
C4        the F-component interpolates the soft labels    ``‖P_F(L_k) − L_in‖ / ‖L_in‖``                     ≤ 0.35
          (``P_F(L_k) → L_in``)
========  ==============================================  =================================================  =========

"pred" and L_mm are the solved max-margin logits; when L_mm was not solved the S̃ proxy stands in (the verdict says
so). A claim that cannot be measured (e.g. C3 when every context has its own support) is marked "n/a".
The thresholds are deliberately loose enough for a few minutes of CPU training and strict enough that an untrained
or random model fails every claim (tested); :data:`THRESHOLDS` holds them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

#: name -> (comparison, threshold)
THRESHOLDS: dict[str, tuple[str, float]] = {
    "loss": ("<=", 0.05),
    "C1": ("<=", 0.35),
    "C2": (">=", 0.80),
    "C3": ("<=", 0.35),
    "C4": ("<=", 0.35),
}

CLAIMS: dict[str, str] = {
    "loss": "loss → ℋ",
    "C1": "C1 sparse + low-rank logits",
    "C2": "C2 directional convergence of W, H",
    "C3": "C3 subspace collapse",
    "C4": "C4 soft-label interpolation",
}


@dataclass(frozen=True)
class Verdict:
    """One claim judged on one run."""

    claim: str
    title: str
    run: str
    metric: str
    value: float
    op: str
    threshold: float
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        """"pass", "FAIL" or "n/a"."""
        return "n/a" if self.passed is None else ("pass" if self.passed else "FAIL")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        d["value"] = None if not math.isfinite(self.value) else self.value
        return d


def _last(table: Mapping[str, np.ndarray], key: str) -> float:
    v = np.asarray(table.get(key, [np.nan]), dtype=np.float64)
    return float(v[-1]) if v.size else float("nan")


def _first(table: Mapping[str, np.ndarray], key: str) -> float:
    v = np.asarray(table.get(key, [np.nan]), dtype=np.float64)
    return float(v[0]) if v.size else float("nan")


def _judge(name: str, run: str, metric: str, value: float, note: str, thresholds: Mapping[str, tuple[str, float]]) -> Verdict:
    op, thr = thresholds[name]
    if not math.isfinite(value):
        return Verdict(name, CLAIMS[name], run, metric, float("nan"), op, thr, None, note or "not measurable")
    ok = value <= thr if op == "<=" else value >= thr
    return Verdict(name, CLAIMS[name], run, metric, value, op, thr, bool(ok), note)


def judge(
    table: Mapping[str, np.ndarray],
    run: str = "run",
    thresholds: Mapping[str, tuple[str, float]] | None = None,
) -> list[Verdict]:
    """The five verdicts (loss→ℋ, C1-C4) of one run from its metrics table (last snapshot).

    Parameters
    ----------
    table : metrics table (:func:`ntpgeom.metrics.run_metrics`)
    run : str
        Label of the run in the verdict rows.
    thresholds : mapping, optional
        Overrides of :data:`THRESHOLDS` (name -> (op, value)).
    """
    th = {**THRESHOLDS, **(thresholds or {})}
    out = []
    gap0, gap = _first(table, "gap"), _last(table, "gap")
    out.append(_judge("loss", run, "CE − ℋ (nats)", gap, f"from {gap0:.3g} at the first snapshot", th))
    solved = math.isfinite(_last(table, "sim_H_mm")) or math.isfinite(_last(table, "dir_mm"))
    ref_note = "" if solved else "L_mm not solved: measured against the S̃ proxy"
    out.append(_judge("C1", run, "‖L − L_in − R·L_mm‖ / ‖L − L_in‖", _last(table, "slr_resid"),
                      "; ".join(x for x in (f"R = {_last(table, 'slr_R'):.3g}", ref_note) if x), th))
    suffix = "mm" if solved else "proxy"
    sH, sW = _last(table, f"sim_H_{suffix}"), _last(table, f"sim_W_{suffix}")
    vals = [v for v in (sH, sW) if math.isfinite(v)]
    c2 = min(vals) if vals else float("nan")
    gW, gH = _last(table, f"gram_W_{suffix}"), _last(table, f"gram_H_{suffix}")
    note = f"sim H = {sH:.3f}, sim W = {sW:.3f}; Gram distances W {gW:.3f}, H {gH:.3f}"
    out.append(_judge("C2", run, "min sim(corr, prediction)", c2, "; ".join(x for x in (note, ref_note) if x), th))
    ci, base = _last(table, "collapse_H"), _last(table, "collapse_H_base")
    ratio = ci / base if math.isfinite(ci) and math.isfinite(base) and base > 0 else float("nan")
    note = f"index {ci:.3g} vs random groups {base:.3g}" if math.isfinite(ratio) else "every context has its own support"
    out.append(_judge("C3", run, "collapse index of H / baseline", ratio, note, th))
    out.append(_judge("C4", run, "‖P_F(L) − L_in‖ / ‖L_in‖", _last(table, "softlabel_rel"),
                      f"from {_first(table, 'softlabel_rel'):.3g} at the first snapshot", th))
    return out


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """JSON-ready rows."""
    return [v.as_dict() for v in verdicts]


def format_table(verdicts: Sequence[Verdict]) -> str:
    """A plain-text verdict table (for the terminal)."""
    head = ("run", "claim", "measured", "threshold", "result")
    rows = [
        (v.run, v.title, "n/a" if not math.isfinite(v.value) else f"{v.value:.4g}", f"{v.op} {v.threshold:g}", v.status)
        for v in verdicts
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])
