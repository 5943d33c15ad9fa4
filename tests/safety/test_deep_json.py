"""Deeply nested JSON is one clear error wherever ntpgeom reads JSON (issue 24, low): was ``RecursionError``. The one
reader is ``ntpgeom._json.loads_json`` (depth limit, a ``json.JSONDecodeError``), used by every JSON-reading module."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import ntpgeom as g
from ntpgeom._json import MAX_DEPTH, JSONDepthError, json_depth, loads_json
from ntpgeom.errors import FormatError, MetricsError, NTPDataError

SRC = Path(g.__file__).parent
ABYSS = "[" * 200_000 + "]" * 200_000  # deeper than any recursion limit


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def test_loads_json_limits_depth():
    assert loads_json(_deep(MAX_DEPTH)) is not None
    assert json_depth(loads_json('{"a": [1, {"b": []}]}')) == 4 and json_depth(3) == 0
    for text in (_deep(MAX_DEPTH + 1), ABYSS, '{"a":' * 5000 + "1" + "}" * 5000):
        with pytest.raises(JSONDepthError, match="nested"):
            loads_json(text)
    assert issubclass(JSONDepthError, json.JSONDecodeError)


def test_no_module_parses_json_another_way():
    """Every json.loads / json.load under src/ goes through loads_json (round trips of ntpgeom's own objects
    excepted: ``json.loads(json.dumps(...))``)."""
    bad = []
    for f in SRC.rglob("*.py"):
        if f.name == "_json.py":
            continue
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bjson\.loads?\(", line) and "json.loads(json.dumps(" not in line:
                bad.append(f"{f.relative_to(SRC)}:{i}")
    assert not bad, bad


def test_deep_run_config_is_one_format_error(tmp_path):
    run = g.train(g.corpora.synthetic(), model="ufm", steps=2, lr=0.01, optimizer="adam", out=tmp_path / "r")
    (run.path / "config.json").write_text(ABYSS)
    with pytest.raises(FormatError, match="nested"):
        g.load_run(run.path)


def test_deep_probe_summary_is_one_format_error(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "summary.json").write_text(ABYSS)
    from ntpgeom.probe.folder import read_summary  # what load_probe reads once probe.npz verified

    with pytest.raises(FormatError, match="nested"):
        read_summary(tmp_path / "p")


def test_deep_npz_header_is_one_format_error(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, header=np.frombuffer(ABYSS.encode(), dtype=np.uint8))
    with pytest.raises(FormatError, match="header is corrupt.*nested"):
        g.load_theory(path)


def test_deep_metrics_table_is_one_metrics_error(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(ABYSS)
    from ntpgeom.metrics.table_io import load_table

    with pytest.raises(MetricsError, match="nested"):
        load_table(path)


def test_deep_model_config_is_one_probe_error(tmp_path):
    pytest.importorskip("transformers", exc_type=ImportError)
    from ntpgeom.probe import ProbeError
    from ntpgeom.probe.model import check_model_path

    (tmp_path / "config.json").write_text('{"a": ' + ABYSS + "}")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ProbeError, match="nested"):
        check_model_path(tmp_path)


def test_recursion_limit_untouched():
    before = sys.getrecursionlimit()
    with pytest.raises(JSONDepthError):
        loads_json(ABYSS)
    assert sys.getrecursionlimit() == before


def test_deep_jsonl_line_is_one_data_error_naming_the_line(tmp_path):
    src = tmp_path / "deep.jsonl"
    src.write_text('{"ids": [1, 2, 3]}\n{"ids": ' + ABYSS + "}\n")
    from ntpgeom.data.engines import build_corpus

    with pytest.raises(NTPDataError, match=r"deep.jsonl: line 2 is nested too deeply.*nested") as info:
        build_corpus(str(src), context_len=1, ids_column="ids", in_memory=False)
    assert not isinstance(info.value.__cause__, RecursionError)


def test_deep_work_manifest_is_one_data_error(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("the cat sat on the mat\n")
    work = tmp_path / "w"
    work.mkdir()
    (work / "manifest.json").write_text(ABYSS)
    from ntpgeom.data.engines import build_corpus

    with pytest.raises(NTPDataError, match=r"manifest.json is unreadable \(JSON nested.*remove the work folder"):
        build_corpus(str(src), context_len=1, tokenizer="word", work_dir=work)
    assert (work / "manifest.json").read_text() == ABYSS  # nothing replaced


def test_deep_shard_record_means_recount_not_crash(tmp_path):
    from ntpgeom.data.engines.local import WorkDir

    work = WorkDir(tmp_path / "w", {"job": 1})
    work.open()
    work.shard_dir(0).mkdir()
    (work.shard_dir(0) / "record.json").write_text(ABYSS)
    assert work.intact(0) is False
