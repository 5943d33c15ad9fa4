"""From a corpus and a loaded LM to the NTP data over the model's tokenizer and the model's (H, W, L).

- :func:`corpus_data` tokenises a text with the model's own tokenizer and builds :class:`~ntpgeom.data.NTPData`
  (theory.md §1) over its distinct contexts, keeping the most frequent ones.
- :func:`extract` runs the model once over each distinct context, batched, and returns the final hidden state at the
  last position (the input of the LM head, i.e. after the model's final norm), the model's own logits on a chosen set
  of token rows, and a numerical check of ``L = W H (+ b)``.

Batching needs no padding: sequences are grouped by length, so every batch is a full rectangle with an all-ones
attention mask. (Left/right padding, position ids and masks cannot then go wrong for any architecture, absolute or
rotary positions alike.) Memory is bounded by one batch of full-vocabulary logits at the last position
(``logits_to_keep=1``) plus the kept outputs, m x (d + rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .. import validate
from ..data import NTPData, from_tokens, split_documents
from .model import LoadedModel, ProbeError

Progress = Callable[[int, int], None] | None


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
@dataclass(frozen=True, eq=False)
class Extraction:
    """What the model computes on m contexts.

    Attributes
    ----------
    H : ndarray, shape (d, m), float64
        Final hidden state at the last position (the LM head's input, after the final norm).
    L : ndarray, shape (R, m), float64
        The model's own logits at the last position, on the R requested token rows.
    lse : ndarray, shape (m,), float64
        log Σ_v exp(logit_v) over the whole model vocabulary (for the full-softmax cross-entropy).
    wh_max_abs_err, wh_rel_err : float
        max |L - (W H + b)| and ‖L - (W H + b)‖_F / ‖L‖_F over the requested rows, in float64.
    """

    H: np.ndarray
    L: np.ndarray
    lse: np.ndarray
    wh_max_abs_err: float
    wh_rel_err: float


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


def extract(
    lm: LoadedModel,
    contexts: Sequence[Sequence[int]] | np.ndarray,
    rows: np.ndarray,
    *,
    batch_size: int = 64,
    progress: Progress = None,
) -> Extraction:
    """Run the model once per context and collect (H, L on ``rows``, full-vocabulary logsumexp), checking L = W H + b.

    Parameters
    ----------
    lm : LoadedModel
    contexts : int array, shape (m, T-1), or a list of m id sequences (lengths may differ)
        Model token ids.
    rows : int array, shape (R,)
        Model token ids whose logits are kept.
    batch_size : int
        Contexts per forward pass.
    progress : callable(done, total), optional
        Called after each batch with the number of contexts done.
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
    device = lm.device
    rows_t = torch.as_tensor(rows, device=device)
    W_rows = lm.W(rows)  # (R, d) float64
    b_rows = lm.bias(rows)
    H = np.empty((d, m))
    L = np.empty((rows.size, m))
    lse = np.empty(m)
    captured: list[torch.Tensor] = []

    def hook(_mod: Any, args: tuple[Any, ...]) -> None:
        captured.append(args[0][:, -1, :])

    handle = lm.head.register_forward_pre_hook(hook)
    done = 0
    try:
        with torch.inference_mode():
            for idx in iter_batches(contexts, batch_size):
                x = torch.as_tensor(_stack(contexts, idx), dtype=torch.long, device=device)
                captured.clear()
                out = lm.model(input_ids=x, attention_mask=torch.ones_like(x), logits_to_keep=1, use_cache=False)
                if len(captured) != 1:
                    raise ProbeError("the LM head ran an unexpected number of times; this architecture is not supported")
                logits = out.logits[:, -1, :].float()
                lse[idx] = torch.logsumexp(logits, dim=-1).double().cpu().numpy()
                L[:, idx] = logits.index_select(1, rows_t).double().cpu().numpy().T
                H[:, idx] = captured[0].double().cpu().numpy().T
                done += idx.size
                if progress is not None:
                    progress(done, m)
    finally:
        handle.remove()
    WH = W_rows @ H
    if b_rows is not None:
        WH += b_rows[:, None]
    diff = L - WH
    max_abs = float(np.abs(diff).max()) if diff.size else 0.0
    nrm = float(np.linalg.norm(L))
    rel = float(np.linalg.norm(diff) / nrm) if nrm > 0 else 0.0
    return Extraction(H, L, lse, max_abs, rel)
