"""Every checkpoint: a series of checkpoints of one model probed on one corpus and judged as a trajectory.

Each checkpoint is identified by the SHA-256 of its weights (:func:`~ntpgeom.probe.checkpoints.weights_hash`), not
its name: a checkpoint whose weights equal an earlier one's is reported as its duplicate and measured once. The
distinct checkpoints are probed with one configuration and one theory (the first probe's, checked by data hash: the
checkpoints must share a tokenizer), and their logits on the measured contexts are judged as a trajectory by the code
that judges training runs (:func:`ntpgeom.verdicts.judge_trajectory`: C1, L_mm, C2 by the position μ between the
prediction and its rival, its interval and trend over the checkpoints' steps). Per-layer metrics over the checkpoints
(``curves``) come with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._io import write_json_atomic
from ..jsonable import to_jsonable
from ..reprs import short_repr
from ..theory import Theory
from ..verdicts import judge_trajectory
from ..verdicts.positions import trajectory_json, trajectory_verdicts
from .checkpoints import resolve_model, step_of, weights_hash
from .config import ProbeConfig, probe_config
from .folder import FORMAT_NAME
from .model import load_model
from .run import ProbeResult, probe

SERIES_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a series: its name, folder, step (from its name, else its rank), weights hash, and the
    earlier checkpoint with the same weights (None when it is distinct)."""

    name: str
    path: str
    step: int
    weights: str
    duplicate_of: str | None = None


@dataclass(frozen=True, eq=False)
class SeriesResult:
    """A probed checkpoint series.

    Attributes
    ----------
    checkpoints : tuple of Checkpoint
        Every checkpoint given, in order (duplicates included, marked).
    probes : dict of str to ProbeResult
        The probe of each distinct checkpoint, by name.
    trajectory : dict
        The trajectory judgement as JSON (:func:`ntpgeom.verdicts.positions.trajectory_json`), or ``{"error": ...}``
        when the series could not be judged (e.g. L_mm not solved and S̃ not optimal).
    verdicts : list of dict
        C1, C2, L_mm verdict rows of the trajectory (empty when not judged).
    """

    __repr__ = short_repr

    checkpoints: tuple[Checkpoint, ...]
    probes: dict[str, ProbeResult]
    trajectory: dict[str, Any]
    verdicts: list[dict[str, Any]]

    @property
    def duplicates(self) -> dict[str, str]:
        """name → the earlier checkpoint with the same weights."""
        return {c.name: c.duplicate_of for c in self.checkpoints if c.duplicate_of is not None}

    def curves(self, metric: str) -> tuple[list[int], np.ndarray]:
        """(layer indices, values of ``metric`` of shape (distinct checkpoints, layers)): the per-layer curve of each
        checkpoint (NaN where a layer lacks it)."""
        results = list(self.probes.values())
        index = sorted({layer.index for r in results for layer in r.layers})
        out = np.full((len(results), len(index)), np.nan)
        for i, r in enumerate(results):
            for layer in r.layers:
                v = layer.metrics.get(metric)
                out[i, index.index(layer.index)] = np.nan if v is None else float(v)
        return index, out

    def summary(self) -> dict[str, Any]:
        """The series' ``summary.json``: checkpoints with hashes and duplicates, the trajectory and its verdicts, and
        the per-layer curves of every numeric layer metric."""
        keys = sorted({k for r in self.probes.values() for layer in r.layers for k, v in layer.metrics.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)})
        curves = {k: self.curves(k)[1].tolist() for k in keys}
        first = next(iter(self.probes.values()))
        return to_jsonable({"format": FORMAT_NAME, "kind": "series", "version": SERIES_VERSION,
                            "checkpoints": [vars(c) for c in self.checkpoints], "duplicates": self.duplicates,
                            "data_hash": first.source_data.hash, "config": first.info["config"],
                            "trajectory": self.trajectory, "verdicts": self.verdicts,
                            "layers": self.curves("rankme")[0], "curves": curves})

    def write(self, out: Path) -> dict[str, Path]:
        """Write each distinct checkpoint's probe folder (``out/<k>-<name>``) and the series' ``summary.json``."""
        paths: dict[str, Path] = {}
        for k, (name, r) in enumerate(self.probes.items()):
            sub = out / f"{k:03d}-{_safe(name)}"
            sub.mkdir()
            paths[name] = r.write(sub)["summary"]
        paths["summary"] = write_json_atomic(out / "summary.json", self.summary())
        return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "model"


