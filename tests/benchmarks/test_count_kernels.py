"""benchmarks/count_kernels.py: the alternative counting kernels the scale benchmark compares (not in the package)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "count_kernels.py"
_spec = importlib.util.spec_from_file_location("count_kernels", _PATH)
ck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ck)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**40 - 1), min_size=1, max_size=300), st.integers(1, 12))
def test_partitioned_counting_equals_one_sort_and_a_counter(keys, bucket_bits):
    k = np.array(keys, dtype=np.uint64)
    u1, c1 = ck.count_keys_sort(k)
    u2, c2 = ck.count_keys_partitioned(k, 40, bucket_bits)
    assert np.array_equal(u1, u2) and np.array_equal(c1, c2)
    assert dict(zip(u1.tolist(), c1.tolist())) == Counter(keys)


def test_the_package_no_longer_ships_them():
    import ntpgeom.data.engines.kernel as kernel

    assert not any(hasattr(kernel, n) for n in ("count_keys_sort", "count_keys_partitioned", "run_lengths"))
