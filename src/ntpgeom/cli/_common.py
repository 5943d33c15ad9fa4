"""Shared CLI helpers: the option types every command shares, options generated from a configuration dataclass,
JSON output, dataset arguments, progress display.

Shared options (one definition, one meaning, one help text each): :func:`out_option` (``-o/--out``),
:func:`overwrite_option`, :func:`json_option`, :func:`threads_option`, :func:`seed_option`. A configuration dataclass
(``TrainConfig``, ``ProbeConfig``, ``ReportConfig``, ``CorpusConfig``) becomes options with :func:`config_options`
(name, type and help from the fields; a field named ``seed`` or ``threads`` takes the shared definition) and the
values given become a configuration with :func:`make_config` (checked once, by the library's declared constraints,
with the flags named in the message).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

import typer
from rich.console import Console

from .. import validate
from ..jsonable import dumps

err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Write ``obj`` as strict JSON on stdout (NaN and infinities become null; see :mod:`ntpgeom.jsonable`)."""
    sys.stdout.write(dumps(obj, indent=2) + "\n")


def load_dataset(arg: str | Path) -> Any:
    """The dataset a command argument names: a dataset file, or a built-in corpus name (``synthetic``, ``stories``)
    when no such file exists. Every command that takes a dataset resolves it here (via :func:`ntpgeom.data.load`)."""
    from ..data import load

    return load(arg)


@contextlib.contextmanager
def stages(enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A progress display on stderr for a long step; yields ``say(stage, done=None, total=None)``.

    Each stage shows its name and elapsed time; a stage that reports ``done``/``total`` shows a bar.
    """
    if not enabled:
        yield lambda *_a: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def say(stage: str, done: int | None = None, total: int | None = None, numbers: Any = None) -> None:
            bar.update(task, description=stage, completed=done or 0, total=total)

        yield say


# ---------------------------------------------------------------------------------------------- shared options
THREADS_HELP = "CPU threads of the command's numerical work (torch and BLAS thread pools)."
SEED_HELP = "Seed of every random draw (an integer in [0, 2**63 - 2]); same seed, same result."
JSON_HELP = "Print the result as JSON on stdout (machine-readable)."


def out_option(help: str, *, required: bool = True) -> Any:
    """``-o/--out PATH``: where the command writes (``help`` says what)."""
    return typer.Option(... if required else None, "-o", "--out", help=help)


def overwrite_option(what: str = "output") -> Any:
    """``--overwrite``: replace an existing output (only one written by ntpgeom)."""
    return typer.Option(False, "--overwrite", help=f"Replace an existing {what} (only one written by ntpgeom).")


def json_option() -> Any:
    """``--json``: the result as JSON on stdout."""
    return typer.Option(False, "--json", help=JSON_HELP)


def threads_option(default: int | None = 1) -> Any:
    """``--threads N`` (N >= 1, checked where it is used): CPU threads for torch and BLAS; ``None``: the libraries'
    own choice (all cores)."""
    return typer.Option(default, "--threads", help=THREADS_HELP)


def seed_option(default: int | None = 0) -> Any:
    """``--seed N``: checked by :func:`ntpgeom.validate.seed` (the one seed range) where it is used."""
    return typer.Option(default, "--seed", help=SEED_HELP)


def set_threads(threads: int | None) -> None:
    """Limit torch's and BLAS's CPU thread pools to ``threads`` (None: leave them as they are)."""
    if threads is None:
        return
    validate.positive_int("--threads", threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    import torch

    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------- options from a config dataclass
_SCALARS = (bool, int, float, str)
_SHARED = {"threads": THREADS_HELP, "seed": SEED_HELP}


def flag(name: str) -> str:
    """The command-line flag of a configuration field: ``max_contexts`` -> ``--max-contexts``."""
    return "--" + name.replace("_", "-")


def scalar_type(cls: type, name: str) -> type:
    """The one plain type (bool, int, float, str) of field ``name`` of ``cls`` (``X | None`` counts as X)."""
    hint = typing.get_type_hints(cls)[name]
    kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
    if len(kinds) != 1 or kinds[0] not in _SCALARS:
        raise TypeError(f"{cls.__name__}.{name}: {hint} has no command-line form; leave it out of the options")
    return kinds[0]


def config_options(cls: type, names: Iterable[str] | None = None, *, skip: Iterable[str] = ()
                   ) -> dict[str, inspect.Parameter]:
    """One ``--option`` per field of ``cls`` (all, or ``names``; not ``skip``): ``--x/--no-x`` for booleans, the
    field's ``flags`` metadata for short forms; default None = "not given" (the field's default applies)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for name in (names if names is not None else fields):
        if name in set(skip):
            continue
        f, kind = fields[name], scalar_type(cls, name)
        decls = list(f.metadata.get("flags") or (flag(name),))
        if kind is bool and name != "overwrite":  # --overwrite: the shared flag, no --no-overwrite
            decls = [f"{decls[0]}/--no-{decls[0][2:]}", *decls[1:]]
        help = _SHARED.get(name, f.metadata["help"])
        default = _default_text(f.default, kind, decls[0], help)
        option = typer.Option(None, *decls, help=help + default, show_default=False)
        out[name] = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind])
    return out


def _default_text(default: Any, kind: type, decl: str, help: str) -> str:
    """`` (default: X)`` for a field's help: in parentheses (rich reads ``[default: X]`` as markup and drops it);
    nothing for a computed default (None, or a help that already says it) or no default."""
    if default is dataclasses.MISSING or default is None or "default" in help.lower():
        return ""
    if kind is bool:
        on, off = decl.split("/")[0], "--no-" + decl.split("/")[0][2:]
        return f" (default: {on if default else off})"
    if isinstance(default, (tuple, list)):
        default = ",".join(map(str, default))
    return f" (default: {default})"


def given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options the user gave (those that are not None)."""
    return {k: v for k, v in options.items() if v is not None}


def make_config(cls: type, values: Mapping[str, Any], constraints: Mapping[str, Any], error: Any,
                flags: Mapping[str, str] | None = None) -> Any:
    """``cls(**values)``, its values first checked by the library's ``constraints`` with the flags in the message."""
    fields = {f.name for f in dataclasses.fields(cls)}
    names = {k: flag(k) for k in fields} | dict(flags or {})
    validate.check_fields(values, constraints, error=error, names=names)
    return cls(**values)


def with_options(fixed: list[inspect.Parameter], options: Mapping[str, inspect.Parameter]) -> inspect.Signature:
    """The signature of a command: its own parameters, then the generated options."""
    return inspect.Signature(fixed + list(options.values()))
