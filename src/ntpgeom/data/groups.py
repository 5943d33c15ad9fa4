"""Grouping of the columns of a 0/1 pattern by identity: the one algorithm behind ``NTPData.support_groups`` and the
theory layer's pattern reduction (``ntpgeom.theory.reduce_pattern``).

Each column gets a byte key (its sorted row indices, padded, for a sparse pattern; its packed bits for a dense one),
the keys are deduplicated with ``np.unique(axis=0)``, and the group ids are renumbered in order of first occurrence,
so the ids are canonical: the same for the same pattern whatever its storage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def first_occurrence_ids(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the distinct rows of a 2-D key array, numbered by first occurrence, and the first row of each id.

    Returns ``(ids, first)``: shapes (n,) and (g,), int64; ``keys[first[i]]`` is the first row with id ``i``.
    """
    _, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[inv], first[order].astype(np.int64)


def _sparse_keys(P: Any) -> np.ndarray:
    """Keys of the columns of a sparse pattern: (column size, sorted row indices, padded with -1)."""
    C = P if (isinstance(P, sp.csc_array) and P.has_sorted_indices) else sp.csc_array(P, copy=True)
    C.sort_indices()
    indptr, indices = C.indptr, C.indices
    ncol = len(indptr) - 1
    sizes = np.diff(indptr)
    width = int(sizes.max()) if ncol else 0
    pad = np.full((ncol, width + 1), -1, dtype=np.int64)
    pad[:, 0] = sizes
    if width:
        col_of = np.repeat(np.arange(ncol), sizes)
        pos = np.arange(len(indices)) - np.repeat(indptr[:-1], sizes)
        pad[col_of, pos + 1] = indices
    return pad


def column_groups(P: Any) -> tuple[np.ndarray, np.ndarray]:
    """Group the columns of a 0/1 pattern: equal ids iff equal columns (equal sets of rows).

    Parameters
    ----------
    P : scipy.sparse matrix (stored entries count as 1) or dense 2-D array (nonzero counts as 1), shape (n, k)

    Returns
    -------
    (ids, first) : int64 arrays, shapes (k,) and (g,)
        The group of each column, numbered by first occurrence, and the first column of each group.
    """
    if sp.issparse(P):
        return first_occurrence_ids(_sparse_keys(P))
    mask = np.asarray(P) != 0
    if mask.ndim != 2:
        raise ValueError(f"a pattern must be 2-D, got shape {mask.shape}")
    return first_occurrence_ids(np.packbits(mask.T, axis=1))


__all__ = ["column_groups", "first_occurrence_ids"]
