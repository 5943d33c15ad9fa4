"""The in-process streaming engine: map shards to partitioned partial counts in a work folder, merge per partition.

Work folder layout (every file written atomically; a shard's folder appears by one rename once complete)::

    manifest.json                 the job (context length, reader settings, partitions, shard list)
    shards/<i>/record.json        tokens, documents, windows and largest id of shard i; the CRC-32 of every file
                                  of the shard and of the record itself (checked on resume: a damaged shard is
                                  counted again)
    shards/<i>/next.npz           its next-token totals (ids, counts)
    shards/<i>/<c>-ck.bin ...     chunk c's pre-aggregated rows grouped by the hash partition of their context:
                                  packed contexts (ck) or id rows (ctx), next ids (nxt), counts (cnt), and each
                                  partition's bounds (bounds): a merge reads only its slice, by offset

A rerun with the same work folder and job skips the shards whose folder exists and passes its checksums (resume
after a crash); ``vocab.json``/``bpe.json`` (first passes) carry a ``.crc32`` beside them, and are redone when it
fails. The checks and the single-writer lock: :mod:`~ntpgeom.data.engines.workdir`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..._io import os_reason, publish_dir, save_work_arrays, write_json_atomic, write_text_atomic
from ..._json import loads_json
from ...errors import NTPDataError, OutputError
from .kernel import Rows, empty_rows, merge_rows, partition_of, window_rows
from .packed import bits_for, fits, group_sum, partition_of_packed, repack, to_rows, window_table
from .readers import Encoder, ReadSpec, Shard, VocabEncoder, read_shard
from .workdir import WorkChecks, file_crc, text_crc

MANIFEST = "ntpgeom.work/3"


class WorkDir(WorkChecks):
    """A job's work folder (see the module docstring)."""

    def __init__(self, root: Path, job: dict):
        self.root = Path(root)
        self.job = job
        self.shards = self.root / "shards"
        self._records: dict[int, dict] = {}

    def open(self) -> None:
        """Create the folder, or check that an existing one holds the same job (else a clear error)."""
        man = self.root / "manifest.json"
        if man.is_file():
            try:
                old = loads_json(man.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise NTPDataError(f"{man} is unreadable ({exc}); remove the work folder {self.root}") from exc
            if old != self.job:
                raise NTPDataError(f"the work folder {self.root} holds another job (different inputs or settings); "
                                   "remove it or choose another --work-dir")
        else:
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                raise NTPDataError(f"the work folder {self.root} exists and is not an ntpgeom work folder (it is "
                                   "removed on success); give a new or empty folder")
            self.shards.mkdir(parents=True, exist_ok=True)
            write_json_atomic(man, self.job)
        self.shards.mkdir(parents=True, exist_ok=True)

    def shard_dir(self, i: int) -> Path:
        return self.shards / f"{i:06d}"

    def done(self, i: int) -> bool:
        return (self.shard_dir(i) / "record.json").is_file()

    def record(self, i: int) -> dict:
        return loads_json((self.shard_dir(i) / "record.json").read_text(encoding="utf-8"))

    def next_totals(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.shard_dir(i) / "next.npz", allow_pickle=False) as z:
            return z["ids"], z["counts"]

    def seen_ids(self, i: int) -> np.ndarray:
        """The distinct token ids of shard i (sorted)."""
        with np.load(self.shard_dir(i) / "next.npz", allow_pickle=False) as z:
            return z["seen"]

    def pieces(self, i: int, p: int) -> list[tuple]:
        """Shard i's rows in partition p, one piece per chunk: ``("packed", b, ck, nxt, cnt)`` or
        ``("rows", None, ctx, nxt, cnt)`` (read by offset: memory is the piece, never the whole shard file)."""
        if i not in self._records:  # small (bounds live in their own file): memory ~ shards, not shards x partitions
            self._records[i] = self.record(i)
        out = []
        for c, ch in enumerate(self._records[i]["chunks"]):
            lo, hi = (int(x) for x in np.fromfile(self.shard_dir(i) / f"{c:05d}-bounds.bin", dtype=np.int64, count=2,
                                                  offset=8 * p))
            if hi == lo:
                continue
            a = {}
            for name, dt in ch["dtypes"].items():
                width = ch["shape"][1] if name == "ctx" else 1
                dt = np.dtype(dt)
                a[name] = np.fromfile(self.shard_dir(i) / f"{c:05d}-{name}.bin", dtype=dt, count=(hi - lo) * width,
                                      offset=lo * width * dt.itemsize)
            if ch["kind"] == "packed":
                out.append(("packed", ch["b"], a["ck"], a["nxt"], a["cnt"]))
            else:
                out.append(("rows", None, a["ctx"].reshape(hi - lo, -1).astype(np.int64), a["nxt"], a["cnt"]))
        return out

    def remove(self) -> None:
        """Delete this job's files (on success); the folder itself too when nothing else is left in it."""
        shutil.rmtree(self.shards, ignore_errors=True)
        shutil.rmtree(self.root / "reduced", ignore_errors=True)
        for name in ("vocab.json", "bpe.json"):
            (self.root / name).unlink(missing_ok=True)
            (self.root / f"{name}.crc32").unlink(missing_ok=True)
        (self.root / "manifest.json").unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


def map_shard(i: int, shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
              encoder: Encoder | VocabEncoder | None) -> dict:
    """Count shard ``i`` into its partitioned chunk files (skipped when already done and intact: a finished shard
    whose files fail their CRC-32 is counted again, ``"redone"`` in its record). Returns its record."""
    final = work.shard_dir(i)
    redone = work.done(i)
    if redone:
        if work.intact(i):
            return {**work.record(i), "resumed": True}
        shutil.rmtree(final)
    tmp = work.shards / f".tmp-{i:06d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rec = _count_chunks(shard, spec, context_len, n_partitions, encoder, tmp)
        rec["files"] = {p.name: file_crc(p) for p in sorted(tmp.iterdir())}
        rec["check"] = text_crc(json.dumps(rec, sort_keys=True))
        write_text_atomic(tmp / "record.json", json.dumps(rec))
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**rec, "resumed": False, "redone": redone}


