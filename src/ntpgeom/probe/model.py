"""Loading a local pretrained causal LM (safetensors folder or GGUF file) for probing, strictly offline.

The model is only ever read from disk: ``HF_HUB_OFFLINE=1`` is set for the process and every ``from_pretrained`` call
passes ``local_files_only=True``. No code shipped with a model ever runs: every call passes
``trust_remote_code=False`` (so transformers never prompts), and a folder whose config or tokenizer config asks for
custom code (``auto_map``) is refused with an error naming the Python file, before transformers reads it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._json import loads_json
from ..errors import ProbeError  # defined in errors.py; re-exported here (ntpgeom.probe.ProbeError)
from .size import check_gguf_header, check_model_size

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def _require_transformers() -> Any:
    try:
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ProbeError(
            "probing needs the `probe` extra (transformers, safetensors, gguf, accelerate); "
            "install it with `pip install 'ntpgeom[probe]'`"
        ) from exc
    return transformers


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A causal LM ready for probing.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The causal LM in eval mode, float32, on ``device``.
    tokenizer : transformers tokenizer
        The model's own tokenizer.
    path : str
        The folder the model was read from.
    gguf_file : str or None
        The GGUF file inside ``path``, if the model came from one.
    info : dict
        Provenance: model type, sizes, whether the unembedding is tied, whether it has a bias, quantisation.
    """

    model: Any
    tokenizer: Any
    path: str
    gguf_file: str | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def head(self) -> Any:
        """The output (unembedding) module: ``lm_head``, tied or not."""
        return self.model.get_output_embeddings()

    def W(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Unembedding matrix W, shape (V_model, d) or (len(rows), d), float64."""
        w = self.head.weight.detach()
        if rows is not None:
            import torch

            w = w[torch.as_tensor(np.asarray(rows, dtype=np.int64), device=w.device)]
        return w.to(dtype=_f64()).cpu().numpy()

    def bias(self, rows: np.ndarray | None = None) -> np.ndarray | None:
        """Output bias b (shape (V_model,) or (len(rows),), float64), or None if the head has none."""
        b = getattr(self.head, "bias", None)
        if b is None:
            return None
        b = b.detach().to(dtype=_f64()).cpu().numpy()
        return b if rows is None else b[np.asarray(rows, dtype=np.int64)]


def _f64() -> Any:
    import torch

    return torch.float64


def _split_model_arg(path: str | os.PathLike, gguf_file: str | None) -> tuple[Path, str | None]:
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".gguf" and gguf_file is None:
        return p.parent, p.name
    return p, gguf_file


def check_model_path(path: str | os.PathLike, gguf_file: str | None = None) -> tuple[Path, str | None]:
    """Validate a model location before loading anything; returns (folder, gguf file name or None).

    ``path`` may be a folder (with ``config.json`` and weights, or with ``gguf_file`` inside it) or a ``.gguf`` file.
    """
    folder, gguf = _split_model_arg(path, gguf_file)
    if not folder.exists():
        raise ProbeError(f"model path not found: {folder}; give a local model folder (nothing is downloaded)")
    if not folder.is_dir():
        raise ProbeError(f"{folder} is not a model folder; give a folder with config.json and weights, or a .gguf file")
    if gguf is not None:
        if Path(gguf).name != gguf:
            raise ProbeError(f"--gguf-file must be a file name inside the model folder, got {gguf!r}")
        if not (folder / gguf).is_file():
            found = sorted(x.name for x in folder.glob("*.gguf"))
            hint = f"GGUF files there: {', '.join(found)}" if found else "the folder has no .gguf file"
            raise ProbeError(f"GGUF file {gguf!r} not found in {folder}; {hint}")
        return folder, gguf
    if not (folder / "config.json").is_file():
        ggufs = sorted(x.name for x in folder.glob("*.gguf"))
        if ggufs:
            raise ProbeError(f"{folder} has no config.json but holds GGUF file(s) {', '.join(ggufs)}; pass --gguf-file NAME")
        raise ProbeError(
            f"{folder} is not a Hugging Face model folder (no config.json); save one with `model.save_pretrained(...)` "
            "or pass a GGUF file with --gguf-file"
        )
    if not any(x.suffix in _WEIGHT_SUFFIXES for x in folder.iterdir()):
        raise ProbeError(f"{folder} has a config.json but no weight files (*.safetensors / *.bin); the model is incomplete")
    if not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        raise ProbeError(
            f"{folder} has no tokenizer (none of {', '.join(_TOKENIZER_FILES)}); save it with `tokenizer.save_pretrained`"
        )
    config = _read_json(folder / "config.json")
    refuse_custom_code(folder, config)
    _require_causal_architecture(folder, config)
    return folder, None


_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProbeError(f"cannot read {path}: {_first_line(exc)}") from None
    if not isinstance(obj, dict):
        raise ProbeError(f"{path} is not a JSON object; the model folder is corrupt")
    return obj


def refuse_custom_code(folder: Path, config: dict[str, Any] | None = None) -> None:
    """Refuse a model folder whose ``config.json`` or ``tokenizer_config.json`` asks for code shipped with it
    (``auto_map``): ntpgeom never runs such code. The error names the Python file(s)."""
    sources = {"config.json": config if config is not None else _read_json(folder / "config.json")}
    if (folder / "tokenizer_config.json").is_file():
        sources["tokenizer_config.json"] = _read_json(folder / "tokenizer_config.json")
    for name, cfg in sources.items():
        auto_map = cfg.get("auto_map")
        if auto_map:
            refs = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
            flat = [r for v in refs for r in (v if isinstance(v, (list, tuple)) else [v]) if isinstance(r, str)]
            files = sorted({f"{r.split('--')[-1].rsplit('.', 1)[0]}.py" for r in flat}) or ["(unnamed)"]
            raise ProbeError(
                f"{folder / name} asks for custom code ({', '.join(str(folder / f) for f in files)}) via auto_map; "
                "ntpgeom never runs code shipped with a model: use a model whose architecture transformers implements"
            )


def _require_causal_architecture(folder: Path, config: dict[str, Any]) -> None:
    archs = config.get("architectures")
    if isinstance(archs, list) and archs and not any(str(a).endswith(_CAUSAL_SUFFIXES) for a in archs):
        raise ProbeError(
            f"{folder} holds a {', '.join(map(str, archs))} checkpoint: no LM head (no trained next-token head, not a "
            "causal LM); give a causal LM checkpoint (e.g. *ForCausalLM)"
        )


def check_device(device: str) -> str:
    """A torch device string that exists on this machine (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else ProbeError."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ProbeError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ProbeError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ProbeError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ProbeError(f"--device {device}: MPS is not available on this machine; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ProbeError(f"--device {device}: unsupported device type {dev.type!r}; use cpu, cuda or mps")
    return str(dev)


def load_model(
    path: str | os.PathLike,
    gguf_file: str | None = None,
    *,
    device: str = "cpu",
    dtype: str = "float32",
) -> LoadedModel:
    """Load a local causal LM and its tokenizer, offline.

    Parameters
    ----------
    path : str or Path
        A folder that ``transformers.AutoModelForCausalLM`` loads (config.json + safetensors), a folder holding a GGUF
        file (give ``gguf_file``), or a ``.gguf`` file directly.
    gguf_file : str, optional
        Name of the GGUF file inside ``path`` (dequantised to ``dtype`` on load).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : {"float32", "bfloat16", "float16"}
        Compute dtype of the model. Results (H, W, logits) are always returned in float64.

    Raises
    ------
    ProbeError
        Not a model folder, not a causal LM, no LM head weights, no tokenizer; a model too big for this machine's
        memory or for its own weight files (checked from the header and configuration, before loading).
    """
    folder, gguf = check_model_path(path, gguf_file)
    device = check_device(device)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _require_transformers()
    import torch

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    if torch_dtype is None:
        raise ProbeError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")
    kw: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    if gguf is not None:
        kw["gguf_file"] = gguf
        check_gguf_header(folder / gguf)
    config = _causal_config(folder, kw)
    check_model_size(folder, config, gguf, dtype)  # before any weight is allocated
    model, loading = _weights(folder, torch_dtype, kw)
    head = model.get_output_embeddings()
    if head is None or getattr(head, "weight", None) is None:
        raise ProbeError(f"the model in {folder} has no output embedding (lm_head); the probe needs W")
    tied = bool(head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr())
    _require_trained_weights(folder, loading, tied)
    tokenizer = _tokenizer(folder, kw)
    model.eval()
    model.to(device)
    V_model, d = (int(s) for s in head.weight.shape)
    info = {
        "path": str(folder),
        "gguf_file": gguf,
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "num_layers": getattr(config, "num_hidden_layers", getattr(config, "n_layer", None)),
        "d": d,
        "V_model": V_model,
        "tokenizer_size": len(tokenizer),
        "tied_unembedding": tied,
        "head_bias": getattr(head, "bias", None) is not None,
        "dtype": dtype,
        "device": str(device),
        "quantization": _gguf_quantization(folder / gguf) if gguf else None,
        "name_or_path": getattr(config, "_name_or_path", None),
    }
    return LoadedModel(model, tokenizer, str(folder), gguf, info)


def _causal_config(folder: Path, kw: dict[str, Any]) -> Any:
    """The model's configuration (never its custom code), refused unless it is a causal LM."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    try:
        config = AutoConfig.from_pretrained(str(folder), **kw)
    except Exception as exc:  # noqa: BLE001 - a foreign config fails in many ways
        raise ProbeError(f"cannot read the model configuration in {folder}: {_first_line(exc)}") from None
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise ProbeError(
            f"{folder} holds a {config.model_type!r} model, which is not a causal language model; "
            "the probe needs a model with a next-token (LM) head"
        )
    return config


def _weights(folder: Path, torch_dtype: Any, kw: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The model and transformers' loading info (missing keys), with transformers' logging and bars silenced."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing the file
            warnings.simplefilter("ignore")
            return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype, output_loading_info=True, **kw)
    except Exception as exc:  # noqa: BLE001 - foreign weight files fail in many ways (safetensors, gguf, torch)
        why = _first_line(exc)
        if "Weights only load failed" in why:  # never repeat torch's advice to retry with weights_only=False
            why = ("a pickled weight file holds objects other than tensors (possibly code), which ntpgeom never "
                   "loads; use the model's safetensors weights")
        raise ProbeError(f"cannot load the model weights in {folder}: {why}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _tokenizer(folder: Path, kw: dict[str, Any]) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **kw)
    except Exception as exc:  # noqa: BLE001 - a foreign tokenizer file fails in many ways
        raise ProbeError(f"cannot load a tokenizer from {folder}: {_first_line(exc)}; save the tokenizer with the model") from None
    if isinstance(tokenizer, bool) or not callable(tokenizer):
        raise ProbeError(f"no tokenizer found in {folder}; save the tokenizer with the model")
    return tokenizer


def _require_trained_weights(folder: Path, loading: dict[str, Any], tied: bool) -> None:
    """Refuse a model that transformers had to initialise partly at random (weights missing from the checkpoint):
    an LM head (or anything feeding it) with random weights would be probed as if trained."""
    missing = list(loading.get("missing_keys", []))
    head = [k for k in missing if _is_head_key(k)]
    if head and not tied:
        raise ProbeError(
            f"the checkpoint in {folder} has no LM head weights ({head[0]} is missing: it is a base model without "
            "a next-token head); give a causal LM checkpoint"
        )
    if missing:
        raise ProbeError(
            f"the checkpoint in {folder} lacks {len(missing)} weight(s) the model needs (e.g. {missing[0]}), which would "
            "be newly initialised at random: it is not a trained causal LM; give a causal LM checkpoint"
        )


def _is_head_key(k: str) -> bool:
    return k.startswith("lm_head") or k.endswith("lm_head.weight") or k in ("embed_out.weight", "output.weight")


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__


def _gguf_quantization(path: Path) -> dict[str, Any] | None:
    """Tensor types of a GGUF file (e.g. {"Q4_1": 210, "F32": 61, "Q8_0": 1}) and the file type, or None."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover
        return None
    try:
        r = GGUFReader(str(path))
    except Exception:  # pragma: no cover - unreadable file: transformers already failed or succeeded
        return None
    types: dict[str, int] = {}
    for t in r.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    out: dict[str, Any] = {"tensor_types": types}
    for t in r.tensors:
        if t.name in ("token_embd.weight", "output.weight"):
            out[t.name] = t.tensor_type.name
    try:
        ft = r.fields["general.file_type"]
        from gguf import LlamaFileType

        out["file_type"] = LlamaFileType(int(ft.parts[-1][0])).name
    except Exception:  # pragma: no cover
        pass
    return json.loads(json.dumps(out))
