"""build_report end to end on the shared reproduce output (tests/conftest.py): folder contents, provenance,
SVG twins, readable tables, interrupted runs, no partial folder; the page rendered in headless Chromium.

Also checks the verdicts on constructed tables (a converged sparse-plus-low-rank run passes every claim; an untrained
one fails every claim) and the `ntpgeom report` command.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html import escape as html_escape
from pathlib import Path

import pytest
from matplotlib.image import imread

from ntpgeom.cli import main
from ntpgeom.report.build import ReportError, build_report
from ntpgeom.verdicts import CLAIMS

from ..conftest import TEST_DPI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(shared):
    report = shared.out / "report"
    return report, (report / "index.html").read_text(encoding="utf-8")


def test_report_folder_contents(shared, page):
    report, html = page
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    pngs = sorted(report.rglob("*.png"))
    assert len(pngs) == 9 and len(imgs) == 9  # 8 comparison figures (with cdnv/rankme) + the run's heatmaps, all embedded
    assert "src=\"http" not in html and "href=\"http" not in html
    for claim in CLAIMS.values():
        assert html_escape(claim.title, quote=False) in html, claim.title
    rows = json.loads((report / "verdicts.json").read_text())
    assert {r["claim"] for r in rows} == set(CLAIMS)
    assert all(r["judged"] and r["status"] in ("pass", "FAIL", "inconclusive", "n/a") for r in rows)
    # the margin's sign agrees with the status: a pass clears its threshold
    # (a claim judged against the optimal face, S̃ optimal, has no threshold: its margin is None)
    assert all(r["margin"] >= 0 if r["margin"] is not None else "face" in r["note"] for r in rows if r["status"] == "pass")
    assert {r["claim"]: r["status"] for r in rows}["C3"] == "pass"  # supports collapse in the trained UFM
    assert (report / "ufm-synthetic" / "ufm" / "metrics.parquet").exists()
    assert not list(report.parent.glob(".report.*"))  # the temporary folder was renamed away


def test_figures_are_low_dpi_pngs_with_parseable_svg_twins(page):
    report, html = page
    for png in report.rglob("*.png"):
        svg = png.with_suffix(".svg")
        root = ET.parse(svg).getroot()  # a well-formed SVG document
        assert root.tag.endswith("svg")
        assert f'href="{svg.relative_to(report).as_posix()}"' in html  # linked from the page
    h, w = imread(report / "ufm-synthetic" / "figures" / "loss_gap.png").shape[:2]
    assert w < 5.3 * TEST_DPI * 1.3 and h < 3.7 * TEST_DPI * 1.3  # drawn at the test resolution, not 150 dpi


def test_curve_figures_have_threshold_lines_and_axis_labels(page):
    report, _ = page
    figs = report / "ufm-synthetic" / "figures"
    texts = {name: " ".join(t.text or "" for t in ET.parse(figs / f"{name}.svg").getroot().iter()
                            if t.tag.endswith("text"))
             for name in ("loss_gap", "softlabel", "similarity", "norms", "collapse")}
    assert "threshold (loss → ℋ)" in texts["loss_gap"] and "CE − ℋ" in texts["loss_gap"]
    assert "threshold C4" in texts["softlabel"] and "threshold C1" in texts["softlabel"]
    assert "‖P_F(L) − L_in‖ / ‖L_in‖" in texts["softlabel"] and "path point" in texts["softlabel"]
    assert "threshold C2" in texts["similarity"] and "Pearson, off the diagonal" in texts["similarity"]
    assert "threshold L_mm" in texts["similarity"]
    assert "Frobenius norm" in texts["norms"] and "collapse index" in texts["collapse"]


def test_page_carries_its_provenance(shared, page):
    _, html = page
    import ntpgeom

    block = html[html.index('<table class="provenance">'):]
    block = block[:block.index("</table>")]
    for label in ("command", "ntpgeom", "libraries", "date (UTC)", "total wall time", "machine", "seed(s)"):
        assert f"<th>{label}</th>" in block
    assert ntpgeom.__version__ in block and "numpy " in block and "torch " in block
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", block) and "cores" in block
    prov = json.loads((shared.out / "report" / "report.json").read_text())["provenance"]
    assert prov["seeds"] == [0] and prov["seconds"] > 0 and prov["machine"]["cores"] >= 1


def test_metrics_table_has_readable_columns_and_a_legend(page):
    _, html = page
    head = re.search(r'<table class="metrics">\s*<tr>(.*?)</tr>', html, re.S).group(1)
    assert "slr_resid" not in head and "softlabel_rel" not in head and "dir_pred" not in head
    for claim in CLAIMS.values():  # each claim's judged column carries the registry's label, in the legend too
        label = html_escape(claim.label, quote=False)
        assert label in head and f"<dt>{label}</dt>" in html, claim.name
    assert "C1: residual" not in html  # C1 is judged on dir_pred, not on the sparse-plus-low-rank residual


def test_interrupted_run_is_marked_and_not_judged(shared):
    rep = shared.interrupted_report
    step = shared.stopped["final_step"]
    assert Path(shared.interrupted_json["report"]) == rep / "index.html"
    html = (rep / "index.html").read_text(encoding="utf-8")
    assert f"run interrupted at step {step}" in html and ">pass<" not in html and ">fail<" not in html
    assert html.count('class="interrupted">interrupted<') == 2 * len(CLAIMS)  # in the summary table and the run's own
    for rows in (shared.interrupted_json["verdicts"], json.loads((rep / "verdicts.json").read_text())):
        assert len(rows) == len(CLAIMS) and all(r["status"] == "interrupted" and r["judged"] is False for r in rows)
    assert list(rep.rglob("*.png")) and not list(rep.rglob("*.svg"))  # --no-svg

def _empty_result(tmp_path):
    from ntpgeom.report.provenance import collect
    from ntpgeom.report.result import ReportResult

    return ReportResult(tmp_path / "index.html", tmp_path, [], collect(command="ntpgeom report x -o y"))


def test_report_html_is_autoescaped(tmp_path):
    from ntpgeom.report.page import render_report

    html = render_report(_empty_result(tmp_path), title="<script>alert(1)</script>", intro="a & b")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<p>a &amp; b</p>" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); cannot render the report")
def test_report_renders_every_image_in_chromium(page, tmp_path):
    _, html = page
    probe = (
        "<script>window.addEventListener('load', function(){var im=document.images, ok=0;"
        "for (var i=0;i<im.length;i++){ if (im[i].complete && im[i].naturalWidth>0) ok++; }"
        "var d=document.createElement('div'); d.id='imgcheck'; d.textContent='IMGCHECK '+ok+'/'+im.length;"
        "document.body.appendChild(d);});</script>"
    )
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", probe_page.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r"IMGCHECK (\d+)/(\d+)", out.stdout)
    assert m, f"chromium did not run the probe: rc={out.returncode} stderr={out.stderr[-800:]}"
    ok, total = int(m.group(1)), int(m.group(2))
    assert total == 9 and ok == total


def test_build_report_rejects_bad_input(tmp_path):
    with pytest.raises(ReportError, match="no runs given"):
        build_report([], tmp_path / "r")
    from ntpgeom.errors import NTPGeomError

    with pytest.raises(NTPGeomError):
        build_report([tmp_path / "not-a-run"], tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_cli_report_refuses_an_existing_output(shared, capsys):
    out = shared.interrupted_report
    before = (out / "index.html").read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(shared.out / "ufm-synthetic" / "ufm"), "-o", str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err and "--overwrite" in err
    assert (out / "index.html").read_bytes() == before  # the old page intact


def test_failed_report_leaves_no_partial_folder(shared, tmp_path, monkeypatch):
    from ntpgeom.report import build as B

    def boom(*_a, **_k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(B.F, "fig_heatmaps", boom)  # fails after the metrics tables were written
    with pytest.raises(RuntimeError, match="drawing failed"):
        build_report([shared.out / "ufm-synthetic" / "ufm"], tmp_path / "rep", dpi=20, svg=False)
    assert list(tmp_path.iterdir()) == []  # neither the report folder nor its temporary twin


def test_extra_verdict_tables_use_the_same_macro(tmp_path):
    from types import SimpleNamespace

    from ntpgeom.report.html import verdict_view
    from ntpgeom.report.page import render_report

    from ntpgeom.verdicts.core import make

    control = make("C2", "FAIL", 0.31, 0.8, ">=", "a negative control must fail", title="C2 on a shuffled model",
                   run="control/shuffled")
    block = SimpleNamespace(title="Controls", rows=[verdict_view(control)])
    html = render_report(_empty_result(tmp_path), extra_tables=[block])
    i = html.index("<h3>Controls</h3>")
    assert "control/shuffled" in html[i:] and "−0.490" in html[i:] and 'class="FAIL"' in html[i:]


def test_cli_report_controls_judge_the_impostors(shared, tmp_path, capsys):
    """`ntpgeom report --controls`: the controls table sits beside the verdicts; the prediction passes, and no
    impostor passes the claim it imitates."""
    out = tmp_path / "controls"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(shared.out / "ufm-synthetic" / "ufm"), "-o", str(out), "--controls", "--no-svg",
              "--dpi", str(TEST_DPI), "--theory", str(shared.out / "ufm-synthetic" / "theory.npz"), "-q"])
    assert exc.value.code in (0, None), capsys.readouterr().err
    from ntpgeom.verdicts.controls import IMPERSONATES

    tables = json.loads((out / "report.json").read_text())["tables"]
    (title, rows), = tables.items()
    assert title.startswith("Controls: ")
    by: dict[str, dict[str, str]] = {}
    key = {c.title: name for name, c in CLAIMS.items()}  # the page's rows carry the claim's title
    for r in rows:
        by.setdefault(r["run"].split("/", 1)[1], {})[key[r["claim"]]] = r["status"]
    # S̃ is optimal on this data: C2 is not judged against a face (n/a); every other claim passes
    assert set(by["positive"].values()) <= {"pass", "n/a"} and by["positive"]["C1"] == "pass" and len(by) >= 6
    for name, claims in IMPERSONATES.items():
        for claim in claims if name in by else ():
            # (n/a: C2 is not judged where S̃ is optimal, as here)
            assert by[name][claim] in ("FAIL", "inconclusive", "n/a"), (name, claim, by[name][claim])
    assert title in (out / "index.html").read_text(encoding="utf-8")


def test_report_judges_each_run_as_a_trajectory(tmp_path):
    """Two tiny runs trained by the package's own train(): a UFM by Adam without ridge and one with a large ridge. Each
    run's C1, L_mm and C2 rows are its trajectory's (μ of the last snapshot with a finite bootstrap interval, its trend
    and rate in report.json); the ridge run is labelled so; the trajectory figure (PNG + SVG) is written."""
    import math

    import ntpgeom as g

    data = g.corpora.synthetic()
    kw = dict(model="ufm", optimizer="adam", lr=0.05, steps=300, seed=0)
    runs = [g.train(data, out=tmp_path / "plain", **kw), g.train(data, out=tmp_path / "ridge", ridge=1e-2, **kw)]
    res = build_report(runs, tmp_path / "rep", labels=["plain", "ridge"], dpi=TEST_DPI, bootstrap=40, seed=3)
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    (ds,) = rep["datasets"]
    assert (tmp_path / "rep" / ds["figures"]["trajectory"]).exists()
    assert (tmp_path / "rep" / ds["figures"]["trajectory"]).with_suffix(".svg").exists()
    for run in ds["runs"]:
        tj = run["trajectory"]
        assert tj["judged"] and tj["B"] == 40 and tj["alpha"] == 0.05 and tj["seed"] == 3
        for claim in ("C1", "L_mm"):
            c = tj["claims"][claim]
            assert len(c["mu"]) == len(c["steps"]) >= 5 and min(c["steps"]) >= 1
            assert all(math.isfinite(x) and lo <= x + 1e-12 and x <= hi + 1e-12
                       for x, lo, hi in zip(c["mu"], c["lo"], c["hi"]))
            assert c["status"] in ("pass", "FAIL", "inconclusive") and c["note"]
            assert set(c["trend"]) >= {"rho", "p_up", "p_down"} and set(c["rate"]) >= {"intercept", "lo", "hi"}
    rows = {(r["run"].split("/")[-1], r["claim"]): r for r in rep["verdicts"]}
    for lab, run in zip(("plain", "ridge"), ds["runs"]):
        for claim in ("C1", "L_mm"):
            r, c = rows[(lab, claim)], run["trajectory"]["claims"][claim]
            assert r["value"] == pytest.approx(c["mu"][-1]) and r["interval"] == pytest.approx([c["lo"][-1], c["hi"][-1]])
            assert r["status"] == c["status"] and r["threshold"] == 0
    assert "trained with ridge λ = 0.01" in rows[("ridge", "C1")]["note"]
    assert "ridge" not in rows[("plain", "C1")]["note"]
    assert run["trajectory"]["regulariser"] == {"kind": "ridge", "lambda": 0.01}
    text = res.verdict_text()
    assert re.search(r"\[[-+]?[0-9.]+, [-+]?[0-9.]+\]", text)  # μ [lo, hi] in the terminal table


def test_overwrite_replaces_only_a_previous_report(shared, tmp_path):
    """Hostile input round 3 (issue 24): ``--overwrite`` deleted whatever -o named. Only a previous report (its
    report.json) may be replaced; an -o that is or contains an input run is refused; the folders stay intact."""
    run = shared.out / "ufm-synthetic" / "ufm"
    mine = tmp_path / "my-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    with pytest.raises(ReportError, match="replaces only a previous report"):
        build_report([run], mine, overwrite=True)
    assert (mine / "thesis.tex").read_text() == "keep me"
    for out in (run, run.parent, shared.out):  # the run itself, its experiment folder, the whole reproduce output
        with pytest.raises(ReportError, match="is or contains the input run"):
            build_report([run], out, overwrite=True)
        assert (run / "config.json").is_file()
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "report.json").write_text('{"format": "something else"}')
    with pytest.raises(ReportError, match="replaces only a previous report"):
        build_report([run], fake, overwrite=True)


def test_cli_overwrite_of_a_user_folder_is_one_error_line(shared, tmp_path, error_line):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("x")
    line = error_line(["report", str(shared.out / "ufm-synthetic" / "ufm"), "-o", str(mine), "--overwrite"])
    assert "replaces only a previous report" in line
    assert (mine / "a.txt").read_text() == "x"
