"""Honest controls: models trained the way the theory describes (and two that are not), judged by
:func:`~ntpgeom.verdicts.trajectory.judge_trajectory` against the dataset's theory (issue 19, theory.md §8).

This module judges and counts (:func:`judge_controls`, :func:`power_table`); the training (plain full-batch GD,
:mod:`ntpgeom.train.plain`, no ridge) is :func:`ntpgeom.experiments.honest.honest_controls`, one layer up (verdicts
never import train). The controls:

==================  =====================================================  =====================================
control             imitates                                               expected (C1, L_mm; C2 for the UFMs)
==================  =====================================================  =====================================
GD UFM              the factored model whose implicit bias the paper        pass
                    analyses (``L = W H`` from small initialisation)
GD free logits      a model whose implicit bias is the Frobenius margin    FAIL (it converges to S̃'s direction);
                    (S̃), not the nuclear one                              pass where S̃ is optimal
relabelled UFM      a converged model of another support pattern (the      FAIL
                    UFM trained on token-relabelled data)
==================  =====================================================  =====================================

Where S̃ is optimal (Prop. 3's certificate, or a non-unique face containing it, e.g. the 5-cycle) the claims are judged
against the optimal face, and the free logits are a second positive control, not an impostor.

The **power table** (:func:`power_table`): per claim, over the datasets, the share of positives that passed (power)
and of negatives that were rejected (status FAIL: specificity). An "n/a" counts in neither; an "inconclusive"
positive counts as not passed, an "inconclusive" negative as not rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..data import NTPData
from ..reprs import short_repr
from ..theory import Face, Theory
from .core import ControlVerdict, status_label
from .trajectory import TrajectoryJudgement, judge_trajectory, tilde_optimal

__all__ = ["HonestControl", "HonestControls", "PowerRow", "judge_controls", "power_table", "power_text", "power_rows",
           "HONEST_IMITATES", "CLAIMS_JUDGED"]

#: the claims judge_trajectory judges
CLAIMS_JUDGED = ("C1", "L_mm", "C2:W", "C2:H")

#: control -> what it imitates
HONEST_IMITATES = {
    "GD UFM": "the factored UFM L = W H trained by plain GD from small initialisation, no ridge (the paper's model)",
    "GD free logits": "logits trained directly by GD: implicit bias the Frobenius margin, i.e. S̃'s direction",
    "relabelled UFM": "the GD UFM trained on token-relabelled data: a converged model of another support pattern",
}


@dataclass(frozen=True, eq=False)
class HonestControl:
    """One honest control on one dataset.

    Attributes
    ----------
    name, imitates : str
    expected : str
        "pass" (a positive control) or "FAIL" (a negative one).
    judgement : TrajectoryJudgement
        Every claim with its μ, interval, trend and note.
    seconds : float
        Training and judging time.
    """

    __repr__ = short_repr

    name: str
    imitates: str
    expected: str
    judgement: TrajectoryJudgement
    seconds: float

    @property
    def status(self) -> dict[str, str]:
        return self.judgement.status

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "imitates": self.imitates, "expected": self.expected, "seconds": self.seconds,
                "status": dict(self.status), "notes": {c.claim: c.note for c in self.judgement.claims}}


@dataclass(frozen=True, eq=False)
class HonestControls:
    """The honest controls of one dataset: ``dataset``, ``controls``, ``tilde_optimal`` (judged against the face)."""

    __repr__ = short_repr

    dataset: str
    controls: tuple[HonestControl, ...]
    tilde_optimal: bool
    seconds: float
    steps: int
    B: int
    alpha: float

    def rows(self) -> list[ControlVerdict]:
        """Every control's verdicts (``run`` = ``dataset/control``, with ``imitates`` and ``expected``: "pass", or
        "FAIL", or "—" where the claim is n/a) for the report's tables."""
        out = []
        for h in self.controls:
            for c in h.judgement.claims:
                v = c.verdict(f"{self.dataset}/{h.name}")
                out.append(ControlVerdict(**vars(v), imitates=h.imitates,
                                          expected="—" if c.status == "n/a" else h.expected))
        return out

    def text(self) -> str:
        """Plain-text table: one row per control (expected outcome, status per claim)."""
        head = ["control", "expected", *CLAIMS_JUDGED]
        rows = [[h.name, status_label(h.expected), *(status_label(h.status.get(c, "")) for c in CLAIMS_JUDGED)]
                for h in self.controls]
        widths = [max(len(x), *(len(r[i]) for r in rows)) for i, x in enumerate(head)]
        line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
        face = " (S̃ optimal: judged against the optimal face)" if self.tilde_optimal else ""
        return "\n".join([f"Honest controls: {self.dataset}{face}", line(head), line(["-" * w for w in widths]),
                          *map(line, rows)])

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "tilde_optimal": self.tilde_optimal, "seconds": self.seconds,
                "steps": self.steps, "B": self.B, "alpha": self.alpha,
                "controls": [h.as_dict() for h in self.controls]}


