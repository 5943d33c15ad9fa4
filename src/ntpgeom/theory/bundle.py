"""The :class:`Theory` result: everything the theory predicts for one dataset, in one object and one file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from ..reprs import short_repr
from .._io import load_npz, save_npz, versions
from ..data import NTPData
from ..errors import FormatError, SolverError, ValidationError
from ..status import SolverStats, Status, check_solver_options
from .geometry import direction_distance, factors, proxy_grams
from .norms import nuclear_norm
from ..progress import Progress
from .dense_size import MASK_BYTES_PER_ENTRY, check_dense_size
from .pattern import Reduction, SupportPattern, TildeCertificate, singular_rank, support_pattern
from .protocol import TheoryLike
from .restriction import (GRAM_MAX, context_indices, nuclear_norm_centred, restricted_columns, tilde_is_optimal,
                          tilde_optimal_of)
from .subspaces import L_in as _L_in
from .svm import SOLVE_BYTES_PER_ENTRY, SVMResult, solve_ntp_svm
from .tolerances import BLOCK_CONSTANT_ATOL, RANK_RTOL

FORMAT_NAME = "ntpgeom.theory"
FORMAT_VERSION = 1
#: Bytes per (V, m) entry of the theory without the solve: the mask, L_in and S̃ (float64), a temporary of each.
THEORY_BYTES_PER_ENTRY = MASK_BYTES_PER_ENTRY + 32

_ARRAYS = ("L_in", "S_tilde", "L_mm", "W_mm", "H_mm", "G_W", "G_H", "G_W_proxy", "G_H_proxy", "dual", "H_proxy",
           "contexts")


@dataclass(frozen=True, eq=False)
class Theory:
    """The predicted geometry of one dataset (theory.md §§3-5).

    Attributes
    ----------
    data_hash : str
        ``NTPData.hash`` of the dataset.
    L_in : ndarray, shape (V, m)
        In-support component.
    S_tilde : ndarray, shape (V, m)
        Centred support matrix.
    svm : SVMResult or None
        The NTP-SVM* solve, with its dual and stats (None if not solved); restored by :func:`load_theory`.
    L_mm : ndarray (V, m) or None
        Max-margin component (``S̃`` itself when Prop. 3's certificate holds).
    W_mm, H_mm : ndarray (V, r), (r, m) or None
        Balanced factors ``UΣ^{1/2}``, ``Σ^{1/2}Vᵀ`` of L_mm.
    G_W, G_H : ndarray (V, V), (m, m) or None
        Grams ``UΣUᵀ``, ``VΣVᵀ`` of L_mm (G_H is None when m > ``gram_max``).
    G_W_proxy, G_H_proxy : ndarray (V, V), (m, m) or None
        ``(S̃S̃ᵀ)^{1/2}``, ``(S̃ᵀS̃)^{1/2}`` (G_H_proxy None when m > ``gram_max``).
    certificate : TildeCertificate
        Prop. 3's check.
    dist_mm_tilde : float or None
        ``‖L_mm/‖L_mm‖_F - S̃/‖S̃‖_F‖_F`` (Frobenius; 0 iff same direction), None if not solved.
    meta : dict
        Config and versions (a restriction adds ``restricted_from``, the whole data's hash, and ``n_contexts_full``).
    tilde_optimal : bool or None
        Whether S̃ is itself optimal for NTP-SVM* *of the whole data* (the one rule,
        :func:`~ntpgeom.theory.restriction.tilde_is_optimal`: Prop. 3's certificate, or ``‖S̃‖_* <= ‖L_mm‖_*
        (1 + 1e-6)``); then it lies on the optimal face whatever L_mm the solver returned. None iff not solved;
        decided from the arrays when not given.
    H_proxy : ndarray (r', m) or None
        Columns of the whole S̃'s factor ``Σ^{1/2}Vᵀ`` (set by :meth:`restrict` when the whole theory holds no
        ``G_H_proxy``; its Gram is ``G_H_proxy``).
    contexts : int ndarray (k,) or None
        None for the theory of the whole data; after :meth:`restrict`, the kept contexts as indices into the whole
        data's columns (every per-context array then holds those k columns, ``data_hash`` is the restricted data's).
    """

    __repr__ = short_repr

    data_hash: str
    L_in: np.ndarray
    S_tilde: np.ndarray
    svm: SVMResult | None
    L_mm: np.ndarray | None
    W_mm: np.ndarray | None
    H_mm: np.ndarray | None
    G_W: np.ndarray | None
    G_H: np.ndarray | None
    G_W_proxy: np.ndarray | None
    G_H_proxy: np.ndarray | None
    certificate: TildeCertificate
    dist_mm_tilde: float | None
    meta: Mapping[str, Any] = field(default_factory=dict)
    tilde_optimal: bool | None = None
    H_proxy: np.ndarray | None = None
    contexts: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.L_mm is None:
            object.__setattr__(self, "tilde_optimal", None)
        elif self.tilde_optimal is None:  # built by hand or read from an older file: decide from the arrays
            legacy = self.meta.get("tilde_optimal")  # where restrictions recorded it before it was a field
            object.__setattr__(self, "tilde_optimal", bool(legacy) if legacy is not None else tilde_optimal_of(
                self.S_tilde, self.L_mm, bool(self.certificate.holds)))
        else:
            object.__setattr__(self, "tilde_optimal", bool(self.tilde_optimal))

    @property
    def solved(self) -> bool:
        return self.L_mm is not None

    @property
    def restricted(self) -> bool:
        """True when this is the theory of the whole data restricted to some of its contexts (:meth:`restrict`)."""
        return self.contexts is not None

    def restrict(self, contexts: np.ndarray | list[int], data_hash: str | None = None, *,
                 pattern: SupportPattern | None = None, gram_max: int = GRAM_MAX) -> Theory:
        """This theory seen on the contexts ``contexts`` only (distinct indices into its m columns), as the theory of
        the restricted data (whose hash is ``data_hash``; needed unless ``contexts`` is all of them).

        Column-wise quantities keep those columns (L_in, S̃, L_mm, H_mm, H_proxy); W_mm, G_W, G_W_proxy are kept;
        ``G_H``, ``G_H_proxy`` are the whole Grams on rows and columns ``contexts`` (formed from the factors' columns
        when the whole theory holds none and k <= ``gram_max``); the solve, certificate, ``dist_mm_tilde`` and
        ``tilde_optimal`` stay those of the whole problem. ``pattern``: the whole data's ``support_pattern``, whose
        reduced SVD gives ``H_proxy``. ``restrict(a).restrict(b)`` equals ``restrict(a[b])``; restricting to every
        context returns an equal theory. See :mod:`ntpgeom.theory.restriction`.
        """
        V, m = np.shape(self.S_tilde)
        idx = context_indices(contexts, m, what="theory contexts")
        identity = len(idx) == m and bool(np.array_equal(idx, np.arange(m)))
        if data_hash is None and not identity:
            raise ValidationError("restricting a theory to some contexts needs data_hash = the restricted data's hash "
                                  "(data.select_contexts(contexts).hash)")
        for name, A in (("L_in", self.L_in), ("L_mm", self.L_mm)):
            if A is not None and np.shape(A) != (V, m):
                raise ValidationError(f"theory.{name} has shape {np.shape(A)} but S̃ is {(V, m)}")
        cols = restricted_columns(idx, m, L_in=self.L_in, S_tilde=self.S_tilde, L_mm=self.L_mm, H_mm=self.H_mm,
                                  H_proxy=self.H_proxy, G_H=self.G_H, G_H_proxy=self.G_H_proxy,
                                  whole=self.contexts is None, pattern=pattern, gram_max=gram_max)
        root, meta = self.contexts, dict(self.meta)
        if root is not None or not identity:
            meta.update(restricted_from=meta.get("restricted_from", self.data_hash),
                        n_contexts_full=int(meta.get("n_contexts_full", m)))
        ctx = None if root is None and identity else (idx if root is None else np.asarray(root)[idx])
        return replace(self, data_hash=data_hash or self.data_hash, meta=meta, contexts=ctx, **cols)

    @property
    def svm_summary(self) -> dict[str, Any]:
        """Scalars of the solve (nuclear norm, gap, rank, status, ...); empty if not solved."""
        return {} if self.svm is None else self.svm.summary()

    @property
    def stats(self) -> SolverStats | None:
        """The solve's :class:`~ntpgeom.status.SolverStats` (None if not solved)."""
        return None if self.svm is None else self.svm.stats

    @property
    def status(self) -> Status:
        """The solve's status; ``Status.SKIPPED`` if no solve was run."""
        return Status.SKIPPED if self.svm is None else self.svm.status

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        V, m = self.S_tilde.shape
        return {
            "data_hash": self.data_hash, "V": V, "m": m, "solved": self.solved,
            "certificate_holds": self.certificate.holds, "certificate_worst": self.certificate.worst,
            "certificate_worst_index": list(self.certificate.worst_index), "dist_mm_tilde": self.dist_mm_tilde,
            "rank_mm": None if self.W_mm is None else int(self.W_mm.shape[1]),
            "status": self.status.value, "svm": self.svm_summary,
        }

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (atomically) with every array, a JSON header (format, version, data hash, summary)."""
        path = Path(path)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "data_hash": self.data_hash,
                  "certificate": {"holds": self.certificate.holds, "worst": self.certificate.worst,
                                  "worst_index": list(self.certificate.worst_index)},
                  "dist_mm_tilde": self.dist_mm_tilde, "tilde_optimal": self.tilde_optimal, "svm": self.svm_summary,
                  "svm_info": {} if self.svm is None else dict(self.svm.info), "meta": dict(self.meta)}
        arrays: dict[str, np.ndarray] = {}
        for name in _ARRAYS:
            a = (None if self.svm is None else self.svm.dual) if name == "dual" else self._array(name)
            if a is not None:
                arrays[name] = np.asarray(a)
        return save_npz(path, header, arrays)

    def _array(self, name: str) -> np.ndarray | None:
        """The array field ``name`` (one of the saved arrays)."""
        return {"L_in": self.L_in, "S_tilde": self.S_tilde, "L_mm": self.L_mm, "W_mm": self.W_mm, "H_mm": self.H_mm,
                "G_W": self.G_W, "G_H": self.G_H, "G_W_proxy": self.G_W_proxy, "G_H_proxy": self.G_H_proxy,
                "H_proxy": self.H_proxy, "contexts": self.contexts}[name]


def load_theory(path: str | Path, data: NTPData | None = None) -> Theory:
    """Load a :class:`Theory` saved with :meth:`Theory.save`; if ``data`` is given, check its hash matches.

    Parameters
    ----------
    path : path
        A ``theory.npz`` written by :meth:`Theory.save` (or ``ntpgeom solve``).
    data : NTPData, optional

    Returns
    -------
    Theory
        Equal to what :func:`compute_theory` returned: every array, the certificate, and the solve as an
        :class:`SVMResult` (primal, dual, stats, info). A damaged file raises FormatError.
    """
    path = Path(path)
    header, arrays = load_npz(path, FORMAT_NAME, FORMAT_VERSION, "theory result", f"recompute it with `ntpgeom solve DATA -o {path}`")
    if data is not None and data.hash != header.get("data_hash"):
        raise FormatError(f"{path} was computed for dataset {header.get('data_hash')}, not {data.hash}; recompute it")
    for req in ("L_in", "S_tilde"):
        if req not in arrays:
            raise FormatError(f"{path}: theory file lacks {req} (corrupt)")
    cert = header.get("certificate", {})
    svm = _load_svm(path, header, arrays)
    return Theory(
        data_hash=header.get("data_hash", ""), L_in=arrays["L_in"], S_tilde=arrays["S_tilde"], svm=svm,
        L_mm=None if svm is None else svm.L, W_mm=arrays.get("W_mm"), H_mm=arrays.get("H_mm"), G_W=arrays.get("G_W"),
        G_H=arrays.get("G_H"), G_W_proxy=arrays.get("G_W_proxy"), G_H_proxy=arrays.get("G_H_proxy"),
        certificate=TildeCertificate(bool(cert.get("holds")), float(cert.get("worst", np.nan)),
                                     tuple(int(i) for i in cert.get("worst_index", (-1, -1)))),
        dist_mm_tilde=header.get("dist_mm_tilde"), meta=dict(header.get("meta", {})),
        tilde_optimal=header.get("tilde_optimal"), H_proxy=arrays.get("H_proxy"), contexts=arrays.get("contexts"),
    )


def _load_svm(path: Path, header: Mapping[str, Any], arrays: dict[str, np.ndarray]) -> SVMResult | None:
    """The :class:`SVMResult` stored in a theory file (None if it holds no solve)."""
    if "L_mm" not in arrays:
        return None
    s = header.get("svm") or {}
    if "dual" not in arrays or not s:
        raise FormatError(f"{path}: theory file has L_mm but lacks its dual or solve record (corrupt); recompute it")
    try:
        status = Status(s["status"]) if "status" in s else Status.from_gap(s["gap"], s["tol"], s["method"] == "tilde")
        stats = SolverStats(status, str(s["method"]), int(s["iterations"]), float(s["seconds"]), float(s["gap"]),
                            float(s["max_violation"]), float(s["tol"]), int(s["threads"]))
        L, A = arrays["L_mm"], arrays["dual"]
        L.setflags(write=False)
        A.setflags(write=False)
        return SVMResult(L, float(s["nuclear_norm"]), A, float(s["dual_value"]), int(s["rank"]),
                         bool(s["certificate_holds"]), tuple(int(i) for i in s["reduced_shape"]), stats,
                         dict(header.get("svm_info", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{path}: the solve record in the theory file is incomplete ({exc}); recompute it") from exc


def compute_theory(
    data: NTPData,
    tol: float = 1e-6,
    method: str = "auto",
    solve: bool = True,
    *,
    max_iter: int = 20000,
    threads: int = 1,
    gram_max: int = 5000,
    max_entries: int = 50_000_000,
    time_limit: float | None = None,
    svm: SVMResult | None = None,
    pattern: SupportPattern | None = None,
    progress: Progress | None = None,
) -> Theory:
    """Compute L_in, S̃, Prop. 3's certificate, the proxies and (if ``solve``) L_mm with its factors and Grams.

    Memory model (V x m data, reduced pattern V' x m', rank r of L_mm, 8 bytes per float): the dense V x m arrays
    the theory holds are L_in, S̃ and, when solved, L_mm and the solver's dual (4 V m); everything else is computed
    from the reduced (V', m') pattern with multiplicities: the SVD of S̃ and of L_mm (V' m' + min(V', m')² each), the
    factors W_mm (V x r), H_mm (r x m), the proxies, and the Grams G_W (V x V, when V <= ``gram_max``) and G_H (m x m,
    when m <= ``gram_max``). No dense SVD of a V x m matrix is taken.

    Parameters
    ----------
    data : NTPData
    tol, method, max_iter, threads, time_limit
        Passed to :func:`solve_ntp_svm`. When Prop. 3's certificate holds, L_mm = S̃ at once. ``time_limit``
        (seconds; ``fast`` and ``large``) or Ctrl-C: the best certified point is kept with status ``user_limit``.
    solve : bool
        If False, only the closed forms and proxies are computed.
    gram_max : int
        Dense m x m (or V x V) Grams are only formed when that side is at most ``gram_max``.
    max_entries : int
        Skip the solve (``svm=None``) when V * m exceeds this (the dense L_mm would not fit comfortably).
    svm : SVMResult, optional
        A solve of this data made elsewhere (e.g. ``solve_ntp_svm_large(data, device="cuda")``); used instead of
        solving (its shape is checked; it carries its own certified gap and status).
    pattern : SupportPattern, optional
        ``support_pattern(data)`` computed already: its reduction and the SVD of the reduced S̃ are reused.
    progress : Progress, optional
        The solve's progress (:func:`solve_ntp_svm`'s ``progress``: iteration, certified gap, elapsed, estimate).
        Data whose dense V x m arrays would not fit in half of this machine's memory are refused before anything is
        allocated (:class:`SolverError`, with the size in GiB).

    Returns
    -------
    Theory
        ``svm`` (the certified solve) and ``L_mm`` are None when not solved (SolverError: bad options or input).
    """
    if not isinstance(data, NTPData):
        raise SolverError(f"compute_theory needs an NTPData, got {type(data).__name__}; load one with ntpgeom.data.load")
    check_solver_options(tol, max_iter, threads)
    V, m = data.V, data.m
    check_dense_size(V, m, THEORY_BYTES_PER_ENTRY + (SOLVE_BYTES_PER_ENTRY if solve and svm is None else 0),
                     "the theory (L_in, S̃ and L_mm, dense)")
    with threadpool_limits(int(threads)):
        if pattern is None or pattern.shape != (V, m):
            pattern = support_pattern(data)  # mask, reduction, S̃ and its SVD: computed once, shared below
        Lin = _L_in(data)
        St = pattern.S_tilde
        cert = pattern.certificate
        GWp, GHp = proxy_grams(pattern, which=("W" if V <= gram_max else "") + ("H" if m <= gram_max else ""))
    L_mm = W = H = GW = GH = tilde_opt = None
    dist = None
    if svm is not None:
        if np.shape(svm.L) != (V, m):
            raise SolverError(f"the given solve has L of shape {np.shape(svm.L)}, not the data's {(V, m)}")
    elif solve and V * m <= max_entries:
        svm = solve_ntp_svm(pattern, tol=tol, method=method, max_iter=max_iter, threads=threads, time_limit=time_limit,
                            progress=progress)
    if svm is not None:
        L_mm = svm.L
        with threadpool_limits(int(threads)):
            W, H, GW, GH, nuc_mm = _mm_geometry(pattern.reduction, L_mm, gram_max)
        dist = direction_distance(L_mm, St)  # the reduced, scaled S̃ has the singular values of the whole S̃:
        tilde_opt = tilde_is_optimal(float(pattern.reduction.S_tilde_svd[1].sum()), nuc_mm, bool(cert.holds))
    meta = {"tol": tol, "method": method, "solve": solve, "threads": threads, "versions": versions(),
            "reduced_shape": list(pattern.reduction.shape), "time_limit": time_limit}
    return Theory(data.hash, Lin, St, svm, L_mm, W, H, GW, GH, GWp, GHp, cert, dist, meta, tilde_opt)


def _first_of(group: np.ndarray, n: int) -> np.ndarray:
    """The first index of each of the groups 0..n-1 in ``group``."""
    first = np.empty(n, dtype=np.int64)
    first[group[::-1]] = np.arange(group.size - 1, -1, -1)
    return first


def _mm_geometry(red: Reduction, L_mm: np.ndarray, gram_max: int, rtol: float = RANK_RTOL):
    """(W_mm, H_mm, G_W, G_H, ‖L_mm − 1 mean‖_*) of an L_mm that is constant on the reduced pattern's blocks, from the SVD of the
    reduced, multiplicity-weighted X = diag(√r) L̂ diag(√c) (V' x m'): with X = U Σ Qᵀ, L_mm = Ũ Σ Q̃ᵀ where
    Ũ = E_r diag(r^-½) U and Q̃ = E_c diag(c^-½) Q have orthonormal columns (E_r, E_c: the 0/1 expansions).
    G_W / G_H are None when V / m exceeds ``gram_max``."""
    L_hat = np.asarray(L_mm, dtype=np.float64)[np.ix_(_first_of(red.row_group, red.shape[0]),
                                                      _first_of(red.col_group, red.shape[1]))]
    if not np.allclose(red.expand(L_hat), L_mm, rtol=0, atol=BLOCK_CONSTANT_ATOL * max(float(np.abs(L_hat).max(initial=0)), 1.0)):
        W, H = factors(L_mm)  # not constant on the blocks (a solver that returned another optimum): dense SVD
        V, m = W.shape[0], H.shape[1]
        return (W, H, W @ W.T if V <= gram_max else None, H.T @ H if m <= gram_max else None,
                nuclear_norm_centred(L_mm))
    U, s, Qt = np.linalg.svd(red.scaled(L_hat), full_matrices=False)
    L_hat_c = L_hat - (red.r @ L_hat) / red.r.sum()  # the columns centred over all V rows (blockwise still)
    nuc = nuclear_norm(red.scaled(L_hat_c))
    k = singular_rank(s, rtol)
    h = np.sqrt(s[:k])
    Wr = U[:, :k] * h / np.sqrt(red.r)[:, None]  # reduced rows of W_mm
    Hr = h[:, None] * Qt[:k] / np.sqrt(red.c)  # reduced columns of H_mm
    GW = (Wr @ Wr.T)[np.ix_(red.row_group, red.row_group)] if red.row_group.size <= gram_max else None
    GH = (Hr.T @ Hr)[np.ix_(red.col_group, red.col_group)] if red.col_group.size <= gram_max else None
    return Wr[red.row_group], Hr[:, red.col_group], GW, GH, nuc


__all__ = ["Theory", "TheoryLike", "compute_theory", "load_theory", "direction_distance", "FORMAT_NAME", "FORMAT_VERSION"]
