"""Negative and positive controls: impostors built on a dataset and run through the same verdicts (theory.md §8).

A verdict that passes an impostor it impersonates is a bug. The fixed set (c = 100, W and H the balanced SVD factors
``UΣ^{1/2}``, ``Σ^{1/2}Vᵀ`` of the logits unless said otherwise; every control is assessed with a random
initialisation (seeded Gaussian, scale 0.1, d = V) as its first snapshot, so the change gates apply):

=================  ======================================================  ===========================================
control            logits                                                  must not pass (impersonates)
=================  ======================================================  ===========================================
positive           ``L_in + c·L_mm``                                       — (must pass every claim)
S̃ direction        ``L_in + c·S̃`` (the Frobenius max-margin)               C1, C2, L_mm (none when S̃ = L_mm:
                                                                           "S̃ direction (= L_mm here)")
perturbed L_mm     ``L_in + c·((1 − t)L_mm + t·N)``, N feasible for         C1, L_mm
                   NTP-SVM* with equal columns per support group, t so
                   that ``dir(·, L_mm) = 0.3``
permuted means     ``W_mm H'``, H' = H_mm of ``c·L_mm`` with the support    C2
                   groups' mean columns permuted among the groups
random init        seeded Gaussian W (V x V), H (V x m), scale 0.1, and    loss, C1, C2, C3, C4, L_mm
                   judged against itself as the first snapshot
relabelled UFM     ``L_in' + c·L_mm'`` of the data with its tokens          loss, C1, C2, C4, L_mm
                   relabelled (a derangement): a converged UFM for other
                   data (= the rows of the positive control permuted)
supports only      factors of ``50·S̃``, no L_in                            loss, C4
=================  ======================================================  ===========================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import NTPData
from ..metrics import FaceLike
from ..theory import Theory, direction_distance, factors
from .assess import Assessment, assess, face_reference, first_row_of
from .core import SEP_FLOOR, ControlVerdict, Verdict, status_label
from .judge import CLAIMS, Thresholds
from .trajectory import tilde_optimal

C = 100.0

#: control -> the claims it impersonates (each must be FAIL, or "inconclusive" for the directional ones)
IMPERSONATES: dict[str, tuple[str, ...]] = {
    "positive": (),
    "S̃ direction": ("C1", "C2", "L_mm"),
    "S̃ direction (= L_mm here)": (),
    "S̃ direction (optimal here)": (),
    "perturbed L_mm": ("C1", "L_mm"),
    "permuted means": ("C2",),
    "random init": ("loss", "C1", "C2", "C3", "C4", "L_mm"),
    "relabelled UFM": ("loss", "C1", "C2", "C4", "L_mm"),
    "supports only": ("loss", "C4"),
}


#: control -> what it imitates (the report's "imitates" column)
IMITATES: dict[str, str] = {
    "positive": "the theory's own answer: the balanced factors of L_in + c·L_mm",
    "S̃ direction": "a model converging to the Frobenius max-margin S̃ instead of L_mm",
    "S̃ direction (= L_mm here)": "S̃, which equals L_mm on this data: a second positive",
    "S̃ direction (optimal here)": "S̃, optimal on this data (a non-unique face): a second positive",
    "perturbed L_mm": "a feasible point 0.3 (direction distance) from L_mm: near but not at the prediction",
    "permuted means": "L_mm's logits with the support groups' context means permuted: wrong context geometry",
    "random init": "an untrained model (seeded Gaussian factors)",
    "relabelled UFM": "a converged UFM of other data (the tokens relabelled)",
    "supports only": "the support pattern without the in-support log-odds L_in",
}


def expected(name: str, claim: str) -> str:
    """The expected outcome of control ``name`` on ``claim``: "pass" (a positive), "not pass" (an impersonated
    claim), or "—" (not tested by this control)."""
    imp = IMPERSONATES.get(name, ())
    if claim in imp:
        return "not pass"
    if imp:
        return "—"
    return "pass or one-snapshot inconclusive" if claim in ONE_SNAPSHOT_CLAIMS else "pass"


#: claims judged over a trajectory (μ and its trend): a single matrix (every exact construction) can reach at best
#: "inconclusive (one snapshot)" on them, so a positive control is only wrong there when it does worse
ONE_SNAPSHOT_CLAIMS = ("C1", "C2", "L_mm")


def _positive_ok(v: Verdict) -> bool:
    if v.status in ("pass", "n/a"):
        return True
    return v.claim in ONE_SNAPSHOT_CLAIMS and v.status == "inconclusive" and "one snapshot" in v.note


@dataclass(frozen=True, eq=False)
class Control:
    """One control: its name, arrays (W (V x d), H (d x m), L (V x m)), and what it impersonates."""

    name: str
    W: np.ndarray
    H: np.ndarray
    L: np.ndarray
    impersonates: tuple[str, ...]


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    while True:
        p = rng.permutation(n)
        if n < 2 or np.all(p != np.arange(n)):
            return p


def feasible_collapsed(data: NTPData, rng: np.random.Generator) -> np.ndarray:
    """A random feasible point of NTP-SVM* with equal columns per support group (V x m, token-centred): in-support
    entries 0, off-support entries ``−1 − Exp(1)``."""
    groups = np.asarray(data.support_groups)
    G = int(groups.max()) + 1
    off = -1.0 - rng.exponential(1.0, size=(data.V, G))
    N = off[:, groups]
    N[data.S.toarray() > 0] = 0.0
    return N - N.mean(axis=0, keepdims=True)


def _perturbed(L_mm: np.ndarray, N: np.ndarray, target: float = 0.3) -> np.ndarray:
    """``(1 − t) L_mm + t N`` (feasible: a convex combination) with t such that the direction distance to L_mm is
    ``target`` (bisection; the largest reachable when N itself is nearer)."""
    lo, hi = 0.0, 1.0
    if direction_distance(N, L_mm) <= target:
        return N
    for _ in range(60):
        t = 0.5 * (lo + hi)
        if direction_distance((1 - t) * L_mm + t * N, L_mm) < target:
            lo = t
        else:
            hi = t
    t = 0.5 * (lo + hi)
    return (1 - t) * L_mm + t * N


def _permuted_means(W: np.ndarray, H: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    G = int(groups.max()) + 1
    counts = np.bincount(groups, minlength=G)
    means = np.zeros((H.shape[0], G))
    np.add.at(means.T, groups, H.T)
    means /= counts
    perm = _derangement(G, rng)
    return H - means[:, groups] + means[:, perm][:, groups]


def _from_L(name: str, L: np.ndarray) -> Control:
    W, H = factors(L)
    return Control(name, W, H, W @ H, IMPERSONATES[name])


def build_controls(data: NTPData, theory: Theory, seed: int = 0) -> list[Control]:
    """The fixed set of controls of the module docstring on ``data`` (needs ``theory.L_mm``). Where S̃ is itself
    optimal (dir(L_mm, S̃) below :data:`~ntpgeom.verdicts.core.SEP_FLOOR`, Prop. 3's certificate holds, or S̃ lies
    on a non-unique optimal face, e.g. the 5-cycle: :func:`~ntpgeom.verdicts.trajectory.tilde_optimal`) the S̃
    control is a second positive control and impersonates nothing."""
    if theory.L_mm is None:
        raise ValueError("the controls need L_mm: compute the theory with solve=True")
    rng = np.random.default_rng(seed)
    Lin, St, Lmm = (np.asarray(a, dtype=np.float64) for a in (theory.L_in, theory.S_tilde, theory.L_mm))
    tilde = _from_L("S̃ direction", Lin + C * St)
    if direction_distance(St, Lmm) <= 1e3 * SEP_FLOOR:
        tilde = Control("S̃ direction (= L_mm here)", tilde.W, tilde.H, tilde.L, ())
    elif tilde_optimal(theory)[0]:
        tilde = Control("S̃ direction (optimal here)", tilde.W, tilde.H, tilde.L, ())
    out = [_from_L("positive", Lin + C * Lmm), tilde]
    out.append(_from_L("perturbed L_mm", Lin + C * _perturbed(Lmm, feasible_collapsed(data, rng))))
    Wm, Hm = factors(C * Lmm)
    Hp = _permuted_means(Wm, Hm, np.asarray(data.support_groups), rng)
    out.append(Control("permuted means", Wm, Hp, Wm @ Hp, IMPERSONATES["permuted means"]))
    W0, H0 = init_factors(data, seed)
    out.append(Control("random init", W0, H0, W0 @ H0, IMPERSONATES["random init"]))
    perm = _derangement(data.V, rng)
    out.append(_from_L("relabelled UFM", (Lin + C * Lmm)[perm]))
    W, H = factors(50.0 * St)
    out.append(Control("supports only", W, H, W @ H, IMPERSONATES["supports only"]))
    return out


def init_factors(data: NTPData, seed: int = 0, scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random initialisation: W (V x V), H (V x m), entries N(0, scale²)."""
    rng = np.random.default_rng([seed, 7])
    return scale * rng.standard_normal((data.V, data.V)), scale * rng.standard_normal((data.V, data.m))


