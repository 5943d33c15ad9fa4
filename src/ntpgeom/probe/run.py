"""The whole probe in one call: model + corpus → NTP data → (H, W, L) → measurements → files."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..reprs import short_repr, summary_html
from .._io import load_npz, save_npz, versions, write_json_atomic
from ..data import NTPData, read_text
from .extract import Extraction, corpus_data, extract, measured_tokens, token_names
from .folder import FORMAT_NAME, check_probe_arrays, read_source, read_summary, staged
from .layers import (LayerResult, LayerTap, layers_summary, load_layers, measure_layers, n_blocks, parse_layers,
                     representation_metrics, save_layers)
from .measure import measure_subset, probe_verdicts, restricted_data
from .reference import given_theory, probe_theory
from ..errors import FormatError
from ..jsonable import to_jsonable
from ..metrics import context_subset
from ..theory import Theory, support_pattern
from ..progress import Progress, ProgressBar
from .config import ProbeConfig, probe_config
from .fixed import probe_fixed_features
from .checkpoints import resolve_model, untrained
from .model import LoadedModel, ProbeError, load_model

FORMAT_VERSION = 1

#: Relative ‖L − (W H + b)‖ / ‖L‖ above which the logits are declared not to be an affine map of H (e.g. soft-capping).
WH_TOL = 1e-4


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """A probed model.

    Attributes
    ----------
    data : NTPData, shape (V, m)
        The corpus statistics over the measured tokens and the measured contexts: the support tokens, then
        ``n_other`` sampled tokens that are in no support (all-zero rows). ``data.meta["token_ids"]`` maps row z to the
        model's token id. With ``measure_contexts`` it is ``source.select_contexts(idx)``.
    H : ndarray (d, m); W : ndarray (V, d); L : ndarray (V, m); lse : ndarray (m,); b : ndarray (V,) or None
        Final hidden states, unembedding rows, the model's logits on those rows, full-vocabulary log-partition, bias.
    metrics : dict
        See :func:`ntpgeom.probe.measure.measure`.
    theory : ntpgeom.theory.Theory
        The reference geometry of ``data`` (the source's theory restricted to the measured contexts); None in a
        result read back by :func:`load_probe` (the theory is a file of its own).
    info : dict
        Model provenance, configuration, the L = W H check, timings, versions.
    source : NTPData, shape (V, M), optional
        Every probed context (M >= m); what ``data.npz`` holds and ``ntpgeom solve`` solves. Default: ``data``.
    idx : int array (m,), optional
        The measured contexts among the source's (sorted). Default: all.
    source_theory : Theory, optional
        The theory of ``source`` (written to ``theory.npz`` unless it was read from a file, ``info["theory_file"]``).
    H_mean, H_gram : ndarray (d,), (d, d), optional
        Mean and second moment of the hidden states over all M contexts (streamed).
    layers : tuple of LayerResult
        The layers read (``layers=``; the last one always, measured as above plus ``layer_metrics``), by depth.
    """

    __repr__ = short_repr
    _repr_html_ = summary_html  # a notebook shows a small table

    data: NTPData
    H: np.ndarray
    W: np.ndarray
    L: np.ndarray
    lse: np.ndarray
    b: np.ndarray | None
    metrics: dict[str, Any]
    theory: Theory | None
    info: dict[str, Any] = field(default_factory=dict)
    source: NTPData | None = None
    idx: np.ndarray | None = None
    source_theory: Theory | None = None
    H_mean: np.ndarray | None = None
    H_gram: np.ndarray | None = None
    layers: tuple[LayerResult, ...] = ()

    @property
    def source_data(self) -> NTPData:
        return self.data if self.source is None else self.source

    @property
    def contexts(self) -> Any:
        """The measured contexts (model token ids), in the order of the columns of H and of each layer's H."""
        return self.data.contexts

    @property
    def groups(self) -> np.ndarray:
        """Support-group id of each measured context (m',): contexts with the same next-token support share one."""
        return np.asarray(self.data.support_groups)

    def layer(self, index: int) -> LayerResult:
        """The layer of depth ``index`` (0 = embedding output)."""
        for layer in self.layers:
            if layer.index == index:
                return layer
        raise ProbeError(f"layer {index} was not read; the layers read are {[x.index for x in self.layers]}")

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary: model, data, the L = W H check, metrics, verdicts, config, versions."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "model": self.info["model"],
            "config": self.info["config"],
            "data": self.source_data.summary(top=5) | {"meta": {k: v for k, v in self.source_data.meta.items()
                                                                if k != "token_ids"}},
            "data_hash": self.source_data.hash,
            "measured": {"contexts": self.data.m, "of": self.source_data.m, "data_hash": self.data.hash,
                         "seed": self.info["config"].get("seed")},
            "wh_check": self.info["wh_check"],
            "metrics": to_jsonable(self.metrics),
            "verdicts": verdicts(self.metrics),
            "theory": _theory_summary(self.source_theory if self.source_theory is not None else self.theory),
            "theory_file": self.info.get("theory_file"),
            "timings": self.info["timings"],
            "versions": self.info["versions"],
            "layers": layers_summary(self.layers),
            "baseline": to_jsonable(self.info.get("baseline")),
            "fixed_features": to_jsonable(self.info.get("fixed_features")),
        }

    def save(self, out_dir: str | Path, overwrite: bool = False) -> dict[str, Path]:
        """Write the probe folder ``out_dir`` (:meth:`write`), staged and published whole
        (:func:`ntpgeom.probe.folder.staged`): an existing non-empty folder needs ``overwrite`` and must be a
        previous probe. Returns the paths written."""
        out = Path(out_dir).absolute()
        with staged(out, overwrite=overwrite) as tmp:
            paths = self.write(tmp)
        return {k: out / Path(v).relative_to(tmp) for k, v in paths.items()}

    def write(self, out: Path) -> dict[str, Path]:
        """Write ``probe.npz`` (arrays), ``layers.npz`` (each layer's H), ``data.npz`` (every probed context: what
        ``ntpgeom solve`` takes), ``theory.npz`` (its theory, unless it was read from a file) and ``summary.json``
        (last) into the folder ``out`` (a staging folder).

        H, W, L, lse, b are stored in float32 when that is exact (a float32/bfloat16/float16 model), else float64."""
        paths = {"data": self.source_data.save(out / "data.npz")}
        th = self.theory if self.source_theory is None else self.source_theory
        if not self.info.get("theory_file"):
            paths["theory"] = th.save(out / "theory.npz")
        arrays = {k: _compact(v) for k, v in (("H", self.H), ("W", self.W), ("L", self.L), ("lse", self.lse),
                                                ("b", self.b)) if v is not None}
        arrays["token_ids"] = np.asarray(self.data.meta["token_ids"], dtype=np.int64)
        arrays["idx"] = np.arange(self.data.m) if self.idx is None else np.asarray(self.idx, dtype=np.int64)
        for k, v in (("H_mean", self.H_mean), ("H_gram", self.H_gram)):
            if v is not None:
                arrays[k] = np.asarray(v, dtype=np.float64)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "data_hash": self.source_data.hash,
                  "measured_hash": self.data.hash}
        paths["arrays"] = save_npz(out / "probe.npz", header, arrays)
        if self.layers:
            paths["layers"] = save_layers(out / "layers.npz", self.layers, self.source_data.hash)
        write_json_atomic(out / "summary.json", self.summary())
        paths["summary"] = out / "summary.json"
        return paths


