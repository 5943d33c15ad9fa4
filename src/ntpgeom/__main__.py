"""``python -m ntpgeom`` and the ``ntpgeom`` command: start the command line. Ctrl-C while it starts (importing
the libraries takes seconds) is one line and exit code 130, never a traceback."""

import sys


def main(argv: list[str] | None = None) -> None:
    """Console entry point: import the CLI (:func:`ntpgeom.cli.main`), then run it."""
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("error: interrupted while starting; nothing was done", file=sys.stderr)
        sys.exit(130)
    cli_main(argv)


if __name__ == "__main__":
    main()
