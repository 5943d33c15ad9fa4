"""Alternative counting kernels compared by ``bench_scale.py kernel`` (numpy only; not part of the package).

ntpgeom counts windows with ``ntpgeom.data.windows.count_packed`` (packed keys, one sort; ``from_tokens`` and the
streaming engines' ``window_table`` both call it); these two reductions of uint64 keys are the alternatives the benchmark measures against it: one full sort
(:func:`count_keys_sort`) and partition-then-sort (:func:`count_keys_partitioned`). Moved here from
``ntpgeom.data.engines.kernel``, where nothing used them (tests/benchmarks/test_count_kernels.py checks them).
"""

from __future__ import annotations

import numpy as np


def run_lengths(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of a sorted array and their multiplicities."""
    flag = np.empty(len(sorted_keys), dtype=bool)
    flag[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=flag[1:])
    idx = np.flatnonzero(flag)
    return sorted_keys[idx], np.diff(np.append(idx, len(sorted_keys)))


def count_keys_sort(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Count uint64 keys with one full sort."""
    ks = np.sort(keys)
    return run_lengths(ks)


def count_keys_partitioned(keys: np.ndarray, key_bits: int, bucket_bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Count uint64 keys by partition-then-sort: a radix pass on the top ``bucket_bits`` bits (numpy's stable sort
    of uint16 is a counting/radix sort), then a sort of each cache-sized bucket. Same result as
    :func:`count_keys_sort`."""
    shift = np.uint64(max(key_bits - bucket_bits, 0))
    bucket = (keys >> shift).astype(np.uint16)
    order = np.argsort(bucket, kind="stable")
    ks = keys[order]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(bucket, minlength=1 << bucket_bits))])
    for b in np.flatnonzero(np.diff(bounds) > 1):
        ks[bounds[b] : bounds[b + 1]].sort()
    return run_lengths(ks)
