"""Per-snapshot geometry measurements (theory.md §6) and the metrics table of a run.

A *table* is a plain ``dict[str, numpy.ndarray]`` of equal-length 1-D columns, one row per snapshot (column
``step`` first). :func:`save_table` writes it as parquet and JSON; :func:`load_table` reads either back.

Columns of :func:`snapshot_metrics` (NaN where an input is missing, e.g. the ``*_mm`` columns when L_mm was not solved).
``L_k`` below always means the token-centred logits ``(I − 11ᵀ/V) L_k``: softmax ignores per-context offsets, and every
minimiser of the theory has ``1ᵀL = 0``, so an offset (e.g. from a row shared by all of W) is not geometry.

====================  ==================================================================================================
``step``              training step of the snapshot
``ce``, ``gap``       ``CE(L_k)`` and the loss gap ``CE(L_k) − ℋ``
``norm_W/H/L``        Frobenius norms ``‖W_k‖``, ``‖H_k‖``, ``‖L_k‖`` (centred L)
``softlabel_err``     ``‖P_F(L_k) − L_in‖_F`` (soft-label recovery); ``softlabel_rel`` divides by ``‖L_in‖_F``
``dir_mm``            ``‖L_k/‖L_k‖ − L_mm/‖L_mm‖‖_F``; ``dir_perp_mm`` the same for ``P_⊥(L_k)``
``dir_tilde``         the same against S̃ (the proxy); ``dir_perp_tilde`` for ``P_⊥(L_k)``
``slr_R, slr_resid``  sparse plus low-rank fit ``L_k − L_in ≈ R·L_ref`` (L_ref = L_mm, else S̃): the scale R and the
                      relative residual ``‖L_k − L_in − R L_ref‖ / ‖L_k − L_in‖``
``gram_W_mm``         ``gram_distance(Ẇ Ẇᵀ, G_W)`` with Ẇ = W centred over tokens; ``gram_H_mm`` for ``HᵀH`` vs G_H;
                      ``gram_W_proxy``/``gram_H_proxy`` against the S̃ proxy Grams
``sim_*``/``pearson_*``  agreement (SSIM structure term, ε = 1e-5 / Pearson) of corr(Ẇᵀ) and corr(H) with the
                      predicted corr maps (``_mm``: from L_mm's Grams; ``_proxy``: from S̃'s)
``collapse_H``        :func:`collapse_index` of H by support group; ``collapse_Lperp`` of ``P_⊥(L_k)``;
                      ``*_base`` the random-grouping baseline mean (``*_base_std`` its std)
``nc1 .. nc4``        neural-collapse measures, one-hot data only (:func:`neural_collapse`)
====================  ==================================================================================================

For large m the m x m quantities (Gram of H, corr(H)) are measured on a fixed, seeded subset of at most
``max_contexts`` contexts (recorded as ``n_contexts_sampled``); every other column uses all contexts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .._io import atomic_path, versions, write_json_atomic
from ..data import NTPData
from ..theory.subspaces import L_in as _L_in
from ..theory.subspaces import S_tilde as _S_tilde
from ..theory.subspaces import cross_entropy, proj_F
from .collapse import collapse_baseline, collapse_index, neural_collapse
from .distances import best_scale_residual, direction_distance, gram_distance
from .similarity import MetricsError, corr_from_gram, corr_map, pearson, sim_ssim

TABLE_FORMAT = "ntpgeom.metrics"
TABLE_VERSION = 1

#: Column order of a metrics table.
COLUMNS: tuple[str, ...] = (
    "step", "ce", "gap", "norm_W", "norm_H", "norm_L", "softlabel_err", "softlabel_rel",
    "dir_mm", "dir_perp_mm", "dir_tilde", "dir_perp_tilde", "slr_R", "slr_resid",
    "gram_W_mm", "gram_H_mm", "gram_W_proxy", "gram_H_proxy",
    "sim_W_mm", "sim_H_mm", "pearson_W_mm", "pearson_H_mm",
    "sim_W_proxy", "sim_H_proxy", "pearson_W_proxy", "pearson_H_proxy",
    "collapse_H", "collapse_H_base", "collapse_H_base_std", "collapse_Lperp", "collapse_Lperp_base", "collapse_Lperp_base_std",
    "nc1", "nc2_H", "nc2_W", "nc3", "nc4",
)

NAN = float("nan")


# ------------------------------------------------------------------------------------------------ reference
@dataclass(frozen=True, eq=False)
class Reference:
    """Everything the metrics compare a snapshot against, computed once per (theory, data) pair.

    Build with :func:`reference`; pass to :func:`snapshot_metrics` (``ref=``) to reuse across snapshots.
    ``idx`` is the context subset used for the m x m quantities (all contexts when m <= max_contexts).
    """

    data: NTPData
    L_in: np.ndarray
    S_tilde: np.ndarray
    L_mm: np.ndarray | None
    idx: np.ndarray
    groups: np.ndarray
    G_W_mm: np.ndarray | None = None
    G_H_mm: np.ndarray | None = None
    G_W_proxy: np.ndarray | None = None
    G_H_proxy: np.ndarray | None = None
    corr_W_mm: np.ndarray | None = None
    corr_H_mm: np.ndarray | None = None
    corr_W_proxy: np.ndarray | None = None
    corr_H_proxy: np.ndarray | None = None
    labels: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def L_ref(self) -> np.ndarray:
        """The low-rank reference direction: L_mm when solved, else the proxy S̃."""
        return self.L_mm if self.L_mm is not None else self.S_tilde


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _sub(G: Any, idx: np.ndarray, m: int) -> np.ndarray | None:
    if G is None:
        return None
    G = np.asarray(G, dtype=np.float64)
    if G.shape != (m, m):
        raise MetricsError(f"a context Gram has shape {G.shape}, expected ({m}, {m})")
    return G if len(idx) == m else G[np.ix_(idx, idx)]


def context_subset(m: int, max_contexts: int = 2000, seed: int = 0) -> np.ndarray:
    """Sorted indices of the contexts used for m x m quantities: all of them, or a seeded sample of ``max_contexts``."""
    if m <= max_contexts:
        return np.arange(m)
    return np.sort(np.random.default_rng(seed).choice(m, size=max_contexts, replace=False))


def reference(theory: Any, data: NTPData, max_contexts: int = 2000, seed: int = 0) -> Reference:
    """Collect the predictions a snapshot is measured against.

    Parameters
    ----------
    theory : Theory or None
        A :func:`ntpgeom.theory.compute_theory` result (anything with attributes ``L_in, S_tilde, L_mm, G_W, G_H,
        G_W_proxy, G_H_proxy``; missing ones are skipped). ``None``: only L_in and S̃ (computed from ``data``).
    data : NTPData
    max_contexts : int
        Largest number of contexts for the m x m comparisons.
    """
    if not isinstance(data, NTPData):
        raise MetricsError(f"data must be an NTPData, got {type(data).__name__}")
    V, m = data.V, data.m
    th_hash = _get(theory, "data_hash")
    if th_hash is not None and th_hash != data.hash:
        raise MetricsError(
            f"the theory was computed for data {th_hash} but the run's data is {data.hash}; recompute the theory for this data"
        )
    Lin = _get(theory, "L_in")
    Lin = _L_in(data) if Lin is None else np.asarray(Lin, dtype=np.float64)
    St = _get(theory, "S_tilde")
    St = _S_tilde(data) if St is None else np.asarray(St, dtype=np.float64)
    Lmm = _get(theory, "L_mm")
    Lmm = None if Lmm is None else np.asarray(Lmm, dtype=np.float64)
    for name, A in (("L_in", Lin), ("S_tilde", St), ("L_mm", Lmm)):
        if A is not None and A.shape != (V, m):
            raise MetricsError(f"theory.{name} has shape {A.shape} but the data is V x m = ({V}, {m})")
    idx = context_subset(m, max_contexts, seed)
    notes = []
    if len(idx) < m:
        notes.append(f"m x m comparisons use a seeded sample of {len(idx)} of {m} contexts")
    GW, GH = _get(theory, "G_W"), _get(theory, "G_H")
    GWp, GHp = _get(theory, "G_W_proxy"), _get(theory, "G_H_proxy")
    GW = None if GW is None else np.asarray(GW, dtype=np.float64)
    GWp = None if GWp is None else np.asarray(GWp, dtype=np.float64)
    GH, GHp = _sub(GH, idx, m), _sub(GHp, idx, m)
    Hmm = _get(theory, "H_mm")
    if GH is None and Hmm is not None:  # m too large for the theory's dense G_H: the Gram of the sampled columns
        Hs = np.asarray(Hmm, dtype=np.float64)[:, idx]
        GH = Hs.T @ Hs
    if GHp is None and theory is not None and m > 1:  # likewise for the proxy: H-factor of S̃ = Σ^{1/2}Vᵀ
        from ..theory import factors

        Hp = factors(St)[1][:, idx]
        GHp = Hp.T @ Hp
    if Lmm is None:
        notes.append("L_mm not solved: the *_mm columns are empty, comparisons use the S̃ proxy")
    labels = data.S.indices.astype(np.int64) if np.all(data.support_sizes == 1) else None
    return Reference(
        data=data, L_in=Lin, S_tilde=St, L_mm=Lmm, idx=idx, groups=np.asarray(data.support_groups),
        G_W_mm=GW, G_H_mm=GH, G_W_proxy=GWp, G_H_proxy=GHp,
        corr_W_mm=None if GW is None else corr_from_gram(GW),
        corr_H_mm=None if GH is None else corr_from_gram(GH),
        corr_W_proxy=None if GWp is None else corr_from_gram(GWp),
        corr_H_proxy=None if GHp is None else corr_from_gram(GHp),
        labels=labels, notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------------ snapshot
def _arrays(snap: Any) -> tuple[int | None, np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(step, W, H, L, b) from a Snapshot-like object, a mapping, a (W, H) pair or a bare L."""
    if isinstance(snap, np.ndarray):
        return None, None, None, np.asarray(snap, dtype=np.float64), None
    if isinstance(snap, tuple) and len(snap) == 2:
        W, H = (np.asarray(a, dtype=np.float64) for a in snap)
        return None, W, H, W @ H, None
    step, W, H, L, b = (_get(snap, k) for k in ("step", "W", "H", "L", "b"))
    W = None if W is None else np.asarray(W, dtype=np.float64)
    H = None if H is None else np.asarray(H, dtype=np.float64)
    if L is None:
        if W is None or H is None:
            raise MetricsError("a snapshot needs logits L or both W and H")
        L = W @ H
    L = np.asarray(L, dtype=np.float64)
    if b is not None and not _get(snap, "has_bias") and _get(snap, "has_bias") is not None:
        b = None
    b = None if b is None else np.asarray(b, dtype=np.float64).ravel()
    return (None if step is None else int(step)), W, H, L, b


