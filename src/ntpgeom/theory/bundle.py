"""The :class:`Theory` result: everything the theory predicts for one dataset, in one object and one file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._io import load_npz, save_npz, versions
from ..data import NTPData
from ..errors import FormatError
from .geometry import TildeCertificate, factors, grams, proxy_grams, tilde_certificate
from .subspaces import L_in as _L_in
from .subspaces import S_tilde as _S_tilde
from .subspaces import ShapeError
from .svm import SolverError, SVMResult, reduce_pattern, solve_ntp_svm

FORMAT_NAME = "ntpgeom.theory"
FORMAT_VERSION = 1

_ARRAYS = ("L_in", "S_tilde", "L_mm", "W_mm", "H_mm", "G_W", "G_H", "G_W_proxy", "G_H_proxy", "dual")


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
        The NTP-SVM* solve (None if not solved, or if loaded from a file: see ``svm_summary``).
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
    svm_summary : dict
        Scalars of the solve (nuclear norm, gap, rank, ...), also kept after save/load.
    meta : dict
        Config and versions.
    """

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
    svm_summary: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def solved(self) -> bool:
        return self.L_mm is not None

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable scalars."""
        V, m = self.S_tilde.shape
        return {
            "data_hash": self.data_hash, "V": V, "m": m, "solved": self.solved,
            "certificate_holds": self.certificate.holds, "certificate_worst": self.certificate.worst,
            "certificate_worst_index": list(self.certificate.worst_index), "dist_mm_tilde": self.dist_mm_tilde,
            "rank_mm": None if self.W_mm is None else int(self.W_mm.shape[1]),
            "svm": dict(self.svm_summary),
        }

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (atomically) with every array, a JSON header (format, version, data hash, summary)."""
        path = Path(path)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "data_hash": self.data_hash,
                  "certificate": {"holds": self.certificate.holds, "worst": self.certificate.worst,
                                  "worst_index": list(self.certificate.worst_index)},
                  "dist_mm_tilde": self.dist_mm_tilde, "svm": dict(self.svm_summary), "meta": dict(self.meta)}
        arrays: dict[str, np.ndarray] = {}
        for name in _ARRAYS:
            a = self.svm.dual if (name == "dual" and self.svm is not None) else getattr(self, name, None)
            if name == "dual" and self.svm is None:
                a = None
            if a is not None:
                arrays[name] = np.asarray(a)
        return save_npz(path, header, arrays)


def load_theory(path: str | Path, data: NTPData | None = None) -> Theory:
    """Load a :class:`Theory` saved with :meth:`Theory.save`; if ``data`` is given, check its hash matches.

    The loaded object has ``svm=None``; the solve's scalars are in ``svm_summary`` and the dual matrix A (if it was
    saved) in ``meta["dual"]``.
    """
    path = Path(path)
    header, arrays = load_npz(path, FORMAT_NAME, FORMAT_VERSION, "theory result", f"recompute it with `ntpgeom solve DATA -o {path}`")
    if data is not None and data.hash != header.get("data_hash"):
        raise FormatError(f"{path} was computed for dataset {header.get('data_hash')}, not {data.hash}; recompute it")
    for req in ("L_in", "S_tilde"):
        if req not in arrays:
            raise FormatError(f"{path}: theory file lacks {req} (corrupt)")
    cert = header.get("certificate", {})
    meta = dict(header.get("meta", {}))
    if "dual" in arrays:
        meta["dual"] = arrays.pop("dual")
    return Theory(
        data_hash=header.get("data_hash", ""), L_in=arrays["L_in"], S_tilde=arrays["S_tilde"], svm=None,
        L_mm=arrays.get("L_mm"), W_mm=arrays.get("W_mm"), H_mm=arrays.get("H_mm"), G_W=arrays.get("G_W"),
        G_H=arrays.get("G_H"), G_W_proxy=arrays.get("G_W_proxy"), G_H_proxy=arrays.get("G_H_proxy"),
        certificate=TildeCertificate(bool(cert.get("holds")), float(cert.get("worst", np.nan)),
                                     tuple(int(i) for i in cert.get("worst_index", (-1, -1)))),
        dist_mm_tilde=header.get("dist_mm_tilde"), svm_summary=header.get("svm", {}), meta=meta,
    )


def direction_distance(A: Any, B: Any) -> float:
    """``‖A/‖A‖_F - B/‖B‖_F‖_F`` of two same-shape matrices: 0 iff they point the same way, at most 2.

    NaN if either is zero. Raises :class:`ShapeError` on mismatched shapes or non-finite entries.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape:
        raise ShapeError(f"the two matrices have shapes {A.shape} and {B.shape}; they must match")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ShapeError("a matrix contains NaN or infinite values")
    a, b = np.linalg.norm(A), np.linalg.norm(B)
    if a == 0 or b == 0:
        return float("nan")
    return float(np.linalg.norm(A / a - B / b))


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
) -> Theory:
    """Compute L_in, S̃, Prop. 3's certificate, the proxies and (if ``solve``) L_mm with its factors and Grams.

    Parameters
    ----------
    data : NTPData
    tol, method, max_iter, threads
        Passed to :func:`solve_ntp_svm`. When Prop. 3's certificate holds, L_mm = S̃ at once.
    solve : bool
        If False, only the closed forms and proxies are computed.
    gram_max : int
        Dense m x m (or V x V) Grams are only formed when that side is at most ``gram_max``.
    max_entries : int
        Skip the solve (``svm=None``) when V * m exceeds this (the dense L_mm would not fit comfortably).
    """
    if not isinstance(data, NTPData):
        raise SolverError(f"compute_theory needs an NTPData, got {type(data).__name__}; load one with ntpgeom.data.load")
    V, m = data.V, data.m
    Lin = _L_in(data)
    St = _S_tilde(data.S)
    cert = tilde_certificate(data.S)
    GWp, GHp = proxy_grams(data.S, which=("W" if V <= gram_max else "") + ("H" if m <= gram_max else ""))
    svm = None
    L_mm = W = H = GW = GH = None
    dist = None
    summary: dict[str, Any] = {}
    if solve and V * m <= max_entries:
        svm = solve_ntp_svm(data, tol=tol, method=method, max_iter=max_iter, threads=threads)
        L_mm = np.asarray(svm.L)
        W, H = factors(L_mm)
        if max(V, m) <= gram_max:
            GW, GH = grams(L_mm)
        elif V <= gram_max:
            GW = W @ W.T
        dist = direction_distance(L_mm, St)
        summary = svm.summary()
    meta = {"tol": tol, "method": method, "solve": solve, "threads": threads, "versions": versions(),
            "reduced_shape": list(reduce_pattern(data.S).shape)}
    return Theory(data.hash, Lin, St, svm, L_mm, W, H, GW, GH, GWp, GHp, cert, dist, summary, meta)


__all__ = ["Theory", "compute_theory", "load_theory", "direction_distance", "FORMAT_NAME", "FORMAT_VERSION"]
