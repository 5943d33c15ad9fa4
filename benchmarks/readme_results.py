"""Write the README's results section from a finished ``ntpgeom reproduce`` output (never by hand).

    python benchmarks/readme_results.py runs/reproduce            # print the Markdown
    python benchmarks/readme_results.py runs/reproduce --write README.md

Reads ``report/report.json`` (verdicts, controls, provenance) and each run's ``metrics.json``; with ``--write`` it
replaces the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in the given file (atomically).
Per run it prints the verdicts (value, the bootstrap interval of μ for C1, C2 and L_mm, and status), the trend of
C1's μ over the run's snapshots, and the last snapshot's direction distances of the F⊥ part of the
logits to the finite-norm prediction (the path point of the run's own norm), to L_mm and to S̃, so a reader sees which
geometry each model is nearest; then the honest controls of every dataset and the power table.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ntpgeom._io import write_text_atomic
from ntpgeom.metrics import load_table
from ntpgeom.report.html import num as _num  # the report's one number format
from ntpgeom.verdicts import TITLES
from ntpgeom.verdicts.controls import IMPERSONATES

START, END = "<!-- results:start -->", "<!-- results:end -->"
CLAIMS = ("loss", "C1", "C2", "C3", "C4", "L_mm")




def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    iv = row.get("interval")
    span = f" [{_num(iv[0])}, {_num(iv[1])}]" if iv else ""
    return f"{_num(row['value'])}{span} {row['status']}"


def _trend(run: dict, claim: str = "C1") -> str:
    """The trend ρ (with its one-sided p towards the prediction) of a run's trajectory on ``claim``."""
    c = ((run.get("trajectory") or {}).get("claims") or {}).get(claim)
    if not c or not c.get("trend") or c["trend"].get("rho") is None or not math.isfinite(c["trend"]["rho"]):
        return "–"
    t = c["trend"]
    return f"{t['rho']:+.2f} (p↑ {t['p_up']:.2g})" if c.get("against") == "rival" else f"{t['rho']:+.2f} (face)"


def power_markdown(rep: dict) -> list[str]:
    """The honest controls (per dataset: statuses on C1 / L_mm) and the power table, from ``report.json``."""
    extra = rep.get("extra") or {}
    honest, power = extra.get("honest_controls") or [], extra.get("power") or []
    if not honest:
        return []
    names = [c["name"] for c in honest[0]["controls"]]
    lines = ["", "Honest controls (plain full-batch GD, judged as trajectories): statuses on C1 / L_mm / C2:W / C2:H, "
             "the expected outcome in brackets:", "", "| dataset | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for h in honest:
        by = {c["name"]: c for c in h["controls"]}
        cells = [" / ".join(by[n]["status"].get(k, "–") for k in ("C1", "L_mm", "C2:W", "C2:H"))
                 + f" ({by[n]['expected']})" if n in by else "–" for n in names]
        face = " (S̃ optimal: against the face)" if h.get("tilde_optimal") else ""
        lines.append(f"| {h.get('dataset', '?')}{face} | " + " | ".join(cells) + " |")
    if power:
        lines += ["", "Power of the verdicts on these controls (positives passed, negatives rejected as FAIL):", "",
                  "| claim | power | specificity |", "|---|---|---|"]
        lines += [f"| {r['claim']} | {r['passed']}/{r['positives']} | {r['rejected']}/{r['negatives']} |" for r in power]
    return lines


def _last(table: dict, key: str) -> float | None:
    col = table.get(key)
    return None if col is None or not len(col) else float(col[-1])


def results_markdown(out: Path) -> str:
    rep = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    by_run: dict[str, dict[str, dict]] = {}
    for v in rep["verdicts"]:
        by_run.setdefault(v["run"], {})[v["claim"]] = v
    thr = {c: next((f"{v['op']} {_num(v['threshold'])}" for r in by_run.values() for k, v in r.items() if k == c), "")
           for c in CLAIMS}
    thr.update({c: "μ [95% interval], or distance to the optimal face" for c in ("C1", "C2", "L_mm")})
    lines = ["| run | " + " | ".join(f"{c} ({thr[c]})" for c in CLAIMS)
             + " | C1 trend | dir to path point | to L_mm | to S̃ | nearest |", "|---" * (len(CLAIMS) + 6) + "|"]
    counts: dict[str, int] = {}
    for ds in rep["datasets"]:
        for run in ds["runs"]:
            label = f"{ds['name']}/{run['label']}"
            verdicts = by_run.get(label, {})
            for v in verdicts.values():
                counts[v["status"]] = counts.get(v["status"], 0) + 1
            table, _ = load_table(out / "report" / run["files"]["metrics.json"])
            d = {"path point": _last(table, "dir_pred"), "L_mm": _last(table, "dir_perp_mm"),
                 "S̃": _last(table, "dir_perp_tilde")}
            known = {k: x for k, x in d.items() if x is not None and math.isfinite(x)}
            near = min(known, key=known.get) if known else "–"
            lines.append(f"| {label} | " + " | ".join(_cell(verdicts.get(c)) for c in CLAIMS) + f" | {_trend(run)}"
                         + f" | {_num(d['path point'])} | {_num(d['L_mm'])} | {_num(d['S̃'])} | {near} |")
    prov = rep.get("provenance") or {}
    total = sum(counts.values())
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    ctl = {t: rows for t, rows in rep.get("tables", {}).items() if t.startswith("Controls")}  # the exact constructions
    key = {title: claim for claim, title in TITLES.items()}  # the page's rows carry the claim's title
    impostors = [r for rows in ctl.values() for r in rows
                 if key.get(r.get("claim"), r.get("claim")) in IMPERSONATES.get(str(r.get("run", "")).split("/", 1)[-1], ())]
    passed = [f"{r['run']} {r['claim']}" for r in impostors if r.get("status") == "pass"]
    machine = prov.get("machine") or {}
    head = (f"Regenerated by `python benchmarks/readme_results.py` from one default `ntpgeom reproduce` "
            f"({prov.get('date', '?')}, {float(prov.get('seconds') or float('nan')):.0f} s on {machine.get('cores', '?')} "
            f"CPU cores, {machine.get('threads', '?')} thread(s), ntpgeom {prov.get('version', '?')} "
            f"{prov.get('commit') or ''}): {total} verdicts — {summary}. Controls on {len(ctl)} datasets: "
            f"{len(impostors)} impostor verdicts on the claims they imitate, "
            + (f"{len(passed)} passing (a bug): {passed}." if passed else "every one rejected (FAIL or inconclusive)."))
    return "\n".join([head, "", *lines, *power_markdown(rep)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, nargs="?", default=Path("runs/reproduce"))
    ap.add_argument("--write", type=Path, help="replace the results block of this Markdown file")
    args = ap.parse_args()
    md = results_markdown(args.out)
    if args.write is None:
        print(md)
        return
    text = args.write.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"error: {args.write} has no {START} ... {END} block; add one where the results go")
    i, j = text.index(START) + len(START), text.index(END)
    write_text_atomic(args.write, text[:i] + "\n" + md + "\n" + text[j:])
    print(f"wrote the results block of {args.write}")


if __name__ == "__main__":
    main()
