"""The models trained on NTP data (theory.md §2, §6), each readable in one sitting, in the spirit of nanoGPT.

Every model maps the m distinct contexts to context embeddings ``H`` (one d-vector per context) and has an output
(unembedding) layer ``W`` (V x d) with an optional bias ``b`` (V,), so that the logits are ``L = W H (+ b 1ᵀ)``.

Layout inside the models is row-major for speed: :meth:`NTPModel.features` returns ``Hᵀ`` (batch x d) and
:meth:`NTPModel.logits` returns ``Lᵀ`` (batch x V). The snapshot writer transposes to the paper's orientation.

- :class:`UFM`: free W and H (the unconstrained-features model).
- :class:`Transformer`: decoder-only, pre-norm RMSNorm, SwiGLU MLP, causal multi-head attention, positional encoding
  ``none`` (the paper's default) | ``rope`` | ``learned``; H = final-norm output at the last position.
- :class:`LSTM`: token embedding + multi-layer LSTM; H = last hidden state of the top layer (optionally RMS-normalised).
- :class:`MLP`: concatenated token embeddings through a stack of GELU layers; H = output of the last layer.
- :class:`Linear`: a head W on frozen features H (d x m, given; a buffer, never trained): L = W H.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MODELS, POSITIONAL, UFM_INITS, TrainConfig, swiglu_hidden
from .tree import PrefixTree

__all__ = ["MODELS", "POSITIONAL", "UFM_INITS", "NTPModel", "UFM", "Linear", "Transformer", "LSTM", "MLP", "PrefixTree",
           "build_model", "swiglu_hidden"]


class NTPModel(nn.Module):
    """Base class: an output layer ``W`` (V x d, optional bias) on top of context features ``Hᵀ`` (batch x d).

    With ``bottleneck = k`` a linear layer (no bias) maps the d features to k first: then ``W`` is V x k and the
    context embeddings ``H`` are the k-dimensional outputs of that layer (App. D.4: d below V).
    """

    def __init__(self, V: int, d: int, bias: bool, bottleneck: int | None = None) -> None:
        super().__init__()
        self.V, self.d, self.has_bias = V, d, bias
        self.proj = None if bottleneck is None else nn.Linear(d, bottleneck, bias=False)
        self.out = nn.Linear(d if bottleneck is None else bottleneck, V, bias=bias)

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``Hᵀ`` for the contexts ``idx`` (all m when None), shape (batch, d)."""
        raise NotImplementedError

    def logits(self, idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Hᵀ, Lᵀ)`` for the contexts ``idx``: shapes (batch, d) and (batch, V), ``Lᵀ = Hᵀ Wᵀ (+ b)``."""
        Ht = self.features(idx)
        if self.proj is not None:
            Ht = self.proj(Ht)
        return Ht, self.out(Ht)

    @property
    def W(self) -> torch.Tensor:
        """The unembedding matrix, shape (V, d)."""
        return self.out.weight


# ----------------------------------------------------------------------------------------------------------- UFM
class UFM(NTPModel):
    """Unconstrained features: free parameters ``W`` (V x d) and ``H`` (d x m).

    ``init="normal"``: every entry of W and H ~ N(0, init_scale²) (small Gaussian; the default scale 0.1).
    ``init="lecun"``: W ~ N(0, 1/d) (LeCun for a d-input layer) and H ~ N(0, 1), so logits start with unit scale.
    """

    def __init__(self, V: int, m: int, d: int, bias: bool = False, init: str = "normal", init_scale: float = 0.1) -> None:
        super().__init__(V, d, bias)
        self.m = m
        self.H = nn.Parameter(torch.empty(d, m))
        with torch.no_grad():
            if init == "normal":
                self.out.weight.normal_(0.0, init_scale)
                self.H.normal_(0.0, init_scale)
            else:  # lecun
                self.out.weight.normal_(0.0, 1.0 / math.sqrt(d))
                self.H.normal_(0.0, 1.0)
            if bias:
                self.out.bias.zero_()

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        Ht = self.H.t()
        return Ht if idx is None else Ht[idx]


# -------------------------------------------------------------------------------------------------------- Linear
class Linear(NTPModel):
    """A linear head ``W`` (V x d) on frozen features ``H`` (d x m): ``L = W H`` (Thrampoulidis, NeurIPS 2024).

    ``H`` is a non-persistent buffer (it moves with ``.to`` but is never trained nor checkpointed: the run folder
    keeps it as ``features.npy``). ``init="normal"``: W ~ N(0, init_scale²); ``"lecun"``: W ~ N(0, 1/d).
    """

    def __init__(self, H: torch.Tensor, V: int, bias: bool = False, init: str = "normal",
                 init_scale: float = 0.1) -> None:
        super().__init__(V, H.shape[0], bias)
        self.m = H.shape[1]
        self.register_buffer("H", H, persistent=False)
        with torch.no_grad():
            self.out.weight.normal_(0.0, init_scale if init == "normal" else 1.0 / math.sqrt(self.d))
            if bias:
                self.out.bias.zero_()

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        Ht = self.H.t()
        return Ht if idx is None else Ht[idx]


# --------------------------------------------------------------------------------------------------- Transformer
class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned gain."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rope_tables(T: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # (T, head_dim/2)
    return torch.cos(ang), torch.sin(ang)


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x[..., 2i], x[..., 2i+1]) of x (batch, heads, T, head_dim) by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (no bias), optional rotary position encoding."""

    def __init__(self, d: int, heads: int, rope: bool, T: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.rope = rope
        if rope:
            cos, sin = _rope_tables(T, self.head_dim)
            self.register_buffer("cos", cos.float(), persistent=False)
            self.register_buffer("sin", sin.float(), persistent=False)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(B, T, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if self.rope:
            cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
            q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        if last_only:  # the last position attends to every position: no mask needed
            y = F.scaled_dot_product_attention(q[:, :, -1:], k, v)
            return self.proj(y.transpose(1, 2).reshape(B, 1, d))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, d))

    def forward_tree(self, x: torch.Tensor, tree: PrefixTree, queries: torch.Tensor | None) -> torch.Tensor:
        """Attention over a prefix tree: x (N, d) holds one row per distinct prefix; each node attends to its
        ancestors (itself included). ``queries``: the node ids that need an output (None: all)."""
        N, d = x.shape
        h, hd = self.heads, self.head_dim
        q, k, v = self.qkv(x).split(d, dim=1)
        q, k, v = q.view(N, h, hd), k.view(N, h, hd), v.view(N, h, hd)
        if self.rope:
            cos, sin = self.cos[tree.depth].to(x.dtype)[:, None], self.sin[tree.depth].to(x.dtype)[:, None]
            q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        anc, valid = (tree.anc, tree.valid) if queries is None else (tree.anc[queries], tree.valid[queries])
        if queries is not None:
            q = q[queries]
        K, Vv = k[anc], v[anc]  # (n, T, h, hd): keys and values of each query's ancestors
        att = torch.einsum("nhe,nthe->nht", q, K) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(~valid[:, None, :], float("-inf")).softmax(dim=-1)
        y = torch.einsum("nht,nthe->nhe", att, Vv).reshape(-1, d)
        return self.proj(y)


