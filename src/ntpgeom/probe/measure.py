"""Measure a pretrained LM's last-layer geometry against the support pattern of a corpus (theory.md §§3-6).

The measurements are the per-snapshot metrics of :func:`ntpgeom.metrics.snapshot_metrics` (the same ones
``ntpgeom report`` tabulates for trained models), applied to the model's (W, H, L) restricted to the measured tokens,
plus probe-specific quantities: the cross-entropy under the model's full-vocabulary softmax, the probability mass it
puts on the supports, and how much of the in-support log-odds ``L_in`` its logits reproduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data import NTPData
from ..metrics import best_scale_residual, collapse_baseline, collapse_index, corr_map, offdiag, pearson, sim_ssim
from ..theory import L_in as _L_in
from ..theory import SupportPattern, Theory, centre, cross_entropy_in, proj_F
from ..verdicts import assess, face_reference, judge_row
from .model import ProbeError
from .reference import probe_theory, restrict_theory, solve_record


def restricted_data(data: NTPData, rows: np.ndarray, names: list[str] | tuple[str, ...]) -> NTPData:
    """The dataset over the measured tokens: the support tokens of ``data`` (its rows, in order) followed by the extra
    sampled tokens ``rows[data.V:]`` as all-zero rows (never in a support).

    Parameters
    ----------
    data : NTPData from :func:`~ntpgeom.probe.corpus_data` (``meta["token_ids"]`` = model id of each row)
    rows : int array, shape (R,)
        Model token ids; ``rows[:data.V]`` must equal ``data.meta["token_ids"]``.
    names : sequence of str
        Unique names of all model token ids.
    """
    rows = np.asarray(rows, dtype=np.int64)
    sup = np.asarray(data.meta["token_ids"], dtype=np.int64)
    if rows.size < sup.size or not np.array_equal(rows[: sup.size], sup):
        raise ProbeError("the measured rows must start with the support tokens of the data (use measured_tokens)")
    extra = rows[sup.size :]
    C = sp.vstack([data.counts, sp.csc_array((extra.size, data.m))], format="csc")
    vocab = list(data.vocab) + [names[i] for i in extra.tolist()]
    meta = {**dict(data.meta), "token_ids": rows.tolist(), "n_support_tokens": int(sup.size), "n_other_tokens": int(extra.size)}
    return NTPData(C, vocab, data.contexts, data.input_vocab, meta)


def _full_softmax_stats(L: np.ndarray, lse: np.ndarray, data: NTPData) -> tuple[float, float]:
    """(CE under the model's full-vocabulary softmax, π-weighted probability mass on the supports).

    ``L``: (V_restricted, m) logits whose first rows include every support token; ``lse``: (m,) full log-partition.
    """
    P = data.P
    col = np.repeat(np.arange(data.m), np.diff(P.indptr))
    logp = L[P.indices, col] - lse[col]  # log softmax over the whole model vocabulary, support entries
    ce = float(-(data.pi[col] * P.data * logp).sum())
    mass = np.bincount(col, weights=np.exp(logp), minlength=data.m)
    return ce, float((data.pi * mass).sum())


def measure(
    data: NTPData,
    W: np.ndarray,
    H: np.ndarray,
    L: np.ndarray,
    lse: np.ndarray,
    *,
    b: np.ndarray | None = None,
    theory: Theory | None = None,
    H_mean: np.ndarray | None = None,
    max_contexts: int = 2000,
    n_perm: int = 20,
    seed: int = 0,
    **solve_options: Any,
) -> tuple[dict[str, Any], Theory]:
    """All measurements of one probed model.

    Parameters
    ----------
    data : NTPData, shape (V, m)
        The restricted dataset (:func:`restricted_data`): support tokens then sampled others (or its context subset).
    W : ndarray, shape (V, d)
        Unembedding rows of those tokens.
    H : ndarray, shape (d, m)
        Final hidden states (after the final norm) at the last position.
    L : ndarray, shape (V, m)
        The model's logits on those tokens.
    lse : ndarray, shape (m,)
        Full-vocabulary log-partition of each context.
    b : ndarray, shape (V,), optional
        Output bias.
    theory : Theory, optional
        The reference geometry of ``data`` (e.g. :func:`restrict_theory` of a larger problem's); computed by
        :func:`probe_theory` when omitted, with the keywords ``solve_options`` (``solve``, ``max_reduced``,
        ``svm_tol``, ``svm_max_iter``; their defaults there).
    H_mean : ndarray, shape (d,), optional
        The mean hidden state to centre H by (e.g. over more contexts than those measured); default H's own mean.
    solve_options : keywords
        Of :func:`probe_theory` (see ``theory``), and ``finite_norm``: False to measure C1/C2 against
        L_in + R·L_mm instead of the finite-norm path point (one solve per call; the logit-lens layers skip it).
        Default: "auto", and False against a restricted theory.

    Returns
    -------
    (metrics, theory)
        ``metrics``: a flat dict of floats (the :data:`ntpgeom.metrics.COLUMNS` plus the probe's own, see
        :func:`probe_extras`); ``theory``: the :class:`ntpgeom.theory.Theory` used as reference.
    """
    V, m = data.V, data.m
    if W.shape[0] != V or H.shape[1] != m or L.shape != (V, m) or lse.shape != (m,) or W.shape[1] != H.shape[0]:
        raise ProbeError(f"shape mismatch: W {W.shape}, H {H.shape}, L {L.shape}, lse {lse.shape} for V={V}, m={m}")
    why, finite_norm = "given", solve_options.pop("finite_norm", None)
    if theory is None:
        theory, why = probe_theory(data, **solve_options)
    # the optimal face needs an optimal L_mm of *this* data: not a time budget's point, nor a restriction to a sample
    # (likewise the finite-norm path point: of a sample's own problem, not of the full one; L_in + R·L_mm is used)
    restricted = theory.restricted
    face = "auto" if theory.status.solved and not restricted else None
    ref = face_reference(theory, data, face, max_contexts=max_contexts, seed=seed)
    a = assess(data, theory, W=W, H=H, L=L, b=b, ref=ref, n_perm=n_perm, seed=seed, label="probe",
               finite_norm=False if restricted or finite_norm is False else "auto")
    out: dict[str, Any] = dict(a.row)
    out.pop("step", None)
    out["prediction"] = a.prediction_note
    out.update(probe_extras(data, H, L, lse, ref_idx=ref.idx, Lin=ref.L_in, corr_H_proxy=ref.corr_H_proxy,
                            corr_H_mm=ref.corr_H_mm, n_perm=n_perm, seed=seed, H_mean=H_mean))
    out.update(solve_record(theory, why))
    out.update(n_contexts_sampled=int(len(ref.idx)))
    return out, theory


def measure_subset(data: NTPData, idx: np.ndarray, W: np.ndarray, H: np.ndarray, L: np.ndarray, lse: np.ndarray,
                   b: np.ndarray | None, theory: Theory, why: str, *, H_gram: np.ndarray | None = None,
                   pattern: SupportPattern | None = None, **measure_kw: Any) -> tuple[NTPData, Theory, dict]:
    """Measure the model on the contexts ``idx`` of ``data`` (H, L, lse: those columns) against ``theory`` (of all
    of ``data``, restricted by :func:`restrict_theory`; ``pattern``: ``support_pattern(data)`` if computed already).
    ``measure_kw``: the keywords of :func:`measure` (``H_mean``, ``n_perm``, ``seed``, ...); with ``H_gram`` and
    ``H_mean`` the streamed :func:`hidden_moments` are added. Returns (measured data, its theory, metrics)."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == data.m:
        sub, sub_theory = data, theory
    else:
        sub = data.select_contexts(idx, measured_of=int(data.m), source_hash=data.hash)
        sub_theory = restrict_theory(theory, data, idx, sub, pattern)
    metrics, _ = measure(sub, W, H, L, lse, b=b, theory=sub_theory, **measure_kw)
    metrics.update(solve_record(theory, why))
    metrics.update(n_contexts_measured=int(sub.m), n_contexts_total=int(data.m))
    if H_gram is not None and measure_kw.get("H_mean") is not None:
        metrics.update(hidden_moments(measure_kw["H_mean"], H_gram))
    return sub, sub_theory, metrics


def hidden_moments(mean: np.ndarray, gram: np.ndarray) -> dict[str, float]:
    """From the streamed mean μ and second moment E[hhᵀ] over all contexts: ``H_offset_share`` = ‖μ‖² / E‖h‖² (the
    share of the hidden states' energy in their common offset) and ``H_eff_rank`` = exp(entropy of the normalised
    eigenvalues of the covariance E[hhᵀ] - μμᵀ)."""
    tot = float(np.trace(gram))
    lam = np.clip(np.linalg.eigvalsh(gram - np.outer(mean, mean)), 0, None)
    p = lam / lam.sum() if lam.sum() > 0 else lam
    nz = p[p > 0]
    return {"H_offset_share": float(mean @ mean) / tot if tot > 0 else float("nan"),
            "H_eff_rank": float(np.exp(-(nz * np.log(nz)).sum())) if nz.size else float("nan")}


def probe_extras(
    data: NTPData,
    H: np.ndarray,
    L: np.ndarray,
    lse: np.ndarray,
    *,
    ref_idx: np.ndarray,
    Lin: np.ndarray | None = None,
    corr_H_proxy: np.ndarray | None = None,
    corr_H_mm: np.ndarray | None = None,
    n_perm: int = 20,
    seed: int = 0,
    H_mean: np.ndarray | None = None,
) -> dict[str, Any]:
    """Probe-specific measurements.

    ``ce_full``/``gap_full``: CE under the full-vocabulary softmax and its gap to ℋ; ``support_mass``: π-weighted
    probability the model puts on the support; ``ce_in``/``gap_in``: the in-support CE (depends on P_F(L) only);
    ``softlabel_cos``: cosine of P_F(L) and L_in; ``softlabel_scale``/``softlabel_scaled_rel``: the best fit
    ``L_in ≈ α P_F(L)`` (a temperature) and its relative residual; ``frac_F``: share of the (column-centred) logits'
    energy that lies in F; ``collapse_Hc`` (+ baseline): the collapse index of H centred over contexts (a common
    offset, which real LMs have, inflates every cosine); ``sim_Hc_proxy``/``pearson_Hc_proxy`` (and ``_mm``): corr
    of the centred H against the predicted maps, off the diagonal; ``n_groups_multi``: support groups holding >= 2 contexts.
    ``H_mean`` (d,): the mean H is centred by (default: the mean of H's columns).
    """
    out: dict[str, Any] = {}
    ce_full, mass = _full_softmax_stats(L, lse, data)
    Hb = data.entropy_bound
    out.update(entropy_bound=Hb, ce_full=ce_full, gap_full=ce_full - Hb, support_mass=mass)
    ce_in = cross_entropy_in(L, data)
    out.update(ce_in=ce_in, gap_in=ce_in - Hb)
    Lin = _L_in(data) if Lin is None else Lin
    PF = proj_F(L, data)
    nPF, nLin = float(np.linalg.norm(PF)), float(np.linalg.norm(Lin))
    out["softlabel_cos"] = float(np.vdot(PF, Lin) / (nPF * nLin)) if nPF > 0 and nLin > 0 else float("nan")
    alpha, resid = best_scale_residual(Lin, PF)
    out.update(softlabel_scale=alpha, softlabel_scaled_rel=resid)
    Lc = centre(L, dtype=None)
    tot = float(np.vdot(Lc, Lc))
    PFc = proj_F(Lc, data)
    out["frac_F"] = float(np.vdot(PFc, PFc)) / tot if tot > 0 else float("nan")
    groups = np.asarray(data.support_groups)
    sizes = np.bincount(groups)
    out["n_groups_multi"] = int((sizes >= 2).sum())
    out["n_contexts_in_multi"] = int(sizes[sizes >= 2].sum())
    Hc = H - (H.mean(axis=1) if H_mean is None else np.asarray(H_mean, dtype=np.float64))[:, None]
    if data.n_supports < data.m:
        out["collapse_Hc"] = collapse_index(Hc, groups)
        out["collapse_Hc_base"], out["collapse_Hc_base_std"] = collapse_baseline(Hc, groups, n_perm, seed)
    else:
        out["collapse_Hc"] = out["collapse_Hc_base"] = out["collapse_Hc_base_std"] = float("nan")
    cHc = corr_map(Hc[:, ref_idx])
    for tag, ref_map in (("proxy", corr_H_proxy), ("mm", corr_H_mm)):
        if ref_map is None:
            out[f"sim_Hc_{tag}"] = out[f"pearson_Hc_{tag}"] = float("nan")
        else:
            a, b = offdiag(cHc), offdiag(ref_map)
            out[f"sim_Hc_{tag}"], out[f"pearson_Hc_{tag}"] = sim_ssim(a, b), pearson(a, b)
    return out


def probe_verdicts(mt: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of a probed model (loss, C1-C4, L_mm; :func:`ntpgeom.verdicts.judge_row` on its metrics, the same
    code as for trained runs) as JSON-ready rows. A probe has no first snapshot, so the change gates do not apply;
    the loss is judged under the restricted softmax (``gap``), ``gap_full`` is in the metrics."""
    row = {k: v for k, v in mt.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return [v.as_dict() for v in judge_row(row, None, run="probe")]
