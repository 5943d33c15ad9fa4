"""Training runs of ``reproduce``: the job list, reuse of finished runs, resume of interrupted ones, serial or in
parallel worker processes (one torch/BLAS thread each)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..data import NTPData
from ..errors import NTPGeomError

if TYPE_CHECKING:
    from ..train import Run


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment: model kind, the keyword arguments of :func:`ntpgeom.train.train`, and
    the name of its folder (default: the model kind; give one when an experiment trains a kind several times)."""

    model: str
    kwargs: dict[str, Any]
    name: str | None = None


class ReproduceInterrupted(NTPGeomError):
    """Ctrl-C stopped ``reproduce``; everything trained so far is kept and ``--resume`` continues it."""

    def __init__(self, out: Path, detail: str = "") -> None:
        self.out = out
        super().__init__(f"interrupted{': ' + detail if detail else ''}; the work so far is kept in {out}")


@dataclass(frozen=True, eq=False)
class Job:
    """One training run to do: experiment, data, model spec, seed, run folder. For a worker process the data travel
    as a file (``data_file``, an ``NTPData`` .npz) and ``data`` is None."""

    experiment: str
    data: NTPData | None
    spec: RunSpec
    seed: int
    path: Path
    data_file: Path | None = None
    log: str | None = None  # a tracker for train(log=...): "tensorboard", "trackio" or None

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.path.name}"

    def dataset(self) -> NTPData:
        """The job's data (loaded from ``data_file`` in a worker process)."""
        if self.data is not None:
            return self.data
        from ..data import load

        assert self.data_file is not None
        return load(self.data_file)


def printer(stream: Any = None) -> Callable[[str], None]:
    """A progress callable that prints timestamped lines on ``stream`` (default: stderr)."""
    start = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=stream or sys.stderr, flush=True)

    return say


def _train_progress(say: Callable[[str], None], label: str, total: int) -> Callable[..., None]:
    every = max(1, total // 5)
    state = {"next": every}

    def cb(stage: str, step: int, total_: int, numbers: Mapping[str, float]) -> None:
        if step >= state["next"] or step == total_:
            state["next"] = step + every
            say(f"  {label}: step {step}/{total_}  CE − ℋ = {numbers['gap']:.3e}  ‖L‖ = {numbers['norm_L']:.3g}")

    return cb


def run_state(job: Job) -> str:
    """'new' (no run folder), 'done' (finished with this recipe: reuse it) or 'resume' (a checkpoint to continue)."""
    from ..train.run import read_config

    if not (job.path / "config.json").is_file():
        return "new"
    cfg = read_config(job.path)
    same = (cfg.get("model") == job.spec.model and cfg.get("seed") == job.seed
            and cfg.get("data_hash") == job.dataset().hash)
    if cfg.get("status") == "done" and same and cfg.get("steps") == job.spec.kwargs["steps"]:
        return "done"
    return "resume" if same and (job.path / "checkpoint.pt").is_file() else "new"


def train_job(job: Job, threads: int, progress: Callable[..., None] | None = None) -> Path:
    """Train (or resume) one job's run; returns the run folder. Picklable: used by the worker processes."""
    from ..train import train

    state = run_state(job)
    kw = dict(job.spec.kwargs, threads=threads)
    train(job.dataset(), model=job.spec.model, seed=job.seed, out=job.path, overwrite=state == "new",
          resume=state == "resume", progress=progress, log=job.log, **kw)
    return job.path


def _finish_line(job: Job, say: Callable[[str], None]) -> Run:
    from ..train import load_run

    run = load_run(job.path)
    s = run.summary()
    say(f"[{job.label}] {s['status']}: {s['final_step']} steps, CE − ℋ = {s['gap']:.3e} ({s['stop_reason']}, "
        f"{s['wall_seconds']:.1f}s)")
    if s.get("stop_reason") == "interrupted":
        raise ReproduceInterrupted(job.path.parent.parent, f"{job.label} stopped at step {s['final_step']}")
    return run


def train_serial(jobs: list[Job], threads: int, out: Path, say: Callable[[str], None]) -> None:
    for job in jobs:
        steps = int(job.spec.kwargs["steps"])
        say(f"[{job.label}] {'resuming' if run_state(job) == 'resume' else 'training'} {job.spec.model} "
            f"for up to {steps} steps")
        try:
            train_job(job, threads, _train_progress(say, job.label, steps))
        except KeyboardInterrupt:
            raise ReproduceInterrupted(out, f"during {job.label}") from None
        _finish_line(job, say)


#: Worker processes only when the runs left to train cost at least this much (units of :func:`cost`). The --quick
#: budget (about 0.7M) measured slower in 2 workers (0.81x) and much slower with 2 torch threads per run (0.17x) than
#: serially on 1 thread (benchmarks/timings.md); the default budget is about 90M, dominated by the stories LSTM.
PARALLEL_MIN_COST = 5e6


def cost(job: Job) -> float:
    """A rough relative cost of a job, for ordering only: steps x contexts, x30 for the deep models (a UFM step is
    tens of times cheaper than a transformer or LSTM step here, see benchmarks/bench_train.py)."""
    deep = job.spec.model != "ufm"
    return float(job.spec.kwargs["steps"]) * job.dataset().m * (30.0 if deep else 1.0)


def train_parallel(jobs: list[Job], workers: int, out: Path, say: Callable[[str], None]) -> None:
    """Independent runs in ``workers`` processes, one torch/BLAS thread each (longest first). The data go to the
    workers as files (``OUT/<experiment>/data.npz``)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    say(f"training {len(jobs)} runs in {workers} parallel processes (1 thread each)")
    files: dict[str, Path] = {}
    for job in jobs:
        if job.experiment not in files:
            files[job.experiment] = job.dataset().save(out / job.experiment / "data.npz")
    portable = [replace(j, data=None, data_file=files[j.experiment]) for j in sorted(jobs, key=cost, reverse=True)]
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    wait = True
    try:
        futures = {pool.submit(train_job, job, 1): job for job in portable}
        for fut in as_completed(futures):
            fut.result()
            _finish_line(futures[fut], say)
    except (KeyboardInterrupt, BrokenProcessPool):
        pool.shutdown(wait=True, cancel_futures=True)  # the workers stop their runs cleanly at the next step
        raise ReproduceInterrupted(out, "while training in parallel") from None
    except BaseException:
        wait = False  # an error: do not wait for the other runs to finish
        raise
    finally:
        pool.shutdown(wait=wait, cancel_futures=True)


def plan_jobs(plan: list[tuple[str, NTPData, list[RunSpec]]], seeds: list[int], out: Path) -> list[Job]:
    """One job per (experiment, run spec, seed); folders ``OUT/<experiment>/<model>`` (``<model>-seed<k>`` with
    several seeds)."""
    jobs = []
    for name, data, specs in plan:
        for spec in specs:
            for sd in seeds:
                base = spec.name or spec.model
                folder = base if len(seeds) == 1 else f"{base}-seed{sd}"
                jobs.append(Job(name, data, spec, sd, out / name / folder))
    return jobs


