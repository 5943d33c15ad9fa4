"""The probe's configuration: one frozen dataclass with its defaults and constraints (as ``TrainConfig``).

:class:`ProbeConfig` holds every setting of :func:`ntpgeom.probe.probe` that is a plain value (the model, the text,
a given theory and the progress callbacks are arguments); the field's ``help`` documents it once for the API and the
command line, whose options ``ntpgeom probe`` generates from the fields. :data:`CONSTRAINTS` declares what each field
accepts (checked by :func:`ntpgeom.validate.check_fields` when a configuration is made).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

from .. import validate
from ..errors import ProbeError
from ..validate import SEED, Interval, OneOf

DTYPES = ("float32", "bfloat16", "float16")
_POS_INT, _NONNEG_INT = Interval(True, 0, open_lo=True), Interval(True, 0)
_POS, _NONNEG = Interval(False, 0, open_lo=True), Interval(False, 0)


def _opt(default: Any, help: str, *flags: str) -> Any:
    meta = {"help": help, "flags": flags} if flags else {"help": help}
    return field(metadata=meta) if default is _REQUIRED else field(default=default, metadata=meta)


_REQUIRED = object()


@dataclass(frozen=True)
class ProbeConfig:
    """Every plain setting of a probe (defaults on the fields; only ``context_len`` is required).

    The fields up to ``layers`` are recorded, in this order, in ``summary.json``'s ``config`` (:meth:`record`)."""

    context_len: int = _opt(_REQUIRED, "Tokens per context (T-1).", "--context-len", "-T")
    max_contexts: int | None = _opt(2000, "Keep the K most frequent contexts.", "--max-contexts", "-K")
    min_count: float | None = _opt(2, "Keep contexts seen at least c times.", "--min-count", "-c")
    n_other: int = _opt(500, "Tokens outside every support to measure besides the support tokens (a seeded sample).")
    doc_sep: str = _opt("blank", "Document separator: blank | line | none | a literal string.")
    normalize_whitespace: bool = _opt(True, "Collapse whitespace runs to one space (else keep line breaks).")
    batch_size: int = _opt(64, "Contexts per forward pass.")
    device: str = _opt("cpu", "Torch device (cpu, cuda, cuda:N, mps).")
    dtype: str = _opt("float32", "float32 | bfloat16 | float16.")
    solve: bool | str = _opt("auto", "Solve NTP-SVM* for L_mm: auto (when the reduced pattern is small enough) | "
                                     "True | False.")
    max_reduced: int = _opt(40_000, "solve='auto': solve when the reduced support pattern has at most this many "
                                    "entries.")
    solve_budget: float | None = _opt(None, "Seconds for the NTP-SVM* solve (large solver's time limit; implies "
                                            "solving): stopped early, the best certified point and its gap are the "
                                            "reference.")
    measure_contexts: int | None = _opt(None, "Measure on a seeded sample of N contexts (the theory stays that of "
                                              "all contexts; the hidden-state moments are streamed over all).")
    n_perm: int = _opt(20, "Random groupings for the collapse-index baseline.")
    seed: int = _opt(0, "Seed of every random draw.")
    layers: str = _opt("last", "Layers to read: last | all | comma-separated indices (0 = embedding output, k = "
                               "the k-th block's output), each measured through the logit lens.")
    baseline: int = _opt(0, "Untrained baselines: probe this many same-config models with random initial weights "
                            "(seeds 0..N-1) per layer, drawn as a band on the per-layer figures.")
    fixed_features: bool = _opt(False, "Fixed features: solve the fixed-features NTP-SVM W_mm of the last layer's "
                                       "hidden states and measure the model's LM head against it (can be slow).")
    fixed_features_budget: float | None = _opt(60.0, "Seconds for the fixed-features solve (past it: the best point "
                                                     "so far, status user_limit, not certified).")
    fixed_features_iter: int = _opt(20000, "Iterations of the fixed-features solve at most.")
    gguf_file: str | None = _opt(None, "GGUF file name inside the model folder (dequantised on load).")
    revision: str | None = _opt(None, "Revision (branch, tag or commit) of a Hugging Face cache name given as the "
                                      "model (read from the local cache only, never downloaded).")

    CONSTRAINTS: ClassVar[dict[str, list[Any]]]
    ERROR: ClassVar[type[ProbeError]] = ProbeError

    def __post_init__(self) -> None:
        validate.check_fields(vars(self), CONSTRAINTS, error=ProbeError)
        check_relations(vars(self))

    def record(self, text: str | None) -> dict[str, Any]:
        """The ``config`` block of ``summary.json``: the text file, then the recorded fields (ints as ``int``)."""
        out: dict[str, Any] = {"text": text}
        for name in RECORDED:
            v = getattr(self, name)
            out[name] = int(v) if name in _INTS else v
        return out


