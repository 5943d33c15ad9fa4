"""Every layer: the hidden states of the measured contexts at each depth, and a logit-lens readout of each.

Layer 0 is the embedding output, layer k the k-th block's output (``output_hidden_states`` of a transformers model:
``hidden_states[k]``), and the last layer n the LM head's input, after the model's final norm (what the last-layer
probe reads). The readout of layer k < n goes through the model's own final norm and unembedding,
L_k = W norm(h_k) + b (the *logit lens*); the last layer is already normalised, so the norm is applied once and its
readout is the model's logits.

:class:`LayerTap` rides along the probe's one pass over the contexts (:func:`ntpgeom.probe.extract` with
``tap=``): of each batch it keeps only the last-position hidden states of the measured contexts (d x m' per layer,
float32, exact for a float32/bfloat16/float16 model) and their full-vocabulary log-partition under the lens (m'),
so memory does not grow with the number of probed contexts m. :func:`measure_layers` then measures each layer with
the last-layer code (:func:`ntpgeom.probe.measure`: CE − ℋ, C1, L_mm statistics) against the one theory, plus
:func:`ntpgeom.metrics.representation.layer_metrics` of H_k (CDNV, RankMe, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._io import load_npz, save_npz
from ..data import NTPData
from ..errors import FormatError, ProbeError
from ..jsonable import to_jsonable
from ..theory import Theory
from .model import LoadedModel

#: Attribute names of the final norm on a transformers base model (Llama/Mistral/Qwen/Gemma, GPT-2, GPT-NeoX, OPT ...).
_NORM_NAMES = ("norm", "ln_f", "final_layernorm", "norm_f", "final_layer_norm")


@dataclass(frozen=True, eq=False)
class LayerResult:
    """One layer of a probed model.

    Attributes
    ----------
    index : int
        0 = embedding output, k = the k-th block's output; the last (= the number of blocks) is the LM head's input.
    H : ndarray, shape (d, m'), float32
        Last-position hidden states of the measured contexts, in the order of ``ProbeResult.contexts``.
    metrics : dict
        The logit-lens measurements (the keys of :func:`ntpgeom.probe.measure`) and ``layer_metrics`` of ``H``.
    """

    index: int
    H: np.ndarray
    metrics: dict[str, Any]

    def __repr__(self) -> str:
        return f"LayerResult(index={self.index}, H={self.H.shape}, metrics={len(self.metrics)} keys)"


def check_layers(spec: str | int | Sequence[int]) -> str:
    """The layer selection as a string ("last", "all" or "0,6,12"), syntax checked (ranges: :func:`parse_layers`)."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        spec = str(int(spec))
    elif isinstance(spec, (list, tuple)):
        spec = ",".join(str(int(k)) for k in spec)
    if not isinstance(spec, str):
        raise ProbeError(f"--layers must be last, all or comma-separated layer indices, got {spec!r}")
    s = spec.strip().lower()
    if s in ("last", "all"):
        return s
    parts = [p.strip() for p in s.split(",")]
    if not parts or not all(p.isdigit() for p in parts):
        raise ProbeError(f"--layers must be last, all or comma-separated layer indices (0 = embedding), got {spec!r}")
    return ",".join(str(int(p)) for p in parts)


def parse_layers(spec: str | Sequence[int], n_blocks: int) -> tuple[int, ...]:
    """Sorted distinct layer indices in [0, n_blocks] of a selection (``check_layers``) for a model of
    ``n_blocks`` blocks."""
    s = check_layers(spec)
    if s == "last":
        return (n_blocks,)
    if s == "all":
        return tuple(range(n_blocks + 1))
    ks = sorted({int(p) for p in s.split(",")})
    if ks[-1] > n_blocks:
        raise ProbeError(f"--layers {s}: this model has layers 0..{n_blocks} (0 = embedding, {n_blocks} = last)")
    return tuple(ks)


def n_blocks(lm: LoadedModel) -> int:
    """The number of blocks of the loaded model (its config's ``num_hidden_layers``)."""
    n = lm.info.get("num_layers")
    if not isinstance(n, int) or n < 1:
        raise ProbeError("the model's configuration does not say its number of layers; use --layers last")
    return n


def final_norm(lm: LoadedModel) -> Any:
    """The model's final norm module (between the last block and the LM head)."""
    base = lm.model.base_model
    for name in _NORM_NAMES:
        mod = getattr(base, name, None)
        if mod is not None and callable(mod):
            return mod
    raise ProbeError(f"cannot find the final norm of a {type(base).__name__} (none of {', '.join(_NORM_NAMES)}); "
                     "the logit lens needs it: use --layers last")


class LayerTap:
    """Collects, batch by batch, the last-position hidden states of the kept contexts at the layers ``layers``
    below the last (d x n_keep each, float32) and their logit-lens log-partition (n_keep each)."""

    def __init__(self, lm: LoadedModel, layers: Sequence[int], n_keep: int) -> None:
        self.lm, self.norm = lm, final_norm(lm)
        last = n_blocks(lm)
        self.layers = tuple(k for k in layers if k < last)
        d = lm.info["d"]
        self.H = {k: np.empty((d, n_keep), dtype=np.float32) for k in self.layers}
        self.lse = {k: np.empty(n_keep) for k in self.layers}

    @property
    def wanted(self) -> bool:
        """Whether the forward passes must return every hidden state."""
        return bool(self.layers)

    def add(self, hidden_states: Sequence[Any], cols: np.ndarray, sel: np.ndarray) -> None:
        """Keep batch rows ``sel`` (a boolean mask) as columns ``cols`` of each layer."""
        import torch

        if not sel.any():
            return
        rows = torch.as_tensor(np.flatnonzero(sel), device=hidden_states[0].device)
        for k in self.layers:
            h = hidden_states[k][:, -1, :].index_select(0, rows)
            self.H[k][:, cols] = h.float().cpu().numpy().T
            head = self.lm.head  # its weights, not the module: the probe's hook on the module sees only the model's call
            logits = torch.nn.functional.linear(self.norm(h), head.weight, getattr(head, "bias", None)).float()
            self.lse[k][cols] = torch.logsumexp(logits, dim=-1).double().cpu().numpy()


def lens_input(lm: LoadedModel, H: np.ndarray, batch: int = 4096) -> np.ndarray:
    """norm(h) of each column of ``H`` (d x m') through the model's final norm, in the model's dtype; float64."""
    import torch

    norm, p = final_norm(lm), next(lm.model.parameters())
    out = np.empty(H.shape, dtype=np.float64)
    with torch.inference_mode():
        for i in range(0, H.shape[1], batch):
            x = torch.as_tensor(np.ascontiguousarray(H[:, i:i + batch].T), device=p.device).to(p.dtype)
            out[:, i:i + batch] = norm(x).double().cpu().numpy().T
    return out


def representation_metrics(H: np.ndarray, data: NTPData, W: np.ndarray) -> dict[str, float]:
    """``layer_metrics`` of the hidden states ``H`` (d x m') of ``data``'s contexts, grouped by support group; the
    next-token measures (classes = next tokens, W's rows) weight each context by its frequency π."""
    from ..metrics.representation import layer_metrics

    return dict(layer_metrics(np.asarray(H, dtype=np.float64), np.asarray(data.support_groups), W=W, P=data.P,
                              weights=np.asarray(data.pi, dtype=np.float64)))


def measure_layers(lm: LoadedModel, tap: LayerTap | None, sub: NTPData, sub_theory: Theory, W: np.ndarray,
                   b: np.ndarray | None, last: LayerResult, **measure_kw: Any) -> tuple[LayerResult, ...]:
    """Every tapped layer measured through the logit lens against ``sub_theory`` (the keywords of
    :func:`ntpgeom.probe.measure`, e.g. ``n_perm``, ``seed``), and the ``last`` layer (measured by the probe
    itself) appended. The lens layers measure C1/C2 against L_in + R·L_mm, not the finite-norm path point (a solve
    per layer); the last layer keeps the probe's own rule."""
    from .measure import measure

    out = []
    for k in (() if tap is None else tap.layers):
        Hn = lens_input(lm, tap.H[k])
        L = W @ Hn if b is None else W @ Hn + b[:, None]
        metrics, _ = measure(sub, W, Hn, L, tap.lse[k], b=b, theory=sub_theory, finite_norm=False, **measure_kw)
        metrics.update(representation_metrics(tap.H[k], sub, W))
        out.append(LayerResult(k, tap.H[k], metrics))
    return (*out, last)


# ----------------------------------------------------------------------------- files
LAYERS_FORMAT, LAYERS_VERSION = "ntpgeom.probe.layers", 1


def save_layers(path: str | Path, layers: Sequence[LayerResult], data_hash: str) -> Path:
    """Write every layer's H (float32) to one hashed ``.npz`` (``layers.npz`` of a probe folder)."""
    header = {"format": LAYERS_FORMAT, "version": LAYERS_VERSION, "data_hash": data_hash,
              "index": [int(layer.index) for layer in layers]}
    return save_npz(path, header, {f"H_{int(layer.index)}": np.asarray(layer.H, dtype=np.float32) for layer in layers})


def layers_summary(layers: Sequence[LayerResult]) -> list[dict[str, Any]]:
    """The ``layers`` block of ``summary.json``: each layer's index and metrics (JSON)."""
    return [{"index": int(layer.index), "metrics": to_jsonable(layer.metrics)} for layer in layers]


def load_layers(path: str | Path, rows: Sequence[Any], shape: tuple[int, int], data_hash: str) -> tuple[LayerResult, ...]:
    """The layers of a probe folder: H from ``layers.npz`` (hash verified; each of ``shape`` = (d, m')), metrics from
    the summary's ``rows``; () for a folder written before layers existed (no file)."""
    path = Path(path)
    if not path.exists():
        return ()
    header, a = load_npz(path, LAYERS_FORMAT, LAYERS_VERSION, "probe layers file", "rerun `ntpgeom probe`")
    if header.get("data_hash") != data_hash:
        raise FormatError(f"{path} does not belong to this probe folder (data hash {header.get('data_hash')} vs "
                          f"{data_hash}); rerun `ntpgeom probe`")
    metrics = {int(r["index"]): dict(r.get("metrics") or {}) for r in rows if isinstance(r, dict) and "index" in r}
    out = []
    for k in header.get("index") or []:
        H = a.get(f"H_{k}")
        if not isinstance(k, int) or H is None or H.shape != shape or H.dtype.kind != "f" or k not in metrics:
            raise FormatError(f"{path}: layer {k!r} is missing or does not fit the probe (corrupt probe result)")
        out.append(LayerResult(k, H, metrics[k]))
    return tuple(out)
