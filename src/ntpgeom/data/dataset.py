"""The NTP dataset object: distinct contexts, next-token counts and everything derived from them.

Orientation follows the paper (theory.md §1): matrices are V x m, tokens x contexts. Column j of ``counts`` holds how
often each next token followed the j-th distinct context.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..reprs import summary_html
from .._io import load_npz, save_npz, sha256_update_array
from ..errors import FormatError, NTPDataError
from .groups import column_groups, count_distinct_columns
from .counts import as_count_matrix, check_compressed, column_totals

FORMAT_NAME = "ntpgeom.dataset"
FORMAT_VERSION = 1
COMPRESS_MAX_BYTES = 64 << 20  # NTPData.save compresses (zlib) only arrays up to this size by default


@dataclass(frozen=True, eq=False)
class NTPData:
    """Next-token-prediction statistics of a corpus, over its m distinct contexts.

    Parameters
    ----------
    counts : scipy.sparse array, shape (V, m)
        ``counts[z, j]`` = how often next token ``z`` follows distinct context ``j`` (non-negative, finite; real
        weights are allowed, e.g. exact probabilities). Every column must have a positive total.
    vocab : sequence of str, length V
        The next-token (output) vocabulary; row ``z`` of every V x m matrix is token ``vocab[z]``.
    contexts : int array, shape (m, T-1)
        The distinct contexts as ids into ``input_vocab``.
    input_vocab : sequence of str
        The context (input) vocabulary. It may differ from ``vocab``: the paper predicts over next tokens only.
    meta : mapping
        Provenance: source, tokenizer, context length, generator parameters and seed, filters applied.
    context_lengths : int array, shape (m,), optional
        Contexts of several lengths (App. D.3, autoregressive): context j is ``contexts[j, :context_lengths[j]]``,
        left-aligned; the rest of its row is padding. None: every context has all ``T-1`` tokens.

    Notes
    -----
    Derived quantities (computed on first access, cached): ``n``, ``context_counts`` (n_j), ``pi``, ``P``, ``S``,
    ``support_sizes``, ``support_groups``, ``entropy_bound``, ``hash``.
    """

    counts: sp.csc_array
    vocab: tuple[str, ...]
    contexts: np.ndarray
    input_vocab: tuple[str, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    context_lengths: np.ndarray | None = None

    def __post_init__(self) -> None:
        C = as_count_matrix(self.counts)
        V, m = C.shape
        vocab = tuple(str(v) for v in self.vocab)
        if len(vocab) != V:
            raise NTPDataError(f"vocab has {len(vocab)} entries but counts has V = {V} rows; give one name per row")
        if len(set(vocab)) != V:
            dup = _first_duplicate(vocab)
            raise NTPDataError(f"vocab has duplicate token {dup!r}; next-token names must be unique")
        ctx = np.asarray(self.contexts)
        if ctx.ndim == 1:
            ctx = ctx.reshape(-1, 1)
        if ctx.ndim != 2 or ctx.shape[0] != m:
            raise NTPDataError(f"contexts has shape {ctx.shape} but counts has m = {m} columns; give one row per context")
        if ctx.size and not np.issubdtype(ctx.dtype, np.integer):
            raise NTPDataError(f"contexts must be integer token ids, got dtype {ctx.dtype}")
        ctx = np.ascontiguousarray(ctx, dtype=np.int64)
        ctx.setflags(write=False)
        input_vocab = tuple(str(v) for v in self.input_vocab)
        if ctx.size and (ctx.min() < 0 or ctx.max() >= len(input_vocab)):
            raise NTPDataError(
                f"context ids must lie in [0, {len(input_vocab)}) (the input vocabulary), found "
                f"[{int(ctx.min())}, {int(ctx.max())}]"
            )
        C.data.setflags(write=False)
        if self.context_lengths is not None:
            object.__setattr__(self, "context_lengths", _check_lengths(self.context_lengths, m, ctx.shape[1]))
        object.__setattr__(self, "counts", C)
        object.__setattr__(self, "vocab", vocab)
        object.__setattr__(self, "contexts", ctx)
        object.__setattr__(self, "input_vocab", input_vocab)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # ------------------------------------------------------------------ shapes
    @property
    def V(self) -> int:
        """Size of the next-token vocabulary (rows)."""
        return self.counts.shape[0]

    @property
    def m(self) -> int:
        """Number of distinct contexts (columns)."""
        return self.counts.shape[1]

    @property
    def context_len(self) -> int:
        """Tokens per context (T - 1)."""
        return self.contexts.shape[1]

    def entropy_by_length(self) -> dict[int, float]:
        """{T: ℋ_T}: the entropy bound of the contexts of each length T, with π normalised within that length (the
        paper's ℋ_T, App. D.3); one entry ``{T-1: ℋ}`` when the contexts all have the same length."""
        if self.context_lengths is None:
            return {self.context_len: self.entropy_bound}
        P = self.P
        per_ctx = np.zeros(self.m)
        np.add.at(per_ctx, np.repeat(np.arange(self.m), np.diff(P.indptr)), -P.data * np.log(P.data))
        out = {}
        for T in np.unique(self.context_lengths, return_counts=True)[0].tolist():
            sel = self.context_lengths == T
            out[int(T)] = float((self.pi[sel] * per_ctx[sel]).sum() / self.pi[sel].sum()) + 0.0
        return out

    # ----------------------------------------------------------------- derived
    @cached_property
    def context_counts(self) -> np.ndarray:
        """n_j, shape (m,): total count of each context."""
        return column_totals(self.counts)

    @cached_property
    def n(self) -> float:
        """Total number of (context, next token) pairs (the total weight when counts are not integers)."""
        tot = float(self.context_counts.sum())
        return int(tot) if tot.is_integer() else tot

    @cached_property
    def pi(self) -> np.ndarray:
        """π, shape (m,): context marginal n_j / n."""
        return self.context_counts / self.context_counts.sum()

    @cached_property
    def P(self) -> sp.csc_array:
        """P, shape (V, m), sparse: next-token distribution of each context (columns sum to 1)."""
        C = self.counts
        P = sp.csc_array((C.data / np.repeat(self.context_counts, np.diff(C.indptr)), C.indices, C.indptr), shape=C.shape)
        return P

    @cached_property
    def S(self) -> sp.csc_array:
        """S, shape (V, m), sparse 0/1: support matrix, S[z, j] = 1 iff P[z, j] > 0."""
        C = self.counts
        return sp.csc_array((np.ones_like(C.data), C.indices, C.indptr), shape=C.shape)

    @cached_property
    def support_sizes(self) -> np.ndarray:
        """k_j, shape (m,): number of tokens in the support of each context."""
        return np.diff(self.counts.indptr).astype(np.int64)

    @cached_property
    def support_groups(self) -> np.ndarray:
        """Shape (m,): an id per context, equal ids iff identical supports; ids numbered by first occurrence."""
        return column_groups(self.counts)[0]

    @cached_property
    def token_groups(self) -> np.ndarray:
        """Shape (V,): an id per token, equal ids iff identical membership rows of S; numbered by first occurrence."""
        return column_groups(sp.csc_array(self.S.T))[0]

    @cached_property
    def n_supports(self) -> int:
        """Number of distinct supports."""
        if "support_groups" in self.__dict__:  # already grouped
            return int(self.support_groups.max()) + 1
        return count_distinct_columns(self.counts)

    @cached_property
    def entropy_bound(self) -> float:
        """ℋ = -Σ_j π_j Σ_z P[z,j] log P[z,j]: the infimum of the NTP cross-entropy (theory.md §1)."""
        P = self.P
        pi_per_entry = np.repeat(self.pi, np.diff(P.indptr))
        return float(-(pi_per_entry * P.data * np.log(P.data)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0

    @property
    def density(self) -> float:
        """Fraction of non-zero entries of S."""
        return self.counts.nnz / (self.V * self.m)

    @cached_property
    def hash(self) -> str:
        """SHA-256 of the content (counts, vocabularies, contexts), independent of metadata. Hex, 16 chars."""
        h = hashlib.sha256()
        C = self.counts
        for a in (np.asarray(C.shape), C.indptr.astype(np.int64), C.indices.astype(np.int64), C.data, self.contexts):
            sha256_update_array(h, a)
        if self.context_lengths is not None:  # absent for fixed-length data: their hashes are unchanged
            sha256_update_array(h, self.context_lengths)
        h.update(json.dumps([self.vocab, self.input_vocab]).encode())
        return h.hexdigest()[:16]

    # -------------------------------------------------------------- rendering
    def context_strings(self, sep: str = " ", idx: Sequence[int] | np.ndarray | None = None) -> list[str]:
        """The m contexts rendered as text (tokens joined by ``sep``); only the contexts ``idx`` when given."""
        sel = np.arange(self.m) if idx is None else np.asarray(idx, dtype=np.int64).reshape(-1)
        iv = np.asarray(self.input_vocab, dtype=object)
        if self.context_len == 0:
            return [f"#{j}" for j in sel.tolist()]
        rows = iv[self.contexts[sel]].tolist()
        if self.context_lengths is not None:  # without the padding
            return [sep.join(row[:t]) for row, t in zip(rows, self.context_lengths[sel].tolist())]
        return [sep.join(row) for row in rows]

    def dense_counts(self) -> np.ndarray:
        """Counts as a dense float64 array, shape (V, m)."""
        return self.counts.toarray()

    def summary(self, top: int = 5) -> dict[str, Any]:
        """A JSON-serialisable summary: sizes, n, ℋ, supports, support-size histogram, density, top contexts."""
        freq = np.bincount(self.support_sizes)
        sizes = np.flatnonzero(freq)
        freq = freq[sizes]
        order = _top_indices(self.context_counts, top)
        strings = self.context_strings(idx=order)  # only what is printed
        P = self.P
        top_rows = []
        for i, j in enumerate(order.tolist()):
            lo, hi = P.indptr[j], P.indptr[j + 1]
            nxt = sorted(zip(P.data[lo:hi].tolist(), P.indices[lo:hi].tolist()), reverse=True)[:5]
            top_rows.append(
                {
                    "context": strings[i],
                    "count": _num(self.context_counts[j]),
                    "next": {self.vocab[z]: round(p, 4) for p, z in nxt},
                }
            )
        return {
            "m": self.m,
            "V": self.V,
            "input_vocab_size": len(self.input_vocab),
            "context_len": self.context_len,
            "n": self.n,
            "entropy_bound": self.entropy_bound,
            "distinct_supports": self.n_supports,
            "support_size_histogram": {int(k): int(c) for k, c in zip(sizes, freq)},
            "mean_support_size": float(self.support_sizes.mean()),
            "density": self.density,
            "hash": self.hash,
            "top_contexts": top_rows,
            "meta": dict(self.meta),
        }

    _repr_html_ = summary_html  # a notebook shows a small table

    def __repr__(self) -> str:
        return (
            f"NTPData(V={self.V}, m={self.m}, n={self.n}, T-1={self.context_len}, "
            f"supports={self.n_supports}, H={self.entropy_bound:.4f}, hash={self.hash})"
        )

    # -------------------------------------------------------------- subsetting
    def select_contexts(self, idx: Sequence[int] | np.ndarray, **meta: Any) -> "NTPData":
        """A new dataset with only the contexts ``idx`` (in that order). Tokens are kept."""
        idx = np.asarray(idx, dtype=np.int64)
        lens = None if self.context_lengths is None else self.context_lengths[idx]
        return NTPData(self.counts[:, idx], self.vocab, self.contexts[idx], self.input_vocab, {**self.meta, **meta},
                       lens)

    def select_tokens(self, idx: Sequence[int] | np.ndarray, **meta: Any) -> "NTPData":
        """A new dataset with only the next tokens ``idx`` (rows). Fails if a context would lose all its counts."""
        idx = np.asarray(idx, dtype=np.int64)
        vocab = tuple(self.vocab[i] for i in idx.tolist())
        return NTPData(self.counts[idx, :], vocab, self.contexts, self.input_vocab, {**self.meta, **meta},
                       self.context_lengths)

    # --------------------------------------------------------------------- I/O
    def save(self, path: str | Path, compress: bool | None = None) -> Path:
        """Save to one ``.npz`` file (atomically). Returns the path written.

        The file holds the sparse counts, contexts, vocabularies and metadata (JSON), with a format name, version and
        the content hash, which :func:`load` verifies. ``compress``: zlib-compress the arrays (level 1, ~100 MB/s);
        None (default): only when they hold at most ``COMPRESS_MAX_BYTES`` (64 MiB), since large count arrays shrink
        little. Either file loads the same way.
        """
        path = Path(path)
        C = self.counts
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "hash": self.hash,
            "shape": list(C.shape),
            "vocab": list(self.vocab),
            "input_vocab": list(self.input_vocab),
            "meta": dict(self.meta),
        }
        arrays = {"data": C.data, "indices": _narrow(C.indices, self.V), "indptr": C.indptr.astype(np.int64),
                  "contexts": _narrow(self.contexts, len(self.input_vocab))}  # int32 ids when they fit: half the bytes
        if self.context_lengths is not None:  # optional array: files without it load as fixed-length data
            arrays["context_lengths"] = self.context_lengths
        try:
            json.dumps(header, ensure_ascii=False)
        except TypeError as exc:
            raise NTPDataError(f"dataset metadata is not JSON-serialisable ({exc}); keep meta to plain values") from exc
        if compress is None:
            compress = sum(np.asarray(a).nbytes for a in arrays.values()) <= COMPRESS_MAX_BYTES
        # one hash pass: header["hash"] covers the arrays (the loader recomputes it)
        save_npz(path, header, arrays, compress=bool(compress), hash_arrays=False, level=1)
        return path


def load(path: str | Path) -> NTPData:
    """Load a dataset written by :meth:`NTPData.save` (``ntpgeom.load`` also accepts a built-in corpus's name).

    The file's format, version and content hash are verified and every array is checked (shapes, dtypes, index
    ranges, monotone ``indptr``, finite non-negative counts with a finite total) before any is used; any problem
    raises :class:`~ntpgeom.errors.FormatError`.
    """
    path = Path(path)
    if not path.exists():
        raise NTPDataError(f"dataset file not found: {path}; create one with `ntpgeom data synth` or `ntpgeom data build`"
                           " (or name a built-in corpus: synthetic, stories)")
    header, arrays = load_npz(path, FORMAT_NAME, FORMAT_VERSION, "dataset",  # _from_file checks header["hash"]
                              "rebuild it with `ntpgeom data build`/`synth`", arrays_verified=True)
    try:
        return _from_file(header, arrays)
    except NTPDataError as exc:
        raise FormatError(f"{path}: the dataset content is invalid ({exc}); the file is corrupt") from None


def _from_file(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> NTPData:
    missing = {"data", "indices", "indptr", "contexts"} - arrays.keys()
    if missing:
        raise NTPDataError(f"missing arrays {sorted(missing)}")
    for key, typ in (("shape", list), ("vocab", list), ("input_vocab", list), ("meta", dict), ("hash", str)):
        if not isinstance(header.get(key, {} if key == "meta" else None), typ):
            raise NTPDataError(f"header entry {key!r} is missing or not a {typ.__name__}")
    if not all(isinstance(t, str) for t in (*header["vocab"], *header["input_vocab"])):
        raise NTPDataError("vocabularies must be lists of strings")
    V, m = check_compressed(arrays["data"], arrays["indices"], arrays["indptr"], header["shape"])
    ctx = arrays["contexts"]
    if ctx.dtype.kind not in "iu" or ctx.ndim != 2 or ctx.shape[0] != m:
        raise NTPDataError(f"contexts must be an integer array of shape (m={m}, T-1), got {ctx.dtype} {ctx.shape}")
    C = sp.csc_array((arrays["data"].astype(np.float64), arrays["indices"].astype(np.int64),
                      arrays["indptr"].astype(np.int64)), shape=(V, m))
    data = NTPData(C, header["vocab"], ctx, header["input_vocab"], header.get("meta", {}),
                   arrays.get("context_lengths"))  # optional: absent in fixed-length (and older) files
    if data.hash != header["hash"]:
        raise NTPDataError(f"content hash mismatch (file says {header['hash']}, content is {data.hash})")
    return data


# ---------------------------------------------------------------------------- helpers
def _check_lengths(lengths: Any, m: int, width: int) -> np.ndarray:
    lens = np.asarray(lengths)
    if lens.shape != (m,) or (lens.size and not np.issubdtype(lens.dtype, np.integer)):
        raise NTPDataError(f"context_lengths must be {m} integers (one per context), got shape {lens.shape}, "
                           f"dtype {lens.dtype}")
    if lens.size and (lens.min() < 1 or lens.max() > width):
        raise NTPDataError(f"context_lengths must lie in [1, {width}] (the width of contexts), found "
                           f"[{int(lens.min())}, {int(lens.max())}]")
    lens = np.ascontiguousarray(lens, dtype=np.int64)
    lens.setflags(write=False)
    return lens


def _first_duplicate(items: Sequence[str]) -> str:
    seen: set[str] = set()
    for it in items:
        if it in seen:
            return it
        seen.add(it)
    return ""


def _narrow(ids: np.ndarray, bound: int) -> np.ndarray:
    """Ids below ``bound`` as int32 when it fits (the loader widens them; the content hash is of int64 ids)."""
    return ids.astype(np.int32 if bound <= np.iinfo(np.int32).max else np.int64, copy=False)


def _top_indices(values: np.ndarray, top: int) -> np.ndarray:
    """Indices of the ``top`` largest values, largest first (ties: smaller index first), as a stable argsort of
    ``-values`` would give; O(m) for small ``top``."""
    m = len(values)
    if top <= 0 or m == 0:
        return np.zeros(0, np.int64)
    if top >= m:
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, m - top)[m - top]  # the top-th largest value
    cand = np.flatnonzero(values >= kth)
    return cand[np.argsort(-values[cand], kind="stable")][:top]


def _num(x: float) -> int | float:
    x = float(x)
    return int(x) if x.is_integer() else x
