"""A theory and its data restricted to a subset of the contexts: what a snapshot holding only some columns is
measured against. The theory's restriction is :meth:`ntpgeom.theory.Theory.restrict` (one implementation, for runs
and probes alike; what each quantity needs: :mod:`ntpgeom.theory.restriction`); this module restricts the data with
it and validates a snapshot's contexts.

A run trained with ``snapshot_contexts = k`` writes snapshots whose H (d x k) and L (V x k) hold the contexts
``Snapshot.contexts`` only (a fixed, seeded subset of the data's m). Every measurement of such a snapshot compares
it with the theory of the *whole* data restricted to those columns, never with a theory recomputed on the subset.
The loss: ``CE`` on the subset is the π-weighted mean over those contexts, with π renormalised over them
(``π_j / Σ_{j∈K} π_j``), and ``ℋ`` likewise: ``NTPData.select_contexts`` keeps the counts of those contexts, so its
π and entropy bound are exactly these. Not restricted (not column-wise): the finite-norm path point ``L̂_B`` and the
optimal face; a subset snapshot is judged against the asymptotic form ``L_in + R·L_ref`` (``pred_is_path`` = 0) and
the face distance falls back to L_mm (the reference's notes say so). Nuclear norms (``norm_nuc``) are those of the
subset's columns.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

import numpy as np

from ..data import NTPData
from ..theory import Theory
from ..theory.restriction import context_indices, proxy_columns
from .similarity import MetricsError


class HasContexts(Protocol):
    """A snapshot as :func:`snapshot_contexts` reads it (:class:`~ntpgeom.metrics.SnapshotLike`)."""

    contexts: np.ndarray | None

#: Deprecated name of the restricted theory: it is a :class:`~ntpgeom.theory.Theory` (``contexts`` set).
TheoryColumns = Theory


def check_contexts(contexts: np.ndarray | list[int], m: int) -> np.ndarray:
    """``contexts`` as int64 indices (in the order given) into m contexts: 1-D, distinct, in ``[0, m)`` (else
    MetricsError)."""
    return context_indices(contexts, m, what="snapshot contexts", error=MetricsError)


def is_all(contexts: np.ndarray | None, m: int) -> bool:
    """True when ``contexts`` is None or exactly ``0, 1, ..., m−1`` (the whole data)."""
    return contexts is None or (len(contexts) == m and bool(np.array_equal(contexts, np.arange(m))))


def restrict(theory: Theory | None, data: NTPData, contexts: np.ndarray | list[int]) -> tuple[Theory | None, NTPData]:
    """The theory of ``data`` and the data itself restricted to ``contexts`` (see the module docstring).

    Parameters
    ----------
    theory : Theory or None
        The theory of the whole ``data`` (None: only the data is restricted; L_in and S̃ are then computed from the
        restricted data, which is exact since both are column-wise).
    data : NTPData, shape (V, m)
    contexts : int array, shape (k,)
        Distinct indices into the m contexts.

    Returns
    -------
    (Theory or None, NTPData)
        ``theory.restrict(contexts, sub.hash)`` (None when ``theory`` is None) and ``sub =
        data.select_contexts(contexts)`` (π and ℋ renormalised over the subset).
    """
    if not isinstance(data, NTPData):
        raise MetricsError(f"data must be an NTPData, got {type(data).__name__}")
    V, m = data.V, data.m
    idx = check_contexts(contexts, m)
    sub = data.select_contexts(idx, subset_of=data.hash)
    if theory is None:
        return None, sub
    if theory.data_hash is not None and theory.data_hash != data.hash:
        raise MetricsError(f"the theory was computed for data {theory.data_hash} but the data is {data.hash}; "
                           "recompute the theory for this data")
    for name, A in (("L_in", theory.L_in), ("S_tilde", theory.S_tilde), ("L_mm", theory.L_mm)):
        if A is not None and np.shape(A) != (V, m):
            raise MetricsError(f"theory.{name} has shape {np.shape(A)} but the data is V x m = ({V}, {m})")
    return theory.restrict(idx, sub.hash), sub


def snapshot_contexts(snap: HasContexts | Mapping[str, Any] | tuple[np.ndarray, np.ndarray] | np.ndarray
                      ) -> np.ndarray | None:
    """The ``contexts`` of a snapshot (attribute or mapping key; a bare L or a (W, H) pair holds all), or None (all
    contexts)."""
    if isinstance(snap, Mapping):
        ctx = snap.get("contexts")
    elif isinstance(snap, (tuple, np.ndarray)):
        ctx = None
    else:
        ctx = snap.contexts
    return None if ctx is None else np.asarray(ctx)


__all__ = ["restrict", "check_contexts", "is_all", "snapshot_contexts", "proxy_columns", "TheoryColumns"]
