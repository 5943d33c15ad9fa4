"""Builders: counts, token ids, text and (context, next, count) pairs to :class:`NTPData`, plus filters.

Every builder (and :func:`ntpgeom.data.pairs.from_pairs`) accepts the filter keywords of :func:`filter_data` (``min_count``, ``top_k``, ``min_support``,
``max_support``, ``max_vocab``, ``next_vocab``, ``rare``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from .. import validate
from .._io import note_input, os_reason
from ..errors import NTPDataError
from ..progress import Progress
from .counts import as_count_matrix
from .dataset import NTPData
from .prefixes import from_tokens_by_length
from .tokenize import encode
from .windows import count_windows, segments


BOM = "\ufeff"

_FILTER_KEYS = ("min_count", "top_k", "min_support", "max_support", "max_vocab", "next_vocab", "rare", "unk_token")


# ----------------------------------------------------------------------------- filters
def filter_data(
    data: NTPData,
    *,
    min_count: float | None = None,
    top_k: int | None = None,
    min_support: int | None = None,
    max_support: int | None = None,
    max_vocab: int | None = None,
    next_vocab: Sequence[str] | None = None,
    rare: str = "drop",
    unk_token: str = "<unk>",
) -> NTPData:
    """Filter contexts and restrict the next-token vocabulary. Applied in this order:

    1. next-token vocabulary: keep the ``max_vocab`` most frequent next tokens, or exactly ``next_vocab``; the other
       tokens are dropped (``rare="drop"``; contexts left without counts are removed) or merged into one
       ``unk_token`` row (``rare="map"``);
    2. ``min_count``: keep contexts seen at least this often (n_j >= min_count);
    3. ``min_support`` / ``max_support``: keep contexts whose support size k_j lies in the range;
    4. ``top_k``: keep the k most frequent contexts (ties: earlier contexts first), in their original order;
    5. next tokens that no longer occur are removed from the output vocabulary.

    Parameters
    ----------
    data : NTPData
    min_count, top_k, min_support, max_support, max_vocab, next_vocab, rare, unk_token
        The filters above (None: not applied).

    Returns
    -------
    NTPData
        With the filters recorded in ``meta["filters"]`` (NTPDataError naming the filter if nothing is left).
    """
    applied: dict[str, Any] = {}
    C, vocab = _restrict_vocab(data.counts, list(data.vocab), max_vocab, next_vocab, rare, unk_token, applied)
    cols = np.arange(C.shape[1])
    n_j = np.asarray(C.sum(axis=0)).ravel()
    C = sp.csc_array(C, copy=True)
    C.eliminate_zeros()
    k_j = np.diff(C.indptr)
    keep = n_j > 0
    _ensure_nonempty(keep, "the next-token vocabulary restriction")
    if min_count is not None:
        validate.real("min_count", min_count, lo=0, error=NTPDataError)
        keep &= n_j >= min_count
        applied["min_count"] = min_count
        _ensure_nonempty(keep, f"min_count={min_count} (the most frequent context has n_j = {n_j.max():g})")
    if min_support is not None or max_support is not None:
        lo = 1 if min_support is None else validate.positive_int("min_support", min_support, error=NTPDataError)
        hi = np.iinfo(np.int64).max if max_support is None else validate.positive_int("max_support", max_support, error=NTPDataError)
        if lo > hi:
            raise NTPDataError(f"min_support ({lo}) is larger than max_support ({hi})")
        keep &= (k_j >= lo) & (k_j <= hi)
        applied["support_range"] = [lo, None if max_support is None else hi]
        _ensure_nonempty(keep, f"the support-size range [{lo}, {hi}]")
    if top_k is not None:
        validate.positive_int("top_k", top_k, error=NTPDataError)
        cand = cols[keep]
        best = cand[np.argsort(-n_j[cand], kind="stable")[:top_k]]
        keep = np.zeros_like(keep)
        keep[best] = True
        applied["top_k"] = int(top_k)
    sel = cols[keep]
    C = sp.csc_array(C[:, sel])
    row_used = np.flatnonzero(np.asarray(C.sum(axis=1)).ravel() > 0)
    C = sp.csc_array(C[row_used, :])
    vocab = [vocab[i] for i in row_used.tolist()]
    meta = dict(data.meta)
    if applied:
        meta["filters"] = {**dict(meta.get("filters", {})), **applied}
    lens = None if data.context_lengths is None else data.context_lengths[sel]  # several lengths: kept
    return NTPData(C, vocab, data.contexts[sel], data.input_vocab, meta, lens)


def _restrict_vocab(
    C: sp.csc_array,
    vocab: list[str],
    max_vocab: int | None,
    next_vocab: Sequence[str] | None,
    rare: str,
    unk_token: str,
    applied: dict[str, Any],
) -> tuple[sp.csc_array, list[str]]:
    """Step 1 of :func:`filter_data`: the next-token vocabulary restriction; records what it did in ``applied``."""
    validate.choice("rare", rare, ("drop", "map"), error=NTPDataError)
    if max_vocab is not None and next_vocab is not None:
        raise NTPDataError("give either max_vocab or next_vocab, not both")
    keep_rows: np.ndarray | None = None
    if max_vocab is not None:
        validate.positive_int("max_vocab", max_vocab, error=NTPDataError)
        tot = np.asarray(C.sum(axis=1)).ravel()
        keep_rows = np.sort(np.argsort(-tot, kind="stable")[:max_vocab])
        applied["max_vocab"] = int(max_vocab)
    elif next_vocab is not None:
        index = {t: i for i, t in enumerate(vocab)}
        unknown = [t for t in next_vocab if t not in index]
        if unknown:
            raise NTPDataError(f"next_vocab has {len(unknown)} token(s) not in the data's vocabulary (first: {unknown[0]!r})")
        keep_rows = np.array(sorted({index[t] for t in next_vocab}), dtype=np.int64)
        applied["next_vocab"] = len(keep_rows)
    if keep_rows is not None:
        dropped = np.setdiff1d(np.arange(C.shape[0]), keep_rows)
        if rare == "map" and dropped.size:
            if unk_token in vocab and vocab.index(unk_token) in set(keep_rows.tolist()):
                raise NTPDataError(f"unk_token {unk_token!r} is already a kept token; choose another unk_token")
            unk_row = sp.csc_array(C[dropped, :].sum(axis=0).reshape(1, -1))
            C = sp.vstack([C[keep_rows, :], unk_row], format="csc")
            vocab = [vocab[i] for i in keep_rows.tolist()] + [unk_token]
        else:
            C = sp.csc_array(C[keep_rows, :])
            vocab = [vocab[i] for i in keep_rows.tolist()]
        applied["rare"] = rare
    return C, vocab


def split_filters(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(_FILTER_KEYS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}; filters are {list(_FILTER_KEYS)}")
    return {k: v for k, v in kwargs.items() if v is not None}


def _ensure_nonempty(keep: np.ndarray, what: str) -> None:
    if not keep.any():
        raise NTPDataError(f"no context is left after {what}; relax that filter")


# ----------------------------------------------------------------------------- from_counts
def from_counts(
    C: Any,
    vocab: Sequence[str] | None = None,
    contexts: Any = None,
    input_vocab: Sequence[str] | None = None,
    meta: dict[str, Any] | None = None,
    **filters: Any,
) -> NTPData:
    """Build a dataset from a V x m matrix of non-negative counts (dense array or scipy.sparse).

    Parameters
    ----------
    C : array or sparse matrix, shape (V, m)
        ``C[z, j]`` = count (or weight) of next token z after context j.
    vocab : sequence of str, length V, optional
        Token names; default ``"t0", "t1", ...``.
    contexts : int array, shape (m, T-1), optional
        Context token ids into ``input_vocab``; default: context j is the single symbol ``"c<j>"``.
    input_vocab : sequence of str, optional
        Context vocabulary; required with ``contexts``.

    Returns
    -------
    NTPData
        Validated, content-hashed, ``**filters`` applied (:func:`filter_data`); bad counts raise NTPDataError.
    """
    C = as_count_matrix(C)
    V, m = C.shape
    vocab = [f"t{z}" for z in range(V)] if vocab is None else list(vocab)
    if contexts is None:
        contexts = np.arange(m, dtype=np.int64).reshape(m, 1)
        input_vocab = [f"c{j}" for j in range(m)]
    elif input_vocab is None:
        raise NTPDataError("contexts were given without input_vocab; pass the vocabulary the context ids refer to")
    data = NTPData(C, vocab, contexts, input_vocab, {"source": "counts", **(meta or {})})
    f = split_filters(filters)
    return filter_data(data, **f) if f else data


# ----------------------------------------------------------------------------- from_tokens
def from_tokens(
    ids: Any,
    context_len: int,
    doc_ids: Any = None,
    vocab: Sequence[str] | None = None,
    *,
    output_vocab: str = "observed",
    meta: dict[str, Any] | None = None,
    **filters: Any,
) -> NTPData:
    """Count next-token statistics from token ids with sliding windows that never cross a document boundary.

    Parameters
    ----------
    ids : int array, shape (N,), or a sequence of int sequences (one per document)
        Token ids (non-negative).
    context_len : int or (lo, hi)
        Context length T-1 (tokens before the predicted one), >= 1; a pair (or ``"lo:hi"``) builds the contexts of
        every length lo..hi (see :mod:`ntpgeom.data.prefixes`).
    doc_ids : int array, shape (N,), optional
        Document of each token; a window is counted only if all its tokens are in one contiguous document run.
        Ignored (and not allowed) when ``ids`` is a list of documents.
    vocab : sequence of str, optional
        Names of the token ids (the input vocabulary); default ``"0", "1", ...``.
    output_vocab : {"observed", "all"}
        The next-token vocabulary: only tokens that occur as a next token (the paper's choice), or all of ``vocab``.
    **filters
        See :func:`filter_data`.

    Returns
    -------
    NTPData with V next tokens and m distinct contexts. Runs in O(N log N), fully vectorised.
    """
    if isinstance(context_len, (tuple, list, str)):  # every length lo..hi (App. D.3): data/prefixes.py
        return from_tokens_by_length(ids, context_len, doc_ids, vocab, count=from_tokens, output_vocab=output_vocab,
                                     meta=meta, **filters)
    ids_arr, doc_arr = _flatten_docs(ids, doc_ids)
    validate.positive_int("context_len", context_len, error=NTPDataError)
    validate.choice("output_vocab", output_vocab, ("observed", "all"), error=NTPDataError)
    if ids_arr.size == 0:
        raise NTPDataError("the corpus is empty (no tokens); give a non-empty corpus")
    if ids_arr.min() < 0:
        raise NTPDataError(f"token ids must be >= 0, found {int(ids_arr.min())}")
    n_vocab = int(ids_arr.max()) + 1 if vocab is None else len(vocab)
    if ids_arr.max() >= n_vocab:
        raise NTPDataError(f"token id {int(ids_arr.max())} is outside the vocabulary of size {n_vocab}")
    longest = _longest_doc(doc_arr, len(ids_arr))
    counted = count_windows(ids_arr, int(context_len), doc_arr) if context_len < longest else None
    if counted is None or len(counted[0]) == 0:
        raise NTPDataError(
            f"context_len={context_len} is too long: no document has more than {context_len} tokens "
            f"(the longest has {longest}); use a context length below {longest} or longer documents"
        )
    contexts, col, row, cnt = counted
    names = [str(i) for i in range(n_vocab)] if vocab is None else [str(v) for v in vocab]
    if output_vocab == "observed":
        present = np.zeros(n_vocab, dtype=bool)
        present[row] = True
        out_ids = np.flatnonzero(present)
        row = (np.cumsum(present) - 1)[row]
    else:
        out_ids = np.arange(n_vocab)
    indptr = np.zeros(len(contexts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(col, minlength=len(contexts)), out=indptr[1:])
    C = sp.csc_array((cnt.astype(np.float64), row.astype(np.int64), indptr), shape=(len(out_ids), len(contexts)))
    info = {"source": "tokens", "context_len": int(context_len), "n_tokens": int(ids_arr.size), "output_vocab": output_vocab}
    data = NTPData(C, [names[i] for i in out_ids.tolist()], contexts, names, {**info, **(meta or {})})
    f = split_filters(filters)
    return filter_data(data, **f) if f else data


def _flatten_docs(ids: Any, doc_ids: Any) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(ids, np.ndarray) or (isinstance(ids, Sequence) and (len(ids) == 0 or np.isscalar(ids[0]))):
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise NTPDataError(f"ids must be a 1-D array of token ids or a list of documents, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise NTPDataError(f"token ids must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if doc_ids is None:
            return arr, None
        d = np.asarray(doc_ids)
        if d.shape != arr.shape:
            raise NTPDataError(f"doc_ids has shape {d.shape}, ids has {arr.shape}; give one document id per token")
        return arr, d
    if doc_ids is not None:
        raise NTPDataError("doc_ids must not be given when ids is a list of documents")
    docs = [np.asarray(d, dtype=np.int64).ravel() for d in ids]
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    flat = np.concatenate(docs) if docs else np.zeros(0, np.int64)
    return flat, np.repeat(np.arange(len(docs)), lengths)


def _longest_doc(doc_ids: np.ndarray | None, N: int) -> int:
    if doc_ids is None:
        return N
    seg = segments(doc_ids)
    return int(np.bincount(seg).max()) if N else 0


# ----------------------------------------------------------------------------- from_text
def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file, with clear errors for a missing file, a folder or device, or another encoding.

    A leading UTF-8 byte-order mark is dropped (it is an encoding marker, never text).
    """
    path = validate.input_file("text file", path, error=NTPDataError)
    note_input(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NTPDataError(f"cannot read {path}: {os_reason(exc)}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NTPDataError(
            f"{path} is not valid UTF-8 (bad byte at offset {exc.start}); convert it first, "
            "e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`"
        ) from exc
    return text.removeprefix(BOM)


def split_documents(text: str, doc_sep: str = "blank") -> list[str]:
    """Split text into documents: ``"blank"`` (blank lines), ``"line"`` (each line), ``"none"`` (one document) or a
    literal separator string. Byte-order marks (U+FEFF, e.g. from concatenated files) are removed: never a token."""
    text = text.replace(BOM, "")
    if doc_sep == "blank":
        docs = re.split(r"\n[ \t\r\f\v]*\n", text)
    elif doc_sep == "line":
        docs = text.splitlines()
    elif doc_sep == "none":
        docs = [text]
    elif doc_sep:
        docs = text.split(doc_sep)
    else:
        raise NTPDataError("doc_sep must be 'blank', 'line', 'none' or a non-empty separator string")
    return [d for d in docs if d.strip()]


def from_text(
    text_or_path: str | Path,
    context_len: int,
    tokenizer: str = "word",
    *,
    doc_sep: str = "blank",
    lowercase: bool = False,
    output_vocab: str = "observed",
    progress: Progress | None = None,
    **filters: Any,
) -> NTPData:
    """Tokenise a text (a string, or a path to a UTF-8 file) and count its next-token statistics.

    Parameters
    ----------
    text_or_path : str or Path
        A :class:`~pathlib.Path` is always read as a file; a ``str`` is read as a file if such a file exists, else
        used as the text itself.
    context_len : int
        Tokens per context (T-1).
    tokenizer : str
        ``"word"``, ``"char"``, ``"bpe:<vocab size>"`` or a path to a tokenizers JSON file.
    doc_sep : str
        How documents are delimited (see :func:`split_documents`); windows never cross documents.
    lowercase : bool
        Lowercase the text before tokenising.
    progress : callable, optional
        ``progress(stage, done=None, total=None)``: called at each stage ("reading", "tokenising", "counting"), and
        with the number of documents tokenised so far during "tokenising".
    **filters
        See :func:`filter_data`.

    Returns
    -------
    NTPData
        (NTPDataError: an unreadable file, an unknown tokenizer, a text too short for one context, a bad filter.)
    """
    say = progress or (lambda *_args: None)
    say("reading")
    if isinstance(text_or_path, Path):
        text, source = read_text(text_or_path), str(text_or_path)
    elif isinstance(text_or_path, str):
        is_file = len(text_or_path) < 4096 and "\n" not in text_or_path and Path(text_or_path).is_file()
        text, source = (read_text(text_or_path), text_or_path) if is_file else (text_or_path, "<string>")
    else:
        raise NTPDataError(f"from_text needs a str or a Path, got {type(text_or_path).__name__}")
    if lowercase:
        text = text.lower()
    docs = split_documents(text, doc_sep)
    if not docs:
        raise NTPDataError(f"the corpus {source} is empty (no non-blank text)")
    say("tokenising", 0, len(docs))
    enc = encode(docs, tokenizer, progress=say)
    if enc.ids.size == 0:
        raise NTPDataError(f"the corpus {source} has no tokens after tokenising with {tokenizer!r}")
    say("counting")
    meta = {"source": source, "tokenizer": tokenizer, "lowercase": bool(lowercase), "doc_sep": doc_sep, "n_docs": len(docs)}
    return from_tokens(enc.ids, context_len, enc.doc_ids, enc.vocab, output_vocab=output_vocab, meta=meta, **filters)
