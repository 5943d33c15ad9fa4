"""Tiny random causal LMs built offline from a config (Llama-style and GPT-2-style, 2 layers, d = 32), a tiny word-level
tokenizer, and a class-structured corpus whose supports are known in closed form."""

from __future__ import annotations

import os

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"

N_CLASSES, PER_CLASS = 3, 4
WORDS = [f"w{c}{i}" for c in range(N_CLASSES) for i in range(PER_CLASS)]  # class of w<c><i> is c
SPECIAL = ["[UNK]", "[PAD]"]


def word_class(w: str) -> int:
    return int(w[1])


def class_corpus(n_docs: int = 40, doc_len: int = 120, seed: int = 0) -> str:
    """A chain where the word after a class-c word is uniform over the words of class (c+1) mod 3.

    With context length T-1, the support of every context is exactly the class after the class of its last word,
    so there are 3 support groups, determined by the last word.
    """
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n_docs):
        c = int(rng.integers(N_CLASSES))
        words = []
        for _ in range(doc_len):
            words.append(f"w{c}{int(rng.integers(PER_CLASS))}")
            c = (c + 1) % N_CLASSES
        docs.append(" ".join(words))
    return "\n\n".join(docs) + "\n"


def make_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def make_model(kind: str, vocab_size: int, seed: int = 0, tie: bool = False):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    if kind == "llama":
        cfg = LlamaConfig(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=tie, pad_token_id=1,
        )
        model = LlamaForCausalLM(cfg)
    elif kind == "gpt2":
        cfg = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=64, tie_word_embeddings=True,
            bos_token_id=0, eos_token_id=0,
        )
        model = GPT2LMHeadModel(cfg)
    else:
        raise ValueError(kind)
    with torch.no_grad():  # larger weights than the tiny default init, so hidden states differ visibly
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.3)
    return model.eval()


def collapse_model(seed: int = 0):
    """A Llama-style model whose final hidden state depends only on the class of the last word, hence only on the
    support group: attention and MLP outputs are zeroed (the residual stream is the token embedding) and all words of
    one class share one embedding."""
    import torch

    tok = make_tokenizer()
    model = make_model("llama", len(tok), seed=seed)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        E = model.model.embed_tokens.weight
        for c in range(N_CLASSES):
            ids = [tok.convert_tokens_to_ids(f"w{c}{i}") for i in range(PER_CLASS)]
            E[ids] = E[ids[0]].clone()
    return model, tok
