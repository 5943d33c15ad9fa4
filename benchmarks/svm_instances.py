"""Support patterns for the large NTP-SVM* benchmarks (numpy + scipy only, so the GPU check runs anywhere).

``zipf_supports(V, m, n_supports)``: a pool of ``n_supports`` distinct supports whose tokens are drawn without
replacement with Zipf(a) popularity (token z has weight 1/(z+1)^a), support sizes k on 1..kmax with P(k) ∝ 1/k, and
the m contexts assigned to the pool with Zipf(a) frequencies (every pool member used at least once) — frequent
tokens in many supports, a few supports shared by many contexts, as in real next-token data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def zipf_supports(V: int, m: int, n_supports: int, kmax: int = 16, a: float = 1.0, seed: int = 0) -> sp.csc_array:
    """0/1 support matrix, shape (V, m), with exactly ``n_supports`` distinct columns (see the module docstring)."""
    if not (2 <= kmax <= V and 1 <= n_supports <= m):
        raise ValueError(f"need 2 <= kmax <= V and 1 <= n_supports <= m, got V={V}, m={m}, n={n_supports}, kmax={kmax}")
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, V + 1) ** a
    w /= w.sum()
    ks = np.arange(1, kmax + 1)
    pk = 1.0 / ks
    pk /= pk.sum()
    pool: dict[tuple[int, ...], None] = {}
    while len(pool) < n_supports:
        k = int(rng.choice(ks, p=pk))
        pool.setdefault(tuple(sorted(rng.choice(V, size=k, replace=False, p=w).tolist())), None)
    supports = list(pool)
    f = 1.0 / np.arange(1, n_supports + 1) ** a
    f /= f.sum()
    assign = np.concatenate([np.arange(n_supports), rng.choice(n_supports, size=m - n_supports, p=f)])
    rng.shuffle(assign)
    sizes = np.array([len(supports[i]) for i in assign])
    rows = np.concatenate([supports[i] for i in assign])
    cols = np.repeat(np.arange(m), sizes)
    return sp.csc_array((np.ones(len(rows)), (rows, cols)), shape=(V, m))