def _sim_pair(A: np.ndarray, B: np.ndarray | None) -> tuple[float, float]:
    if B is None:
        return NAN, NAN
    return sim_ssim(A, B), pearson(A, B)


def _compare(out: dict[str, float], side: str, G: np.ndarray, corr: np.ndarray, refs: Sequence[tuple]) -> None:
    """Fill ``gram_<side>_<tag>``, ``sim_<side>_<tag>``, ``pearson_<side>_<tag>`` for each available reference."""
    for tag, G_ref, corr_ref in refs:
        if G_ref is not None:
            out[f"gram_{side}_{tag}"] = gram_distance(G, G_ref)
            out[f"sim_{side}_{tag}"], out[f"pearson_{side}_{tag}"] = _sim_pair(corr, corr_ref)


def _collapse(out: dict[str, float], name: str, X: np.ndarray, groups: np.ndarray, n_perm: int, seed: int) -> None:
    """Fill ``collapse_<name>`` and its random-grouping baseline (mean, std)."""
    out[f"collapse_{name}"] = collapse_index(X, groups)
    out[f"collapse_{name}_base"], out[f"collapse_{name}_base_std"] = collapse_baseline(X, groups, n_perm, seed)


def snapshot_metrics(
    snapshot_or_arrays: Any,
    theory: Any,
    data: NTPData,
    *,
    ref: Reference | None = None,
    max_contexts: int = 2000,
    n_perm: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """All geometry measurements of one snapshot (see the module docstring for the columns).

    Parameters
    ----------
    snapshot_or_arrays : Snapshot, mapping, (W, H) tuple or ndarray
        A training snapshot (attributes ``step, W (V x d), H (d x m), L (V x m), b (V,)``), a mapping with those
        keys, a pair ``(W, H)`` (then ``L = W H``), or the logits ``L`` alone (then only logit metrics).
    theory : Theory or None
        See :func:`reference`.
    data : NTPData
    ref : Reference, optional
        A prebuilt :func:`reference` (reused across snapshots by :func:`run_metrics`).

    Returns
    -------
    dict
        One float per name in :data:`COLUMNS` (``step`` as given, NaN if unknown).
    """
    ref = reference(theory, data, max_contexts, seed) if ref is None else ref
    data = ref.data
    V, m = data.V, data.m
    step, W, H, L, b = _arrays(snapshot_or_arrays)
    if L.shape != (V, m):
        raise MetricsError(f"logits have shape {L.shape} but the data is V x m = ({V}, {m})")
    if not np.all(np.isfinite(L)):
        raise MetricsError("the snapshot's logits contain NaN or infinite values (training diverged?)")
    if W is not None and (W.ndim != 2 or W.shape[0] != V):
        raise MetricsError(f"W has shape {W.shape}, expected (V={V}, d)")
    if H is not None and (H.ndim != 2 or H.shape[1] != m):
        raise MetricsError(f"H has shape {H.shape}, expected (d, m={m})")
    out: dict[str, float] = {c: NAN for c in COLUMNS}
    out["step"] = NAN if step is None else float(step)
    # Softmax ignores a constant added to a column, so only the token-centred logits (I - 11ᵀ/V) L carry geometry
    # (every minimiser of the theory has 1ᵀL = 0, theory.md §2). Compare those: a shared row of W (or any
    # per-context offset) must not count as distance from L_mm.
    L = L - L.mean(axis=0, keepdims=True)
    ce = cross_entropy(L, data)
    out.update(ce=ce, gap=ce - data.entropy_bound, norm_L=float(np.linalg.norm(L)))
    PF = proj_F(L, data)
    Lp = L - PF
    err = float(np.linalg.norm(PF - ref.L_in))
    nLin = float(np.linalg.norm(ref.L_in))
    out.update(softlabel_err=err, softlabel_rel=err / nLin if nLin > 0 else NAN)
    if ref.L_mm is not None:
        out.update(dir_mm=direction_distance(L, ref.L_mm), dir_perp_mm=direction_distance(Lp, ref.L_mm))
    out.update(dir_tilde=direction_distance(L, ref.S_tilde), dir_perp_tilde=direction_distance(Lp, ref.S_tilde))
    R, resid = best_scale_residual(L - ref.L_in, ref.L_ref)
    out.update(slr_R=R, slr_resid=resid)
    groups = ref.groups
    if data.n_supports < m:
        _collapse(out, "Lperp", Lp, groups, n_perm, seed)
    if W is not None:
        Wc = W - W.mean(axis=0, keepdims=True)
        out["norm_W"] = float(np.linalg.norm(W))
        _compare(out, "W", Wc @ Wc.T, corr_map(Wc.T),
                 (("mm", ref.G_W_mm, ref.corr_W_mm), ("proxy", ref.G_W_proxy, ref.corr_W_proxy)))
    if H is not None:
        out["norm_H"] = float(np.linalg.norm(H))
        Hs = H[:, ref.idx] if len(ref.idx) < m else H
        _compare(out, "H", Hs.T @ Hs, corr_map(Hs),
                 (("mm", ref.G_H_mm, ref.corr_H_mm), ("proxy", ref.G_H_proxy, ref.corr_H_proxy)))
        if data.n_supports < m:
            _collapse(out, "H", H, groups, n_perm, seed)
        if W is not None and ref.labels is not None and len(np.unique(ref.labels)) >= 2:
            nc = neural_collapse(H, W, ref.labels, b=b, weights=data.pi)
            out.update(nc1=nc.nc1, nc2_H=nc.nc2_H, nc2_W=nc.nc2_W, nc3=nc.nc3, nc4=nc.nc4)
    return out


# ------------------------------------------------------------------------------------------------ run
def run_metrics(
    run: Any,
    theory: Any,
    *,
    steps: Sequence[int] | None = None,
    max_contexts: int = 2000,
    n_perm: int = 20,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    threads: int = 1,
) -> dict[str, np.ndarray]:
    """The metrics table of a training run: one row per snapshot.

    Parameters
    ----------
    run : Run
        A :func:`ntpgeom.train.load_run` result (``.data``, ``.steps``, ``.snapshot(step)``).
    theory : Theory or None
        The theory of ``run.data`` (see :func:`reference`).
    steps : sequence of int, optional
        Which snapshots (default: all).
    progress : callable, optional
        Called as ``progress(done, total)`` after each snapshot.
    threads : int
        BLAS threads while measuring (default 1: fastest for these sizes; set through threadpoolctl).

    Returns
    -------
    dict[str, ndarray]
        Columns :data:`COLUMNS`, each of length ``len(steps)``, rows in step order.
    """
    from threadpoolctl import threadpool_limits

    data = run.data
    steps = list(run.steps) if steps is None else sorted(int(s) for s in steps)
    if not steps:
        raise MetricsError(f"the run {getattr(run, 'path', '')} has no snapshots; train with snapshots enabled")
    rows = []
    # one BLAS thread: these are many small products, where OpenBLAS threads only contend (10-100x slower here)
    with threadpool_limits(threads):
        ref = reference(theory, data, max_contexts, seed)
        for i, s in enumerate(steps):
            snap = run.snapshot(s)
            row = snapshot_metrics(snap, theory, data, ref=ref, n_perm=n_perm, seed=seed)
            if math.isnan(row["step"]):
                row["step"] = float(s)
            rows.append(row)
            if progress is not None:
                progress(i + 1, len(steps))
    return rows_to_table(rows)


def rows_to_table(rows: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Stack per-snapshot dicts into a table (columns in :data:`COLUMNS` order, ``step`` as int64)."""
    names = list(COLUMNS) + [k for k in (rows[0] if rows else {}) if k not in COLUMNS]
    table = {k: np.array([r.get(k, NAN) for r in rows], dtype=np.float64) for k in names}
    table["step"] = table["step"].astype(np.int64)
    return table


# ------------------------------------------------------------------------------------------------ I/O
def save_table(table: Mapping[str, Any], path: str | Path, meta: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Write a table as ``<path>.parquet`` and ``<path>.json`` (atomically); returns both paths.

    ``meta`` (e.g. the data hash, run config) is stored in the parquet schema metadata and the JSON header, with the
    library versions. NaN becomes null in JSON.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".parquet", ".json") else path
    cols = {k: np.asarray(v) for k, v in table.items()}
    lens = {len(v) for v in cols.values()}
    if len(lens) > 1:
        raise MetricsError(f"table columns have different lengths {sorted(lens)}")
    header = {"format": TABLE_FORMAT, "version": TABLE_VERSION, "versions": versions(), "meta": dict(meta or {})}
    tbl = pa.table(cols).replace_schema_metadata({"ntpgeom": json.dumps(header, default=str)})
    pq_path, js_path = stem.with_name(stem.name + ".parquet"), stem.with_name(stem.name + ".json")
    with atomic_path(pq_path) as tmp:
        pq.write_table(tbl, tmp)
    js = {**header, "columns": {k: [None if isinstance(x, float) and math.isnan(x) else x for x in v.tolist()] for k, v in cols.items()}}
    write_json_atomic(js_path, js)
    return pq_path, js_path


def load_table(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a table written by :func:`save_table` (``.parquet`` or ``.json``); returns ``(table, header)``."""
    path = Path(path)
    if not path.exists():
        raise MetricsError(f"metrics table not found: {path}")
    if path.suffix == ".json":
        obj = json.loads(path.read_text(encoding="utf-8"))
        if obj.get("format") != TABLE_FORMAT:
            raise MetricsError(f"{path} is not an ntpgeom metrics table")
        cols = {k: np.array([NAN if x is None else x for x in v]) for k, v in obj["columns"].items()}
        if "step" in cols:
            cols["step"] = cols["step"].astype(np.int64)
        return cols, {k: v for k, v in obj.items() if k != "columns"}
    import pyarrow.parquet as pq

    tbl = pq.read_table(path)
    md = tbl.schema.metadata or {}
    header = json.loads(md.get(b"ntpgeom", b"{}"))
    if header.get("format") != TABLE_FORMAT:
        raise MetricsError(f"{path} is not an ntpgeom metrics table")
    return {k: tbl.column(k).to_numpy() for k in tbl.column_names}, header