#: bootstrap replicates of an exact construction's μ (the report's default ``ReportConfig.bootstrap``)
CONTROLS_B = 50

def run_controls(data: NTPData, theory: Theory, seed: int = 0, *, thresholds: Thresholds | None = None,
                 finite_norm: bool = True, face: FaceLike | str | None = "auto",
                 B: int = CONTROLS_B) -> list[tuple[str, list[Verdict]]]:
    """Assess every control of :func:`build_controls`: ``[(control name, verdicts)]`` in the table's order."""
    return [(name, a.verdicts) for name, a in assess_controls(data, theory, seed, thresholds=thresholds,
                                                             finite_norm=finite_norm, face=face, B=B)]


def assess_controls(data: NTPData, theory: Theory, seed: int = 0, *, thresholds: Thresholds | None = None,
                    finite_norm: bool = True, face: FaceLike | str | None = "auto",
                    B: int = CONTROLS_B) -> list[tuple[str, Assessment]]:
    """Like :func:`run_controls`, with the full :class:`Assessment` (every distance) of each control; ``face`` as in
    :func:`~ntpgeom.verdicts.assess.face_reference` (None: judged against L_mm, no face probed); ``B``: bootstrap
    replicates of each control's μ (one matrix each: its interval is shown, its status is at best "inconclusive (one
    snapshot)")."""
    ref = face_reference(theory, data, face)
    first = first_row_of(data, theory, ref, init_factors(data, seed), finite_norm=finite_norm, seed=seed)
    out = []
    for c in build_controls(data, theory, seed):
        a = assess(data, theory, W=c.W, H=c.H, L=c.L, first=first, thresholds=thresholds, finite_norm=finite_norm,
                   ref=ref, label=c.name, seed=seed, B=B)
        out.append((c.name, a))
    return out