def probe_series(models: Sequence[str | os.PathLike], text: str | Path, context_len: int | None = None,
                 config: ProbeConfig | None = None, *, theory: str | Path | Theory | None = None,
                 stage: Callable[[str], None] | None = None, **options: Any) -> SeriesResult:
    """Probe each checkpoint of ``models`` (folders, GGUF files or cache names, in step order) on ``text`` and judge
    the series as a trajectory (module docstring). ``config``/``options``/``theory`` as in :func:`probe`; the first
    distinct checkpoint's theory serves every later one.

    Parameters
    ----------
    models : sequence of str or path
        The checkpoints: folders, GGUF files or Hugging Face cache names, in training order (duplicates by weight
        hash are reported and measured once).
    text : str or path
        The corpus the contexts are counted from.
    context_len : int, optional
        Tokens per context (T-1).
    config : ProbeConfig, optional
        The probe's settings; ``**options`` (its fields) go on top.
    theory : path or Theory, optional
        A theory of the corpus to measure against (else computed once, from the first distinct checkpoint).
    stage : callable, optional
        Called with a line per checkpoint.

    Returns
    -------
    SeriesResult
        The checkpoints (with their weight hashes and duplicates), each distinct checkpoint's probe, and the series'
        trajectory verdicts and per-layer curves.
    """
    cfg = probe_config(config, context_len, options)
    say = stage or (lambda _s: None)
    checkpoints: list[Checkpoint] = []
    probes: dict[str, ProbeResult] = {}
    seen: dict[str, str] = {}
    paths = [resolve_model(m, cfg.revision) for m in models]  # every one refused or found before any is probed
    for i, (m, path) in enumerate(zip(models, paths)):
        name = Path(os.fspath(m)).name or os.fspath(m)
        say(f"checkpoint {i + 1}/{len(models)}: {name}")
        lm = load_model(path, cfg.gguf_file, device=cfg.device, dtype=cfg.dtype)
        h = weights_hash(lm)
        step = step_of(m)
        if h in seen:
            checkpoints.append(Checkpoint(name, os.fspath(m), -1 if step is None else step, h, seen[h]))
            continue
        seen[h] = name
        first = next(iter(probes.values()), None)
        r = probe(lm, text, config=cfg, theory=theory if first is None else first.source_theory)
        probes[name] = r
        checkpoints.append(Checkpoint(name, os.fspath(m), -1 if step is None else step, h))
    trajectory, verdicts = _judge(checkpoints, probes, cfg.seed)
    return SeriesResult(tuple(checkpoints), probes, trajectory, verdicts)


def _judge(checkpoints: list[Checkpoint], probes: dict[str, ProbeResult], seed: int
           ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The distinct checkpoints' logits judged as a trajectory (steps from their names, else 1, 2, ...)."""
    distinct = [c for c in checkpoints if c.duplicate_of is None]
    steps = [c.step for c in distinct]
    if min(steps) < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
        steps = list(range(1, len(distinct) + 1))
    snaps = [{"step": s, "L": probes[c.name].L, "W": probes[c.name].W, "H": probes[c.name].H, "b": probes[c.name].b}
             for s, c in zip(steps, distinct)]
    first = probes[distinct[0].name]
    try:
        tj = judge_trajectory(first.data, first.theory, snaps, seed=seed)
    except ValueError as exc:
        return {"error": str(exc), "steps": steps}, []
    rows = [v.as_dict() for v in trajectory_verdicts(tj, run="checkpoints").values()]
    return trajectory_json(tj, {"steps": steps}), rows
