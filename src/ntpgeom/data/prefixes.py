"""Contexts of every length lo..hi (App. D.3, autoregressive): the targets of the usual language-model objective.

The LM objective on a window predicts every position from its prefix, so it trains on contexts of every length at
once. :func:`from_tokens_by_length` counts, for each length T in ``lo..hi``, every (T+1)-token window inside one
document (windows never cross documents), and stacks the lengths into one :class:`~ntpgeom.data.NTPData`:

- ``contexts`` (m, hi): context j left-aligned, padded on the right with the extra input token ``<pad>``;
- ``context_lengths`` (m,): its length T_j; contexts are ordered by length;
- ``counts`` (V, m): the next-token counts of each (length, context); π is normalised over all lengths, and
  :meth:`NTPData.entropy_by_length` gives the paper's ℋ_T (π normalised within each length).

Filters (``max_vocab``, ``top_k``, ...) apply within each length; the output vocabulary is the union.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from ..errors import NTPDataError
from .dataset import NTPData

PAD = "<pad>"


def parse_lengths(context_len: Any, name: str = "context_len") -> tuple[int, int]:
    """``(lo, hi)`` from a pair or a ``"lo:hi"`` string; :class:`NTPDataError` unless ``1 <= lo <= hi``."""
    if isinstance(context_len, str):
        parts = context_len.split(":")
        try:
            lo, hi = (int(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            lo = hi = None
    elif isinstance(context_len, (tuple, list)) and len(context_len) == 2:
        lo, hi = context_len
    else:
        lo = hi = None
    ok = all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in (lo, hi))
    if not ok or not 1 <= lo <= hi:
        raise NTPDataError(f"{name} must be an integer >= 1 or a range lo:hi with 1 <= lo <= hi (e.g. 1:16), "
                           f"got {context_len!r}")
    return int(lo), int(hi)


def from_tokens_by_length(ids: Any, context_len: Any, doc_ids: Any = None, vocab: Sequence[str] | None = None, *,
                          count: Callable[..., NTPData], output_vocab: str = "observed",
                          meta: dict[str, Any] | None = None, **filters: Any) -> NTPData:
    """The contexts of every length ``lo..hi`` of a token corpus (see the module docstring).

    ``ids``, ``doc_ids``, ``vocab``, ``output_vocab`` and the filters as in
    :func:`ntpgeom.data.builders.from_tokens`, which is ``count`` (the single-length counter, passed in by the
    builders); ``context_len`` = ``(lo, hi)`` or ``"lo:hi"``.
    """
    lo, hi = parse_lengths(context_len)
    parts = [count(ids, T, doc_ids, vocab, output_vocab=output_vocab, meta=meta, **filters)
             for T in range(lo, hi + 1)]
    names = list(parts[0].input_vocab)
    pad = PAD
    while pad in names:
        pad = pad + "_"
    rank = {n: i for i, n in enumerate(names)}
    out_names = sorted({v for p in parts for v in p.vocab}, key=lambda v: (rank.get(v, len(rank)), v))
    row_of = {v: i for i, v in enumerate(out_names)}
    contexts = np.full((sum(p.m for p in parts), hi), len(names), dtype=np.int64)
    lengths = np.concatenate([np.full(p.m, p.context_len, dtype=np.int64) for p in parts])
    rows, cols, vals, off = [], [], [], 0
    for p in parts:
        contexts[off:off + p.m, :p.context_len] = p.contexts
        C = p.counts.tocoo()
        remap = np.array([row_of[v] for v in p.vocab], dtype=np.int64)
        rows.append(remap[C.row])
        cols.append(C.col + off)
        vals.append(C.data)
        off += p.m
    C = sp.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                     shape=(len(out_names), off))
    info = {**dict(parts[0].meta), "context_len": [lo, hi], "autoregressive": True,
            "contexts_by_length": {int(p.context_len): int(p.m) for p in parts}}
    return NTPData(C, out_names, contexts, names + [pad], info, lengths)
