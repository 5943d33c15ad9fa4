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


# ----------------------------------------------------------------------------------- the one progress protocol
def _entry_points():
    import ntpgeom
    from ntpgeom.data.engines import build_corpus
    from ntpgeom.data.tokenize import encode
    from ntpgeom.metrics import run_metrics
    from ntpgeom.report import build_report

    out = [("train", ntpgeom.train), ("from_text", ntpgeom.from_text), ("build_corpus", build_corpus),
           ("encode", encode), ("run_metrics", run_metrics), ("build_report", build_report)]
    if importlib.util.find_spec("transformers") is not None:
        from ntpgeom.probe.extract import extract
        from ntpgeom.probe.run import probe

        out += [("probe", probe), ("extract", extract)]
    return out


def test_every_progress_parameter_is_the_one_protocol() -> None:
    import inspect

    for name, fn in _entry_points():
        ann = inspect.signature(fn).parameters["progress"].annotation
        text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
        assert text.replace(" ", "") in ("Progress|None", "Optional[Progress]", "Progress"), (name, ann)


def test_protocol_members_accept_every_call_shape() -> None:
    from ntpgeom.progress import Progress, from_counts, from_messages, printer, silent

    counts, messages, out = [], [], io.StringIO()
    callbacks = [silent, printer(out), from_counts(lambda d, t: counts.append((d, t))), from_messages(messages.append),
                 ProgressBar("x", kind="lines", stream=out, every_seconds=0)]
    for cb in callbacks:
        assert isinstance(cb, Progress)
        cb("reading")
        cb("train", 2, 5)
        cb("train", 5, 5, {"gap": 0.25, "norm_L": 3.0})
    assert counts == [(2, 5), (5, 5)] and messages == ["reading", "train", "train"]
    lines = out.getvalue().splitlines()
    assert [ln.split("] ", 1)[1] for ln in lines[:3]] == ["reading", "train 2/5", "train 5/5"]  # printer
    assert lines[3:] == ["x: step 2/5", "x: step 5/5  gap 0.25  norm_L 3"]  # the bar: counted calls, numbers beside


def test_training_callback_ignores_uncounted_calls() -> None:
    from ntpgeom.train.progress import training_callback

    out = io.StringIO()
    cb = training_callback(ProgressBar("ufm", kind="lines", stream=out, every_seconds=0))
    cb("loading")
    cb("train", 3, 3, {"gap": 1e-3, "norm_L": 2.0})
    assert out.getvalue().splitlines() == ["ufm: step 3/3  CE-H 1.000e-03  |L| 2"]