#: values below this are "at the resolution": the positive control's distance counts as at least FLOOR
FLOOR = 1e-3


def _distance(a: Assessment, claim: str) -> tuple[float, float]:
    """(distance-like value d, d to the nearer of reference and rival) of one claim (lower is better)."""
    r = a.row
    if claim == "C1":
        return r["dir_pred"], min(r["dir_pred"], r["dir_pred_rival"])
    if claim == "L_mm":
        return r["dir_perp_face"], min(r["dir_perp_face"], r["dir_perp_tilde"])
    if claim == "C2":
        sides = [s for s in ("W", "H") if np.isfinite(r[f"offp_{s}"])]
        d = max(1 - r[f"offp_{s}"] for s in sides)
        return d, max(min(1 - r[f"offp_{s}"], 1 - r[f"offp_{s}_rival"]) for s in sides)
    v = a.verdict(claim).value
    return v, v


def choose_thresholds(per_dataset: list[list[tuple[str, Assessment]]]) -> dict[str, float]:
    """Thresholds by the rule of :mod:`ntpgeom.verdicts.judge`, from the controls of several datasets.

    For each claim (d lower is better; C2: d = 1 − Pearson): ``sqrt(max(FLOOR, max positive d) · min d over the
    impostors impersonating the claim)``. ``<claim>_family`` (C1, C2, L_mm): ``sqrt(max in-family d · min random d)``
    with in-family = S̃ direction, perturbed L_mm and random = random init, relabelled UFM, permuted means (d to the
    nearer of prediction and rival). C2 is returned as a Pearson threshold (1 − d). Returns name → value.
    """
    out: dict[str, float] = {}
    claims = ("C1", "C2", "C3", "C4", "L_mm")
    for claim in claims:
        pos, imp, fam, rnd = [], [], [], []
        for results in per_dataset:
            for name, a in results:
                d, near = _distance(a, claim)
                if name == "positive":
                    pos.append(d)
                elif claim in IMPERSONATES.get(name, ()):
                    imp.append(d)
                if name in ("S̃ direction", "perturbed L_mm"):
                    fam.append(near)
                if name in ("random init", "relabelled UFM", "permuted means"):
                    rnd.append(near)
        thr = float(np.sqrt(max(FLOOR, max(pos)) * min(imp)))
        out[claim] = 1 - thr if claim == "C2" else thr
        if claim in ("C1", "C2", "L_mm") and fam:
            f = float(np.sqrt(max(fam) * min(rnd)))
            out[f"{claim}_family"] = 1 - f if claim == "C2" else f
    return out


