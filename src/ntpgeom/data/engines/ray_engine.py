"""The Ray engine: map tasks count shards into the work folder; Ray Data's group-by (its hash shuffle) is the reduce.

Ray is optional (``pip install ntpgeom[scale]``) and imported only here. Without ``ray_address`` a local Ray
instance is started (and stopped afterwards); with an address the job joins that cluster, and the work folder must
be on a filesystem all nodes share. The group-by output is streamed back into hash partitions of the contexts so
that the exact selection (:mod:`.assemble`) runs exactly as with the local engine: identical results.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..._io import save_work_arrays
from ...errors import NTPDataError
from .kernel import Rows, merge_rows, split_by_partition
from .local import WorkDir, add_record, map_shard
from .readers import Encoder, ReadSpec, Shard, VocabEncoder


def import_ray() -> Any:
    """``ray`` with Ray Data, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise NTPDataError("the ray engine needs Ray Data: pip install 'ntpgeom[scale]' (ray[data]>=2.9), "
                           "or use --engine local") from exc
    return ray


def _source_root() -> str:
    root = str(Path(__file__).resolve().parents[3])
    rest = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + rest if rest else "")


def _map_task(i: int, shard: Shard, spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
              encoder: Encoder | VocabEncoder | None) -> tuple:
    try:
        return i, map_shard(i, shard, spec, context_len, n_partitions, work, encoder), None
    except NTPDataError as exc:
        return i, None, str(exc)


def run_ray(shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
            encoder: Encoder | VocabEncoder | None, skip_bad: bool, address: str | None,
            say: Callable[..., None]) -> tuple[list[int], list[str], dict, Iterator[Rows]]:
    """Map on Ray tasks, reduce with Ray Data ``groupby(...).sum``. Returns (done, skipped, totals, partitions)."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        say("starting Ray")
        env = None if address else {"env_vars": {"PYTHONPATH": _source_root()}}  # workers import this ntpgeom
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env=env)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        enc = ray.put(encoder)  # one copy in the object store for all map tasks
        done, skipped, totals = _ray_map(ray, shards, spec, context_len, n_partitions, work, enc, skip_bad, say)
        n_chunks = _ray_reduce(ray, work, done, context_len, n_partitions, say)
    finally:
        if started:
            ray.shutdown()
    return done, skipped, totals, _reduced_partitions(work, n_chunks, n_partitions, context_len, say)


def _ray_map(ray: Any, shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
             encoder: Any, skip_bad: bool, say: Callable[..., None]) -> tuple[list[int], list[str], dict]:
    task = ray.remote(num_cpus=1)(_map_task)
    pending = [task.remote(i, s, spec, context_len, n_partitions, work, encoder) for i, s in enumerate(shards)]
    done, errors = [], {}
    totals = {"tokens": 0, "docs": 0, "resumed": 0, "counted_tokens": 0}
    t0 = time.perf_counter()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        i, rec, err = ray.get(ready[0])
        if err is not None:
            errors[i] = err
            continue
        done.append(i)
        add_record(totals, rec)
        rate = totals["counted_tokens"] / max(time.perf_counter() - t0, 1e-9)
        say(f"counting shards on Ray ({rate / 1e6:.2f}M tokens/s)", len(done) + len(errors), len(shards))
    if errors and not skip_bad:
        raise NTPDataError(errors[min(errors)])
    return sorted(done), [errors[i] for i in sorted(errors)], totals


def _ray_reduce(ray: Any, work: WorkDir, done: list[int], context_len: int, n_partitions: int,
                say: Callable[..., None]) -> int:
    """Group-by-sum of all partial rows on Ray Data; the output is written back as hash-partitioned chunks."""
    files = [str(f) for i in done for f in sorted(work.shard_dir(i).glob("part-*.npz"))]
    out = work.root / "reduced"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    if not files:
        return 0
    keys = [f"c{t}" for t in range(context_len)] + ["nxt"]

    def load(batch: dict) -> dict:
        cols: dict[str, list] = {k: [] for k in keys + ["cnt"]}
        for f in batch["path"]:
            with np.load(str(f), allow_pickle=False) as z:
                ctx = z["ctx"].astype(np.int64)
                for t in range(context_len):
                    cols[f"c{t}"].append(ctx[:, t])
                cols["nxt"].append(z["nxt"].astype(np.int64))
                cols["cnt"].append(z["cnt"].astype(np.int64))
        return {k: np.concatenate(v) for k, v in cols.items()}

    say("reducing on Ray Data (group-by)")
    ds = ray.data.from_items([{"path": f} for f in files]).map_batches(load, batch_size=8, batch_format="numpy")
    grouped = ds.groupby(keys, num_partitions=n_partitions).sum("cnt")
    n = 0
    for batch in grouped.iter_batches(batch_format="numpy", batch_size=1 << 20):
        ctx = np.stack([np.asarray(batch[f"c{t}"], dtype=np.int64) for t in range(context_len)], axis=1)
        rows = (ctx, np.asarray(batch["nxt"], dtype=np.int64), np.asarray(batch["sum(cnt)"], dtype=np.int64))
        for p, (c, x, k) in split_by_partition(rows, n_partitions).items():
            save_work_arrays(out / f"r-{p:04d}-{n:06d}.npz", ctx=c, nxt=x, cnt=k)
        n += 1
    return n


def _reduced_partitions(work: WorkDir, n_chunks: int, n_partitions: int, context_len: int,
                        say: Callable[..., None]) -> Iterator[Rows]:
    out = work.root / "reduced"
    for p in range(n_partitions):
        say(f"selecting in partition {p + 1}/{n_partitions}", p, n_partitions)
        parts = []
        for f in sorted(out.glob(f"r-{p:04d}-*.npz")):
            with np.load(f, allow_pickle=False) as z:
                parts.append((z["ctx"], z["nxt"], z["cnt"]))
        yield merge_rows(parts, context_len)  # already one row per key: this only sorts
    shutil.rmtree(out, ignore_errors=True)
