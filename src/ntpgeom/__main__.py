"""``python -m ntpgeom``: same as the ``ntpgeom`` command."""

from .cli import main

main()
