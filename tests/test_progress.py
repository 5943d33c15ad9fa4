"""The progress display behind ``verbose=True`` and the CLI bars: which kind is chosen, and what each kind shows."""

from __future__ import annotations

import importlib.util
import io
import sys
import types

import pytest

from ntpgeom.progress import ProgressBar, display_kind, in_notebook


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fake_ipython(monkeypatch: pytest.MonkeyPatch, shell_name: str | None) -> None:
    mod = types.ModuleType("IPython")
    shell = None if shell_name is None else type(shell_name, (), {})()
    mod.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", mod)


def test_kind_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()
    assert display_kind(io.StringIO()) == "lines"
    assert display_kind(_Tty()) == "rich"
    _fake_ipython(monkeypatch, "TerminalInteractiveShell")  # plain IPython in a terminal is not a notebook
    assert not in_notebook() and display_kind(_Tty()) == "rich"
    _fake_ipython(monkeypatch, "ZMQInteractiveShell")
    assert in_notebook()
    expected = "notebook" if importlib.util.find_spec("tqdm") else "lines"
    assert display_kind(io.StringIO()) == expected


def test_lines_are_rate_limited_and_the_last_one_always_shown() -> None:
    out = io.StringIO()
    bar = ProgressBar("ufm", kind="lines", stream=out, every_seconds=3600)
    for k in range(1, 11):
        bar.update(k, 10, f"x {k}")
    bar.close()
    bar.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert lines == ["ufm: step 1/10  x 1", "ufm: step 10/10  x 10"]


@pytest.mark.skipif(importlib.util.find_spec("tqdm") is None, reason="tqdm is not installed")
def test_notebook_bar_is_tqdm_and_resumes_from_done() -> None:
    out = io.StringIO()
    bar = ProgressBar("transformer", kind="notebook", stream=out)
    bar.update(40, 100, "CE-H 1e-3")  # a resumed run starts at step 40
    assert "40/100" in out.getvalue() and "0/100" not in out.getvalue().replace("40/100", "")
    bar.update(100, 100, "CE-H 1e-4")
    bar.close()
    assert "100/100" in out.getvalue() and "CE-H 1e-4" in out.getvalue()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        ProgressBar(kind="gui")


def test_rich_bar_ends_at_the_last_step() -> None:
    out = io.StringIO()
    with ProgressBar("lstm", kind="rich", stream=out) as bar:
        for k in (0, 5, 10):
            bar.update(k, 10, f"x {k}")
    text = out.getvalue()
    assert "lstm" in text and "10/10" in text and "x 10" in text
