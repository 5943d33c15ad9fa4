"""Validation of count matrices: the one place that decides what a V x m count matrix may hold.

Every dataset, built in memory or loaded from a file, passes through :func:`as_count_matrix`; a file's raw sparse
arrays pass through :func:`check_compressed` first, so a hostile structure (a decreasing ``indptr``, an index out of
range) never reaches scipy, which would read or free memory it does not own.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import NTPDataError

__all__ = ["MAX_COUNT", "as_count_matrix", "check_compressed", "column_totals", "parse_count"]

_DECIMAL = re.compile(r"[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


#: Largest count, and largest total n, a dataset may hold: 2**53, beyond which float64 loses integer precision
#: (and sums of a few such counts overflow to inf, so n, π and ℋ would be NaN).
MAX_COUNT = float(2**53)


def check_compressed(data: Any, indices: Any, indptr: Any, shape: Any, where: str = "counts") -> tuple[int, int]:
    """Validate the raw arrays of a CSC matrix BEFORE scipy touches them (a decreasing ``indptr`` or an index out of
    range makes scipy read or free memory it does not own). Returns ``(V, m)``.

    Checks: ``shape`` two positive ints; ``indptr`` 1-D integer of length m + 1, starting at 0, non-decreasing,
    ending at nnz; ``indices`` 1-D integer of length nnz within [0, V); ``data`` 1-D real of length nnz, finite,
    non-negative and at most :data:`MAX_COUNT`. Raises :class:`NTPDataError` naming ``where`` and the first problem.
    """
    try:
        V, m = (int(x) for x in shape)
    except (TypeError, ValueError):
        raise NTPDataError(f"{where}: shape must be two integers (V, m), got {shape!r}") from None
    if V < 1 or m < 1:
        raise NTPDataError(f"{where}: shape {(V, m)} is empty; a dataset needs at least one context and token")
    arrs = {"indptr": np.asarray(indptr), "indices": np.asarray(indices), "data": np.asarray(data)}
    for name, a in arrs.items():
        if a.ndim != 1:
            raise NTPDataError(f"{where}: {name} must be 1-D, got shape {a.shape}")
        kind = "iu" if name != "data" else "iuf"
        if a.dtype.kind not in kind:
            raise NTPDataError(f"{where}: {name} has dtype {a.dtype}, expected {'integers' if name != 'data' else 'real numbers'}")
    ip, ix, d = arrs["indptr"], arrs["indices"], arrs["data"]
    if ip.size != m + 1:
        raise NTPDataError(f"{where}: indptr has {ip.size} entries, expected m + 1 = {m + 1}")
    if ip[0] != 0 or np.any(np.diff(ip.astype(np.int64)) < 0):
        raise NTPDataError(f"{where}: indptr must start at 0 and never decrease (corrupt sparse structure)")
    nnz = int(ip[-1])
    if ix.size != nnz or d.size != nnz:
        raise NTPDataError(f"{where}: indptr ends at {nnz} but there are {ix.size} indices and {d.size} values")
    if nnz and (int(ix.min()) < 0 or int(ix.max()) >= V):
        raise NTPDataError(f"{where}: row indices must lie in [0, {V}), found [{int(ix.min())}, {int(ix.max())}]")
    _check_values(d, where)
    return V, m


def _check_values(d: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(d)):
        raise NTPDataError(f"{where} contain NaN or infinite values; every count must be a finite number >= 0")
    if np.any(d < 0):
        raise NTPDataError(f"{where} contain negative values; every count must be >= 0")
    if d.size and float(d.max()) > MAX_COUNT:
        raise NTPDataError(f"{where} contain a value {float(d.max()):.3g} above 2**53 = {MAX_COUNT:.3g}; "
                           "counts that large lose precision and overflow the totals: rescale them")


def as_count_matrix(counts: Any) -> sp.csc_array:
    """Validate and convert counts to a canonical float64 CSC array (sorted indices, explicit zeros removed).

    Dense input must be a real 2-D array; sparse CSC/CSR input has its compressed structure checked
    (:func:`check_compressed`) before any scipy operation. Values must be finite, >= 0 and <= :data:`MAX_COUNT`, every
    column total positive and the grand total n <= :data:`MAX_COUNT`.
    """
    if sp.issparse(counts):
        fmt = counts.format
        if fmt in ("csc", "csr"):
            shape = counts.shape if fmt == "csc" else counts.shape[::-1]
            check_compressed(counts.data, counts.indices, counts.indptr, shape)
        elif fmt == "coo":
            _check_coo(counts)
        C = sp.csc_array(counts, dtype=np.float64)
    else:
        arr = np.asarray(counts)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise NTPDataError(f"counts must be a real numeric matrix, got dtype {arr.dtype}; pass numbers")
        if arr.ndim != 2:
            raise NTPDataError(f"counts must be a 2-D V x m matrix, got shape {arr.shape}")
        C = sp.csc_array(arr.astype(np.float64))
    if C.ndim != 2:
        raise NTPDataError(f"counts must be a 2-D V x m matrix, got shape {C.shape}")
    V, m = C.shape
    if V == 0 or m == 0:
        raise NTPDataError(f"counts has shape {C.shape}: the dataset is empty; supply at least one context and token")
    _check_values(C.data, "counts")
    C.eliminate_zeros()
    C.sum_duplicates()
    C.sort_indices()
    col_tot = column_totals(C)
    empty = np.flatnonzero(col_tot <= 0)
    if empty.size:
        raise NTPDataError(
            f"{empty.size} context(s) have no observations (first: column {int(empty[0])}); "
            "every context needs at least one next-token count: drop those columns"
        )
    total = float(col_tot.sum())
    if not np.isfinite(total) or total > MAX_COUNT:
        raise NTPDataError(f"the total count n = {total:.3g} exceeds 2**53 = {MAX_COUNT:.3g}; rescale the counts")
    return C


def column_totals(C: sp.csc_array) -> np.ndarray:
    """Column sums of a canonical CSC array, shape (m,) float64: the values scipy's ``C.sum(axis=0)`` gives (the
    same ``np.add.reduceat`` over the non-empty columns), without its conversions."""
    indptr = C.indptr
    tot = np.zeros(C.shape[1], dtype=np.float64)
    full = np.flatnonzero(indptr[1:] > indptr[:-1])
    if len(full):
        tot[full] = np.add.reduceat(np.asarray(C.data, dtype=np.float64), indptr[full])
    return tot


def _check_coo(A: Any) -> None:
    V, m = A.shape
    r, c = np.asarray(A.row), np.asarray(A.col)
    if r.size and (r.min() < 0 or r.max() >= V or c.min() < 0 or c.max() >= m):
        raise NTPDataError(f"counts: coordinates outside the shape {A.shape}")


def parse_count(value: Any, where: str) -> float:
    """A count from a file or a tuple: a plain decimal number (or a real), finite, >= 0 and <= 2**53.

    ``where`` (e.g. ``"pairs.csv: line 3"``) starts the error message.
    """
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("-") and _DECIMAL.fullmatch(s[1:]):
            raise NTPDataError(f"{where} has a negative count {value!r}; counts must be >= 0")
        if not _DECIMAL.fullmatch(s):
            raise NTPDataError(f"{where} has a count {value!r} that is not a decimal number (like 3, 2.5 or 1e3)")
        c = float(s)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        c = float(value)
    else:
        raise NTPDataError(f"{where} has a count {value!r} that is not a number")
    if not np.isfinite(c) or c < 0 or c > MAX_COUNT:
        raise NTPDataError(f"{where} has count {value!r}; counts must be finite numbers between 0 and 2**53")
    return c