def _theory_summary(theory: Theory | None) -> dict[str, Any] | None:
    """The theory's summary; None for a result read back by :func:`load_probe` (its theory is a separate file)."""
    return None if theory is None else theory.summary()


def _compact(a: np.ndarray) -> np.ndarray:
    """float32 when that holds ``a`` exactly (a float32 model's outputs), else float64."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore"):
        f = a.astype(np.float32)
    return f if np.array_equal(f.astype(np.float64), a, equal_nan=True) else a


def verdicts(mt: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdicts of the probed model (:func:`ntpgeom.probe.measure.probe_verdicts`: the same verdicts as runs;
    status "pass", "FAIL", "inconclusive" or "n/a", with ``check``/``detail`` for the tables)."""
    return probe_verdicts(mt)


def probe(
    model: str | Path | LoadedModel,
    text: str | Path,
    context_len: int | None = None,
    config: ProbeConfig | None = None,
    *,
    theory: str | Path | Theory | None = None,
    progress: Progress | None = None,
    stage: Callable[[str], None] | None = None,
    verbose: bool = False,
    **options: Any,
) -> ProbeResult:
    """Probe a pretrained causal LM on a corpus (see the package docstring and theory.md).

    Parameters
    ----------
    model : path or LoadedModel
        A local model folder, a folder with ``gguf_file``, a ``.gguf`` file, or an already loaded model.
    text : path or str
        A UTF-8 text file (a ``Path`` or an existing file name), or the corpus itself as a string.
    context_len : int
        Tokens per context T-1 (or ``config.context_len``).
    config : ProbeConfig, optional
        Every plain setting (defaults on its fields, documented there): ``max_contexts``/``min_count`` (keep the K
        most frequent contexts seen at least c times), ``n_other`` (tokens outside every support measured besides
        the support tokens), ``doc_sep``, ``normalize_whitespace``, ``batch_size``/``device``/``dtype``/``gguf_file``
        (loading and forward passes), ``solve``/``max_reduced``/``solve_budget`` (whether and how long to solve
        NTP-SVM* for L_mm; stopped at the budget, the best certified point is the reference, status ``user_limit``),
        ``measure_contexts`` (measure on a seeded sample; the theory is that of every context restricted to it, the
        hidden-state moments are streamed over all), ``n_perm``/``seed`` (the collapse baseline; every draw).
    **options
        Fields of :class:`ProbeConfig` as keywords, on top of ``config`` (``probe(m, t, 2, min_count=20)``).
    theory : path or Theory, optional
        A theory of this probe's data (``ntpgeom solve DIR/data.npz -o THEORY.npz``), checked by data hash, instead of
        computing one.
    progress : Progress, optional
        Forward-pass progress: ``progress("forward passes", done, total)`` (:class:`ntpgeom.progress.Progress`).
    stage : callable(str), optional
        Called with the name of each stage.
    verbose : bool
        When no ``progress`` / ``stage`` is given: a progress bar over the forward passes (tqdm.auto in a notebook,
        rich on a terminal, plain lines in a log: :class:`ntpgeom.progress.ProgressBar`) and a line per stage.

    Returns
    -------
    ProbeResult
    """
    cfg = probe_config(config, context_len, options)
    say = stage or ((lambda s: print(f"probe: {s}", file=sys.stderr, flush=True)) if verbose else (lambda _s: None))
    bar = ProgressBar("forward passes", unit="context") if verbose and progress is None else None
    text_path, corpus = _corpus(text)
    t0 = time.perf_counter()
    if isinstance(model, LoadedModel):
        lm = model
    else:
        say("loading model")
        lm = load_model(resolve_model(model, cfg.revision), cfg.gguf_file, device=cfg.device, dtype=cfg.dtype)
    t_load = time.perf_counter() - t0
    say("tokenising")
    data = corpus_data(lm, corpus, cfg.context_len, max_contexts=cfg.max_contexts, min_count=cfg.min_count,
                       doc_sep=cfg.doc_sep, normalize_whitespace=cfg.normalize_whitespace)
    V_model = lm.info["V_model"]
    rows, _ = measured_tokens(data, V_model, cfg.n_other, seed=cfg.seed)
    names = token_names(lm.tokenizer, max(V_model, len(lm.tokenizer)))
    rdata = restricted_data(data, rows, names)
    given = None if theory is None else given_theory(theory, rdata)  # refused before the forward passes
    idx = context_subset(rdata.m, cfg.measure_contexts or rdata.m, cfg.seed)
    t1 = time.perf_counter()
    say(f"forward passes over {data.m} contexts")
    ex, tap = _forward(lm, data, rows, idx, cfg, progress or bar, bar)
    t_fwd = time.perf_counter() - t1
    W, b = lm.W(rows), lm.bias(rows)
    t2 = time.perf_counter()
    pattern = support_pattern(rdata)  # shared by the theory and its restriction to the measured contexts
    if given is None:
        say("solving NTP-SVM*" if cfg.solve is not False else "theory (S̃ proxy)")
        th, why = probe_theory(rdata, solve=cfg.solve, max_reduced=cfg.max_reduced, solve_budget=cfg.solve_budget,
                               pattern=pattern)
    else:
        th, why = given, f"read from {theory if isinstance(theory, (str, Path)) else 'the given Theory'}"
    t_theory = time.perf_counter() - t2
    say("measuring")
    t3 = time.perf_counter()
    sub, sub_theory, metrics = measure_subset(rdata, idx, W, ex.H, ex.L, ex.lse, b, th, why, H_mean=ex.H_mean,
                                              H_gram=ex.H_gram, n_perm=cfg.n_perm, seed=cfg.seed, pattern=pattern)
    last = LayerResult(_last_index(lm), ex.H.astype(np.float32), {**metrics, **representation_metrics(ex.H, sub, W)})
    layers = measure_layers(lm, tap, sub, sub_theory, W, b, last, n_perm=cfg.n_perm, seed=cfg.seed)
    timings = {"load_s": t_load, "forward_s": t_fwd, "theory_s": t_theory, "measure_s": time.perf_counter() - t3,
               "contexts_per_s": data.m / t_fwd if t_fwd > 0 else None}
    info = {"model": lm.info, "config": cfg.record(text_path), "wh_check": _wh_check(ex, b), "versions": probe_versions(),
            "theory_file": str(theory) if isinstance(theory, (str, Path)) else None, "timings": timings,
            "baseline": _baseline(lm, corpus, cfg, th, say) if cfg.baseline and len(layers) > 1 else None}
    if cfg.fixed_features:
        say("fixed features (W_mm of the last layer)")
        info["fixed_features"] = probe_fixed_features(cfg, sub, W, ex.H, sub_theory, b)
    return ProbeResult(sub, ex.H, W, ex.L, ex.lse, b, metrics, sub_theory, info, source=rdata, idx=idx,
                       source_theory=th, H_mean=ex.H_mean, H_gram=ex.H_gram, layers=layers)


