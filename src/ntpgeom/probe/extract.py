"""From a corpus and a loaded LM to the NTP data over the model's tokenizer and the model's (H, W, L).

- :func:`corpus_data` tokenises a text with the model's own tokenizer and builds :class:`~ntpgeom.data.NTPData`
  (theory.md §1) over its distinct contexts, keeping the most frequent ones.
- :func:`extract` runs the model once over each distinct context, batched, and returns the final hidden state at the
  last position (the input of the LM head, i.e. after the model's final norm), the model's own logits on a chosen set
  of token rows, and a numerical check of ``L = W H (+ b)``.

Batching needs no padding: sequences are grouped by length, so every batch is a full rectangle with an all-ones
attention mask. (Left/right padding, position ids and masks cannot then go wrong for any architecture, absolute or
rotary positions alike.) Memory is bounded by one batch of full-vocabulary logits at the last position
(``logits_to_keep=1``) plus the kept outputs, N x (d + rows) for the N kept contexts (all m by default), plus the
running mean and d x d second moment of the hidden states of all m contexts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import validate
from ..data import NTPData, from_tokens, split_documents
from ..progress import Progress
from .model import LoadedModel, ProbeError



# ----------------------------------------------------------------------------- tokenisation
def token_names(tokenizer: Any, n: int) -> list[str]:
    """Unique display names of token ids ``0..n-1`` (the tokenizer's own strings; duplicates get ``#id``)."""
    size = len(tokenizer)
    raw = tokenizer.convert_ids_to_tokens(list(range(min(n, size))))
    names: list[str] = []
    seen: set[str] = set()
    for i in range(n):
        s = raw[i] if i < size else None
        s = f"<id{i}>" if s is None else str(s)
        if s in seen:
            s = f"{s}#{i}"
        seen.add(s)
        names.append(s)
    return names


def tokenize_documents(tokenizer: Any, docs: Sequence[str], batch: int = 1000) -> list[np.ndarray]:
    """Token ids of each document with the model's tokenizer (no special tokens added)."""
    out: list[np.ndarray] = []
    for i in range(0, len(docs), batch):
        enc = tokenizer(list(docs[i : i + batch]), add_special_tokens=False)["input_ids"]
        out.extend(np.asarray(e, dtype=np.int64) for e in enc)
    return out


def corpus_data(
    lm: LoadedModel,
    text: str,
    context_len: int,
    *,
    max_contexts: int | None = 2000,
    min_count: float | None = 2,
    doc_sep: str = "blank",
    normalize_whitespace: bool = True,
) -> NTPData:
    """NTP statistics of ``text`` over the model's tokenizer (theory.md §1).

    Parameters
    ----------
    lm : LoadedModel
    text : str
        The corpus.
    context_len : int
        Tokens per context, T-1 >= 1.
    max_contexts : int or None
        Keep the K most frequent distinct contexts (after ``min_count``).
    min_count : float or None
        Keep contexts seen at least this often (so their next-token distributions mean something).
    doc_sep : str
        How to split documents (see :func:`ntpgeom.data.split_documents`); windows never cross a document boundary.
    normalize_whitespace : bool
        Collapse every run of whitespace inside a document to one space (hard-wrapped prose becomes running text).

    Returns
    -------
    NTPData
        Rows: the observed next tokens of the kept contexts, named by :func:`token_names`; ``input_vocab`` is the whole
        tokenizer vocabulary, so ``contexts`` are model token ids. ``meta["token_ids"]`` maps row z to its model id.
    """
    validate.positive_int("--context-len", context_len, error=ProbeError)
    if max_contexts is not None:
        validate.positive_int("--max-contexts", max_contexts, error=ProbeError)
    docs = split_documents(text, doc_sep)
    if normalize_whitespace:
        docs = [" ".join(d.split()) for d in docs]
    docs = [d for d in docs if d]
    if not docs:
        raise ProbeError("the corpus is empty (no non-blank text); give a text file with content")
    ids = tokenize_documents(lm.tokenizer, docs)
    lengths = np.array([len(x) for x in ids])
    if lengths.max(initial=0) <= context_len:
        raise ProbeError(
            f"the corpus is shorter than the context length: its longest document has {int(lengths.max(initial=0))} "
            f"tokens, so no window of {context_len} + 1 tokens fits; use a smaller --context-len or a longer text"
        )
    n_vocab = max(len(lm.tokenizer), lm.info["V_model"])
    names = token_names(lm.tokenizer, n_vocab)
    meta = {
        "source": "probe",
        "tokenizer": f"model:{lm.info.get('name_or_path') or lm.path}",
        "model_path": lm.path,
        "gguf_file": lm.gguf_file,
        "doc_sep": doc_sep,
        "normalize_whitespace": normalize_whitespace,
        "n_documents": len(docs),
    }
    data = from_tokens(ids, int(context_len), vocab=names, meta=meta, min_count=min_count, top_k=max_contexts)
    index = {s: i for i, s in enumerate(names)}
    token_ids = [index[s] for s in data.vocab]
    return NTPData(data.counts.copy(), data.vocab, data.contexts, data.input_vocab, {**dict(data.meta), "token_ids": token_ids})


def measured_tokens(data: NTPData, n_model: int, n_other: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Model token ids to measure: every token in a support (the rows of ``data``) plus ``n_other`` others drawn
    uniformly without replacement from the rest of the model's vocabulary (seeded). Returns (ids, n_support)."""
    sup = np.asarray(data.meta["token_ids"], dtype=np.int64)
    rest = np.setdiff1d(np.arange(n_model), sup)
    n_other = int(min(max(n_other, 0), rest.size))
    other = np.sort(np.random.default_rng(seed).choice(rest, size=n_other, replace=False)) if n_other else rest[:0]
    return np.concatenate([sup, other]), int(sup.size)


# ----------------------------------------------------------------------------- extraction
class RunningMoments:
    """Running mean and second moment of column vectors fed in batches (the hidden states of every context, without
    keeping them): after ``add`` of batches X_1, X_2, ... (each d x b), ``mean`` = (1/n) Σ_j x_j and ``gram`` =
    (1/n) Σ_j x_j x_jᵀ (d x d), ``cov`` = gram - mean meanᵀ. Memory O(d²); sums in float64."""

    def __init__(self, d: int) -> None:
        self.n = 0
        self._sum = np.zeros(d)
        self._sq = np.zeros((d, d))

    def add(self, X: np.ndarray) -> None:
        X = np.asarray(X, dtype=np.float64)
        self.n += X.shape[1]
        self._sum += X.sum(axis=1)
        self._sq += X @ X.T

    @property
    def mean(self) -> np.ndarray:
        return self._sum / max(self.n, 1)

    @property
    def gram(self) -> np.ndarray:
        return self._sq / max(self.n, 1)

    @property
    def cov(self) -> np.ndarray:
        mu = self.mean
        return self.gram - np.outer(mu, mu)


@dataclass(frozen=True, eq=False)
class Extraction:
    """What the model computes on m contexts, of which the N contexts ``idx`` are kept.

    Attributes
    ----------
    H : ndarray, shape (d, N), float64
        Final hidden state at the last position (the LM head's input, after the final norm), kept contexts.
    L : ndarray, shape (R, N), float64
        The model's own logits at the last position, on the R requested token rows, kept contexts.
    lse : ndarray, shape (N,), float64
        log Σ_v exp(logit_v) over the whole model vocabulary (for the full-softmax cross-entropy), kept contexts.
    wh_max_abs_err, wh_rel_err : float
        max |L - (W H + b)| and ‖L - (W H + b)‖_F / ‖L‖_F over the requested rows and *all* m contexts, in float64.
    idx : int array, shape (N,)
        The kept contexts (sorted; all m by default).
    H_mean, H_gram : ndarray, shapes (d,), (d, d)
        Mean and second moment (1/m) Σ_j h_j h_jᵀ of the hidden states of *all* m contexts (streamed).
    """

    H: np.ndarray
    L: np.ndarray
    lse: np.ndarray
    wh_max_abs_err: float
    wh_rel_err: float
    idx: np.ndarray | None = None
    H_mean: np.ndarray | None = None
    H_gram: np.ndarray | None = None


def iter_batches(contexts: Sequence[Sequence[int]] | np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Index batches with sequences of equal length only (no padding), in input order within each length."""
    lengths = np.array([len(c) for c in contexts], dtype=np.int64)
    batches = []
    for ln in np.unique(lengths):
        idx = np.flatnonzero(lengths == ln)
        batches.extend(idx[i : i + batch_size] for i in range(0, idx.size, batch_size))
    return batches


def _stack(contexts: Sequence[Sequence[int]] | np.ndarray, idx: np.ndarray) -> np.ndarray:
    if isinstance(contexts, np.ndarray):
        return contexts[idx]
    return np.stack([np.asarray(contexts[i], dtype=np.int64) for i in idx.tolist()])


class _WHCheck:
    """Streamed ``L = W H + b`` check: max |diff|, Σ diff², Σ L² over batches (no R x m temporaries)."""

    def __init__(self, W: np.ndarray, b: np.ndarray | None) -> None:
        self.W, self.b = W, b
        self.max_abs = self.d2 = self.l2 = 0.0

    def add(self, L: np.ndarray, H: np.ndarray) -> None:
        diff = L - self.W @ H
        if self.b is not None:
            diff -= self.b[:, None]
        if diff.size:
            self.max_abs = max(self.max_abs, float(np.abs(diff).max()))
        self.d2 += float(np.vdot(diff, diff))
        self.l2 += float(np.vdot(L, L))

    @property
    def rel(self) -> float:
        return float(np.sqrt(self.d2 / self.l2)) if self.l2 > 0 else 0.0


def _keep_positions(m: int, keep: np.ndarray | None) -> np.ndarray:
    """pos[j] = column of context j in the kept arrays, -1 if not kept."""
    if keep is None:
        return np.arange(m)
    keep = np.asarray(keep, dtype=np.int64)
    if keep.ndim != 1 or keep.size == 0 or keep.min() < 0 or keep.max() >= m or np.any(np.diff(keep) <= 0):
        raise ProbeError(f"keep must be sorted distinct context indices in [0, {m})")
    pos = np.full(m, -1)
    pos[keep] = np.arange(keep.size)
    return pos


def extract(
    lm: LoadedModel,
    contexts: Sequence[Sequence[int]] | np.ndarray,
    rows: np.ndarray,
    *,
    batch_size: int = 64,
    keep: np.ndarray | None = None,
    progress: Progress | None = None,
    tap: Any = None,
) -> Extraction:
    """Run the model once per context and collect (H, L on ``rows``, full-vocabulary logsumexp), checking L = W H + b.

    Streamed: each batch's outputs are written into the kept arrays (only the contexts ``keep``) and folded into
    running accumulators (mean and second moment of H, the L = W H + b check) over all contexts; nothing of size
    R x m or d x m is formed beyond the kept arrays. Memory: (d + R + 1) x N floats for N kept contexts, d x d for
    the Gram, and one batch.

    Parameters
    ----------
    lm : LoadedModel
    contexts : int array, shape (m, T-1), or a list of m id sequences (lengths may differ)
        Model token ids.
    rows : int array, shape (R,)
        Model token ids whose logits are kept.
    batch_size : int
        Contexts per forward pass.
    keep : int array, shape (N,), optional
        Sorted context indices whose H, L, lse are kept (default: all m).
    progress : Progress, optional
        Called as ``progress("forward passes", done, m)`` after each batch (:class:`ntpgeom.progress.Progress`).
    tap : LayerTap, optional
        Collects the kept contexts' hidden states of earlier layers from the same passes
        (:class:`ntpgeom.probe.layers.LayerTap`).
    """
    import torch

    validate.positive_int("batch_size", batch_size, error=ProbeError)
    m = len(contexts)
    if m == 0:
        raise ProbeError("no contexts to probe")
    rows = np.asarray(rows, dtype=np.int64)
    V_model, d = lm.info["V_model"], lm.info["d"]
    if rows.size and (rows.min() < 0 or rows.max() >= V_model):
        raise ProbeError(f"token rows must lie in [0, {V_model}) (the model's output vocabulary)")
    if any(len(c) == 0 for c in contexts):
        raise ProbeError("every context needs at least one token")
    pos = _keep_positions(m, keep)
    n_keep = int((pos >= 0).sum())
    rows_t = torch.as_tensor(rows, device=lm.device)
    H = np.empty((d, n_keep))
    L = np.empty((rows.size, n_keep))
    lse = np.empty(n_keep)
    moments, check = RunningMoments(d), _WHCheck(lm.W(rows), lm.bias(rows))
    captured: list[torch.Tensor] = []

    def hook(_mod: Any, args: tuple[Any, ...]) -> None:
        captured.append(args[0][:, -1, :])

    handle = lm.head.register_forward_pre_hook(hook)
    done, every = 0, tap is not None and tap.wanted
    try:
        with torch.inference_mode():
            for idx in iter_batches(contexts, batch_size):
                x = torch.as_tensor(_stack(contexts, idx), dtype=torch.long, device=lm.device)
                captured.clear()
                out = lm.model(input_ids=x, attention_mask=torch.ones_like(x), logits_to_keep=1, use_cache=False,
                               output_hidden_states=every)
                if len(captured) != 1:
                    raise ProbeError("the LM head ran an unexpected number of times; this architecture is not supported")
                logits = out.logits[:, -1, :].float()
                Hb = captured[0].double().cpu().numpy().T
                Lb = logits.index_select(1, rows_t).double().cpu().numpy().T
                moments.add(Hb)
                check.add(Lb, Hb)
                p = pos[idx]
                sel = p >= 0
                if sel.any():
                    H[:, p[sel]], L[:, p[sel]] = Hb[:, sel], Lb[:, sel]
                    lse[p[sel]] = torch.logsumexp(logits, dim=-1).double().cpu().numpy()[sel]
                    if every:
                        tap.add(out.hidden_states, p[sel], sel)
                done += idx.size
                if progress is not None:
                    progress("forward passes", done, m)
    finally:
        handle.remove()
    kept = np.flatnonzero(pos >= 0)
    return Extraction(H, L, lse, check.max_abs, check.rel, kept, moments.mean, moments.gram)