#: a control: its name, its expected outcome ("pass" / "FAIL") and a function returning its snapshots (step order)
Trained = tuple[str, str, Callable[[], Sequence[Mapping[str, Any]]]]


def expected_outcomes(theory: Theory) -> dict[str, str]:
    """The expected outcome of each honest control on ``theory``: free logits are a positive where S̃ is optimal."""
    opt = tilde_optimal(theory)[0]
    return {"GD UFM": "pass", "GD free logits": "pass" if opt else "FAIL", "relabelled UFM": "FAIL"}


def judge_controls(data: NTPData, theory: Theory, trained: Sequence[Trained], *, seed: int = 0, B: int = 200,
                   alpha: float = 0.05, threads: int = 1, name: str = "", face: Face | None = None,
                   steps: int = 0) -> HonestControls:
    """Judge each control of ``trained`` (its snapshots produced by calling its function, timed with the judging)
    against ``theory`` with B bootstrap replicates at level 1 − α on ``threads`` BLAS threads. ``face``: the optimal
    face (probed once by the caller where S̃ is optimal). ``steps``: the training budget, recorded."""
    t0 = time.perf_counter()
    out = []
    for cname, expected, train in trained:
        t1 = time.perf_counter()
        j = judge_trajectory(data, theory, train(), B=B, alpha=alpha, seed=seed, face=face, threads=threads)
        out.append(HonestControl(cname, HONEST_IMITATES.get(cname, ""), expected, j, time.perf_counter() - t1))
    return HonestControls(name, tuple(out), tilde_optimal(theory)[0], time.perf_counter() - t0, steps, B, alpha)


@dataclass(frozen=True)
class PowerRow:
    """One claim of the power table: positives judged / passed, negatives judged / rejected (FAIL)."""

    claim: str
    positives: int
    passed: int
    negatives: int
    rejected: int

    @property
    def power(self) -> float:
        """Share of positives passed (nan when none was judged)."""
        return self.passed / self.positives if self.positives else float("nan")

    @property
    def specificity(self) -> float:
        """Share of negatives rejected (nan when none was judged)."""
        return self.rejected / self.negatives if self.negatives else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "positives": self.positives, "passed": self.passed, "power": self.power,
                "negatives": self.negatives, "rejected": self.rejected, "specificity": self.specificity}


def power_table(results: Sequence[HonestControls]) -> list[PowerRow]:
    """Per claim of :data:`CLAIMS_JUDGED`, over every dataset's honest controls: the positives (expected "pass")
    that passed and the negatives (expected "FAIL") that were rejected; "n/a" verdicts are not counted."""
    out = []
    for claim in CLAIMS_JUDGED:
        pos = pas = neg = rej = 0
        for r in results:
            for h in r.controls:
                st = h.status.get(claim, "n/a")
                if st == "n/a":
                    continue
                if h.expected == "pass":
                    pos, pas = pos + 1, pas + (st == "pass")
                else:
                    neg, rej = neg + 1, rej + (st == "FAIL")
        out.append(PowerRow(claim, pos, pas, neg, rej))
    return out


def power_rows(rows: Sequence[PowerRow]) -> list[ControlVerdict]:
    """The power table as verdict-like rows for the report (``value`` = power; the counts and the specificity in the
    note; ``status`` "n/a": a summary, not a verdict)."""
    return [ControlVerdict(r.claim, "n/a", r.power, float("nan"), float("nan"),
                           f"positives passed {r.passed}/{r.positives}; negatives rejected ({status_label('FAIL')}) {r.rejected}/"
                           f"{r.negatives} (specificity {r.specificity:.2f})", r.claim, "share of positives passed",
                           ">=", "all datasets")
            for r in rows]


def power_text(rows: Sequence[PowerRow]) -> str:
    """The power table as plain text (``passed/positives`` and ``rejected/negatives`` per claim)."""
    lines = ["Power of the verdicts (honest controls)", "claim  positives passed  negatives rejected"]
    for r in rows:
        lines.append(f"{r.claim:<5}  {r.passed}/{r.positives:<14} {r.rejected}/{r.negatives}")
    return "\n".join(lines)