def _count_chunks(shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, encoder: Encoder | VocabEncoder | None,
                  out: Path) -> dict:
    """Count a shard chunk by chunk (memory: one chunk), writing each chunk's rows grouped by partition into
    ``out`` (raw arrays + their partition bounds in the record)."""
    tokens, docs, windows, top, nexts, chunks, seen, stats = 0, 0, 0, -1, [], [], [], {}
    for c, (ids, doc_ids) in enumerate(read_shard(shard, spec, encoder, stats)):
        docs += int(doc_ids[-1]) + 1 if doc_ids.size else 0
        if not ids.size:
            continue
        tokens += int(ids.size)
        seen.append(distinct_ids(ids))
        b = bits_for(int(ids.max()))
        top = max(top, int(ids.max()))
        if fits(context_len, b):
            ck, nxt, cnt = window_table(ids, doc_ids, context_len, b)
            part, kind, first = partition_of_packed(ck, context_len, b, n_partitions), "packed", ck
        else:
            first, nxt, cnt = window_rows(ids, context_len, doc_ids)
            part, kind = partition_of(first, n_partitions), "rows"
        if not len(nxt):
            continue
        order = np.argsort(part, kind="stable")  # uint16: a radix sort, O(n); keeps (context, next) order
        bounds = np.searchsorted(part[order], np.arange(n_partitions + 1))
        arrays = {"ck" if kind == "packed" else "ctx": _narrow(first[order]), "nxt": _narrow(nxt[order]),
                  "cnt": _narrow(cnt[order])}
        for name, a in {**arrays, "bounds": bounds.astype(np.int64)}.items():
            save_raw(out / f"{len(chunks):05d}-{name}.bin", a)
        chunks.append({"kind": kind, "b": b, "shape": [int(len(nxt)), int(context_len)],
                       "dtypes": {k: a.dtype.str for k, a in arrays.items()}})
        nexts.append(_next_totals(nxt, cnt))
        windows += int(cnt.sum())
    ids_, cnt_ = (np.concatenate(a) for a in zip(*nexts)) if nexts else (np.zeros(0, np.int64),) * 2
    save_work_arrays(out / "next.npz", **dict(zip(("ids", "counts"), _next_totals(ids_, cnt_))),
                     seen=distinct_ids(np.concatenate(seen) if seen else np.zeros(0, np.int64)))
    return {"label": shard.label, "tokens": tokens, "docs": docs, "windows": windows, "max_id": top, "chunks": chunks,
            "null_docs": stats.get("null_docs", 0)}


def distinct_ids(ids: np.ndarray) -> np.ndarray:
    """The distinct values of a non-negative int array, sorted, int64: a presence table when the values are small,
    else a sort (never ``np.unique``'s hash table)."""
    if not ids.size:
        return np.zeros(0, np.int64)
    top = int(ids.max())
    if top <= 4 * len(ids) + (1 << 20):
        present = np.zeros(top + 1, dtype=bool)
        present[ids] = True
        return np.flatnonzero(present).astype(np.int64, copy=False)
    s = np.sort(ids).astype(np.int64, copy=False)
    return s[np.concatenate([[True], s[1:] != s[:-1]])]


def _narrow(a: np.ndarray) -> np.ndarray:
    """The smallest unsigned dtype of the packed words (kept) or ids/counts (uint16/uint32 when they fit)."""
    if a.dtype == np.uint64 and a.ndim == 1 and a.size and a.max() >= 2**32:
        return a
    top = int(a.max()) if a.size else 0
    return a.astype(np.uint16 if top < 2**16 else np.uint32 if top < 2**32 else a.dtype, copy=False)


