"""The in-process streaming engine: map shards to partitioned partial counts in a work folder, merge per partition.

Work folder layout (every file written atomically; a shard's folder appears by one rename once complete)::

    manifest.json                 the job (context length, reader settings, partitions, shard list)
    shards/<i>/record.json        tokens, documents, windows and largest id of shard i
    shards/<i>/next.npz           its next-token totals (ids, counts)
    shards/<i>/part-<p>-<c>.npz   chunk c's pre-aggregated rows whose context hashes to partition p

A rerun with the same work folder and job skips the shards whose folder exists (resume after a crash).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..._io import publish_dir, save_work_arrays, write_json_atomic, write_text_atomic
from ...errors import NTPDataError
from .kernel import Rows, merge_rows, split_by_partition, window_rows
from .readers import Encoder, ReadSpec, Shard, VocabEncoder, read_shard

MANIFEST = "ntpgeom.work/1"


class WorkDir:
    """A job's work folder (see the module docstring)."""

    def __init__(self, root: Path, job: dict):
        self.root = Path(root)
        self.job = job
        self.shards = self.root / "shards"

    def open(self) -> None:
        """Create the folder, or check that an existing one holds the same job (else a clear error)."""
        man = self.root / "manifest.json"
        if man.is_file():
            try:
                old = json.loads(man.read_text(encoding="utf-8"))
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
        return json.loads((self.shard_dir(i) / "record.json").read_text(encoding="utf-8"))

    def next_totals(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.shard_dir(i) / "next.npz", allow_pickle=False) as z:
            return z["ids"], z["counts"]

    def partition(self, i: int, p: int) -> list[Rows]:
        """Shard i's rows in partition p (one table per chunk)."""
        out = []
        for f in sorted(self.shard_dir(i).glob(f"part-{p:04d}-*.npz")):
            with np.load(f, allow_pickle=False) as z:
                out.append((z["ctx"].astype(np.int64), z["nxt"].astype(np.int64), z["cnt"]))
        return out

    def remove(self) -> None:
        """Delete this job's files (on success); the folder itself too when nothing else is left in it."""
        shutil.rmtree(self.shards, ignore_errors=True)
        shutil.rmtree(self.root / "reduced", ignore_errors=True)
        (self.root / "vocab.json").unlink(missing_ok=True)
        (self.root / "manifest.json").unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:
            pass


def map_shard(i: int, shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
              encoder: Encoder | VocabEncoder | None) -> dict:
    """Count shard ``i`` into its partition files (skipped when already done). Returns its record."""
    if work.done(i):
        return {**work.record(i), "resumed": True}
    final = work.shard_dir(i)
    tmp = work.shards / f".tmp-{i:06d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rec = _count_chunks(shard, spec, context_len, n_partitions, encoder, tmp)
        write_text_atomic(tmp / "record.json", json.dumps(rec))
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**rec, "resumed": False}


def _count_chunks(shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, encoder: Encoder | VocabEncoder | None,
                  out: Path) -> dict:
    """Count a shard chunk by chunk (memory: one chunk), writing each chunk's partitioned rows into ``out``."""
    tokens, docs, windows, top, nexts = 0, 0, 0, -1, []
    for c, (ids, doc_ids) in enumerate(read_shard(shard, spec, encoder)):
        docs += int(doc_ids[-1]) + 1 if doc_ids.size else 0
        if not ids.size:
            continue
        tokens += int(ids.size)
        top = max(top, int(ids.max()))
        rows = window_rows(ids, context_len, doc_ids)
        small = np.uint32 if top < 2**32 - 1 else np.int64
        for p, (x, n, k) in split_by_partition(rows, n_partitions).items():
            save_work_arrays(out / f"part-{p:04d}-{c:05d}.npz", ctx=x.astype(small), nxt=n.astype(small), cnt=k)
        nexts.append(_next_totals(rows[1], rows[2]))
        windows += int(rows[2].sum())
    ids_, cnt_ = (np.concatenate(a) for a in zip(*nexts)) if nexts else (np.zeros(0, np.int64),) * 2
    save_work_arrays(out / "next.npz", **dict(zip(("ids", "counts"), _next_totals(ids_, cnt_))))
    return {"label": shard.label, "tokens": tokens, "docs": docs, "windows": windows, "max_id": top}


def _next_totals(nxt: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct next ids (sorted) and their total counts."""
    if not nxt.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(nxt, kind="stable")
    ns = nxt[order]
    starts = np.flatnonzero(np.concatenate([[True], ns[1:] != ns[:-1]]))
    return ns[starts], np.add.reduceat(cnt[order], starts)


def merge_next_totals(work: WorkDir, done: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Global next-token totals over the finished shards."""
    pairs = [work.next_totals(i) for i in done]
    ids = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, np.int64)
    cnt = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, np.int64)
    return _next_totals(ids, cnt)


def run_map_local(shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
                  encoder: Encoder | VocabEncoder | None, skip_bad: bool, say: Callable[..., None]) -> tuple[list[int], list[str], dict]:
    """Map every shard in this process. Returns (finished shard indices, skipped shard messages, totals)."""
    done, skipped = [], []
    totals = {"tokens": 0, "docs": 0, "resumed": 0, "counted_tokens": 0}
    t0 = time.perf_counter()
    for i, shard in enumerate(shards):
        try:
            rec = map_shard(i, shard, spec, context_len, n_partitions, work, encoder)
        except NTPDataError as exc:
            if not skip_bad:
                raise
            skipped.append(str(exc))
            continue
        done.append(i)
        add_record(totals, rec)
        rate = totals["counted_tokens"] / max(time.perf_counter() - t0, 1e-9)
        say(f"counting shards ({rate / 1e6:.2f}M tokens/s)", i + 1, len(shards))
    return done, skipped, totals


def add_record(totals: dict, rec: dict) -> None:
    totals["tokens"] += rec["tokens"]
    totals["docs"] += rec["docs"]
    totals["resumed"] += int(rec["resumed"])
    totals["counted_tokens"] += 0 if rec["resumed"] else rec["tokens"]


def merged_partitions(work: WorkDir, done: list[int], n_partitions: int, context_len: int,
                      say: Callable[..., None]) -> Iterator[Rows]:
    """Each partition's rows merged over the finished shards (memory: one partition at a time)."""
    for p in range(n_partitions):
        say(f"merging partition {p + 1}/{n_partitions}", p, n_partitions)
        parts = [r for i in done for r in work.partition(i, p)]
        yield merge_rows(parts, context_len)
