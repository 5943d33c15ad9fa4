"""The ``ntpgeom`` command line: a thin Typer shell over the public API.

Each sub-module of this package registers one command group (``register(app)``); :func:`main` imports only the
module of the command it runs (:data:`COMMANDS`). Errors are handled once, here, for
every command (:class:`_Root`): a user mistake (:class:`~ntpgeom.errors.NTPGeomError`), an option that does not parse
(``-T nan``, ``--model bogus``) and an ``OSError`` all become ONE line ``error: ...`` on stderr and exit code 2;
Ctrl-C exits 130. While a command runs, the files it reads are protected from its own outputs
(:func:`ntpgeom._io.guard_inputs`: ``solve d.npz -o d.npz`` is refused).
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from .._io import guard_inputs, os_reason
from ..errors import NTPGeomError


class _Root(TyperGroup):
    """The root command group: runs a command in non-standalone mode and reports every failure as one line."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            with guard_inputs():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # click's errors (typer vendors click): usage, bad option values
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `ntpgeom` or `ntpgeom data`: the help text
                exc.show()
                sys.exit(2)
            sys.exit(_fail(_usage_message(exc)))
        except NTPGeomError as exc:
            sys.exit(_fail(str(exc)))
        except typer.Abort:
            sys.exit(_fail("aborted", 130))
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # stdout closed early (`| head`): nothing to report
                sys.exit(1)
            where = f"{exc.filename}: " if exc.filename else ""
            sys.exit(_fail(f"{where}{os_reason(exc)}"))
        sys.exit(rv if isinstance(rv, int) else 0)


def _untyped_flags() -> None:
    """Typer (>= 0.2x) labels every flag ``<bool>`` in the help, though a flag takes no value: show no type for
    flags (``--resume``, ``--svg/--no-svg``, ``--help``); options with values keep theirs (``<int>``, ``<path>``)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "untyped_flags", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich.untyped_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _usage_message(exc: Any) -> str:
    msg = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        msg += f" (see `{ctx.command_path} --help`)"
    return msg


def _fail(message: str, code: int = 2) -> int:
    first = " ".join(str(message).split()) or "failed"
    print(f"error: {first}", file=sys.stderr)
    return code


def _print_version(ctx: typer.Context, _param: Any, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from .. import __version__

    typer.echo(f"ntpgeom {__version__}")
    ctx.exit(0)


def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 expose_value=True, callback=_print_version),
) -> None:
    """ntpgeom: data → theory (L_in, L_mm, S̃) → training → metrics → reports."""


def _new_app() -> typer.Typer:
    app = typer.Typer(
        name="ntpgeom",
        cls=_Root,
        help="The implicit geometry of next-token prediction: data, theory, training, metrics and reports.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    return app


#: command -> (the command module that defines it with ``register(app)``, its line in ``ntpgeom --help``), in the
#: order of --help. The command line imports only the module of the command it runs (a command module imports its
#: layers: ``theory`` imports PyTorch, ``report`` matplotlib); the other commands appear in --help by these lines
#: (tests/cli/test_root.py checks them against the commands' own help).
COMMANDS = {
    "solve": ("theory", "Solve NTP-SVM* (L_mm) with a duality-gap certificate and report the predicted geometry."),
    "path": ("theory", "Solve min CE(L) + λ‖L‖_* along λ (warm starts) and track the convergence predicted by "
                       "Thms 1-2."),
    "train": ("train", "Train a model on NTP data, snapshotting W, H and L at log-spaced steps into a run folder."),
    "report": ("report", "Measure runs against the theory and write a self-contained HTML report with a verdict "
                         "table."),
    "reproduce": ("report", "Reproduce the paper's experiments end to end; print the verdict table and the report "
                            "path."),
    "probe": ("probe", "Probe a pretrained causal LM: does it show the predicted sparse plus low-rank geometry on a "
                       "real text?"),
    "data": ("data", "Build, generate and inspect NTP datasets (contexts x next-token counts)."),
}


def _not_loaded() -> None:  # pragma: no cover - a listed command runs only once its module is registered
    raise RuntimeError("command module not loaded")


def build_app(modules: Any = None) -> typer.Typer:
    """The root app with the command modules ``modules`` registered (all when None); every other command is listed
    in --help by its line in :data:`COMMANDS` and not imported."""
    app = _new_app()
    done: set[str] = set()
    for name, (module, line) in COMMANDS.items():
        if modules is None or module in modules:
            if module not in done and importlib.util.find_spec(f"{__name__}.{module}") is not None:
                importlib.import_module(f"{__name__}.{module}").register(app)
            done.add(module)
        else:
            app.command(name, help=line)(_not_loaded)
    return app


def __getattr__(name: str) -> Any:
    """``ntpgeom.cli.app``: the root app with every command registered (built on first use)."""
    if name == "app":
        globals()["app"] = app = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_untyped_flags()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (see :class:`_Root` for how errors are reported). Registers only the command module of
    the command named (the first argument that is not an option): ``ntpgeom data build`` and ``ntpgeom --help``
    import neither PyTorch nor matplotlib."""
    args = sys.argv[1:] if argv is None else argv
    named = next((a for a in args if not a.startswith("-")), None)
    build_app({COMMANDS[named][0]} if named in COMMANDS else set())(args=argv)