def _forward(lm: LoadedModel, data: NTPData, rows: np.ndarray, idx: np.ndarray, cfg: ProbeConfig,
             progress: Progress | None, bar: ProgressBar | None) -> tuple[Extraction, LayerTap | None]:
    """The one pass over every context: the last layer's (H, L, lse) of the measured contexts ``idx`` and, for
    ``cfg.layers`` other than "last", a :class:`LayerTap` holding the earlier layers' hidden states."""
    want = parse_layers(cfg.layers, n_blocks(lm)) if cfg.layers != "last" else ()
    tap = LayerTap(lm, want, int(np.asarray(idx).size)) if any(k < n_blocks(lm) for k in want) else None
    try:
        ex = extract(lm, data.contexts, rows, batch_size=cfg.batch_size, keep=idx, progress=progress, tap=tap)
    finally:
        if bar is not None:
            bar.close()
    return ex, tap


def _baseline(lm: LoadedModel, corpus: str, cfg: ProbeConfig, th: Theory, say: Callable[[str], None]
              ) -> dict[str, Any]:
    """Per-layer metrics of ``cfg.baseline`` untrained same-config models (seeds 0, 1, ...), probed as the model
    (same contexts, same theory): {"seeds", "layers", "metrics": {key: [[value per layer] per seed]}}."""
    rows: list[tuple[LayerResult, ...]] = []
    for seed in range(cfg.baseline):
        say(f"untrained baseline {seed + 1}/{cfg.baseline}")
        r = probe(untrained(lm, seed), corpus, config=replace(cfg, baseline=0, fixed_features=False), theory=th)
        rows.append(r.layers)
    keys = sorted({k for layers in rows for x in layers for k, v in x.metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return {"seeds": list(range(cfg.baseline)), "layers": [x.index for x in rows[0]],
            "metrics": {k: [[x.metrics.get(k) for x in layers] for layers in rows] for k in keys}}


def _last_index(lm: LoadedModel) -> int:
    """The depth of the LM head's input: the number of blocks (-1 when the configuration does not say)."""
    n = lm.info.get("num_layers")
    return n if isinstance(n, int) else -1


def _corpus(text: str | Path) -> tuple[str | None, str]:
    """(the text file's name or None, the corpus): a Path or an existing file name is read, else ``text`` is it."""
    if isinstance(text, Path) or _is_file(text):
        return str(text), read_text(text)
    return None, str(text)


def _wh_check(ex: Extraction, b: np.ndarray | None) -> dict[str, Any]:
    """Whether the logits are an affine map of the hidden states: L = W H (+ b) to :data:`WH_TOL`."""
    return {"max_abs_err": ex.wh_max_abs_err, "rel_err": ex.wh_rel_err, "tol": WH_TOL,
            "holds": ex.wh_rel_err <= WH_TOL, "bias": b is not None}


def _is_file(s: Any) -> bool:
    """Whether a string names an existing file (long or multi-line strings are corpus text, not paths)."""
    if not isinstance(s, str) or "\n" in s or len(s) > 1024:
        return False
    try:
        return Path(s).is_file()
    except OSError:  # e.g. a name component longer than the file system allows
        return False


def probe_versions() -> dict[str, str]:
    return versions(extra=("transformers", "safetensors", "gguf", "accelerate"))


def load_probe(out_dir: str | Path) -> ProbeResult:
    """Read a probe folder (``probe.npz``, ``layers.npz``, ``summary.json``, ``data.npz``) back as a :class:`ProbeResult`.

    The arrays' file hash is verified and their shapes checked against each other (H (d, m), W (V, d), L (V, m),
    lse (m,), token_ids (V,), b (V,), idx (m,)) and against ``data.npz`` (its hash is the summary's) before they are
    returned; a damaged file raises FormatError. The arrays are as stored (float32 when that was exact); ``metrics``
    and ``info`` (model, config, L = W H check, timings, versions, theory file) are the summary's JSON. ``theory`` and
    ``source_theory`` are None: a folder's theory is ``DIR/theory.npz`` (:func:`ntpgeom.theory.load_theory`) or the
    file named by ``info["theory_file"]``; :func:`ntpgeom.probe.remeasure` measures the arrays against one.

    Parameters
    ----------
    out_dir : path
        A folder written by :func:`probe` (``ntpgeom probe -o``).

    Returns
    -------
    ProbeResult

    Raises
    ------
    ProbeError, FormatError
        No probe result in the folder; a damaged or mismatched file.
    """
    out = Path(out_dir)
    f = out / "probe.npz"
    if not f.is_file():
        raise ProbeError(f"{out} holds no probe result (probe.npz missing); run `ntpgeom probe` first")
    _, a = load_npz(f, FORMAT_NAME, FORMAT_VERSION, "probe result", "rerun `ntpgeom probe`")
    check_probe_arrays(f, a)
    s, source = read_summary(out), read_source(out)
    if source.hash != s.get("data_hash"):
        raise ProbeError(f"{out}/data.npz does not belong to {out}/summary.json (hash {source.hash} vs "
                         f"{s.get('data_hash')}); rerun `ntpgeom probe`")
    idx = a.get("idx", np.arange(source.m))
    if idx.shape != (a["H"].shape[1],) or (idx.size and (idx.min() < 0 or idx.max() >= source.m)):
        raise FormatError(f"{f}: its context indices do not fit data.npz (corrupt probe result)")
    data = source if idx.size == source.m else source.select_contexts(idx, measured_of=int(source.m),
                                                                      source_hash=source.hash)
    info = {k: s.get(k) for k in ("model", "config", "wh_check", "versions", "theory_file", "timings", "baseline",
                                  "fixed_features")}
    layers = load_layers(out / "layers.npz", s.get("layers") or [], a["H"].shape, source.hash)
    return ProbeResult(data, a["H"], a["W"], a["L"], a["lse"], a.get("b"), dict(s.get("metrics") or {}), None, info,
                       source=source, idx=idx, H_mean=a.get("H_mean"), H_gram=a.get("H_gram"), layers=layers)
