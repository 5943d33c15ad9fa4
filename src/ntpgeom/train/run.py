"""The run folder: format, snapshots, checkpoints, loss log, and :func:`load_run`.

A run is a folder (format ``ntpgeom.run``, version 1)::

    RUN/
      config.json             every hyper-parameter (flat keys, see below), provenance and status
      data.npz                the dataset itself (NTPData.save), so a run is self-contained
      loss.json               the loss curve: arrays step, ce, gap, objective, norm_W, norm_H, norm_L, lr
      snapshots/step_<k:08d>.npz
                              step, W (V x d), H (d x m), L (V x m, all m contexts), b (V), has_bias; float64;
                              with ``snapshot_contexts = k``: H (d x k), L (V x k) and contexts (k,), the indices
      checkpoint.pt           model + optimiser + schedule + sampler RNG state + loss log, for resume (tensors and
                              plain types only: read with ``torch.load(weights_only=True)``)
      .ntpgeom-run            ownership marker: ``overwrite`` deletes only folders that carry it
      .ntpgeom-lock           present while a process trains into the folder (holds its pid)

``config.json`` (flat keys): every field of :class:`~ntpgeom.train.TrainConfig`, resolved (``batch_size`` null = full
batch, ``snapshot_steps`` as requested), plus ``format`` ("ntpgeom.run"), ``version`` (1), ``versions``,
``data_hash``, ``entropy_bound``, ``V``, ``m``, ``n``, ``status`` ("running" | "done" | "stopped" | "interrupted" |
"failed"), ``stop_reason`` ("max_steps" | "tol" | "interrupted" | "nonfinite" | "write_failed" | null),
``final_step``, ``wall_seconds``, ``steps_per_second`` (of the training loop, set-up excluded), ``n_params``,
``device_auto`` (``work`` = parameters x contexts and the ``threshold`` of the device "auto" rule), ``error`` (when
"failed"), ``gap_by_length`` ({T: CE_T - ℋ_T} at the final step, data with several context lengths only).
"interrupted" and "failed" runs are resumable from their last checkpoint (``final_step`` then names it).

``loss.json`` is written atomically at every checkpoint and at the end; its arrays are logged every ``log_every``
steps (default 1: every step), at every snapshot step and at the final step, always at the parameters *of that step*
(before its update), so ``loss["ce"][i]`` is the cross-entropy of the snapshot at ``loss["step"][i]`` if there is one.
``gap = ce - entropy_bound``; norms are Frobenius norms; ``lr`` is the learning rate of the update that follows.

Snapshots are written at the log-spaced steps 0, 1, 2, 5, 10, 20, 50, 100, ... (up to the last step) plus the last
step. Every file is written atomically, so an interrupted run leaves a loadable folder (status "running" or "stopped").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..reprs import short_repr
from .._io import load_npz, save_npz, write_json_atomic
from ..data import NTPData
from ..data import load as load_data
from ..errors import FormatError, TrainError

FORMAT_NAME = "ntpgeom.run"
FORMAT_VERSION = 1
LOSS_KEYS = ("step", "ce", "gap", "objective", "norm_W", "norm_H", "norm_L", "lr")
_SNAP_RE = re.compile(r"^step_(\d{8})\.npz$")


class TrainInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C; the run folder is consistent and marked "interrupted".

    Attributes: ``path`` (the run folder), ``step`` (the step the run stopped at, checkpointed there).
    """

    def __init__(self, path: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; resume with: ntpgeom train -o {path} --resume "
                         f"(Python: ntpgeom.train(out={str(path)!r}, resume=True))")
        self.path, self.step = Path(path), step


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Model geometry at one training step (float64, paper orientation).

    Attributes
    ----------
    step : int
    W : ndarray, shape (V, d)
        Output (unembedding) matrix; row z is the word embedding w_z.
    H : ndarray, shape (d, m)
        Context embeddings; column j is h_j.
    L : ndarray, shape (V, m)
        Logits of all m contexts: ``L = W H + b 1ᵀ`` (``= W H`` exactly when ``has_bias`` is False).
    b : ndarray, shape (V,)
        Output bias (zeros without bias).
    has_bias : bool
    contexts : ndarray of int, shape (k,), or None
        When the run snapshots a fixed subset of its contexts (``snapshot_contexts``): their indices (sorted) into
        the data's m contexts, and H, L hold those k columns only. None: all m contexts.
    """

    __repr__ = short_repr

    step: int
    W: np.ndarray
    H: np.ndarray
    L: np.ndarray
    b: np.ndarray
    has_bias: bool
    contexts: np.ndarray | None = None


def log_spaced_steps(steps: int) -> list[int]:
    """0, 1, 2, 5, 10, 20, 50, ... up to ``steps``, plus ``steps`` itself."""
    out, base = [0], 1
    while base <= steps:
        out += [s for s in (base, 2 * base, 5 * base) if s <= steps]
        base *= 10
    if steps not in out:
        out.append(steps)
    return sorted(set(out))


def snapshot_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "snapshots" / f"step_{step:08d}.npz"


def write_snapshot(run_dir: Path, step: int, W: np.ndarray, H: np.ndarray, L: np.ndarray, b: np.ndarray | None,
                   contexts: np.ndarray | None = None) -> Path:
    """Write ``snapshots/step_<k:08d>.npz`` atomically (float64, uncompressed: cheap to write and to read);
    ``contexts``: the indices of the columns of H and L when they are a subset of the contexts."""
    path = snapshot_path(run_dir, step)
    has_bias = b is not None
    if b is None:
        b = np.zeros(W.shape[0])
    arrays = {"W": np.asarray(W, dtype=np.float64), "H": np.asarray(H, dtype=np.float64),
              "L": np.asarray(L, dtype=np.float64), "b": np.asarray(b, dtype=np.float64)}
    if contexts is not None:
        arrays["contexts"] = np.asarray(contexts, dtype=np.int64)
    save_npz(path, {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "step": int(step), "has_bias": has_bias},
             arrays, compress=False)
    return path


SNAPSHOT_FORMAT, SNAPSHOT_VERSION = "ntpgeom.snapshot", 1


def _checked_snapshot(path: Path, header: dict[str, Any], z: dict[str, np.ndarray]) -> "Snapshot":
    """A snapshot whose arrays have consistent shapes and finite values (else FormatError naming the file)."""
    try:
        W, H, L, b = (np.asarray(z[k], dtype=np.float64) for k in ("W", "H", "L", "b"))
        ctx = z.get("contexts")
        shapes_ok = W.ndim == H.ndim == L.ndim == 2 and b.shape == (W.shape[0],) and W.shape[1] == H.shape[0] \
            and L.shape == (W.shape[0], H.shape[1]) and (ctx is None or ctx.shape == (H.shape[1],))
        if not shapes_ok:
            raise ValueError(f"inconsistent shapes W {W.shape}, H {H.shape}, L {L.shape}, b {b.shape}")
        if not all(np.isfinite(a).all() for a in (W, H, L, b)):
            raise ValueError("non-finite values")
        return Snapshot(int(header["step"]), W, H, L, b, bool(header["has_bias"]), ctx)
    except (KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{path} is not a valid snapshot ({exc}); retrain the run") from None


def write_loss(run_dir: Path, log: dict[str, list]) -> None:
    write_json_atomic(Path(run_dir) / "loss.json", {k: list(log[k]) for k in LOSS_KEYS})


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / "config.json", config)


def read_config(run_dir: Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a run folder."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise TrainError(f"run folder not found: {run_dir}; train one with `ntpgeom train DATA -o {run_dir}`")
    if not path.exists():
        raise FormatError(f"{run_dir} is not an ntpgeom run (no config.json); train one with `ntpgeom train`")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path} is corrupt ({exc})") from exc
    if cfg.get("format") != FORMAT_NAME:
        raise FormatError(f"{path} holds {cfg.get('format')!r}, not an ntpgeom run")
    if cfg.get("version") != FORMAT_VERSION:
        raise FormatError(f"{path} has run format version {cfg.get('version')}, this ntpgeom reads {FORMAT_VERSION}; retrain")
    return cfg


class Run:
    """A training run folder, read lazily.

    Attributes
    ----------
    path : Path
    config : dict
        The contents of ``config.json`` (see the module docstring for the keys).
    data : NTPData
        The dataset the run trained on (from ``data.npz``).
    loss : dict of str to ndarray
        The loss curve: ``step`` (int), ``ce``, ``gap``, ``objective``, ``norm_W``, ``norm_H``, ``norm_L``, ``lr``.
    steps : list of int
        Sorted steps that have a snapshot.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = read_config(self.path)

    @cached_property
    def data(self) -> NTPData:
        return load_data(self.path / "data.npz")

    @cached_property
    def loss(self) -> dict[str, np.ndarray]:
        p = self.path / "loss.json"
        if not p.exists():
            return {k: np.zeros(0, dtype=np.int64 if k == "step" else np.float64) for k in LOSS_KEYS}
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FormatError(f"{p} is corrupt ({exc})") from exc
        return {k: np.asarray(raw.get(k, []), dtype=np.int64 if k == "step" else np.float64) for k in LOSS_KEYS}

    @property
    def steps(self) -> list[int]:
        d = self.path / "snapshots"
        if not d.is_dir():
            return []
        return sorted(int(m.group(1)) for f in d.iterdir() if (m := _SNAP_RE.match(f.name)))

    def snapshot(self, step: int) -> Snapshot:
        """The snapshot at ``step`` (one of :attr:`steps`)."""
        path = snapshot_path(self.path, int(step))
        if not path.exists():
            raise TrainError(f"run {self.path} has no snapshot at step {step}; available steps: {self.steps}")
        header, z = load_npz(path, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, "snapshot", "retrain the run (its snapshot is corrupt)")
        return _checked_snapshot(path, header, z)

    def snapshots(self) -> Iterator[Snapshot]:
        """All snapshots in step order."""
        for s in self.steps:
            yield self.snapshot(s)

    @property
    def status(self) -> str:
        return str(self.config.get("status"))

    @property
    def final_step(self) -> int | None:
        return self.config.get("final_step")

    def summary(self) -> dict[str, Any]:
        """One JSON-serialisable line: path, model, steps, final CE, gap, ‖L‖, status, speed."""
        loss = self.loss
        last = {k: (float(loss[k][-1]) if len(loss[k]) else None) for k in ("ce", "gap", "norm_L")}
        c = self.config
        return {
            "path": str(self.path), "model": c.get("model"), "d": c.get("d"), "status": c.get("status"),
            "stop_reason": c.get("stop_reason"), "final_step": c.get("final_step"),
            "entropy_bound": c.get("entropy_bound"), **last, "snapshots": len(self.steps),
            "wall_seconds": c.get("wall_seconds"), "steps_per_second": c.get("steps_per_second"),
            **({"gap_by_length": c["gap_by_length"]} if "gap_by_length" in c else {}),
        }

    def __repr__(self) -> str:
        s = self.summary()
        gap = f"{s['gap']:.3e}" if s["gap"] is not None else "n/a"
        return f"Run({self.path}, model={s['model']}, step={s['final_step']}, gap={gap}, status={s['status']})"


def load_run(path: str | Path) -> Run:
    """Open a run folder written by :func:`ntpgeom.train.train` (or an interrupted one).

    Parameters
    ----------
    path : path
        The run folder (``config.json``, ``loss.json``, ``snapshots/``).

    Returns
    -------
    Run
        ``run.loss``, ``run.steps``, ``run.snapshot(step)``, ``run.summary()``.

    Raises
    ------
    TrainError
        Not a run folder, or a run of another format version.

    Examples
    --------
    >>> import tempfile, ntpgeom as g
    >>> out = tempfile.mkdtemp() + "/run"
    >>> _ = g.train(g.corpora.synthetic(), steps=5, out=out, threads=1)
    >>> g.load_run(out).steps
    [0, 1, 2, 5]
    """
    return Run(path)
