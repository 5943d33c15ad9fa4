"""Loading, tokenisation into NTP data, and hidden-state extraction, checked against independent oracles: the supports
of the class corpus (known by construction), and unbatched forward passes of the base model and the full LM."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

import torch  # noqa: E402

from _probe_helpers import N_CLASSES, PER_CLASS, class_corpus, make_model, make_tokenizer, word_class
from ntpgeom.probe import ProbeError, corpus_data, extract, load_model, measured_tokens
from ntpgeom.probe.extract import iter_batches, token_names


@pytest.fixture(scope="module")
def llama(tiny_models):
    return load_model(tiny_models["llama"])


@pytest.fixture(scope="module")
def gpt2(tiny_models):
    return load_model(tiny_models["gpt2"])


def test_corpus_data_supports_match_the_construction(llama):
    data = corpus_data(llama, class_corpus(), 2, max_contexts=None, min_count=30)
    tok = llama.tokenizer
    # every context (a, b): support = all words of class (class(b) + 1) mod 3
    assert data.m == N_CLASSES * PER_CLASS * PER_CLASS  # (w1, w2) with class(w1) = class(w2) - 1
    ids = np.asarray(data.meta["token_ids"])
    assert [tok.convert_ids_to_tokens(int(i)) for i in ids] == list(data.vocab)
    S = data.S.toarray().astype(bool)
    for j in range(data.m):
        last = tok.convert_ids_to_tokens(int(data.contexts[j, -1]))
        want = {f"w{(word_class(last) + 1) % N_CLASSES}{i}" for i in range(PER_CLASS)}
        assert {data.vocab[z] for z in np.flatnonzero(S[:, j])} == want
    assert data.n_supports == N_CLASSES


def test_max_contexts_and_min_count_filters(llama):
    data = corpus_data(llama, class_corpus(), 3, max_contexts=10, min_count=5)
    assert data.m == 10
    assert data.context_counts.min() >= 5
    full = corpus_data(llama, class_corpus(), 3, max_contexts=None, min_count=5)
    assert np.sort(data.context_counts)[::-1].tolist() == np.sort(full.context_counts)[::-1][:10].tolist()


def test_measured_tokens_support_plus_sample(llama):
    data = corpus_data(llama, class_corpus(), 2, max_contexts=None, min_count=30)
    rows, n_sup = measured_tokens(data, llama.info["V_model"], 2, seed=3)
    assert n_sup == data.V and rows.size == data.V + 2
    assert len(set(rows.tolist())) == rows.size
    assert set(rows[n_sup:].tolist()).isdisjoint(data.meta["token_ids"])
    rows2, _ = measured_tokens(data, llama.info["V_model"], 2, seed=3)
    assert np.array_equal(rows, rows2)  # same seed, same sample
    rows_all, _ = measured_tokens(data, llama.info["V_model"], 10**6)
    assert rows_all.size == llama.info["V_model"]


def _base(lm):
    return lm.model.get_decoder() if hasattr(lm.model, "get_decoder") else lm.model.base_model


@pytest.mark.parametrize("name", ["llama", "gpt2"])
def test_extract_matches_unbatched_forward(name, tiny_models):
    lm = load_model(tiny_models[name])
    data = corpus_data(lm, class_corpus(), 3, max_contexts=25, min_count=2)
    rows, _ = measured_tokens(data, lm.info["V_model"], 2)
    ex = extract(lm, data.contexts, rows, batch_size=4)  # 25 contexts: ragged last batch
    assert ex.H.shape == (32, data.m) and ex.L.shape == (rows.size, data.m)
    base = lm.model.model if name == "llama" else lm.model.transformer
    for j in range(data.m):
        x = torch.tensor(data.contexts[j : j + 1])
        with torch.no_grad():
            h = base(input_ids=x).last_hidden_state[0, -1].double().numpy()  # after the final norm
            full = lm.model(input_ids=x).logits[0, -1].double()
        np.testing.assert_allclose(ex.H[:, j], h, atol=2e-5)
        np.testing.assert_allclose(ex.L[:, j], full.numpy()[rows], atol=2e-5)
        assert ex.lse[j] == pytest.approx(float(torch.logsumexp(full, 0)), abs=1e-4)
    # L = W H with W the unembedding (no bias in these heads)
    W = lm.model.get_output_embeddings().weight.detach().double().numpy()[rows]
    np.testing.assert_allclose(W @ ex.H, ex.L, atol=1e-4)
    assert ex.wh_rel_err < 1e-5


def test_variable_length_contexts_need_no_padding(llama):
    rng = np.random.default_rng(0)
    seqs = [rng.integers(2, 14, size=int(n)).tolist() for n in rng.integers(1, 7, size=17)]
    batches = iter_batches(seqs, 3)
    assert sorted(np.concatenate(batches).tolist()) == list(range(17))
    assert all(len({len(seqs[i]) for i in b}) == 1 and len(b) <= 3 for b in batches)
    rows = np.arange(14)
    ex = extract(llama, seqs, rows, batch_size=3)
    for j, s in enumerate(seqs):
        with torch.no_grad():
            want = llama.model(input_ids=torch.tensor([s])).logits[0, -1].double().numpy()
        np.testing.assert_allclose(ex.L[:, j], want, atol=2e-5)


def test_bias_in_head_is_reported(tiny_models):
    lm = load_model(tiny_models["llama"])
    with torch.no_grad():
        lm.model.lm_head.bias = torch.nn.Parameter(torch.linspace(-1, 1, 14))
    x = np.array([[2, 3], [4, 5]])
    ex = extract(lm, x, np.arange(14))
    assert lm.bias() is not None and ex.wh_rel_err < 1e-5  # W H + b reproduces the logits


def test_tied_unembedding_detected(tiny_models):
    assert load_model(tiny_models["llama_tied"]).info["tied_unembedding"] is True
    assert load_model(tiny_models["llama"]).info["tied_unembedding"] is False


def test_token_names_are_unique():
    tok = make_tokenizer()
    names = token_names(tok, len(tok) + 2)
    assert len(set(names)) == len(names) and names[-1] == f"<id{len(tok) + 1}>"


# ----------------------------------------------------------------------------- bad input
def test_error_missing_path(tmp_path):
    with pytest.raises(ProbeError, match="not found"):
        load_model(tmp_path / "nope")


def test_error_folder_is_not_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ProbeError, match="no config.json"):
        load_model(tmp_path)


def test_error_missing_gguf_file(tmp_path):
    with pytest.raises(ProbeError, match="GGUF file"):
        load_model(tmp_path, gguf_file="model.gguf")


def test_error_model_without_lm_head(tmp_path):
    from transformers import LlamaModel

    tok = make_tokenizer()
    LlamaModel(make_model("llama", len(tok)).config).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(ProbeError, match="no LM head"):
        load_model(tmp_path)


def test_error_not_a_causal_lm(tmp_path):
    from transformers import ViTConfig

    ViTConfig().save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"0")
    make_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(ProbeError, match="not a causal language model"):
        load_model(tmp_path)


def test_error_no_tokenizer(tmp_path):
    make_model("llama", 14).save_pretrained(tmp_path)
    with pytest.raises(ProbeError, match="no tokenizer"):
        load_model(tmp_path)


def test_error_corpus_shorter_than_context(llama):
    with pytest.raises(ProbeError, match="shorter than the context length"):
        corpus_data(llama, "w00 w11 w22", 3)
    with pytest.raises(ProbeError, match="empty"):
        corpus_data(llama, "  \n\n ", 3)
    with pytest.raises(ProbeError, match="context-len"):
        corpus_data(llama, "w00 w11 w22", 0)
