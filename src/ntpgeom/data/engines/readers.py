"""Shard readers: text files, JSONL, Parquet and Hugging Face datasets saved on disk (Arrow files), never the network.

A *shard* is the unit of work and of resumption: one text or JSONL file, one Parquet row group, or one Arrow file.
Every row or record is one document, so windows never cross rows. Text is tokenised with a ``tokenizers`` JSON file
in batches (the Rust encoder runs on all cores), or with ``"word"``/``"char"`` over a corpus-wide vocabulary built in
a first pass; pre-tokenised id columns (list<int>) skip tokenisation.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..._io import note_input
from ..._json import JSONDepthError, loads_json
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


def file_shards(path: Path) -> list[Shard]:
    """The shards of one file: its row groups for Parquet (whose footer is read), else the file itself."""
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


#: the largest token id of a pre-tokenised shard (one more value is kept for the ``<unk>`` row of ``rare="map"``)
MAX_ID = 2**63 - 2


class Documents(list):
    """A shard's text documents; ``nulls``: how many rows held a null text (read as empty documents)."""

    nulls = 0


def read_shard(shard: Shard, spec: ReadSpec, encoder: "Encoder | VocabEncoder | None",
               stats: dict | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(ids, doc_ids)`` chunks of about ``spec.chunk_tokens`` tokens; documents never span two chunks.
    ``stats`` (a dict), when given, receives ``null_docs``: the rows whose text or ids were null (empty documents).

    Raises :class:`NTPDataError` naming the shard for unreadable files, a missing column or bad content.
    """
    docs = documents(shard, spec)
    if stats is not None:
        stats["null_docs"] = int(getattr(docs, "nulls", 0)) if not isinstance(docs, tuple) else docs[2]
    if isinstance(docs, tuple):  # pre-tokenised: (values, offsets, nulls)
        yield from _chunk_ids(docs[0], docs[1], spec.chunk_tokens)
        return
    if encoder is None:
        raise NTPDataError(f"{shard.label} holds text; give a tokenizer (a tokenizers JSON file) or an ids column")
    for lo in range(0, len(docs), _BATCH):
        yield encoder.encode(docs[lo : lo + _BATCH])


def documents(shard: Shard, spec: ReadSpec) -> Any:
    """The shard's documents: a :class:`Documents` list of str, or ``(ids, offsets, nulls)`` for pre-tokenised
    input. One clear error for any reader failure (corrupt Parquet/Arrow, bad JSON, I/O, a missing column) and for
    token ids that are not integers in [0, ``MAX_ID``] (naming the line or row: ids are never rounded or cast)."""
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
                    rec = loads_json(line)
                except JSONDepthError as exc:
                    raise NTPDataError(f"{shard.path}: line {i} is nested too deeply to be a record ({exc.msg})") from None
                except json.JSONDecodeError as exc:
                    raise NTPDataError(f"{shard.path}: line {i} is not valid JSON ({exc.msg})") from exc
                docs.append(_field(rec, spec, shard, i))
        return _from_values(docs, spec, shard)
    table, row0 = _read_table(shard, spec)
    return _table_documents(table, spec, shard, row0)


def _field(rec: Any, spec: ReadSpec, shard: Shard, line: int) -> Any:
    name = spec.ids_column or spec.text_column
    if not isinstance(rec, dict) or name not in rec:
        raise NTPDataError(f"{shard.path}: record on line {line} has no field {name!r}; pass --text-column/--ids-column")
    if spec.ids_column is None:
        return rec[name]
    v = rec[name]
    bad = v if not isinstance(v, list) else next((x for x in v if type(x) is not int), None)
    if bad is not None or not isinstance(v, list):
        raise NTPDataError(f"{shard.path}: line {line}: field {name!r} must be a list of integer token ids, found "
                           f"{json.dumps(bad)[:40]} (ids are never rounded or converted); fix the record")
    try:
        ids = np.array(v, dtype=np.int64)
    except OverflowError:
        ids = np.array([MAX_ID + 1], dtype=np.uint64)
    if ids.size and (ids.min() < 0 or ids.max() > MAX_ID):
        out = next(x for x in v if x < 0 or x > MAX_ID)
        raise NTPDataError(f"{shard.path}: line {line}: token id {out} is outside [0, 2**63 - 2]; fix the record")
    return ids


def _from_values(values: list, spec: ReadSpec, shard: Shard) -> Any:
    if spec.ids_column is None:
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise NTPDataError(f"{shard.label}: record {bad + 1} has a non-text {spec.text_column!r} field")
        return _lower(values, spec)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in values], dtype=np.int64)])
    return (np.concatenate(values) if values else np.zeros(0, np.int64)), offsets, 0


def _read_table(shard: Shard, spec: ReadSpec) -> tuple[Any, int]:
    """The shard's column, and the file row of its first row. Parquet page checksums are verified when written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    col = spec.ids_column or spec.text_column
    if shard.kind == "parquet":
        pf = pq.ParquetFile(shard.path, page_checksum_verification=True)
        names = pf.schema_arrow.names
        _check_column(col, names, shard)
        row0 = sum(pf.metadata.row_group(k).num_rows for k in range(shard.unit))
        return pf.read_row_group(shard.unit, columns=[col]), row0
    with pa.memory_map(shard.path) as src:
        try:
            table = pa.ipc.open_stream(src).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_file(src).read_all()
    _check_column(col, table.schema.names, shard)
    return table.select([col]), 0
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


def _table_documents(table: Any, spec: ReadSpec, shard: Shard, row0: int) -> Any:
    import pyarrow as pa

    arr = table.column(0).combine_chunks()
    if spec.ids_column is None:
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise NTPDataError(f"{shard.label}: column {spec.text_column!r} has type {arr.type}, not text; "
                               "for token ids pass --ids-column")
        docs = Documents(_lower([s or "" for s in arr.to_pylist()], spec))
        docs.nulls = arr.null_count
        return docs
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)) or not pa.types.is_integer(arr.type.value_type):
        raise NTPDataError(f"{shard.label}: column {spec.ids_column!r} has type {arr.type}; ids need list<int> "
                           "(integers are never rounded or converted)")
    offsets = integers(arr.offsets).astype(np.int64)
    flat = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
    if flat.null_count:
        _bad_id(shard, spec, offsets, row0, int(np.flatnonzero(np.asarray(flat.is_null()))[0]), "null")
    values = integers(flat)
    if values.size and (values.max() > MAX_ID or values.min() < 0):  # native dtype: a uint64 id never wraps
        at = int(np.flatnonzero((values > MAX_ID) | (values < 0))[0])
        _bad_id(shard, spec, offsets, row0, at, str(int(values[at])))
    return values.astype(np.int64, copy=False), offsets - offsets[0], arr.null_count


def integers(arr: Any) -> np.ndarray:
    """A pyarrow integer array without nulls as a read-only numpy view of its data buffer (no copy; pyarrow's own
    ``to_numpy`` imports pandas, 0.7 s)."""
    dtype = np.dtype(str(arr.type))
    if len(arr) == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _bad_id(shard: Shard, spec: ReadSpec, offsets: np.ndarray, row0: int, at: int, value: str) -> None:
    row = row0 + int(np.searchsorted(offsets - offsets[0], at, side="right")) - 1
    raise NTPDataError(f"{shard.path}: row {row} (from 0) of column {spec.ids_column!r} holds the token id {value}; "
                       "ids must be integers in [0, 2**63 - 2]")


def _lower(docs: list[str], spec: ReadSpec) -> list[str]:
    return [d.lower() for d in docs] if spec.lowercase else docs


def _chunk_ids(values: np.ndarray, offsets: np.ndarray, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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
        note_input(path)  # an output may never replace it
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
