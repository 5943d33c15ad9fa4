"""The claim registry: one record per claim, and every place that describes a claim takes it from there."""

from __future__ import annotations

import math
import re

import pytest

from ntpgeom.metrics import tables
from ntpgeom.report.html import COLUMN_LABELS
from ntpgeom.report.page import FIG_CAPTIONS, TABLE_COLUMNS
from ntpgeom.report.terminal import rules_legend, verdict_table_text
from ntpgeom.report.html import verdict_view
from ntpgeom.verdicts import CLAIMS, TITLES, Claim, claim_by_title, judge_row
from ntpgeom.verdicts.judge import JUDGES, Thresholds

# The titles and measured quantities written into verdicts.json before the registry existed: they must not change.
PINNED = {
    "loss": ("loss → ℋ", "CE − ℋ (nats)", "<="),
    "C1": ("C1 sparse + low-rank, at the predicted point", "dir(L, L̂_B)", "<="),
    "C2": ("C2 directions of W, H", "min off-diag Pearson of corr maps", ">="),
    "C3": ("C3 subspace collapse", "collapse index of Ḣ / baseline", "<="),
    "C4": ("C4 soft-label interpolation", "‖P_F(L) − L_in‖ / ‖L_in‖", "<="),
    "L_mm": ("converges to L_mm (nearer L_mm than S̃)", "dir(P_⊥L, L_mm)", "<="),
}

# A metrics row of a model near its prediction (every claim measurable).
ROW = {"step": 100, "gap": 1e-5, "dir_pred": 0.005, "dir_pred_rival": 0.4, "pred_sep": 0.4, "pred_is_path": 1.0,
       "dir_mm": 0.01, "dir_tilde": 0.3, "offp_W": 0.999, "offp_H": 0.9995, "offp_W_null": 0.0, "offp_W_null_std": 0.1,
       "offp_H_null": 0.0, "offp_H_null_std": 0.1, "offp_W_rival": 0.5, "offp_H_rival": 0.5, "offp_W_sep": 0.5,
       "offp_H_sep": 0.5, "collapse_H": 0.01, "collapse_H_base": 0.8, "collapse_H_base_std": 0.01,
       "softlabel_rel": 0.01, "dir_perp_face": 0.005, "dir_perp_tilde": 0.4, "sep_mm_tilde": 0.4}


def test_registry_order_matches_the_judges_and_keeps_the_published_titles():
    assert list(CLAIMS) == list(JUDGES) == list(PINNED)
    for name, c in CLAIMS.items():
        assert (c.title, c.metric, c.op) == PINNED[name] and c.name == name and TITLES[name] == c.title
        assert c.rule.endswith(".") and c.label and c.definition
        assert hasattr(Thresholds(), name)  # one threshold per claim, named by it


def test_verdicts_take_title_metric_and_op_from_the_registry():
    vs = judge_row(ROW, None, run="m")
    assert [v.claim for v in vs] == list(CLAIMS)
    for v in vs:
        c = CLAIMS[v.claim]
        assert (v.title, v.metric, v.op) == (c.title, c.metric, c.op)
    by = {v.claim: v for v in vs}
    assert by["C2"].value == pytest.approx(min(ROW["offp_W"], ROW["offp_H"]))  # C2: min over its two columns
    assert by["C3"].value == pytest.approx(ROW["collapse_H"] / ROW["collapse_H_base"])  # C3: ratio of its two
    for name in ("loss", "C1", "C4", "L_mm"):  # one-column claims report their statistic as the value
        assert by[name].value == pytest.approx(ROW[CLAIMS[name].statistic])
    assert all(v.status == "pass" for v in vs), [(v.claim, v.status, v.note) for v in vs]


def test_rival_columns_are_what_the_judge_discriminates_on():
    """A rival as near as the prediction takes a claim's pass away (and no other claim's)."""
    base = {v.claim: v.status for v in judge_row(ROW)}
    for name, c in CLAIMS.items():
        if not c.discriminating or name == "C2":
            continue
        row = dict(ROW, **{c.rival_column: ROW[c.statistic]})  # not measurably nearer the prediction
        got = {v.claim: v.status for v in judge_row(row)}
        assert base[name] == "pass" and got[name] == "inconclusive" and {k: s for k, s in got.items() if k != name} == \
            {k: s for k, s in base.items() if k != name}


def test_every_claim_column_is_a_documented_metrics_column():
    doc = tables.__doc__
    entries: dict[str, str] = {}
    blocks = re.split(r"\n(?=``)", doc.split("====\n", 1)[1].split("\n====")[0])
    for block in blocks:
        key_cell = block.split("  ", 1)[0]
        for key in re.findall(r"[\w/]+", " ".join(re.findall(r"``([^`]+)``", key_cell))):
            stem, *alts = key.split("/")
            head = stem.rsplit("_", 1)[0] if alts else stem
            for k in [stem] + [f"{head}_{a}" for a in alts]:
                entries[k] = block
    for c in CLAIMS.values():
        assert set(c.columns) <= set(tables.COLUMNS), c.name
        assert c.rival_column in ("", *tables.COLUMNS) and c.separation_column in ("", *tables.COLUMNS)
        entry = entries.get(c.statistic) or next(b for b in blocks if f"``{c.statistic}``" in b)
        assert (c.name if c.name != "loss" else "loss claim") in entry, (c.name, entry)
    assert "C1" not in entries["slr_resid"].split("(descriptive")[0]  # the residual is not C1's statistic


def test_report_tables_and_captions_come_from_the_registry():
    for c in CLAIMS.values():
        assert set(c.columns) <= set(TABLE_COLUMNS), c.name
        assert COLUMN_LABELS[c.statistic] == (c.label, c.definition)
        if c.caption:
            assert FIG_CAPTIONS[c.figure] == c.caption
    assert not any(label.startswith("C1") for k, (label, _) in COLUMN_LABELS.items() if k != CLAIMS["C1"].statistic)
    assert len({c.label for c in CLAIMS.values()}) == len(CLAIMS)


def test_terminal_legend_lists_the_rules_of_the_claims_shown():
    views = [verdict_view(v) for v in judge_row(ROW, run="m") if v.claim in ("C1", "C4")]
    legend = rules_legend(views)
    assert legend.splitlines() == [f"{CLAIMS[n].title}: {CLAIMS[n].rule}" for n in ("C1", "C4")]
    text = " ".join(verdict_table_text(views, width=400, legend=True).split())  # the caption wraps at the table width
    assert CLAIMS["C4"].rule in text and CLAIMS["C2"].rule not in text
    assert CLAIMS["C4"].rule not in verdict_table_text(views, width=400)


def test_claim_lookup_and_validation():
    for c in CLAIMS.values():
        assert claim_by_title(c.title) is c
    with pytest.raises(KeyError, match="no claim titled"):
        claim_by_title("C9 nothing")
    with pytest.raises(ValueError, match="op must be"):
        Claim("x", "x", ("gap",), "m", "<", "r.", "l", "d")
    with pytest.raises(ValueError, match="rival"):
        Claim("x", "x", ("gap",), "m", "<=", "r.", "l", "d", rival="Y")
    with pytest.raises(TypeError):
        CLAIMS["new"] = CLAIMS["C1"]  # read-only
    assert math.isfinite(Thresholds().C1)
