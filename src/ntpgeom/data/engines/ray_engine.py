"""The Ray engine: Ray tasks count shards into the work folder (map), then Ray tasks merge the hash partitions and
select their candidate rows (reduce + selection), so the driver only assembles the selected rows.

Ray is optional (``pip install ntpgeom[scale]``) and imported only here. Without ``ray_address`` a local Ray
instance is started (and stopped afterwards); with an address the job joins that cluster, and the work folder must
be on a filesystem all nodes share. Map and reduce run the same functions as the local engine (:func:`map_shard`,
:func:`reduce_partitions`), so results are identical; a reduce task gets the top-K floor known when it starts.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Callable, Iterator

from ..._io import os_reason
from ...errors import NTPDataError
from .assemble import VocabMap
from .local import WorkDir, map_task, tally_map
from .readers import Encoder, ReadSpec, Shard, VocabEncoder
from .reduce import TopK, blocks, reduce_partitions

CONNECT_TIMEOUT_S = 10.0  # seconds to open a TCP connection to a Ray cluster's address


def import_ray() -> Any:
    """``ray``, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise NTPDataError("the ray engine needs Ray: pip install 'ntpgeom[scale]' (ray>=2.9), "
                           "or use --engine local") from exc
    return ray


def _source_root() -> str:
    root = str(Path(__file__).resolve().parents[3])
    rest = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + rest if rest else "")


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse at once a Ray address (``host:port`` or ``ray://host:port``) that takes no TCP connection within
    ``timeout`` seconds (Ray itself retries a dead address for many minutes, logging a warning each time).
    ``"auto"``/``"local"`` are left to Ray."""
    if address in ("auto", "local"):
        return
    host, _, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise NTPDataError(f"--ray-address must be host:port or ray://host:port (or auto), got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else os_reason(exc)
        raise NTPDataError(f"cannot reach the Ray cluster at {address} ({reason} after at most {timeout:g} s); "
                           "check --ray-address, or start the cluster (ray start --head)") from None


def start_ray(ray: Any, address: str | None) -> None:
    """``ray.init`` (a local instance, or joining ``address`` after :func:`check_reachable`), with Ray's own
    notices (token authentication, usage statistics) kept off stderr; a failure is one :class:`NTPDataError`."""
    if address:
        check_reachable(address)
    env = None if address else {"env_vars": {"PYTHONPATH": _source_root()}}  # workers import this ntpgeom
    quiet = logging.getLogger("ray")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env=env)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
        where = f"join the Ray cluster at {address}" if address else "start Ray"
        raise NTPDataError(f"cannot {where}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        quiet.setLevel(level)


def run_ray(shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
            encoder: Encoder | VocabEncoder | None, skip_bad: bool, address: str | None, filters: dict,
            say: Callable[..., None]) -> tuple[list[int], list[str], dict, Callable[[VocabMap | None], TopK]]:
    """Map on Ray tasks now; returns (done, skipped, totals, reduce) where ``reduce(vmap)`` runs the merge and the
    selection on Ray tasks and returns the candidates."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        say("starting Ray" if not address else f"joining the Ray cluster at {address}")
        start_ray(ray, address)
    try:
        enc = ray.put(encoder)  # one copy in the object store for all map tasks
        done, skipped, totals = _ray_map(ray, shards, spec, context_len, n_partitions, work, enc, skip_bad, say)
    except BaseException:
        if started:
            ray.shutdown()
        raise

    def reduce(vmap: VocabMap | None) -> TopK:
        try:
            return _ray_reduce(ray, work, done, n_partitions, context_len, vmap, filters, say)
        finally:
            if started:
                ray.shutdown()

    return done, skipped, totals, reduce


def _ray_map(ray: Any, shards: list[Shard], spec: ReadSpec, context_len: int, n_partitions: int, work: WorkDir,
             encoder: Any, skip_bad: bool, say: Callable[..., None]) -> tuple[list[int], list[str], dict]:
    task = ray.remote(num_cpus=1)(map_task)
    pending = [task.remote(i, s, spec, context_len, n_partitions, work, encoder) for i, s in enumerate(shards)]

    def finished() -> Iterator[tuple]:
        remaining = pending
        while remaining:
            ready, remaining = ray.wait(remaining, num_returns=1)
            yield ray.get(ready[0])

    return tally_map(finished(), len(shards), skip_bad, False, say, "counting shards on Ray")


def _ray_reduce(ray: Any, work: WorkDir, done: list[int], n_partitions: int, context_len: int,
                vmap: VocabMap | None, filters: dict, say: Callable[..., None]) -> TopK:
    """Merge + selection of the partitions on Ray tasks (blocks of partitions; at most 2 per CPU in flight, each
    started with the top-K floor known so far)."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(num_cpus=1)(reduce_partitions)
    final = TopK(filters.get("top_k"), context_len)
    queue, running = blocks(n_partitions, cpus), []
    total = len(queue)
    say("merging and selecting partitions on Ray", 0, total)
    while queue or running:
        while queue and len(running) < 2 * cpus:
            running.append(task.remote(work, done, queue.pop(0), context_len, vmap, filters, final.floor))
        ready, running = ray.wait(running, num_returns=1)
        for c in ray.get(ready[0]):
            final.add(c)
        say("merging and selecting partitions on Ray", total - len(queue) - len(running), total)
    return final
