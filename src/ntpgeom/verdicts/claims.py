"""The paper's claims, described once: the registry :data:`CLAIMS` from which the judges (:mod:`.judge`), the report's
tables, captions and legends (:mod:`ntpgeom.report`), the terminal table and the tests take every name, title, rule,
label and caption.

A :class:`Claim` says *what* is measured (``columns`` of the metrics table, ``metric`` in words, the direction ``op``)
and *how it is judged* (``rule``, one sentence); a claim of the form "converges to X, not to its rival Y" also names X
(``prediction``), Y (``rival``) and the metrics columns of the distance to Y and of the resolution d(X, Y)
(``rival_column``, ``separation_column``). The thresholds themselves live in :class:`~ntpgeom.verdicts.Thresholds`
(field = claim name), measured on the controls.

Room to grow: a further statistic of a claim (e.g. a trajectory judge's position μ between prediction and rival with
its bootstrap interval, or its trend over snapshots) is one more field here, read by the judge that computes it; the
tables and captions then pick it up from the same record.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class Claim:
    """One claim of the paper as the verdicts judge it.

    Attributes
    ----------
    name : str
        Key of the claim ("loss", "C1" … "C4", "L_mm"): ``Verdict.claim``, the :class:`Thresholds` field.
    title : str
        Human title (``Verdict.title``; the verdict tables' "claim" column).
    columns : tuple of str
        The metrics-table columns the judged value is computed from (:attr:`statistic` is the first; C2 takes the
        minimum of its two, C3 the ratio of its two).
    metric : str
        The judged value in words (``Verdict.metric``; the tables' "measured quantity").
    op : str
        "<=" (lower is better) or ">=" (higher is better): the side of the threshold that passes.
    rule : str
        How the claim is judged, in one sentence.
    label, definition : str
        Short label and legend of the judged column in the report's metrics tables.
    figure, caption : str
        Key and caption of the report figure that shows the claim's statistic over training ("" when none).
    prediction, rival : str
        For "converges to X, not to its rival Y" claims: X and Y in words ("" for absolute claims).
    rival_column, separation_column : str
        Metrics columns of the distance to the rival and of the resolution d(X, Y) ("" when there is no rival; for
        C2 the W side's, the H side's being ``offp_H_rival``/``offp_H_sep``).
    unit : str
        Unit of the judged value ("" when dimensionless).
    position : str
        For claims judged over a trajectory (:func:`~ntpgeom.verdicts.judge_trajectory`): what the position μ
        compares, in words ("" for claims judged on the last snapshot only).
    position_rule : str
        The trajectory rule in one sentence (:data:`TRAJECTORY_RULE` unless the claim says more).
    """

    name: str
    title: str
    columns: tuple[str, ...]
    metric: str
    op: str
    rule: str
    label: str
    definition: str
    figure: str = ""
    caption: str = ""
    prediction: str = ""
    rival: str = ""
    rival_column: str = ""
    separation_column: str = ""
    unit: str = ""
    position: str = ""
    position_rule: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">="):
            raise ValueError(f"Claim {self.name}: op must be '<=' or '>=', got {self.op!r}")
        if not self.columns:
            raise ValueError(f"Claim {self.name}: no metrics column")
        if bool(self.rival) != bool(self.rival_column):
            raise ValueError(f"Claim {self.name}: a rival needs its distance column, and a column its rival")

    @property
    def statistic(self) -> str:
        """The metrics column of the judged value (the first of :attr:`columns`)."""
        return self.columns[0]

    @property
    def judged_over_trajectory(self) -> bool:
        """True for the claims whose verdict is the trajectory's position μ (C1, C2, L_mm)."""
        return bool(self.position)

    @property
    def discriminating(self) -> bool:
        """True for claims judged against a rival (:func:`~ntpgeom.verdicts.discriminate`)."""
        return bool(self.rival)


#: the trajectory rule shared by C1, C2 and L_mm (:mod:`ntpgeom.verdicts.trajectory`)
TRAJECTORY_RULE = ("pass when the last snapshot's position μ has its bootstrap interval above 0 (measurably nearer the "
                   "prediction than the rival) and μ rises with log step (one-sided p <= α); fail when the interval is "
                   "below 0, μ falls with log step, or the model is far from both; inconclusive otherwise (one "
                   "snapshot has no trend) or when prediction and rival cannot be told apart. When S̃ is optimal it is "
                   "no rival: the distance to the optimal face is judged instead.")

_CLAIMS = (
    Claim("loss", "loss → ℋ", ("gap",), "CE − ℋ (nats)", "<=",
          "pass when the loss gap CE − ℋ is at most the paper's tolerance (1e-4 by default).",
          "CE − ℋ", "loss gap to the entropy bound (nats)", figure="loss_gap",
          caption="Loss gap CE − ℋ over training (log-log); dashed: the verdict's threshold.", unit="nats"),
    Claim("C1", "C1 sparse + low-rank, at the predicted point", ("dir_pred",), "dir(L, L̂_B)", "<=",
          TRAJECTORY_RULE,
          "C1: dir to L̂_B", "dir(L, L̂_B): direction distance of the logits to the finite-norm prediction "
          "(path point of norm ‖L‖_*, else L_in + R·L_mm)", figure="softlabel",
          caption="C4: soft-label recovery ‖P_F(L) − L_in‖/‖L_in‖, and C1: the direction distance of L to the "
                  "finite-norm prediction L̂_B; dashed: thresholds.",
          prediction="L̂_B", rival="L_in + r·S̃", rival_column="dir_pred_rival", separation_column="pred_sep",
          position="μ of the logits between L_in + R·L_mm (prediction) and L_in + r·S̃ (rival), R, r fitted",
          position_rule=TRAJECTORY_RULE),
    Claim("C2", "C2 directions of W, H", ("offp_W", "offp_H"), "min off-diag Pearson of corr maps", ">=",
          TRAJECTORY_RULE + " C2 takes the worse of its W and H sides.",
          "C2: Pearson W", "off-diagonal Pearson of corr(Ẇᵀ) with the map of L̂_B's W factor (C2 judges the smaller "
          "of the W and H sides)",
          figure="similarity",
          caption="C2: agreement of corr(H) and corr(Wᵀ) with the prediction (solid: the prediction's factors, "
                  "dashed: the S̃ rival, dotted: permutation null; grey dashed: threshold), and the directional "
                  "distance of P_⊥(L) to L_mm.",
          prediction="the prediction's factors", rival="S̃'s factors", rival_column="offp_W_rival",
          separation_column="offp_W_sep",
          position="μ of corr(Ẇᵀ) and corr(Ḣ) between the maps of the prediction's balanced factors and the rival's "
                   "(the smaller of the W and H sides)",
          position_rule=TRAJECTORY_RULE),
    Claim("C3", "C3 subspace collapse", ("collapse_H", "collapse_H_base"), "collapse index of Ḣ / baseline", "<=",
          "pass when the collapse index of Ḣ by support group, divided by its random-grouping baseline, is at most the "
          "threshold, the index lies below the baseline by the null's sd margin, and at least half of the first "
          "snapshot's ratio has closed.",
          "C3: collapse H", "subspace-collapse index of H by support group (0 = collapsed)", figure="collapse",
          caption="Subspace-collapse index (0 = contexts with equal supports share one direction); dotted: random "
                  "groupings of the same sizes."),
    Claim("C4", "C4 soft-label interpolation", ("softlabel_rel",), "‖P_F(L) − L_in‖ / ‖L_in‖", "<=",
          "pass when the F-component of the logits reproduces the in-support log-odds L_in to the relative tolerance.",
          "C4: soft labels", "‖P_F(L) − L_in‖ / ‖L_in‖ (0 = the in-support log-odds are reproduced)",
          figure="softlabel"),
    Claim("L_mm", "converges to L_mm (nearer L_mm than S̃)", ("dir_perp_face",), "dir(P_⊥L, L_mm)", "<=",
          TRAJECTORY_RULE,
          "L_mm: dir to face", "direction distance of P_⊥(L) to the optimal face of NTP-SVM* (L_mm when a point)",
          figure="similarity", prediction="L_mm", rival="S̃", rival_column="dir_perp_tilde",
          separation_column="sep_mm_tilde",
          position="μ of the F⊥ part P_⊥(L) between the direction of L_mm (prediction) and that of S̃ (rival)",
          position_rule=TRAJECTORY_RULE),
)

#: name → :class:`Claim`, in the order of every verdict table (read-only).
CLAIMS: Mapping[str, Claim] = MappingProxyType({c.name: c for c in _CLAIMS})

#: name → title (the verdicts' ``title``).
TITLES: Mapping[str, str] = MappingProxyType({c.name: c.title for c in _CLAIMS})


def claim_by_title(title: str) -> Claim:
    """The claim whose title is ``title`` (the report's rows carry titles); KeyError if none."""
    for c in _CLAIMS:
        if c.title == title:
            return c
    raise KeyError(f"no claim titled {title!r}; titles: {list(TITLES.values())}")


def column_labels() -> dict[str, tuple[str, str]]:
    """metrics column → (label, definition) of every claim's judged column (the report's metrics-table legend)."""
    return {c.statistic: (c.label, c.definition) for c in _CLAIMS}


def figure_captions() -> dict[str, str]:
    """figure key → caption, from the claims that own a figure caption."""
    return {c.figure: c.caption for c in _CLAIMS if c.figure and c.caption}


def trajectory_caption() -> str:
    """The caption of the report's trajectory figure, from the claims judged over a trajectory."""
    parts = "; ".join(f"{c.name}: {c.position}" for c in _CLAIMS if c.position)
    return ("Position μ over training (log step), per run, with its bootstrap interval band: +1 at the prediction, "
            f"−1 at the rival, 0 dotted. {parts}. When S̃ is optimal (no rival) the panel shows the distance to the "
            "optimal face instead.")
