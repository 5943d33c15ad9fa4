"""The safety tests' way to run the command line: exit code, stdout, stderr; and the one-error-line check."""

from __future__ import annotations

import pytest

from ntpgeom.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def one_error(code, err, *needles):
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for n in needles:
        assert n in err, err
