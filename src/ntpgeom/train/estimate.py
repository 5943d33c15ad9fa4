"""How long a training run will take, measured: time a few steps of the configuration and extrapolate.

For callers that must decide before training (``reproduce --paper-scale`` on a CPU: say how long the full budget
would take, then run a smaller one). The probe trains ``probe_steps`` steps into a temporary run folder that is
deleted afterwards; its rate includes one full evaluation at the first and the last step, so the estimate errs long.
"""

from __future__ import annotations

import tempfile
from typing import Any

from .config import TrainConfig


def estimate_seconds(data: Any, steps: int, config: TrainConfig | None = None, *, probe_steps: int = 3,
                     **overrides: Any) -> dict[str, Any]:
    """Measured cost of ``steps`` steps of this configuration on ``data``.

    Returns ``{"seconds_per_step", "steps", "seconds", "device", "probe_steps"}`` (``seconds = steps x
    seconds_per_step``; the device is the one the options resolve to, e.g. "auto" → "cuda" or "cpu").
    """
    from .loop import train

    opts = {**overrides, "steps": probe_steps, "snapshot_steps": [], "log_every": probe_steps,
            "checkpoint_every": 10 ** 9, "checkpoint_seconds": 1e9, "tol": None}
    with tempfile.TemporaryDirectory(prefix="ntpgeom-estimate-") as tmp:
        run = train(data, config, out=f"{tmp}/probe", verbose=False, **opts)
        sps = float(run.config["steps_per_second"])
        device = run.config["device"]
    per = 1.0 / max(sps, 1e-12)
    return {"seconds_per_step": per, "steps": int(steps), "seconds": per * steps, "device": device,
            "probe_steps": probe_steps}