def _next_totals(nxt: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct next ids (sorted) and their total counts."""
    if not nxt.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    nxt = nxt.astype(np.int64, copy=False)
    top = int(nxt.max())
    if top <= 4 * len(nxt) + (1 << 20):  # small ids: one bincount (exact: per-chunk totals are far below 2**53)
        tot = np.bincount(nxt, weights=cnt, minlength=top + 1)
        ids = np.flatnonzero(tot)
        return ids, np.rint(tot[ids]).astype(np.int64)
    order = np.argsort(nxt, kind="stable")
    ns = nxt[order]
    starts = np.flatnonzero(np.concatenate([[True], ns[1:] != ns[:-1]]))
    return ns[starts], np.add.reduceat(cnt[order].astype(np.int64), starts)


def merge_next_totals(work: WorkDir, done: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Global next-token totals over the finished shards."""
    pairs = [work.next_totals(i) for i in done]
    ids = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
    cnt = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64)
    return _next_totals(ids, cnt)


def map_task(i: int, shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
             encoder: Encoder | VocabEncoder | None) -> tuple:
    """:func:`map_shard` for a worker process or a Ray task: ``(i, record, None)`` or ``(i, None, error message)``."""
    try:
        return i, map_shard(i, shard, spec, context_len, n_partitions, work, encoder), None
    except NTPDataError as exc:
        return i, None, str(exc)


def run_map_local(shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
                  encoder: Encoder | VocabEncoder | None, skip_bad: bool, say: Callable[..., None],
                  pool: ProcessPoolExecutor | None = None) -> tuple[list[int], list[str], dict]:
    """Map every shard, in this process (``pool`` None) or on the worker processes of ``pool``. Returns (finished
    shard indices, skipped shard messages, totals)."""
    args = (spec, context_len, n_partitions, work, encoder)
    if pool is None:
        results: Iterator[tuple] = (map_task(i, s, *args) for i, s in enumerate(shards))
    else:
        futures = [pool.submit(map_task, i, s, *args) for i, s in enumerate(shards)]
        results = (f.result() for f in as_completed(futures))
    return tally_map(results, len(shards), skip_bad, True, say, "counting shards")


def tally_map(results: Iterable[tuple], n_shards: int, skip_bad: bool, fail_fast: bool, say: Callable[..., None],
              what: str) -> tuple[list[int], list[str], dict]:
    """Collect :func:`map_task` results as they finish (any engine): the finished shard indices, the skipped shards'
    messages (in shard order) and the totals, with a progress line per shard. A failed shard is skipped with
    ``skip_bad``; otherwise it raises at once (``fail_fast``) or, after every shard has finished, the first one's."""
    done, errors = [], {}
    totals = {"tokens": 0, "docs": 0, "resumed": 0, "redone": 0, "counted_tokens": 0, "null_docs": 0}
    t0 = time.perf_counter()
    for i, rec, err in results:
        if err is not None:
            if fail_fast and not skip_bad:
                raise NTPDataError(err)
            errors[i] = err
            continue
        done.append(i)
        add_record(totals, rec)
        rate = totals["counted_tokens"] / max(time.perf_counter() - t0, 1e-9)
        say(f"{what} ({rate / 1e6:.2f}M tokens/s)", len(done) + len(errors), n_shards)
    if errors and not skip_bad:
        raise NTPDataError(errors[min(errors)])
    return sorted(done), [errors[i] for i in sorted(errors)], totals


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """``workers`` processes (None for 1: run in this process); pending work is cancelled on any error. Forked on
    Linux (no re-import of the caller's ``__main__``, so scripts need no main guard; pyarrow and tokenizers are
    fork-aware), spawned elsewhere."""
    if workers <= 1:
        yield None
        return
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def add_record(totals: dict, rec: dict) -> None:
    totals["tokens"] += rec["tokens"]
    totals["docs"] += rec["docs"]
    totals["resumed"] += int(rec["resumed"])
    totals["redone"] += int(rec.get("redone", False))
    totals["null_docs"] += int(rec.get("null_docs", 0))
    totals["counted_tokens"] += 0 if rec["resumed"] else rec["tokens"]


def merge_partition(work: WorkDir, done: list[int], p: int, context_len: int) -> Rows:
    """Partition p's rows merged over the finished shards: one row per (context, next), sorted lexicographically."""
    pieces = [x for i in done for x in work.pieces(i, p)]
    if not pieces:
        return empty_rows(context_len)
    if all(x[0] == "packed" for x in pieces):
        b = max(x[1] for x in pieces)
        ck = np.concatenate([repack(x[2], context_len, x[1], b) for x in pieces])
        nxt = np.concatenate([x[3] for x in pieces]).astype(np.uint64)
        cnt = np.concatenate([x[4] for x in pieces]).astype(np.uint64)
        return to_rows(group_sum(ck, nxt, cnt, context_len * b, b), context_len, b)
    rows = [to_rows((x[2], x[3], x[4]), context_len, x[1]) if x[0] == "packed" else x[2:] for x in pieces]
    return merge_rows(rows, context_len)


def save_raw(path: Path, a: np.ndarray) -> None:
    """One intermediate array as raw bytes (dtype and shape live in the shard record); OSError -> OutputError."""
    try:
        np.ascontiguousarray(a).tofile(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {os_reason(exc)}") from None
