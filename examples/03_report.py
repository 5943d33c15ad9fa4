"""The whole pipeline in one call: `reproduce` experiment (a) at the quick budget and write the HTML report.

Runs offline in seconds:  python examples/03_report.py [OUT_FOLDER]
(without a folder the output goes to a temporary directory that is deleted at the end).
"""

import sys
import tempfile
from pathlib import Path

import ntpgeom as g

with tempfile.TemporaryDirectory() as tmp:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "reproduce"
    # Experiment (a): V = 10, m = 95 random supports, the UFM trained by full-batch GD to within 1e-3 of ℋ.
    res = g.reproduce(out, quick=True, experiments=["ufm-synthetic"], dpi=40, overwrite=True,
                      progress=lambda line: None)
    print(res.report.verdict_text())
    print(f"report: {res.report_path} ({res.seconds:.1f} s)")
    html = res.report_path.read_text(encoding="utf-8")
    # the controls beside the verdicts: the prediction passes every claim, and no impostor passes the claim it imitates
    for table in res.controls:
        print(f"{table.title}: " + ("every impostor rejected" if not table.violations else f"BUG {table.violations}"))
    assert "Provenance" in html and all(not t.violations for t in res.controls)
print("ok")
