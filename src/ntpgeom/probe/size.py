"""How big a model is, before any weight is allocated: a GGUF file's header is read and checked, the model's parameter
count is taken from its configuration (the model built on torch's ``meta`` device: shapes only, no memory), and a model
that cannot fit in this machine's memory, or whose weight files are far too small for what its configuration declares
(a 60-byte GGUF file would otherwise make transformers build a default 6.6-billion-parameter Llama), is refused with
one :class:`~ntpgeom.errors.ProbeError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ProbeError

MEMORY_FRACTION = 0.8  # as train's check: refuse what needs more than this share of the machine's memory
MIN_BITS_PER_PARAM = 1  # the weight files must hold at least this many bits per declared parameter (Q2 GGUF: ~2.6)
_WIDTH = {"float32": 4, "bfloat16": 2, "float16": 2}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def check_gguf_header(path: Path) -> int:
    """Read a GGUF file's header, metadata and tensor table (never its weights); returns the number of weights it
    holds (elements over all tensors). ProbeError for a file that is not a readable GGUF model or holds no tensors."""
    try:
        from gguf import GGUFReader
    except ImportError:  # pragma: no cover - depends on the environment
        raise ProbeError("reading GGUF files needs the `gguf` package: `pip install 'ntpgeom[probe]'`") from None
    try:
        reader = GGUFReader(str(path), "r")
        tensors = list(reader.tensors)
        arch = reader.fields.get("general.architecture")
    except Exception as exc:  # noqa: BLE001 - a crafted file fails inside the reader in many ways
        raise ProbeError(f"{path} is not a readable GGUF file: {_first_line(exc)}") from None
    if arch is None:
        raise ProbeError(f"{path} is not a GGUF model: its metadata has no general.architecture")
    if not tensors:
        raise ProbeError(f"{path} holds no tensors (a header only): it is not a model's weights")
    return int(sum(int(t.n_elements) for t in tensors))


def count_parameters(config: Any) -> int:
    """The number of parameters of the causal LM ``config`` describes, counted on torch's ``meta`` device."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - a foreign config fails in many ways
        raise ProbeError(f"cannot build the model its configuration describes: {_first_line(exc)}") from None
    return int(sum(p.numel() for p in model.parameters()))


def check_model_size(folder: Path, config: Any, gguf: str | None, dtype: str) -> int:
    """Refuse, before any weight is allocated, a model that does not fit this machine or that its files cannot hold.

    Estimate of the memory: the parameters at ``dtype``, plus a float32 copy of them for a GGUF file (transformers
    dequantises every tensor to float32 before loading it). Returns the parameter count.
    """
    n = count_parameters(config)
    if gguf is not None:
        stored = check_gguf_header(folder / gguf)
        if 2 * stored < n:
            raise ProbeError(f"{folder / gguf} holds {stored:.3g} weights, but its metadata describes a model of "
                             f"{n:.3g} parameters: the file is truncated or its metadata is wrong")
    else:
        stored_bytes = sum(p.stat().st_size for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
        if 8 * stored_bytes < MIN_BITS_PER_PARAM * n:
            raise ProbeError(f"the weight files in {folder} hold {stored_bytes} bytes, but config.json describes a "
                             f"model of {n:.3g} parameters: the weights are missing or config.json is wrong")
    need = n * (_WIDTH.get(dtype, 4) + (4 if gguf is not None else 0))
    have = memory_bytes()
    if have is not None and need > MEMORY_FRACTION * have:
        raise ProbeError(f"the model has {n:.3g} parameters and needs about {need / 2**30:.3g} GiB to load, more than "
                         f"this machine's {have / 2**30:.3g} GiB; probe a smaller model (or --dtype bfloat16)")
    return n


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__
