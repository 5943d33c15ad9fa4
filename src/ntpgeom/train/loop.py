"""The training loop: :func:`train` and the :class:`Trainer` (build, restore, loop, finish; nanoGPT-style).

One step at parameters θ_k: (full batch) compute the logits of all m contexts; at logged steps record CE, gap, the
objective and the norms, write a snapshot at snapshot steps, stop on max steps / tol / non-finite / Ctrl-C; checkpoint
when due; take one update (mini-batch: sample contexts with the run's CPU generator). See :mod:`ntpgeom.train.run`
for what lands on disk.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from .. import _io
from ..data import NTPData
from ..errors import OutputError
from .config import AUTO_CUDA_WORK, TrainConfig, explicit_values
from .entry import open_run, options_doc, signature_with_options
from .features import load_run_features
from .folder import CHECKPOINT, load_checkpoint, lock, save_checkpoint
from .models import build_model
from .objective import SoftLabelCE, ridge_objective
from .optim import lr_factor, make_optimizer
from ..progress import ProgressBar, display_kind
from ..status import RunStatus, StopReason
from .progress import Progress, StopFlag, training_callback
from .sampling import BatchSampler, full_chunks
from .tracking import check_log, tracking
from .run import (
    FORMAT_NAME, FORMAT_VERSION, LOSS_KEYS, Run, TrainError, TrainInterrupted, log_spaced_steps, write_config,
    write_loss, write_snapshot,
)

#: logged steps kept on the device before one transfer to the host (CUDA, full batch, no tol)
SYNC_EVERY = 256


def snapshot_set(cfg: TrainConfig) -> set[int]:
    """The steps that get a snapshot: log-spaced (0, 1, 2, 5, 10, ...) or the listed ones, plus 0 and the last."""
    if cfg.snapshot_steps == "log":
        return set(log_spaced_steps(cfg.steps))
    return {s for s in cfg.snapshot_steps if s <= cfg.steps} | {0, cfg.steps}


class Trainer:
    """Trains ``cfg`` on ``data`` into ``run_dir`` (already prepared and locked); :meth:`run` returns the Run."""

    #: read logged values lazily (None: on CUDA only); the same numbers either way, only fewer synchronisations
    defer_sync: bool | None = None

    def __init__(self, data: NTPData, cfg: TrainConfig, run_dir: Path, resume: bool,
                 progress: Progress | None = None) -> None:
        self.data, self.cfg, self.dir, self.resume, self.progress = data, cfg, run_dir, resume, progress
        self.log: dict[str, list] = {k: [] for k in LOSS_KEYS}
        self.start, self.prior_wall = 0, 0.0
        self.status, self.stop_reason = RunStatus.DONE, StopReason.MAX_STEPS
        self.ckpt_step: int | None = None  # step of the last good checkpoint
        self.ckpt_time = self.t0 = self.t_loop = time.perf_counter()  # t_loop: when the steps begin (after set-up)

    # ---------------------------------------------------------------------------------------------- set-up
    def _build(self) -> None:
        cfg, dev = self.cfg, torch.device(self.cfg.device)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            feats = None if cfg.features is None else load_run_features(self.dir, cfg.features, self.data.m)
            net = build_model(cfg, self.data, dev, features=feats)
        self.dev, self.dtype = dev, getattr(torch, cfg.dtype)
        self.net = net.to(device=dev, dtype=self.dtype)
        self.opt = make_optimizer(cfg.optimizer, self.net.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum,
                                  cfg.betas, cfg.eps, fused=dev.type == "cuda")
        self.gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)  # sampler: on the CPU on every device
        self.loss_fn = SoftLabelCE(self.data, dev, self.dtype)
        k = cfg.snapshot_contexts
        self.snap_idx = (None if k is None or k >= self.data.m else
                         np.sort(np.random.default_rng(cfg.seed).choice(self.data.m, k, replace=False)))
        groups = self.data.support_groups if cfg.sampler == "group" else None
        self.sampler = (BatchSampler(cfg.sampler, cfg.batch_size, self.data.pi, groups)
                        if cfg.batch_size is not None else None)
        self.n_params = sum(p.numel() for p in self.net.parameters())

    def _restore(self) -> None:
        """Load the checkpoint (on the CPU; the model and optimiser copy it to the device)."""
        ck = load_checkpoint(self.dir)
        try:
            self.net.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.gen.set_state(ck["rng"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise TrainError(f"{self.dir / CHECKPOINT} does not fit this run's model ({exc}); start a new run") from exc
        self.start = self.ckpt_step = int(ck["step"])
        if self.start > self.cfg.steps:
            raise TrainError(f"the checkpoint is at step {self.start}, beyond steps={self.cfg.steps}; ask for more steps")
        self.prior_wall = float(ck.get("wall_seconds", 0.0))
        keep = [i for i, s in enumerate(ck["log"]["step"]) if s < self.start]  # later entries are recomputed
        self.log = {k: [ck["log"][k][i] for i in keep] for k in LOSS_KEYS}

    def _config_dict(self, final_step: int | None, **extra: Any) -> dict[str, Any]:
        d = self.data
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **self.cfg.to_json(), "versions": _io.versions(),
                "data_hash": d.hash, "entropy_bound": d.entropy_bound, "V": d.V, "m": d.m, "n": d.n,
                "status": self.status, "stop_reason": self.stop_reason, "final_step": final_step,
                "n_params": self.n_params, "device_auto": {"work": self.n_params * d.m, "threshold": AUTO_CUDA_WORK},
                **extra}

    # ---------------------------------------------------------------------------------------------- one step
    def _lr(self, step: int) -> float:
        c = self.cfg
        return c.lr * lr_factor(step, c.schedule, step_size=c.step_size, gamma=c.gamma, warmup=c.warmup,
                                min_lr_factor=c.min_lr_factor, horizon=c.schedule_steps or c.steps)

    def _forward(self, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Hᵀ, Lᵀ)`` at the run's dtype; the model itself runs under bf16 autocast when asked."""
        if self.cfg.autocast != "bf16":
            return self.net.logits(idx)
        with torch.autocast(self.dev.type, dtype=torch.bfloat16):
            Ht, Lt = self.net.logits(idx)
        return Ht.to(self.dtype), Lt.to(self.dtype)

    def _full_batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        Ht, Lt = self._forward()
        ce = self.loss_fn(Lt)
        return Ht, Lt, ce, ridge_objective(ce, self.net.out.weight, Ht, self.cfg.ridge)

    def _evaluate(self, full: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(Hᵀ, Lᵀ, [ce, objective, ‖W‖, ‖H‖, ‖L‖])`` of all contexts at the current parameters (the five values
        as one tensor on the device: reading them is the only synchronisation of a step)."""
        with torch.no_grad():
            Ht, Lt, ce, obj = self._full_batch() if full is None else full
            W = self.net.out.weight
            vals = torch.stack([ce.detach(), obj.detach(), torch.linalg.vector_norm(W), torch.linalg.vector_norm(Ht),
                                torch.linalg.vector_norm(Lt)])
        return Ht, Lt, vals

    def _record(self, step: int, vals: list[float]) -> None:
        ce, obj, nW, nH, nL = vals
        gap, lr = ce - self.data.entropy_bound, self._lr(step)
        for k, x in zip(LOSS_KEYS, (step, ce, gap, obj, nW, nH, nL, lr)):
            self.log[k].append(x)
        if self.progress is not None:
            self.progress("train", step, self.cfg.steps, {"ce": ce, "gap": gap, "norm_L": nL, "lr": lr})

    def _should_stop(self, step: int, vals: list[float], interrupted: bool) -> bool:
        ce, obj = vals[0], vals[1]
        if not math.isfinite(obj):
            self.stop_reason, self.status = StopReason.NONFINITE, RunStatus.STOPPED
        elif self.cfg.tol is not None and ce - self.data.entropy_bound < self.cfg.tol:
            self.stop_reason = StopReason.TOL
        elif interrupted:
            self.stop_reason, self.status = StopReason.INTERRUPTED, RunStatus.INTERRUPTED
        else:
            return step >= self.cfg.steps
        return True

    def _snapshot(self, step: int, Ht: torch.Tensor, Lt: torch.Tensor) -> None:
        def host(t: torch.Tensor) -> Any:
            return t.detach().double().cpu().numpy()

        with torch.no_grad():
            b = host(self.net.out.bias) if self.cfg.bias else None
            if self.snap_idx is not None:
                sel = torch.as_tensor(self.snap_idx, device=Ht.device)
                Ht, Lt = Ht[sel], Lt[sel]
            write_snapshot(self.dir, step, host(self.net.out.weight), host(Ht).T, host(Lt).T, b, self.snap_idx)

    def _checkpoint_due(self, step: int) -> bool:
        c = self.cfg
        return (self.ckpt_step is None or step - self.ckpt_step >= c.checkpoint_every
                or time.perf_counter() - self.ckpt_time >= c.checkpoint_seconds)

    def _checkpoint(self, step: int) -> None:
        state = {"model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "rng": self.gen.get_state(),
                 "step": step, "log": self.log, "wall_seconds": self.prior_wall + time.perf_counter() - self.t0,
                 "schedule": {"name": self.cfg.schedule, "step": step}}
        save_checkpoint(self.dir, state)
        write_loss(self.dir, self.log)
        self.ckpt_step, self.ckpt_time = step, time.perf_counter()

    def _micro_objectives(self, full: Any) -> Any:
        """The objectives of one update's micro-batches, each already divided by their number (their gradients
        add up to the update's gradient); yielded one at a time so that each backward frees its graph."""
        cfg, net, k = self.cfg, self.net, self.cfg.accumulate
        if cfg.batch_size is None and k == 1:
            yield full[3]
            return
        if cfg.batch_size is None:  # the full batch in k chunks: exact
            for idx in full_chunks(self.data.m, k):
                Ht, Lt = self._forward(idx.to(self.dev))
                ce = self.loss_fn(Lt, idx, torch.ones(len(idx), dtype=torch.float64))
                yield ridge_objective(ce, net.out.weight, Ht, cfg.ridge, 1.0, 1.0 / k)
            return
        for _ in range(k):
            idx, w = self.sampler.draw(self.gen)
            Ht, Lt = self._forward(idx.to(self.dev, non_blocking=True))
            h_scale = self.data.m / len(idx) if w is None else w
            obj = ridge_objective(self.loss_fn(Lt, idx, w), net.out.weight, Ht, cfg.ridge, h_scale)
            yield obj if k == 1 else obj / k

    def _update(self, step: int, full: Any) -> None:
        for g in self.opt.param_groups:
            g["lr"] = self._lr(step)
        self.opt.zero_grad(set_to_none=True)
        for obj in self._micro_objectives(full):
            obj.backward()
        self.opt.step()

    # ---------------------------------------------------------------------------------------------- the loop
    def _flush(self, pending: list[tuple[int, torch.Tensor]], interrupted: bool) -> bool:
        """Record the logged values waiting on the device (one transfer); True when the run stops."""
        rows = torch.stack([v for _, v in pending]).tolist()
        steps = [s for s, _ in pending]
        pending.clear()
        for i, (s, vals) in enumerate(zip(steps, rows)):
            self._record(s, vals)
            if self._should_stop(s, vals, interrupted and i == len(rows) - 1):
                return True
        return False

    def _loop(self, flag: StopFlag) -> int:
        """Full batch on CUDA without ``tol``, logged values wait on the device and are read every
        :data:`SYNC_EVERY` logged steps, at snapshots, checkpoints and the end (the GPU is never stalled by a step's
        log); elsewhere every logged step is read at once (then a non-finite loss stops the run at that step)."""
        cfg, snaps, step = self.cfg, snapshot_set(self.cfg), self.start
        lazy = (self.dev.type == "cuda" if self.defer_sync is None else self.defer_sync) and cfg.tol is None
        pending: list[tuple[int, torch.Tensor]] = []
        while True:  # the parameters are those after `step` updates
            full = self._full_batch() if cfg.batch_size is None and cfg.accumulate == 1 else None
            logged = step % cfg.log_every == 0 or step == cfg.steps or step in snaps or flag.set
            if logged:
                Ht, Lt, vals = self._evaluate(full)
                pending.append((step, vals))
            due = self._checkpoint_due(step)
            if pending and (not lazy or due or len(pending) >= SYNC_EVERY or step in snaps or step == cfg.steps
                            or flag.set):
                stop = self._flush(pending, flag.set)
                if logged and (step in snaps or stop):
                    self._snapshot(step, Ht, Lt)
                if stop:
                    return step
            if due:
                self._checkpoint(step)
            self._update(step, full)
            step += 1

    def run(self) -> Run:
        old_threads = torch.get_num_threads()
        torch.set_num_threads(self.cfg.threads)
        old_tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        if self.cfg.autocast == "tf32":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            self._build()
            if self.resume:
                self._restore()
            self.status, self.stop_reason = RunStatus.RUNNING, None
            write_config(self.dir, self._config_dict(self.start if self.resume else None))
            self.status, self.stop_reason = RunStatus.DONE, StopReason.MAX_STEPS
            self.t_loop = time.perf_counter()
            with StopFlag() as flag:
                try:
                    step = self._loop(flag)
                    self._checkpoint(step)
                except KeyboardInterrupt:  # a second Ctrl-C inside a step: the last checkpoint stands
                    step = self._mark_interrupted()
            return self._finish(step)
        except (OSError, OutputError) as exc:  # any write of the run (checkpoint, snapshot, log, config); the one
            self._fail(exc)                    # writer (_io.atomic_path) reports its OSError as an OutputError
            raise  # unreachable: _fail raises
        finally:
            torch.set_num_threads(old_threads)
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old_tf32

    def _fail(self, exc: OSError | OutputError) -> NoReturn:
        """A write failed (e.g. a full disk): mark the run "failed", resumable from its last good checkpoint."""
        self.status, self.stop_reason = RunStatus.FAILED, StopReason.WRITE_FAILED
        what = (str(exc) if isinstance(exc, OutputError)
                else f"cannot write {exc.filename or 'to the run folder'} ({exc.strerror or exc})")
        config = self._config_dict(self.ckpt_step, error=what)
        try:
            write_config(self.dir, config)
        except OSError:  # the disk is full: no room for a temporary file, so config.json is rewritten in place
            with contextlib.suppress(OSError):
                _io.write_json_in_place(self.dir / "config.json", config)
        again = (f"it can resume from step {self.ckpt_step}: free space, then `ntpgeom train -o {self.dir} --resume`"
                 if self.ckpt_step is not None else "no checkpoint was written; start it again")
        raise TrainError(f"training into {self.dir} stopped: {what}; {again}") from exc

    def _mark_interrupted(self) -> int:
        self.status, self.stop_reason = RunStatus.INTERRUPTED, StopReason.INTERRUPTED
        if self.ckpt_step is None:
            raise TrainInterrupted(self.dir, self.start)
        return self.ckpt_step

    def _gap_by_length(self) -> dict[str, Any]:
        """``{"gap_by_length": {T: CE_T - ℋ_T}}`` at the current parameters for data with several context lengths
        (π normalised within each length, App. D.3); empty otherwise."""
        lens = self.data.context_lengths
        if lens is None:
            return {}
        with torch.no_grad():
            ce = self.loss_fn.per_context(self._forward()[1]).double().cpu().numpy()
        pi, out = self.data.pi, {}
        for T, H_T in self.data.entropy_by_length().items():
            sel = lens == T
            out[str(T)] = float((pi[sel] * ce[sel]).sum() / pi[sel].sum()) - H_T
        return {"gap_by_length": out}

    def _finish(self, step: int) -> Run:
        now = time.perf_counter()
        elapsed = now - self.t0
        sps = (step - self.start) / max(now - self.t_loop, 1e-9)  # the loop only: model set-up excluded
        write_config(self.dir, self._config_dict(step, wall_seconds=round(self.prior_wall + elapsed, 3),
                                                 steps_per_second=round(sps, 2), **self._gap_by_length()))
        if self.status is RunStatus.INTERRUPTED:
            raise TrainInterrupted(self.dir, step)
        return Run(self.dir)


def train(data: NTPData | str | Path | None = None, config: TrainConfig | None = None, *,
          out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          progress: Progress | None = None, verbose: bool | None = None, log: str | None = None,
          **overrides: Any) -> Run:
    """Train a model on NTP data and record its geometry in a run folder.

    ``config`` (a :class:`TrainConfig`) and the keyword options (its fields, listed below) set the hyper-parameters:
    an option given (not None) wins over ``config``'s fields that differ from their defaults, which win over the
    ``preset``, which wins over the defaults shown. Everything is validated before any work.

    Parameters
    ----------
    data : NTPData or path to a dataset ``.npz``
        The training data (may be omitted when resuming: the run's own ``data.npz`` is used).
    config : TrainConfig, optional
    out : path
        The run folder (a temporary folder when None).
    resume : bool
        Continue the run in ``out`` from its checkpoint up to ``steps``. Options not given are taken from the run;
        options given must match it, except ``steps``, ``tol``, ``log_every``, ``checkpoint_every``,
        ``checkpoint_seconds``, ``snapshot_steps``, ``device``, ``threads`` (bit-identical continuation needs the
        same device and threads).
    overwrite : bool
        Replace an existing run in ``out`` (only a folder carrying ntpgeom's run marker).
    progress : callable, optional
        ``progress(stage, done, total, numbers)`` at logged steps: stage "train", the step, ``steps``, and a dict
        with ``ce``, ``gap`` (CE - ℋ), ``norm_L``, ``lr``.
    verbose : bool, optional
        Show progress when no ``progress`` is given: a tqdm.auto bar in a Jupyter notebook, a rich bar on a
        terminal, a plain line on stderr every few seconds otherwise (:class:`ntpgeom.progress.ProgressBar`).
        Default (None): shown in a notebook or on a terminal, silent in a script whose stderr is a file or pipe.
    log : {"tensorboard", "trackio"}, optional
        Also send the logged steps (CE, CE − ℋ, ‖L‖_F, the learning rate) and the snapshots' ‖L‖_* to a tracker:
        TensorBoard event files under ``out/tensorboard`` or a local trackio project (:mod:`ntpgeom.train.tracking`).

    Returns
    -------
    Run
        The run folder, opened (see :mod:`ntpgeom.train.run` for the format).

    Raises
    ------
    TrainError
        Bad options, an unusable run folder (another process training into it, not an ntpgeom run), a damaged
        checkpoint, a failed write (the run is then marked "failed" and stays resumable), or a tracker whose package
        is not installed.
    TrainInterrupted
        Ctrl-C: the run stopped cleanly at a step, was checkpointed there and is marked "interrupted".
    """
    check_log(log)
    data, cfg, run_dir = open_run(data, explicit_values(config, overrides), out, resume, overwrite)
    with lock(run_dir), tracking(log, run_dir) as track:
        if not resume:
            try:
                data.save(run_dir / "data.npz")
            except OSError as exc:
                raise TrainError(f"cannot write {run_dir / 'data.npz'}: {exc.strerror or exc}") from exc
        if verbose is None:  # a bar where someone watches: a notebook, or stderr on a terminal
            verbose = display_kind() != "lines"
        if progress is not None or not verbose:
            return track.done(Trainer(data, cfg, run_dir, resume, track.chain(progress)).run())
        with ProgressBar(cfg.model) as bar:
            return track.done(Trainer(data, cfg, run_dir, resume, track.chain(training_callback(bar))).run())


train.__signature__ = signature_with_options(train)  # type: ignore[attr-defined]
train.__doc__ = (train.__doc__ or "").replace("    Returns\n", options_doc() + "\n    Returns\n", 1)
