"""Training's progress: the ProgressBar adapter and ``train(verbose=True)``."""

from __future__ import annotations

import io

import pytest

from ntpgeom.progress import ProgressBar
from ntpgeom.train.progress import training_callback


def test_training_callback_shows_gap_and_norm() -> None:
    out = io.StringIO()
    with ProgressBar("lstm", kind="rich", stream=out) as bar:
        cb = training_callback(bar)
        for k in (0, 5, 10):
            cb("train", k, 10, {"gap": 0.5 / (k + 1), "norm_L": float(k)})
    text = out.getvalue()
    assert "lstm" in text and "10/10" in text and "CE-H 4.545e-02" in text


def test_train_verbose_shows_progress(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    import ntpgeom as g

    g.train(g.corpora.synthetic(), model="ufm", steps=20, log_every=10, out=tmp_path / "r", verbose=True)
    err = capsys.readouterr().err
    assert "ufm: step 20/20" in err and "CE-H" in err
