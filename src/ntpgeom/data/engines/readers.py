"""Shard readers: text files, JSONL, Parquet and Hugging Face datasets saved on disk (Arrow files), never the network.

A *shard* is the unit of work and of resumption: one text or JSONL file, one Parquet row group, or one Arrow file.
Every row or record is one document, so windows never cross rows. Text is tokenised with a ``tokenizers`` JSON file
in batches (the Rust encoder runs on all cores), or with ``"word"``/``"char"`` over a corpus-wide vocabulary built in
a first pass; pre-tokenised id columns (list<int>) skip tokenisation.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ...errors import NTPDataError
from ..builders import split_documents
from ..tokenize import encode

SUFFIX_KIND = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
               ".arrow": "arrow", ".txt": "text", ".text": "text"}


@dataclass(frozen=True)
class Shard:
    """One unit of input. ``unit`` is the Parquet row group (0 for other kinds); ``stamp`` = size and mtime, so that a
    changed file is never mistaken for a finished shard on resume."""

    path: str
    kind: str
    unit: int
    stamp: str

    @property
    def label(self) -> str:
        return self.path if self.kind != "parquet" else f"{self.path}[row group {self.unit}]"


@dataclass(frozen=True)
class ReadSpec:
    """How to turn a shard into token ids: ``ids_column`` (pre-tokenised) or ``text_column`` + ``tokenizer``."""

    text_column: str = "text"
    ids_column: str | None = None
    tokenizer: str | None = None
    doc_sep: str = "blank"
    lowercase: bool = False
    chunk_tokens: int = 1 << 22


def discover(paths: str | os.PathLike | Sequence[str | os.PathLike], skip_bad: bool = False) -> tuple[list[Shard], list[str]]:
    """Expand files, globs and dataset folders into shards (sorted, deterministic). Returns (shards, skipped)."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise NTPDataError("no input given; pass one or more files, globs or dataset folders")
    files: list[Path] = []
    for item in items:
        s = str(item)
        if any(c in s for c in "*?["):
            hits = sorted(glob.glob(s, recursive=True))
            if not hits:
                raise NTPDataError(f"the pattern {s!r} matches no file; check the path and quote the glob")
            files += [Path(h) for h in hits if Path(h).is_file()]
        elif Path(s).is_dir():
            # in a folder (e.g. a Hugging Face dataset saved on disk) .json files are metadata, not records
            found = sorted(p for p in Path(s).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIX_KIND
                           and p.suffix.lower() != ".json")
            if not found:
                raise NTPDataError(f"the folder {s} holds no .parquet/.arrow/.jsonl/.txt file")
            files += found
        elif Path(s).is_file():
            files.append(Path(s))
        else:
            raise NTPDataError(f"input not found: {s}; give existing files, globs or dataset folders")
    shards: list[Shard] = []
    skipped: list[str] = []
    for f in dict.fromkeys(files):
        try:
            shards += _file_shards(f)
        except NTPDataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
    return shards, skipped


def _file_shards(path: Path) -> list[Shard]:
    st = path.stat()
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    kind = SUFFIX_KIND.get(path.suffix.lower(), "text")
    if kind != "parquet":
        return [Shard(str(path), kind, 0, stamp)]
    import pyarrow.parquet as pq

    try:
        n = pq.ParquetFile(path).metadata.num_row_groups
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError on corrupt files
        raise NTPDataError(f"{path} is not a readable Parquet file ({exc}); repair or remove it, or pass --skip-bad") from exc
    return [Shard(str(path), kind, i, stamp) for i in range(n)]


