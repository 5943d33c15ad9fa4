"""The in-memory path of ``build_corpus``: every shard read into one token stream and counted by one call of the
counting kernel (:func:`~ntpgeom.data.windows.count_packed`; no work folder, no partitions, no merge), for inputs
that fit in memory. The result is the streaming engines' (and ``from_tokens``'s on the concatenated stream).

The choice is made from the input's size before anything is read: :func:`estimated_tokens` (exact for Parquet id
columns, from their metadata; for text and JSON one token per byte, an upper bound) times
:data:`BYTES_PER_TOKEN` must fit in half the memory available.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from ...errors import NTPDataError
from ..builders import from_counted
from ..dataset import NTPData
from ..windows import count_packed, doc_starts, longest_run
from .local import distinct_ids
from .readers import Encoder, ReadSpec, Shard, VocabEncoder, read_shard

#: peak bytes per token of the in-memory path and what follows it in ``ntpgeom data build`` (measured: 110 for
#: ``from_tokens`` and 148 for the command on 2·10⁷ Zipf tokens whose windows are almost all distinct): the ids, the
#: dense ids, the packed keys, the sort's temporaries, the dataset and its file
BYTES_PER_TOKEN = 160


def available_memory() -> int:
    """Bytes of memory available to this process now (``MemAvailable`` on Linux; 0 when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def estimated_tokens(shards: list[Shard], spec: ReadSpec) -> int:
    """An upper bound on the tokens of ``shards``: the value count of a Parquet id column (its metadata), else the
    file's size in bytes (a token takes at least one byte of text or JSON)."""
    sizes: dict[str, int] = {}
    total = 0
    for sh in shards:
        if sh.kind == "parquet" and spec.ids_column is not None:
            total += _parquet_values(sh, spec.ids_column)
        elif sh.path not in sizes:
            sizes[sh.path] = os.path.getsize(sh.path)
            total += sizes[sh.path]
    return total


def _parquet_values(shard: Shard, column: str) -> int:
    import pyarrow.parquet as pq

    try:
        rg = pq.ParquetFile(shard.path).metadata.row_group(shard.unit)
        for c in range(rg.num_columns):
            col = rg.column(c)
            if col.path_in_schema.split(".")[0] == column:
                return int(col.num_values)
    except Exception:  # unreadable: the reader gives the clear error; count the file's size meanwhile
        pass
    return os.path.getsize(shard.path)


def fits_in_memory(shards: list[Shard], spec: ReadSpec, available: int | None = None) -> bool:
    """Whether the in-memory path's peak (``BYTES_PER_TOKEN`` per estimated token) fits in half of ``available``
    bytes (default: :func:`available_memory`)."""
    free = available_memory() if available is None else available
    return BYTES_PER_TOKEN * estimated_tokens(shards, spec) <= free // 2


def read_stream(shards: list[Shard], spec: ReadSpec, encoder: Encoder | VocabEncoder | None, skip_bad: bool,
                say: Callable[..., None]) -> tuple[np.ndarray, np.ndarray, dict]:
    """All shards as one token stream: ``(ids, document starts, totals)``; a shard that fails is skipped with
    ``skip_bad`` (its message in ``totals["skipped"]``), else raises."""
    ids, starts, offset = [], [], 0
    totals = {"docs": 0, "n_shards": 0, "skipped": [], "null_docs": 0}
    for i, shard in enumerate(shards):
        stats: dict = {}
        try:
            chunks = list(read_shard(shard, spec, encoder, stats))
        except NTPDataError as exc:
            if not skip_bad:
                raise
            totals["skipped"].append(str(exc))
            continue
        for chunk_ids, doc_ids in chunks:
            totals["docs"] += int(doc_ids[-1]) + 1 if doc_ids.size else 0
            if not chunk_ids.size:
                continue
            ids.append(np.asarray(chunk_ids, dtype=np.int64))
            starts.append(np.concatenate([[offset], doc_starts(doc_ids) + offset]))  # documents never span chunks
            offset += len(chunk_ids)
        totals["n_shards"] += 1
        totals["null_docs"] += int(stats.get("null_docs", 0))
        say("reading shards", i + 1, len(shards))
    if not ids:
        raise NTPDataError("the corpus is empty (no tokens); give a non-empty corpus")
    stream = ids[0] if len(ids) == 1 else np.concatenate(ids)
    return stream, np.concatenate(starts)[1:], totals


def count_in_memory(shards: list[Shard], spec: ReadSpec, encoder: Encoder | VocabEncoder | None, context_len: int,
                    filters: dict, skip_bad: bool, say: Callable[..., None], info: dict) -> NTPData:
    """Read every shard into memory, count the windows with one kernel call and apply ``filters`` (as the
    streaming engines do after their merge). ``info``: the build's metadata (source, engine, tokenizer...)."""
    t0 = time.perf_counter()
    ids, starts, totals = read_stream(shards, spec, encoder, skip_bad, say)
    if encoder is None:  # pre-tokenised ids -> their ranks among the ids that occur (names: the ids), as ``_select``
        seen = distinct_ids(ids)
        ids = _ranks(ids, seen)
        names = [str(i) for i in seen.tolist()]
        info = {**info, "input_vocab": "the distinct ids that occur, sorted (token names: the ids)"}
    else:
        names = encoder.vocab()
    max_id = int(ids.max())
    n_names = names if isinstance(names, int) else len(names)
    if max_id >= n_names:
        raise NTPDataError(f"token id {max_id} is outside the tokenizer's vocabulary of size {n_names}")
    longest = longest_run(starts, len(ids))
    if context_len >= longest:
        raise NTPDataError(f"context_len={context_len} is too long: no document has more than {context_len} tokens "
                           f"(the longest has {longest}); use a context length below {longest} or longer documents")
    say("counting")
    counted = count_packed(ids, context_len, starts)
    meta = {"context_len": context_len, "n_tokens": int(len(ids)), "output_vocab": "observed", **info,
            "n_docs": totals["docs"], "n_shards": totals["n_shards"], "skipped": info["skipped"] + totals["skipped"],
            "shards_resumed": 0, "null_documents": totals["null_docs"], "count_seconds": round(time.perf_counter() - t0, 3), "workers": 1}
    return from_counted(counted, names, meta=meta, **filters)


def _ranks(ids: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each id's rank among ``seen`` (the sorted distinct ids): the ids themselves when every id 0..max occurs, a
    lookup table when the largest id is small, else a binary search."""
    top = int(seen[-1])
    if top == len(seen) - 1:
        return ids
    if top <= 4 * len(ids) + (1 << 20):
        table = np.zeros(top + 1, dtype=np.int64)
        table[seen] = np.arange(len(seen))
        return table[ids]
    return np.searchsorted(seen, ids)