class SwiGLU(nn.Module):
    """Gated MLP: ``down(silu(gate(x)) * up(x))``, hidden width ``hidden``."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.gate_up = nn.Linear(d, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(g) * u)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))`` then ``x + mlp(norm(x))``."""

    def __init__(self, d: int, heads: int, hidden: int, rope: bool, T: int) -> None:
        super().__init__()
        self.norm1, self.attn = RMSNorm(d), CausalSelfAttention(d, heads, rope, T)
        self.norm2, self.mlp = RMSNorm(d), SwiGLU(d, hidden)

    def forward(self, x: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        a = self.attn(self.norm1(x), last_only)
        x = (x[:, -1:] if last_only else x) + a
        return x + self.mlp(self.norm2(x))

    def forward_tree(self, x: torch.Tensor, tree: PrefixTree, queries: torch.Tensor | None) -> torch.Tensor:
        a = self.attn.forward_tree(self.norm1(x), tree, queries)
        x = (x if queries is None else x[queries]) + a
        return x + self.mlp(self.norm2(x))


class Transformer(NTPModel):
    """Decoder-only transformer over the contexts (m x (T-1) ids into the input vocabulary).

    H is the final-RMSNorm output at the last position. The last block only computes the last position (its keys and
    values still see every position), which is exact and saves about a fifth of the work.
    """

    def __init__(self, contexts: torch.Tensor, input_vocab: int, V: int, d: int, layers: int = 4, heads: int = 4,
                 hidden: int | None = None, positional: str = "none", bias: bool = False, tree: bool = True,
                 lengths: torch.Tensor | None = None, bottleneck: int | None = None) -> None:
        super().__init__(V, d, bias, bottleneck)
        self.register_buffer("contexts", contexts, persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.tree = PrefixTree(contexts, lengths) if tree else None
        T = contexts.shape[1]
        self.embed = nn.Embedding(input_vocab, d)
        self.pos = nn.Parameter(torch.zeros(T, d)) if positional == "learned" else None
        hidden = hidden or swiglu_hidden(d)
        self.blocks = nn.ModuleList(Block(d, heads, hidden, positional == "rope", T) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.apply(self._init)

    @staticmethod
    def _init(mod: nn.Module) -> None:
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, 0.0, 0.02)
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.Embedding):
            nn.init.normal_(mod.weight, 0.0, 0.02)

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        if idx is None and self.tree is not None:
            return self.features_tree()
        ctx = self.contexts if idx is None else self.contexts[idx]
        x = self.embed(ctx)
        if self.pos is not None:
            x = x + self.pos
        n = len(self.blocks)
        if self.lengths is not None:  # variable lengths (left-aligned): the output at each context's last token
            for block in self.blocks:
                x = block(x)
            lens = self.lengths if idx is None else self.lengths[idx]
            return self.norm(x[torch.arange(len(x), device=x.device), lens - 1])
        for i, block in enumerate(self.blocks):
            x = block(x, last_only=(i == n - 1))
        return self.norm(x[:, -1])

    def features_tree(self) -> torch.Tensor:
        """``Hᵀ`` of all m contexts computed once per distinct prefix (exactly equal to the dense path)."""
        tree = self.tree
        x = self.embed(tree.tokens)
        if self.pos is not None:
            x = x + self.pos[tree.depth]
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            x = block.forward_tree(x, tree, tree.leaf if i == n - 1 else None)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------------------- LSTM
class LSTM(NTPModel):
    """Token embedding + ``layers``-layer LSTM of width d; H = top layer's last hidden state (RMS-normalised if
    ``norm``)."""

    def __init__(self, contexts: torch.Tensor, input_vocab: int, V: int, d: int, layers: int = 2,
                 norm: bool = False, bias: bool = False, tree: bool = True, lengths: torch.Tensor | None = None,
                 bottleneck: int | None = None) -> None:
        super().__init__(V, d, bias, bottleneck)
        self.register_buffer("contexts", contexts, persistent=False)
        self.register_buffer("lengths", lengths, persistent=False)
        self.embed = nn.Embedding(input_vocab, d)
        self.lstm = nn.LSTM(d, d, num_layers=layers, batch_first=True)
        self.norm = RMSNorm(d) if norm else None
        self.tree = PrefixTree(contexts, lengths) if tree else None

    def features_tree(self) -> torch.Tensor:
        """``Hᵀ`` of all m contexts with one LSTM cell step per distinct prefix (equal to the dense path).

        Same weights as ``self.lstm`` (PyTorch gate order i, f, g, o); depth by depth, each node continues from its
        parent's state.
        """
        tree = self.tree
        x = self.embed(tree.tokens)  # (N, d): input of layer 0 at every node
        for layer in range(self.lstm.num_layers):
            w_ih, w_hh = getattr(self.lstm, f"weight_ih_l{layer}"), getattr(self.lstm, f"weight_hh_l{layer}")
            b = getattr(self.lstm, f"bias_ih_l{layer}") + getattr(self.lstm, f"bias_hh_l{layer}")
            xw = F.linear(x, w_ih, b)  # input projection of every node at once
            hs: list[torch.Tensor] = []
            h = c = None
            for t in range(len(tree.starts) - 1):
                g = xw[tree.starts[t]:tree.starts[t + 1]]
                if t:
                    h, c = h[tree.parent[t]], c[tree.parent[t]]
                    g = g + F.linear(h, w_hh)
                i, f, gg, o = g.chunk(4, dim=1)
                c = torch.sigmoid(i) * torch.tanh(gg) if t == 0 else torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
                h = torch.sigmoid(o) * torch.tanh(c)
                hs.append(h)
            x = torch.cat(hs)
        h = x[tree.leaf]
        return self.norm(h) if self.norm is not None else h

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        if idx is None and self.tree is not None:
            return self.features_tree()
        ctx = self.contexts if idx is None else self.contexts[idx]
        if self.lengths is not None:  # variable lengths (left-aligned): the top layer's output at the last token
            y, _ = self.lstm(self.embed(ctx))
            lens = self.lengths if idx is None else self.lengths[idx]
            h = y[torch.arange(len(y), device=y.device), lens - 1]
        else:
            _, (h, _) = self.lstm(self.embed(ctx))
            h = h[-1]
        return self.norm(h) if self.norm is not None else h


# ----------------------------------------------------------------------------------------------------------- MLP
class MLP(NTPModel):
    """Concatenated token embeddings ((T-1) x d) through ``layers`` Linear+GELU layers of width d; H = last output."""

    def __init__(self, contexts: torch.Tensor, input_vocab: int, V: int, d: int, layers: int = 2,
                 bias: bool = False, bottleneck: int | None = None) -> None:
        super().__init__(V, d, bias, bottleneck)
        self.register_buffer("contexts", contexts, persistent=False)
        T = contexts.shape[1]
        self.embed = nn.Embedding(input_vocab, d)
        dims = [T * d] + [d] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def features(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        ctx = self.contexts if idx is None else self.contexts[idx]
        x = self.embed(ctx).flatten(1)
        for lin in self.layers:
            x = F.gelu(lin(x))
        return x


def build_model(cfg: TrainConfig, data: Any, device: torch.device | str = "cpu",
                features: Any = None) -> NTPModel:
    """Construct the model ``cfg`` (a resolved :class:`~ntpgeom.train.config.TrainConfig`: ``model``, ``d``,
    ``layers``, ``heads``, ``hidden``, ``positional``, ``bias``, ``init``, ``init_scale``, ``lstm_norm``, ``tree``,
    ``bottleneck``) describes for ``data`` (an :class:`~ntpgeom.data.NTPData`); arguments already validated.

    Parameters are created on the CPU (so that a seed gives the same initialisation on every device); move the
    model with ``.to(device, dtype)``. The context ids (and the transformer's prefix tree) live on ``device``.
    Data with ``context_lengths`` (contexts of several lengths, left-aligned and padded) gives the transformer and
    the LSTM each context's output at its own last token (exact: the models are causal); the MLP sees the padding.
    ``features``: the frozen H (d x m array) of ``model="linear"`` (:mod:`ntpgeom.train.features` checks it).
    """
    kind, d, layers, bias, tree, bottleneck = cfg.model, cfg.d, cfg.layers, cfg.bias, cfg.tree, cfg.bottleneck
    if kind == "ufm":
        return UFM(data.V, data.m, d, bias=bias, init=cfg.init, init_scale=cfg.init_scale)
    if kind == "linear":
        return Linear(torch.as_tensor(features, dtype=torch.float64), data.V, bias=bias, init=cfg.init,
                      init_scale=cfg.init_scale)
    ctx = torch.tensor(data.contexts, dtype=torch.long, device=device)
    nin = len(data.input_vocab)
    lens = getattr(data, "context_lengths", None)
    lens = None if lens is None else torch.tensor(lens, dtype=torch.long, device=device)
    if kind == "transformer":
        return Transformer(ctx, nin, data.V, d, layers=layers, heads=cfg.heads, hidden=cfg.hidden,
                           positional=cfg.positional, bias=bias, tree=tree, lengths=lens, bottleneck=bottleneck)
    if kind == "lstm":
        return LSTM(ctx, nin, data.V, d, layers=layers, norm=cfg.lstm_norm, bias=bias, tree=tree, lengths=lens,
                    bottleneck=bottleneck)
    return MLP(ctx, nin, data.V, d, layers=layers, bias=bias, bottleneck=bottleneck)