def read_shard(shard: Shard, spec: ReadSpec, encoder: "Encoder | VocabEncoder | None") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, doc_ids)`` chunks of about ``spec.chunk_tokens`` tokens; documents never span two chunks.

    Raises :class:`NTPDataError` naming the shard for unreadable files, a missing column or bad content.
    """
    docs = documents(shard, spec)
    if isinstance(docs, tuple):  # pre-tokenised: (values, offsets)
        yield from _chunk_ids(*docs, spec.chunk_tokens, shard)
        return
    if encoder is None:
        raise NTPDataError(f"{shard.label} holds text; give a tokenizer (a tokenizers JSON file) or an ids column")
    for lo in range(0, len(docs), _BATCH):
        yield encoder.encode(docs[lo : lo + _BATCH])


def documents(shard: Shard, spec: ReadSpec) -> Any:
    """The shard's documents: a list of str, or ``(ids, offsets)`` for pre-tokenised input. One clear error for any
    reader failure (corrupt Parquet/Arrow, bad JSON, I/O, a missing column)."""
    try:
        return _load_documents(shard, spec)
    except NTPDataError:
        raise
    except Exception as exc:  # pyarrow, json and the OS raise many types; each becomes one clear error
        raise NTPDataError(f"cannot read {shard.label}: {exc}; repair or remove the shard, or pass --skip-bad") from exc


def _load_documents(shard: Shard, spec: ReadSpec) -> Any:
    if shard.kind == "text":
        raw = Path(shard.path).read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NTPDataError(f"{shard.path} is not valid UTF-8 (bad byte at offset {exc.start}); convert it first") from exc
        return _lower(split_documents(text, spec.doc_sep), spec)
    if shard.kind == "jsonl":
        docs = []
        with open(shard.path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise NTPDataError(f"{shard.path}: line {i} is not valid JSON ({exc.msg})") from exc
                docs.append(_field(rec, spec, shard, i))
        return _from_values(docs, spec, shard)
    table = _read_table(shard, spec)
    return _table_documents(table, spec, shard)


def _field(rec: Any, spec: ReadSpec, shard: Shard, line: int) -> Any:
    name = spec.ids_column or spec.text_column
    if not isinstance(rec, dict) or name not in rec:
        raise NTPDataError(f"{shard.path}: record on line {line} has no field {name!r}; pass --text-column/--ids-column")
    return rec[name]


def _from_values(values: list, spec: ReadSpec, shard: Shard) -> Any:
    if spec.ids_column is None:
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise NTPDataError(f"{shard.label}: record {bad + 1} has a non-text {spec.text_column!r} field")
        return _lower(values, spec)
    arrays = [np.asarray(v, dtype=np.int64).ravel() for v in values]
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in arrays], dtype=np.int64)])
    return (np.concatenate(arrays) if arrays else np.zeros(0, np.int64)), offsets


def _read_table(shard: Shard, spec: ReadSpec) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    col = spec.ids_column or spec.text_column
    if shard.kind == "parquet":
        pf = pq.ParquetFile(shard.path)
        names = pf.schema_arrow.names
        _check_column(col, names, shard)
        return pf.read_row_group(shard.unit, columns=[col])
    with pa.memory_map(shard.path) as src:
        try:
            table = pa.ipc.open_stream(src).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_file(src).read_all()
    _check_column(col, table.schema.names, shard)
    return table.select([col])


def detect_ids_column(shard: Shard, text_column: str) -> str | None:
    """For a Parquet/Arrow shard without ``text_column``: its only list<int> column (pre-tokenised ids), else None."""
    if shard.kind not in ("parquet", "arrow"):
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if shard.kind == "parquet":
            schema = pq.ParquetFile(shard.path).schema_arrow
        else:
            with pa.memory_map(shard.path) as src:
                try:
                    schema = pa.ipc.open_stream(src).schema
                except pa.ArrowInvalid:
                    schema = pa.ipc.open_file(src).schema
    except Exception:  # an unreadable shard gets its clear error when it is read
        return None
    if text_column in schema.names:
        return None
    ids = [f.name for f in schema if (pa.types.is_list(f.type) or pa.types.is_large_list(f.type))
           and pa.types.is_integer(f.type.value_type)]
    return ids[0] if len(ids) == 1 else None


def _check_column(col: str, names: list[str], shard: Shard) -> None:
    if col not in names:
        raise NTPDataError(f"{shard.label} has no column {col!r} (columns: {', '.join(names)}); "
                           "pass --text-column or --ids-column")


def _table_documents(table: Any, spec: ReadSpec, shard: Shard) -> Any:
    import pyarrow as pa

    arr = table.column(0).combine_chunks()
    if spec.ids_column is None:
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise NTPDataError(f"{shard.label}: column {spec.text_column!r} has type {arr.type}, not text; "
                               "for token ids pass --ids-column")
        return _lower([s or "" for s in arr.to_pylist()], spec)
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)) or not pa.types.is_integer(arr.type.value_type):
        raise NTPDataError(f"{shard.label}: column {spec.ids_column!r} has type {arr.type}; ids need list<int>")
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    values = np.asarray(arr.values, dtype=np.int64)[offsets[0] : offsets[-1]]
    return values, offsets - offsets[0]


def _lower(docs: list[str], spec: ReadSpec) -> list[str]:
    return [d.lower() for d in docs] if spec.lowercase else docs


def _chunk_ids(values: np.ndarray, offsets: np.ndarray, chunk: int, shard: Shard) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if values.size and values.min() < 0:
        raise NTPDataError(f"{shard.label}: token ids must be >= 0, found {int(values.min())}")
    n_docs = len(offsets) - 1
    lo = 0
    while lo < n_docs:
        hi = max(lo + 1, int(np.searchsorted(offsets, offsets[lo] + chunk, side="right")) - 1)
        hi = min(hi, n_docs)
        a, b = offsets[lo], offsets[hi]
        yield values[a:b], np.repeat(np.arange(hi - lo, dtype=np.int64), np.diff(offsets[lo : hi + 1]))
        lo = hi


FREQUENCY_TOKENIZERS = ("word", "char")
_BATCH = 1024  # documents per tokenisation batch


def token_frequencies(shard: Shard, spec: ReadSpec) -> Counter:
    """How often each string token of a ``"word"``/``"char"`` tokenizer occurs in the shard (first pass)."""
    docs = documents(shard, spec)
    freq: Counter = Counter()
    for lo in range(0, len(docs), _BATCH):
        enc = encode(docs[lo : lo + _BATCH], spec.tokenizer or "word")
        freq.update(dict(zip(enc.vocab, np.bincount(enc.ids, minlength=len(enc.vocab)).tolist())))
    return freq


class VocabEncoder:
    """``"word"``/``"char"`` tokens mapped to a corpus-wide vocabulary (most frequent first, ties lexicographic:
    the ids ``from_text`` gives), built by a first pass over all shards (:func:`token_frequencies`)."""

    def __init__(self, spec: str, freq: Counter):
        self.spec = spec
        self._vocab = sorted(freq, key=lambda t: (-freq[t], t))
        self.index = {t: i for i, t in enumerate(self._vocab)}

    def encode(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = encode(docs, self.spec)
        remap = np.array([self.index[t] for t in enc.vocab], dtype=np.int64)
        return (remap[enc.ids] if enc.ids.size else enc.ids), enc.doc_ids

    def vocab(self) -> list[str]:
        return list(self._vocab)


class Encoder:
    """A ``tokenizers`` tokenizer loaded from a JSON file: fixed vocabulary, batch encoding on all cores."""

    def __init__(self, spec: str):
        from tokenizers import Tokenizer

        path = Path(spec)
        if not path.is_file():
            raise NTPDataError(
                f"the streaming engines take 'word', 'char', 'bpe:N', a tokenizers JSON file or pre-tokenised ids "
                f"(--ids-column), got {spec!r}"
            )
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise NTPDataError(f"{path} is not a valid tokenizers JSON file ({exc})") from exc
        self.spec = spec

    def encode(self, docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        docs = [d.replace("\ufeff", "") for d in docs]  # a byte-order mark is never a token (as in from_text)
        encs = self.tok.encode_batch(docs, add_special_tokens=False)
        lengths = np.array([len(e.ids) for e in encs], dtype=np.int64)
        ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(lengths.sum()))
        return ids, np.repeat(np.arange(len(docs), dtype=np.int64), lengths)

    def vocab(self) -> list[str]:
        size = self.tok.get_vocab_size(with_added_tokens=True)
        inv = {i: s for s, i in self.tok.get_vocab(with_added_tokens=True).items()}
        return [inv.get(i, f"<{i}>") for i in range(size)]
