"""Exact selection after the merge, and assembly of the final :class:`NTPData` (shared by every engine).

The result equals ``from_tokens(ids, context_len, doc_ids, vocab, **filters)`` on the concatenated stream: the same
contexts in lexicographic order, the same observed next-token vocabulary, and the same filters (applied in the order
of :func:`~ntpgeom.data.filter_data`). Context filters are per context, so they are applied partition by partition;
top-K keeps each partition's best K (count descending, ties: lexicographically smaller context first), whose union
holds the global best K; the next-token vocabulary cap uses the global next-token totals gathered on the map side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ...errors import NTPDataError
from ..builders import filter_data
from ..dataset import NTPData
from .kernel import Rows, group_contexts, merge_rows

CONTEXT_FILTERS = ("min_count", "min_support", "max_support", "top_k")


@dataclass(frozen=True)
class VocabMap:
    """Next-token vocabulary restriction. ``kept``: sorted ids kept; ``rare``: "drop" or "map"; dropped ids map to
    ``unk_id`` (larger than every id, so the ``unk_token`` row comes last) when ``rare == "map"``."""

    kept: np.ndarray
    rare: str
    unk_id: int
    applied: dict


def vocab_map(next_ids: np.ndarray, next_tot: np.ndarray, names: Sequence[str], n_vocab: int, filters: dict) -> VocabMap | None:
    """The restriction asked by ``max_vocab`` / ``next_vocab`` over the observed next tokens (``next_ids`` sorted,
    ``next_tot`` their global totals), as :func:`filter_data` step 1 computes it."""
    max_vocab, next_vocab = filters.get("max_vocab"), filters.get("next_vocab")
    rare, unk = filters.get("rare", "drop"), filters.get("unk_token", "<unk>")
    if rare not in ("drop", "map"):
        raise NTPDataError(f"rare must be 'drop' or 'map', got {rare!r}")
    if max_vocab is None and next_vocab is None:
        return None
    if max_vocab is not None and next_vocab is not None:
        raise NTPDataError("give either max_vocab or next_vocab, not both")
    if max_vocab is not None:
        if not isinstance(max_vocab, (int, np.integer)) or isinstance(max_vocab, bool) or max_vocab < 1:
            raise NTPDataError(f"max_vocab must be a positive integer, got {max_vocab!r}")
        kept = np.sort(next_ids[np.argsort(-next_tot, kind="stable")[:max_vocab]])
        applied: dict[str, Any] = {"max_vocab": int(max_vocab)}
    else:
        index = {names[i]: i for i in next_ids.tolist()}
        unknown = [t for t in next_vocab if t not in index]
        if unknown:
            raise NTPDataError(f"next_vocab has {len(unknown)} token(s) not in the data's vocabulary (first: {unknown[0]!r})")
        kept = np.array(sorted({index[t] for t in next_vocab}), dtype=np.int64)
        applied = {"next_vocab": len(kept)}
    if rare == "map" and len(kept) < len(next_ids) and unk in {names[i] for i in kept.tolist()}:
        raise NTPDataError(f"unk_token {unk!r} is already a kept token; choose another unk_token")
    return VocabMap(kept, rare, n_vocab, {**applied, "rare": rare})


def select_partition(rows: Rows, vmap: VocabMap | None, filters: dict, context_len: int, floor: int = 0) -> Rows:
    """Candidate rows of one merged partition (rows sorted by context, next; every context wholly inside).
    ``floor``: with ``top_k``, contexts counted less than this are known to be outside the top K (dropped)."""
    ctx, nxt, cnt = rows
    if vmap is not None and len(nxt):
        inside = np.isin(nxt, vmap.kept)
        if vmap.rare == "drop":
            ctx, nxt, cnt = ctx[inside], nxt[inside], cnt[inside]
        else:
            nxt = np.where(inside, nxt, vmap.unk_id)
            ctx, nxt, cnt = merge_rows([(ctx, nxt, cnt)], context_len)
    if not len(nxt) or not any(filters.get(k) is not None for k in CONTEXT_FILTERS):
        return ctx, nxt, cnt
    starts, grp = group_contexts(ctx)
    n_j = np.add.reduceat(cnt, starts)
    k_j = np.diff(np.append(starts, len(nxt)))
    keep = np.ones(len(starts), dtype=bool)
    if filters.get("min_count") is not None:
        keep &= n_j >= filters["min_count"]
    if filters.get("min_support") is not None:
        keep &= k_j >= int(filters["min_support"])
    if filters.get("max_support") is not None:
        keep &= k_j <= int(filters["max_support"])
    if filters.get("top_k") is not None:
        if floor:
            keep &= n_j >= floor
        cand = np.flatnonzero(keep)
        best = cand[np.argsort(-n_j[cand], kind="stable")[: int(filters["top_k"])]]
        keep = np.zeros_like(keep)
        keep[best] = True
    m = keep[grp]
    return ctx[m], nxt[m], cnt[m]


def prune_top_k(candidates: Sequence[Rows], top_k: int) -> list[Rows]:
    """The rows of the ``top_k`` best contexts among candidate tables of disjoint contexts, each sorted by context
    (count descending, ties: lexicographically smaller first). Exact: every context dropped has ``top_k`` contexts
    ahead of it in that total order. Only the contexts tied at the threshold are sorted."""
    pieces = [c for c in candidates if len(c[1])]
    groups = [group_contexts(c[0]) for c in pieces]
    n_all = np.concatenate([np.add.reduceat(c[2], st) for c, (st, _) in zip(pieces, groups)] or [np.zeros(0, np.int64)])
    m = len(n_all)
    if m <= top_k:
        return pieces
    t = np.partition(n_all, m - top_k)[m - top_k]  # the K-th largest count
    keep = n_all > t
    tied = np.flatnonzero(n_all == t)
    need = top_k - int(keep.sum())
    if need >= len(tied):
        keep[tied] = True
    else:
        first = np.concatenate([c[0][st] for c, (st, _) in zip(pieces, groups)])[tied]
        keep[tied[np.lexsort(first.T[::-1])[:need]]] = True
    out, lo = [], 0
    for c, (st, grp) in zip(pieces, groups):
        m_rows = keep[lo : lo + len(st)][grp]
        lo += len(st)
        if m_rows.any():
            out.append((c[0][m_rows], c[1][m_rows], c[2][m_rows]))
    return out


def concat_disjoint(pieces: Sequence[Rows], context_len: int) -> Rows:
    """Row tables of disjoint context sets, each sorted by (context, next), as one table in that order: only the
    distinct contexts are sorted (a lexsort of m rows), then whole groups are gathered."""
    pieces = [c for c in pieces if len(c[1])]
    if len(pieces) <= 1:
        return pieces[0] if pieces else merge_rows([], context_len)
    ctx, nxt, cnt = (np.concatenate([c[k] for c in pieces]) for k in range(3))
    starts, _ = group_contexts(ctx)  # a group never spans two pieces: their contexts are disjoint
    lengths = np.diff(np.append(starts, len(nxt)))
    order = np.lexsort(ctx[starts].T[::-1]) if context_len else np.arange(len(starts))
    lens = lengths[order]
    idx = np.repeat(starts[order] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(len(nxt))
    return ctx[idx], nxt[idx], cnt[idx]


def assemble(candidates: Sequence[Rows], context_len: int, names: Sequence[str], vmap: VocabMap | None,
             filters: dict, meta: dict) -> NTPData:
    """The final dataset from the candidate rows of all partitions (bounded by the selection, not the corpus)."""
    ctx, nxt, cnt = concat_disjoint(candidates, context_len)
    if not len(nxt):
        used = [k for k in ("max_vocab", "next_vocab", *CONTEXT_FILTERS) if filters.get(k) is not None]
        if used:
            raise NTPDataError(f"no context is left after the filters {', '.join(used)}; relax them")
        raise NTPDataError(f"context_len={context_len} is too long: no document has more than {context_len} tokens; "
                           "use a shorter context or longer documents")
    starts, col = group_contexts(ctx)
    out_ids, row = np.unique(nxt, return_inverse=True)
    unk = filters.get("unk_token", "<unk>")
    out_names = [unk if vmap is not None and i == vmap.unk_id else str(names[i]) for i in out_ids.tolist()]
    indptr = np.append(starts, len(nxt)).astype(np.int64)
    C = sp.csc_array((cnt.astype(np.float64), row.ravel().astype(np.int64), indptr), shape=(len(out_ids), len(starts)))
    meta = dict(meta)
    if vmap is not None:
        meta["filters"] = dict(vmap.applied)
    data = NTPData(C, out_names, ctx[starts], [str(n) for n in names], meta)
    ctx_filters = {k: filters[k] for k in CONTEXT_FILTERS if filters.get(k) is not None}
    return filter_data(data, **ctx_filters) if ctx_filters else data
