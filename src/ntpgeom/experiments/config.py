"""The configuration of :func:`ntpgeom.reproduce`: one frozen dataclass, :class:`ReproduceConfig`.

Every option has its default on its field and its help in the field's metadata (documented once, for the API and
the command line, whose ``reproduce`` options are generated from the fields marked ``cli``); :data:`CONSTRAINTS`
declares what each field accepts, checked once when the configuration is built (a bad value raises
:class:`~ntpgeom.errors.ReproduceError` naming the option). Relations between options (``--paper-scale`` needs
``--text`` and excludes ``--quick``) are checked by :func:`ntpgeom.experiments.paper_scale.check_options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import validate as V
from ..data.tokenize import TOKENIZER_HELP, bpe_size
from ..errors import NTPDataError, ReproduceError
from .paper_scale import BUDGETS as PAPER_BUDGETS


def _opt(default: Any, help: str, cli: bool = True) -> Any:
    return field(default=default, metadata={"help": help, "cli": cli})


@dataclass(frozen=True)
class ReproduceConfig:
    """What :func:`~ntpgeom.experiments.reproduce.reproduce` runs and where it writes (defaults on the fields).

    Sequences given as lists are stored as tuples; every value is checked against :data:`CONSTRAINTS` on creation.
    """

    out: Path = _opt(Path("runs/reproduce"), "Output folder. If it exists and is not empty, pass resume (continue: "
                     "finished runs are reused, interrupted ones resume from their checkpoint) or overwrite (start "
                     "afresh).", cli=False)
    quick: bool = _opt(False, "Seconds instead of minutes: the short runs (experiment (a), the 'synthetic' runs and the "
                       "'stories' UFM) and the honest controls; the 'stories' transformer and LSTM need the default "
                       "budget.")
    text: str | Path | None = _opt(None, "Run the same pipeline on your own UTF-8 corpus instead of the built-in "
                                   "data (the UFM, the transformer and the LSTM; L_mm solved up to V x m = 1e6, "
                                   "else the S̃ proxy).")
    experiments: tuple[str, ...] | None = _opt(None, "Only these experiments: ufm-synthetic, synthetic, stories, "
                                               "and the appendix ones mlp, optimizers, autoregressive, bottleneck, "
                                               "fingerprint ('appendix': all five); naming only appendix "
                                               "experiments runs only those.", cli=False)
    appendix: bool = _opt(False, "Also run the appendix experiments (D.2 MLP, D.3 autoregressive, D.4 d < V, "
                          "optimisers vs the regularisation path, the implicit-bias fingerprint); with --quick a "
                          "smoke size.")
    context_len: int = _opt(5, "--text: tokens per context.")
    tokenizer: str = _opt("word", "--text: word | char | bpe:<size> | tokenizer.json.")
    max_vocab: int = _opt(128, "--text: keep this many next tokens (rest -> <unk>).")
    max_contexts: int | None = _opt(500, "--text: keep the most frequent contexts (training time grows with this; "
                                    "500 keeps the default budget near the built-in one).")
    seed: int = _opt(0, "Training seed.")
    seeds: tuple[int, ...] | None = _opt(None, "Several training seeds: every run once per seed (folders "
                                         "<model>-seed<k>).", cli=False)
    threads: int = _opt(1, "Torch/BLAS threads; with N > 1, long independent runs (the default budget) train in N "
                        "parallel processes of 1 thread each; short ones on 1 thread.")
    overwrite: bool = _opt(False, "Replace an existing output folder.")
    resume: bool = _opt(False, "Continue an existing output: finished runs are reused, interrupted ones resume from "
                        "their checkpoint.")
    dpi: int | None = _opt(None, "PNG resolution of the figures (default 150).")
    svg: bool = _opt(True, "Write an SVG beside every PNG figure.", cli=False)
    paper_scale: bool = _opt(False, "With --text: the paper's TinyStories settings (BPE 128, context length 6, all "
                             "contexts; the UFM and the 12-layer d=256 transformer on mini-batches, measured on a "
                             "fixed subset of 2000 contexts). Minutes on a GPU; on a CPU it prints how long that "
                             "would take and runs a smaller budget.")
    paper_budget: str = _opt("auto", "--paper-scale: auto (full on CUDA, reduced on a CPU) | full | reduced.")
    log: str | None = _opt(None, "Also log every training run's curves to a tracker: tensorboard (event files in each "
                           "run folder; needs the track extra) | trackio.")

    def __post_init__(self) -> None:
        if isinstance(self.out, str):
            object.__setattr__(self, "out", Path(self.out))
        for name in ("experiments", "seeds"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, name, tuple(value))
        check(self)

    @property
    def budget(self) -> str:
        """``quick`` or ``default`` (the paper-scale budgets are chosen later, on the data and the device)."""
        return "quick" if self.quick else "default"

    @property
    def seed_list(self) -> list[int]:
        """The training seeds: ``seeds`` without repeats, else ``[seed]``."""
        return list(dict.fromkeys(self.seeds)) if self.seeds else [self.seed]


FIELDS = {f.name: f for f in fields(ReproduceConfig)}


# --------------------------------------------------------------------------------------------------- constraints
def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _boolean(name: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise ReproduceError(f"{_flag(name)} must be True or False, got {v!r}")


def _optional(check_: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    return lambda name, v: None if v is None else check_(name, v)


def _path(name: str, v: Any) -> None:
    if not isinstance(v, (str, Path)):
        raise ReproduceError(f"{_flag(name)} must be a path, got {v!r}")


def _names(name: str, v: Any) -> None:
    if not isinstance(v, tuple) or not all(isinstance(x, str) for x in v):
        raise ReproduceError(f"{_flag(name)} must be a list of experiment names, got {v!r}")


def _seeds(name: str, v: Any) -> None:
    if not isinstance(v, tuple):
        raise ReproduceError(f"{_flag(name)} takes a list of seeds like [0, 1, 2], got {v!r}")
    for s in v:
        V.seed(_flag(name), s, error=ReproduceError)


def _text(name: str, v: Any) -> None:
    if not isinstance(v, str):
        raise ReproduceError(f"{_flag(name)} must be a string, got {v!r}")


def _tokenizer(name: str, v: Any) -> None:
    """word | char | bpe:<N ≥ 2> | an existing tokenizers JSON file: checked before the corpus is read."""
    _text(name, v)
    try:
        if v in ("word", "char") or bpe_size(v) is not None:
            return
    except NTPDataError as exc:
        raise ReproduceError(f"{_flag(name)}: {exc}") from None
    path = Path(v).expanduser()
    if path.suffix != ".json" and not path.exists():
        raise ReproduceError(f"{_flag(name)}: unknown tokenizer {v!r}; use {TOKENIZER_HELP}")
    if not path.is_file():
        raise ReproduceError(f"{_flag(name)}: no tokenizer file {v}; pass a Hugging Face tokenizers JSON file")


def _one_of(what: str, choices: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check_(name: str, v: Any) -> None:
        if v not in choices:
            raise ReproduceError(f"unknown {what} {v!r}; choose one of {', '.join(choices)}")

    return check_


def _int(lo: int, hi: int | None = None) -> Callable[[str, Any], int]:
    return lambda name, v: V.integer(_flag(name), v, lo=lo, hi=hi, error=ReproduceError)


def _tracker(name: str, v: Any) -> None:
    from ..errors import TrainError
    from ..train.tracking import check_log

    try:
        check_log(v)
    except TrainError as exc:
        raise ReproduceError(f"{_flag(name)}: {exc}") from None


#: what each field accepts (a check that raises ReproduceError naming the command-line option)
CONSTRAINTS: Mapping[str, Callable[[str, Any], Any]] = {
    "out": _path, "quick": _boolean, "text": _optional(_path), "experiments": _optional(_names),
    "appendix": _boolean, "context_len": _int(1), "tokenizer": _tokenizer, "max_vocab": _int(1),
    "max_contexts": _optional(_int(1)), "seed": lambda name, v: V.seed(_flag(name), v, error=ReproduceError),
    "seeds": _optional(_seeds), "threads": _int(1), "overwrite": _boolean, "resume": _boolean,
    "dpi": _optional(_int(20, 600)), "svg": _boolean, "paper_scale": _boolean,
    "paper_budget": _one_of("paper budget", PAPER_BUDGETS), "log": _optional(_tracker),
}


def check(config: ReproduceConfig) -> None:
    """Check every field of ``config`` against :data:`CONSTRAINTS`; raise ReproduceError naming the first bad one."""
    for name in FIELDS:
        CONSTRAINTS[name](name, getattr(config, name))
    if config.resume and config.overwrite:
        raise ReproduceError("--resume and --overwrite exclude each other: --resume continues the output folder, "
                             "--overwrite deletes it and starts afresh; pass one")


def from_options(out: str | Path | ReproduceConfig, options: Mapping[str, Any]) -> ReproduceConfig:
    """The configuration of ``reproduce(out, **options)``: ``out`` a folder (the other fields from ``options``, the
    rest at their defaults) or a ReproduceConfig (``options`` replacing some of its fields). An unknown option raises
    ReproduceError naming it."""
    unknown = sorted(set(options) - set(FIELDS) - {"out"})
    if unknown:
        raise ReproduceError(f"unknown reproduce option(s) {unknown}; see help(ntpgeom.experiments.ReproduceConfig)")
    if isinstance(out, ReproduceConfig):
        values = {f: getattr(out, f) for f in FIELDS}
        values.update(options)
        return ReproduceConfig(**values)
    return ReproduceConfig(**{"out": Path(out), **options})