CONSTRAINTS: dict[str, list[Any]] = {
    "context_len": [_POS_INT], "max_contexts": [_POS_INT, None], "min_count": [_NONNEG, None], "n_other": [_NONNEG_INT],
    "doc_sep": [str], "normalize_whitespace": [bool], "batch_size": [_POS_INT], "device": [str],
    "dtype": [OneOf(DTYPES)], "solve": [OneOf(("auto", True, False))], "max_reduced": [_POS_INT],
    "solve_budget": [_POS, None], "measure_contexts": [Interval(True, 2), None],  # similarities need 2
    "n_perm": [_POS_INT], "seed": [SEED],
    "gguf_file": [str, None], "layers": [str], "revision": [str, None], "baseline": [_NONNEG_INT],
    "fixed_features": [bool], "fixed_features_budget": [_POS, None], "fixed_features_iter": [_POS_INT],
}
ProbeConfig.CONSTRAINTS = CONSTRAINTS
FIELDS = {f.name: f for f in fields(ProbeConfig)}
RECORDED = tuple(FIELDS)[:tuple(FIELDS).index("layers") + 1]
_INTS = ("context_len", "n_other", "batch_size", "n_perm", "seed")


def check_relations(v: Mapping[str, Any], names: Mapping[str, str] | None = None) -> None:
    """The constraint between fields: a solve budget needs a solve (``solve`` "auto" or True)."""
    if isinstance(v.get("layers"), str):
        from .layers import check_layers

        check_layers(v["layers"])
    if v.get("solve_budget") is not None and v.get("solve") is False:
        name = (names or {}).get("solve_budget", "solve_budget")
        raise ProbeError(f"{name} needs a solve: solve 'auto' or True (--solve auto or yes), not False")


def check_options(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> None:
    """Check some fields' values (e.g. those a remeasure uses) against :data:`CONSTRAINTS` and each other; errors
    name ``names[field]`` (a flag) when given."""
    validate.check_fields(values, CONSTRAINTS, error=ProbeError, names=names)
    check_relations(values, names)


def probe_config(config: ProbeConfig | None, context_len: int | None, options: Mapping[str, Any]) -> ProbeConfig:
    """The configuration of one probe: ``config`` (or the defaults), with ``context_len`` and the keyword
    ``options`` (field names) on top."""
    unknown = sorted(set(options) - set(FIELDS))
    if unknown:
        raise TypeError(f"probe() got unexpected keyword argument(s) {unknown}; the options are {list(FIELDS)}")
    values = {} if config is None else {k: getattr(config, k) for k in FIELDS}
    if context_len is not None:
        values["context_len"] = context_len
    values.update(options)
    if not isinstance(values.get("layers", ""), str):  # probe(..., layers=[0, 6, 12]) or layers=3
        from .layers import check_layers

        values["layers"] = check_layers(values["layers"])
    if "context_len" not in values:
        raise ProbeError("a probe needs a context length: probe(model, text, context_len) or a ProbeConfig")
    return ProbeConfig(**values)
