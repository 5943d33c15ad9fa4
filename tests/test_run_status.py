"""RunStatus / StopReason: str enums, so run folders written with them read byte for byte as with bare strings."""

from __future__ import annotations

import json

import pytest

from ntpgeom.report.result import unfinished_reason
from ntpgeom.status import RunStatus, StopReason

# the vocabulary documented in train/run.py (config.json's status and stop_reason)
STATUSES = ("running", "done", "stopped", "interrupted", "failed")
REASONS = ("max_steps", "tol", "interrupted", "nonfinite", "write_failed")


@pytest.mark.parametrize("enum, words", [(RunStatus, STATUSES), (StopReason, REASONS)])
def test_members_are_the_documented_words_and_serialise_as_them(enum, words):
    assert [m.value for m in enum] == list(words)
    for m, w in zip(enum, words):
        assert m == w and enum(w) is m and str(m) == w and f"{m}" == w and f"{m:>12}" == f"{w:>12}"
        assert json.dumps({"status": m}, sort_keys=True, indent=2) == json.dumps({"status": w}, sort_keys=True, indent=2)
    assert [m for m in RunStatus if m.finished] == [RunStatus.DONE]


def test_unfinished_reason_reads_bare_strings_and_enums_alike():
    for status in (RunStatus.DONE, "done"):
        assert unfinished_reason({"status": status, "stop_reason": "tol", "final_step": 5}) is None
    assert unfinished_reason({"status": "interrupted", "stop_reason": StopReason.INTERRUPTED, "final_step": 7}) == \
        "run interrupted at step 7"
    assert "non-finite" in unfinished_reason({"status": RunStatus.STOPPED, "stop_reason": "nonfinite", "final_step": 3})
    assert unfinished_reason({"status": "running", "stop_reason": None, "final_step": 2}) == \
        "run not finished (status 'running' at step 2)"


def test_a_trained_run_writes_the_plain_words(tmp_path):
    pytest.importorskip("torch")
    import ntpgeom
    from ntpgeom import corpora

    run = ntpgeom.train(corpora.synthetic(), model="ufm", steps=3, out=tmp_path / "r", seed=0)
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (cfg["status"], cfg["stop_reason"]) == ("done", "max_steps") and run.status == RunStatus.DONE
    assert '"status": "done"' in (tmp_path / "r" / "config.json").read_text()
