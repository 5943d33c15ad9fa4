"""The ``ntpgeom`` command's entry point (``[project.scripts]`` in pyproject.toml).

It lives outside the ``ntpgeom`` package on purpose: a console script imports its module's package first, and
``import ntpgeom`` (NumPy, SciPy, the data layer) takes long enough for a Ctrl-C to land in it, which then printed a
``KeyboardInterrupt`` traceback before any ntpgeom code could catch it. Here the whole import happens inside the
``try``: Ctrl-C while the command starts is one line and exit code 130 (as ``python -m ntpgeom`` does once its
package is imported, :mod:`ntpgeom.__main__`).
"""

import sys

INTERRUPTED = "error: interrupted while starting; nothing was done"


def main(argv: "list[str] | None" = None) -> None:
    """Import the command line (:func:`ntpgeom.cli.main`), then run it; Ctrl-C during the import exits 130."""
    try:
        from ntpgeom.cli import main as cli_main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        raise SystemExit(130) from None
    cli_main(argv)


if __name__ == "__main__":
    main()