def violations(results: list[tuple[str, list[Verdict]]]) -> list[str]:
    """Bugs shown by the controls: the positive control not passing a claim (on the trajectory claims, doing worse
    than "inconclusive (one snapshot)", the best a single matrix can get), or an impostor passing a claim it
    impersonates (an "n/a" counts as neither). Empty when the verdicts reject what they should."""
    bad = []
    for name, vs in results:
        for v in vs:
            if name == "positive" and not _positive_ok(v):
                bad.append(f"positive control: {v.claim} is {v.status} ({v.note})")
            elif v.claim in IMPERSONATES.get(name, ()) and v.status == "pass":
                bad.append(f"{name}: {v.claim} passes ({v.note})")
    return bad


def controls_table(results: list[tuple[str, list[Verdict]]]) -> str:
    """Plain-text table: one row per control, one column per claim (status and value)."""
    claims = list(CLAIMS)
    head = ["control", *claims]
    rows = []
    for name, vs in results:
        by = {v.claim: v for v in vs}
        cells = []
        for c in claims:
            v = by.get(c)
            mark = "*" if c in IMPERSONATES.get(name, ()) else ""
            cells.append("" if v is None else f"{status_label(v.status)}{mark} {v.value:.3g}")
        rows.append([name, *cells])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows),
                      "(* = the claim this control impersonates: it must not pass)"])


@dataclass(frozen=True, eq=False)
class ControlsTable:
    """The controls of one dataset for a report: ``title``, ``rows`` (every control's verdicts, ``run`` = control
    name), ``text`` (:func:`controls_table`) and ``violations`` (should be empty)."""

    title: str
    rows: list[Verdict]
    text: str
    violations: list[str]

    def as_dict(self) -> dict:
        return {"title": self.title, "rows": [v.as_dict() for v in self.rows], "violations": self.violations}


def controls_tables(datasets: list[tuple[str, NTPData, Theory]], seed: int = 0, *, finite_norm: bool = True,
                    face: FaceLike | str | None = "auto") -> list[ControlsTable]:
    """One :class:`ControlsTable` per ``(name, data, theory)`` whose L_mm is solved (the others are skipped).

    ``finite_norm=False, face=None`` judge every control against the asymptotic ``L_in + R·L_mm`` and L_mm itself,
    as a snapshot on a subset of the contexts is judged (``reproduce --paper-scale`` passes the data and theory
    restricted to that subset, :func:`ntpgeom.metrics.restrict`)."""
    out = []
    for name, data, theory in datasets:
        if theory.L_mm is None:
            continue
        res = run_controls(data, theory, seed, finite_norm=finite_norm, face=face)
        rows = [ControlVerdict(**{**vars(v), "run": f"{name}/{c}"}, imitates=IMITATES.get(c, ""),
                               expected=expected(c, v.claim)) for c, vs in res for v in vs]
        out.append(ControlsTable(f"Controls: {name}", rows, controls_table(res), violations(res)))
    return out
