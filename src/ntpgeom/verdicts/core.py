"""The verdict record and the rules that turn measured distances into one.

One :class:`Verdict` type serves runs, probes, :func:`ntpgeom.assess` and the negative controls. Its ``status`` is
"pass", "FAIL", "inconclusive" or "n/a"; ``margin`` is the signed distance of ``value`` from ``threshold`` on the
passing side (positive: passes the threshold by that much).

:func:`discriminate` is the rule for every claim of the form "the model converges to X" where a rival Y is close to X
(theory.md §8: X = L_mm or the finite-norm prediction L̂_B, Y = S̃ or its analogue ``L_in + r·S̃``). With d_X, d_Y the
model's distances and δ = d(X, Y) the data's resolution, ``μ = (d_Y − d_X) / δ`` lies in [−1, 1] (triangle inequality):

1. ``min(d_X, d_Y) > family``: FAIL, far from both (not even the family the claim is about).
2. ``μ ≤ −1/2``: FAIL, measurably nearer the rival.
3. ``d_X ≤ threshold`` and (``δ`` below the floor, or ``μ ≥ 1/2``): pass — near X and measurably nearer X than Y.
4. ``δ < d_X``: inconclusive — X and Y agree on this data (the resolution is small against the measured distance).
5. ``d_X > threshold``: FAIL; otherwise inconclusive (near X but not measurably nearer X than Y).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

STATUSES = ("pass", "FAIL", "inconclusive", "n/a")

#: How a status reads wherever it is shown (terminal tables, the run x claim matrix, the summary line, HTML pages,
#: figure legends, progress lines): lower case, as every other status (``ntpgeom.status``: solver and run statuses);
#: colour carries the emphasis. The stored value stays :attr:`Verdict.status` ("FAIL" in report.json, summary.json,
#: the claims registry and every API object), so saved files and code that compares statuses read as before.
STATUS_LABEL = {"FAIL": "fail"}


def status_label(status: str) -> str:
    """The displayed form of a verdict status (:data:`STATUS_LABEL`): "pass", "fail", "inconclusive", "n/a"."""
    return STATUS_LABEL.get(status, status)

#: below this resolution δ the prediction and its rival are the same point (e.g. S̃ is optimal, L_mm = S̃)
SEP_FLOOR = 1e-6


@dataclass(frozen=True)
class Verdict:
    """One claim judged on one model (a run's snapshot, a probe, a control, arrays given to :func:`assess`).

    Attributes
    ----------
    claim : str
        "loss", "C1", "C2", "C3", "C4" or "L_mm" (converges to L_mm: nearer L_mm than S̃): a key of
        :data:`ntpgeom.verdicts.claims.CLAIMS`, which describes each claim.
    status : str
        "pass", "FAIL", "inconclusive" or "n/a".
    value : float
        The measured number (NaN when not measurable).
    threshold : float
    margin : float
        ``threshold − value`` for "<=" claims, ``value − threshold`` for ">=" ones (positive on the passing side).
    note : str
        Why: the distances behind the status (to the prediction, to L_mm, to S̃), gates that failed.
    title, metric, op, run : str
        Human title of the claim, the measured quantity, the comparison ("<=" or ">="), the model's label.
    interval : (lo, hi) or None
        The bootstrap interval of ``value`` when it is a trajectory's position μ (None otherwise).
    """

    claim: str
    status: str
    value: float
    threshold: float
    margin: float
    note: str = ""
    title: str = ""
    metric: str = ""
    op: str = "<="
    run: str = ""
    interval: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def passed(self) -> bool | None:
        """True for "pass", False for "FAIL", None otherwise."""
        return {"pass": True, "FAIL": False}.get(self.status)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN → None); ``check``/``detail`` repeat title/note for the probe's tables."""
        d = asdict(self)
        for k in ("value", "threshold", "margin"):
            d[k] = None if not math.isfinite(d[k]) else d[k]
        d.update(check=self.title or self.claim, detail=self.note)
        if self.interval is None:
            d.pop("interval")
        else:
            d["interval"] = [x if math.isfinite(x) else None for x in self.interval]
        return d


@dataclass(frozen=True)
class ControlVerdict(Verdict):
    """A :class:`Verdict` on a control (a model built or trained to test the verdicts), with what the control
    ``imitates`` and the ``expected`` outcome of this claim ("pass", "not pass", "FAIL", or "—": not tested)."""

    imitates: str = ""
    expected: str = ""


def make(claim: str, status: str, value: float, threshold: float, op: str, note: str = "", *, title: str = "",
         metric: str = "", run: str = "") -> Verdict:
    """A :class:`Verdict` with its margin computed from ``op``."""
    margin = (threshold - value) if op == "<=" else (value - threshold)
    if not math.isfinite(value):
        status, margin = "n/a", float("nan")
    return Verdict(claim, status, float(value), float(threshold), float(margin), note, title, metric, op, run)


def threshold_status(value: float, threshold: float, op: str = "<=") -> str:
    """"pass"/"FAIL" of one comparison ("n/a" for NaN)."""
    if not math.isfinite(value):
        return "n/a"
    return "pass" if (value <= threshold if op == "<=" else value >= threshold) else "FAIL"


def discriminate(d_ref: float, d_rival: float, delta: float, threshold: float, family: float,
                 names: tuple[str, str] = ("L_mm", "S̃")) -> tuple[str, str]:
    """(status, note) of "converges to X, not to its rival Y" (rules in the module docstring)."""
    x, y = names
    if not math.isfinite(d_ref):
        return "n/a", f"distance to {x} not measurable"
    dist = f"dist to {x} {d_ref:.3g}, to {y} {d_rival:.3g}, {x}–{y} {delta:.3g}"
    if min(d_ref, d_rival) > family:
        return "FAIL", f"far from both {x} and {y} ({dist})"
    sep = math.isfinite(delta) and delta > SEP_FLOOR
    mu = (d_rival - d_ref) / delta if sep else float("nan")
    if sep and mu <= -0.5:
        return "FAIL", f"nearer {y} than {x} ({dist})"
    if d_ref <= threshold and (not sep or mu >= 0.5):
        return "pass", f"nearer {x} than {y}" + ("" if sep else f" ({y} = {x} here)") + f" ({dist})"
    if sep and delta < d_ref:
        return "inconclusive", f"{x} and {y} agree on this data: {x}–{y} {delta:.3g} is small against the measured distance ({dist})"
    if d_ref > threshold:
        return "FAIL", f"farther from {x} than {threshold:.3g} ({dist})"
    return "inconclusive", f"near {x} but not measurably nearer it than {y} ({dist})"


def worst(statuses: Sequence[str]) -> str:
    """The combined status of several conditions: FAIL > inconclusive > pass; n/a only if all are n/a."""
    s = [x for x in statuses if x != "n/a"]
    if not s:
        return "n/a"
    for level in ("FAIL", "inconclusive"):
        if level in s:
            return level
    return "pass"


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict[str, Any]]:
    """JSON-ready rows."""
    return [v.as_dict() for v in verdicts]


def format_table(verdicts: Sequence[Verdict]) -> str:
    """A plain-text verdict table (for the terminal)."""
    head = ("run", "claim", "measured", "threshold", "result", "note")
    rows = [
        (v.run, v.title or v.claim, "n/a" if not math.isfinite(v.value) else f"{v.value:.4g}", f"{v.op} {v.threshold:.3g}",
         v.status, v.note[:90])
        for v in verdicts
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])
