"""Tokenisers for ``from_text``: ``"word"``, ``"char"``, ``"bpe:<vocab size>"`` or a path to a tokenizers JSON file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import NTPDataError
from ..progress import Progress

_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)

TOKENIZER_HELP = (
    "'word' (words and punctuation), 'char', 'bpe:<vocab size>' (a byte-pair encoding trained on the corpus), "
    "or a path to a Hugging Face tokenizers JSON file"
)


@dataclass(frozen=True)
class Encoded:
    """A tokenised corpus.

    Attributes
    ----------
    ids : int64 array, shape (N,)
        All documents' token ids, concatenated.
    doc_ids : int64 array, shape (N,)
        Document index of each token (documents are contiguous runs).
    vocab : tuple of str
        Token strings; ``vocab[i]`` is id ``i``.
    spec : str
        The tokenizer specification used.
    """

    ids: np.ndarray
    doc_ids: np.ndarray
    vocab: tuple[str, ...]
    spec: str


def encode(docs: Sequence[str], spec: str = "word", progress: Progress | None = None) -> Encoded:
    """Tokenise ``docs`` with the tokenizer named by ``spec`` (see :data:`TOKENIZER_HELP`).

    ``progress("tokenising", done, total)`` (:class:`ntpgeom.progress.Progress`) is called as chunks of documents
    are tokenised.
    """
    if not isinstance(spec, str) or not spec:
        raise NTPDataError(f"unknown tokenizer {spec!r}; use {TOKENIZER_HELP}")
    docs = [d.replace("\ufeff", "") for d in docs]  # a byte-order mark is an encoding marker, never a token
    if spec == "word":
        return _encode_by_frequency(_chunked(docs, lambda c: [_WORD_RE.findall(d) for d in c], progress), spec)
    if spec == "char":
        split = lambda c: [[ch for ch in d if not ch.isspace() or ch == " "] for d in c]  # noqa: E731
        return _encode_by_frequency(_chunked(docs, split, progress), spec)
    size = bpe_size(spec)
    if size is not None:
        return _encode_bpe(docs, size, spec, progress)
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        return _encode_tokenizers_file(docs, path, spec, progress)
    raise NTPDataError(f"unknown tokenizer {spec!r}; use {TOKENIZER_HELP}")


def bpe_size(spec: str | None) -> int | None:
    """N of a ``"bpe:N"`` tokenizer spec (None for other specs); a clear error for a malformed one."""
    if not isinstance(spec, str) or not spec.startswith("bpe:"):
        return None
    size = spec[4:]
    if not size.isdigit() or int(size) < 2:
        raise NTPDataError(f"bad tokenizer {spec!r}: write 'bpe:<vocab size>' with an integer size >= 2, e.g. 'bpe:512'")
    return int(size)


_CHUNK = 2000  # documents per progress update


def _chunked(docs: Sequence[str], fn: Callable[[Sequence[str]], list], progress: Progress | None) -> list:
    """``fn`` applied to consecutive chunks of ``docs``, concatenated; reports ``progress("tokenising", done, total)``."""
    out: list = []
    for lo in range(0, len(docs), _CHUNK):
        out += fn(docs[lo : lo + _CHUNK])
        if progress is not None:
            progress("tokenising", min(lo + _CHUNK, len(docs)), len(docs))
    return out


def _encode_by_frequency(token_lists: list[list[str]], spec: str) -> Encoded:
    """Map string tokens to ids, most frequent first (ties: lexicographic), vectorised with np.unique."""
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    flat = [tok for toks in token_lists for tok in toks]
    if not flat:
        return Encoded(np.zeros(0, np.int64), np.zeros(0, np.int64), (), spec)
    uniq, inverse, freq = np.unique(np.array(flat, dtype=str), return_inverse=True, return_counts=True)
    order = np.argsort(-freq, kind="stable")
    new_id = np.empty_like(order)
    new_id[order] = np.arange(len(order))
    ids = new_id[inverse.ravel()].astype(np.int64)
    doc_ids = np.repeat(np.arange(len(token_lists), dtype=np.int64), lengths)
    return Encoded(ids, doc_ids, tuple(uniq[order].tolist()), spec)


def _encode_with(tok, docs: Sequence[str], spec: str, progress: Progress | None) -> Encoded:
    encs = _chunked(list(docs), lambda c: tok.encode_batch(list(c), add_special_tokens=False), progress)
    lengths = np.array([len(e.ids) for e in encs], dtype=np.int64)
    ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(lengths.sum()))
    size = tok.get_vocab_size(with_added_tokens=True)
    inv = {i: s for s, i in tok.get_vocab(with_added_tokens=True).items()}
    vocab = tuple(inv.get(i, f"<{i}>") for i in range(size))
    doc_ids = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    return Encoded(ids, doc_ids, vocab, spec)


def train_bpe(docs: Sequence[str], vocab_size: int) -> str:
    """The ``"bpe:N"`` tokenizer: a byte-pair encoding of ``vocab_size`` tokens (whitespace pre-tokenizer,
    ``<unk>``) trained on ``docs``, as ``tokenizers`` JSON (``from_text`` and the streaming engines share it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator([d.replace("\ufeff", "") for d in docs], trainer=trainer)
    return tok.to_str()


def _encode_bpe(docs: Sequence[str], vocab_size: int, spec: str, progress: Progress | None) -> Encoded:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(train_bpe(docs, vocab_size))
    return _encode_with(tok, docs, spec, progress)


def _encode_tokenizers_file(docs: Sequence[str], path: Path, spec: str, progress: Progress | None) -> Encoded:
    from tokenizers import Tokenizer

    if not path.is_file():
        raise NTPDataError(f"tokenizer file not found: {path}; give an existing tokenizers JSON file or {TOKENIZER_HELP}")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise NTPDataError(f"{path} is not a valid tokenizers JSON file ({exc})") from exc
    return _encode_with(tok, docs, spec, progress)
