"""The prefix tree of a set of contexts: each distinct prefix once, for exact deduplicated causal computation."""

from __future__ import annotations

import numpy as np
import torch


class PrefixTree:
    """The distinct prefixes of a set of equal-length contexts, for exact deduplicated causal computation.

    In a causal model the hidden state at position t depends only on the prefix x_1..x_t, so contexts that share a
    prefix share those states. Nodes are the distinct prefixes (ordered by depth); ``tokens[i]`` is the last token of
    node i, ``depth[i]`` its length - 1, ``anc[i, s]`` its ancestor at depth s (valid for s <= depth[i], flagged by
    ``valid``), ``leaf[j]`` the node of full context j. On the built-in stories corpus this is 997 nodes instead of
    2065 positions.
    """

    def __init__(self, contexts: torch.Tensor, lengths: torch.Tensor | None = None) -> None:
        ctx = contexts.cpu().numpy()
        m, T = ctx.shape
        lens = np.full(m, T) if lengths is None else lengths.cpu().numpy().astype(np.int64)
        node_of = np.zeros((m, T), dtype=np.int64)  # entries at t >= lens[j] stay 0 (never valid)
        tokens, depth, off = [], [], 0
        for t in range(T):
            rows = np.flatnonzero(lens > t)
            if not len(rows):
                break
            _, first, inv = np.unique(ctx[rows, : t + 1], axis=0, return_index=True, return_inverse=True)
            node_of[rows, t] = off + inv.ravel()
            tokens.append(ctx[rows[first], t])
            depth.append(np.full(len(first), t))
            off += len(first)
        real = np.arange(T)[None, :] < lens[:, None]
        anc = np.zeros((off, T), dtype=np.int64)
        anc[node_of[real]] = np.repeat(node_of, T, axis=0)[real.ravel()]
        depth_all = np.concatenate(depth)
        dev = contexts.device
        self.tokens = torch.as_tensor(np.concatenate(tokens), device=dev)
        self.depth = torch.as_tensor(depth_all, device=dev)
        self.anc = torch.as_tensor(anc, device=dev)
        self.valid = torch.as_tensor(np.arange(T)[None, :] <= depth_all[:, None], device=dev)
        self.leaf = torch.as_tensor(node_of[np.arange(m), lens - 1].copy(), device=dev)
        self.n_nodes = off
        # nodes are ordered by depth: depth t occupies [starts[t], starts[t+1]); parent[t] indexes depth t-1 locally
        starts = np.concatenate([[0], np.cumsum([len(x) for x in tokens])])
        self.starts = starts.tolist()
        self.parent = [None] + [torch.as_tensor(anc[starts[t]:starts[t + 1], t - 1] - starts[t - 1], device=dev)
                                for t in range(1, T)]
