"""The ``ntpgeom`` command line: a thin Typer shell over the public API.

Each sub-module of this package registers one command group (``register(app)``); user mistakes
(:class:`~ntpgeom.errors.NTPGeomError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer

from ..errors import NTPGeomError

app = typer.Typer(
    name="ntpgeom",
    help="The implicit geometry of next-token prediction: data, theory, training, metrics and reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# command modules, in the order their groups appear in --help; each defines register(app)
_COMMAND_MODULES = ("data", "theory", "train", "report", "probe")


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            importlib.import_module(f"{__name__}.{name}").register(app)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """ntpgeom: data → theory (L_in, L_mm, S̃) → training → metrics → reports."""
    if version:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit()


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, mapping user errors to exit code 2 and one line on stderr."""
    try:
        app(args=argv, standalone_mode=True)
    except NTPGeomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
