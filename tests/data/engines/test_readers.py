"""Shard readers: pre-tokenised ids reach numpy exactly (any integer width, sliced arrays) without pandas."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ntpgeom.data.engines.readers import ReadSpec, documents, file_shards, integers


@pytest.mark.parametrize("typ", [pa.int8(), pa.uint16(), pa.int32(), pa.int64(), pa.uint64()])
def test_integers_are_the_values_of_a_sliced_array(typ):
    vals = [0, 1, 7, 100, 3, 2, 5, 9]
    arr = pa.array(vals, type=typ)
    for lo, n in [(0, 8), (3, 4), (5, 0), (7, 1)]:
        got = integers(arr.slice(lo, n))
        assert got.dtype == np.dtype(str(typ)) and got.tolist() == vals[lo : lo + n]


def test_ids_column_read_exactly(tmp_path):
    rows = [[5, 1, 2**40], [], None, [3], [0, 0, 9]]
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"ids": pa.array(rows, type=pa.list_(pa.int64()))}), path)
    values, offsets, nulls = documents(file_shards(path)[0], ReadSpec(ids_column="ids"))
    assert values.tolist() == [5, 1, 2**40, 3, 0, 0, 9] and offsets.tolist() == [0, 3, 3, 3, 4, 7] and nulls == 1


def test_reading_ids_does_not_import_pandas(tmp_path):
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"ids": pa.array([[1, 2], [3]], type=pa.list_(pa.int32()))}), path)
    code = ("import sys\nfrom pathlib import Path\nfrom ntpgeom.data.engines.readers import ReadSpec, documents, "
            "file_shards\nv, o, _ = documents(file_shards(Path(sys.argv[1]))[0], ReadSpec(ids_column='ids'))\n"
            "print(v.tolist(), o.tolist(), 'pandas' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    res = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert res.stdout.split("\n")[0] == "[1, 2, 3] [0, 2, 3] False", res.stderr
