"""Which model(s) ``--model`` names: local folders, globs of checkpoint folders, Hugging Face cache names; and the
identity of a checkpoint by the hash of its weights.

- :func:`resolve_model`: a local path as it is; a name like ``HuggingFaceTB/SmolLM2-135M`` (with ``revision``) is
  looked up in the local Hugging Face cache (huggingface_hub's layout, ``local_files_only=True``): never downloaded.
- :func:`expand_models`: several ``--model`` values and globs (``runs/checkpoint-*``) → an ordered list of models,
  checkpoint folders sorted by their step number.
- :func:`weights_hash`: SHA-256 over the loaded model's tensors (name, dtype, shape, bytes, in name order): two
  checkpoints with the same hash serve the same weights whatever their names.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

from .._io import sha256_update_array
from ..errors import ProbeError
from .model import LoadedModel

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_GLOB = re.compile(r"[*?\[]")
#: the marker of an ntpgeom training run folder (``ntpgeom.train.folder.MARKER``; the probe layer may not import train)
MARKER = ".ntpgeom-run"


def is_hub_name(s: str) -> bool:
    """Whether ``s`` reads as a Hugging Face repository id ``owner/name`` (and not as a local path)."""
    return bool(_REPO_ID.match(s)) and not s.startswith((".", "~")) and ".." not in s


def resolve_model(model: str | os.PathLike, revision: str | None = None) -> Path:
    """The local folder or file of ``model``: an existing path as it is, else a Hugging Face cache name's snapshot
    folder (``revision``: a branch, tag or commit hash; default ``main``) from the local cache only.

    Raises
    ------
    ProbeError
        ``revision`` with a local path; a name not in the local cache (it is never downloaded).
    """
    p = Path(model).expanduser()
    refuse_run(p)
    if p.exists():
        if revision is not None:
            raise ProbeError(f"--revision applies to a Hugging Face cache name, and {model} is a local path; drop "
                             "--revision or give the name (owner/model)")
        return p
    s = str(model)
    if not is_hub_name(s):
        return p  # check_model_path says it is not found
    return _cached_snapshot(s, revision)


def run_folder_of(path: str | os.PathLike) -> Path | None:
    """The ntpgeom training run folder ``path`` is or lies in (a folder with the ``.ntpgeom-run`` marker: the run
    itself, or its ``checkpoint.pt`` / a file or folder inside it), else None."""
    p = Path(path).expanduser()
    for q in (p, *p.parents[:2]):  # the parents named in the path only (not the working folder of a bare name)
        if q != Path(".") and (q / MARKER).is_file():
            return q
    return None


def refuse_run(path: str | os.PathLike) -> None:
    """Refuse an ntpgeom training run given as a model, saying what to do instead.

    A run (``ntpgeom train``) keeps one checkpoint, its last state, and snapshots of the last layer's W, H and L
    only: there is no pretrained LM with a tokenizer to read every layer of, and no weights per step to probe as a
    checkpoint series. Its snapshots are judged as a trajectory by ``ntpgeom report RUN``.

    Parameters
    ----------
    path : str or path
        A ``--model`` value.

    Returns
    -------
    None

    Raises
    ------
    ProbeError
        ``path`` is, or lies inside, an ntpgeom training run folder.
    """
    run = run_folder_of(path)
    if run is not None:
        inside = "" if Path(path).expanduser() == run else f" ({path} lies inside the run {run})"
        raise ProbeError(f"{path} is an ntpgeom training run, not a pretrained LM{inside}: the probe reads Hugging "
                         f"Face / GGUF models, and a run keeps only its last checkpoint and snapshots of the last "
                         f"layer's W, H, L. Run `ntpgeom report {run}` instead: it measures the run's snapshots and "
                         "judges them as a trajectory")


def _cached_snapshot(repo_id: str, revision: str | None) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover - a dependency of transformers
        raise ProbeError(f"model path not found: {repo_id}; give a local model folder (nothing is downloaded)") from None
    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - LocalEntryNotFoundError, RevisionNotFoundError, HFValidationError ...
        rev = f" at revision {revision}" if revision else ""
        raise ProbeError(f"model path not found: {repo_id} is neither a local folder nor in the local Hugging Face "
                         f"cache{rev} ({HF_HUB_CACHE}; {type(exc).__name__}); ntpgeom never downloads: fetch it "
                         f"first (`huggingface-cli download {repo_id}`) or give a local folder") from None


def _step_key(p: Path) -> tuple[int, str]:
    """Sort key of a checkpoint folder: the last number in its name (``checkpoint-500`` → 500), then the name."""
    nums = re.findall(r"\d+", p.name)
    return (int(nums[-1]) if nums else -1, str(p))


def expand_models(specs: Sequence[str | os.PathLike]) -> list[Path]:
    """The models of several ``--model`` values: each glob expanded (its matches sorted by step number), paths and
    cache names kept in the given order. Raises ProbeError for a glob that matches nothing."""
    out: list[Path] = []
    for spec in specs:
        s = os.fspath(spec)
        if _GLOB.search(s) and not Path(s).exists():
            hits = sorted((Path(h) for h in glob.glob(os.path.expanduser(s))), key=_step_key)
            if not hits:
                raise ProbeError(f"--model {s} matches no file or folder")
            out.extend(hits)
        else:
            out.append(Path(s))
    for p in out:  # before any model is loaded: a series fails at once, not after probing the others
        refuse_run(p)
    return out


def step_of(path: str | os.PathLike) -> int | None:
    """The training step a checkpoint's name carries (its last number), or None."""
    k = _step_key(Path(path))[0]
    return None if k < 0 else k


def weights_hash(lm: LoadedModel) -> str:
    """SHA-256 (hex) over the loaded model's tensors: each state-dict entry's name, dtype, shape and bytes, in name
    order (so the same weights give the same hash whatever the file format or the checkpoint's name)."""
    h = hashlib.sha256()
    state = lm.model.state_dict()
    for name in sorted(state):
        h.update(name.encode("utf-8"))
        sha256_update_array(h, state[name].detach().float().cpu().numpy())
    return h.hexdigest()


def untrained(lm: LoadedModel, seed: int) -> LoadedModel:
    """A model of ``lm``'s configuration with random initial weights (``torch.manual_seed(seed)``), in its dtype and
    on its device, with its tokenizer: the untrained baseline of a probe."""
    import torch
    from transformers import AutoModelForCausalLM

    p = next(lm.model.parameters())
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(lm.model.config, trust_remote_code=False)
    model.eval().to(device=p.device, dtype=p.dtype)
    return LoadedModel(model, lm.tokenizer, lm.path, lm.gguf_file, {**lm.info, "untrained_seed": int(seed)})
