"""``ntpgeom report RUN... -o DIR`` and ``ntpgeom reproduce``: measurements, figures, verdicts, the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ._common import print_json


def register(app: typer.Typer) -> None:
    """Add the top-level commands ``report`` and ``reproduce`` to the app."""

    @app.command("report")
    def report(
        runs: List[Path] = typer.Argument(..., help="Run folders (written by `ntpgeom train` or `ntpgeom reproduce`)."),
        out: Path = typer.Option(..., "-o", "--out", help="Report folder (index.html, figures, metrics tables)."),
        theory: Optional[List[Path]] = typer.Option(
            None, "--theory", help="Precomputed theory file(s) (`ntpgeom solve -o` output); computed when absent."),
        title: str = typer.Option("ntpgeom report", "--title", help="Page title."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output (verdict rows and paths)."),
        quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress lines."),
    ) -> None:
        """Measure runs against the theory and write a self-contained HTML report with a verdict table."""
        from ..report.build import build_report
        from ..report.reproduce import _printer
        from ..report.verdicts import format_table, verdict_rows
        from ..theory import load_theory

        theories = {}
        for p in theory or []:
            th = load_theory(p)
            theories[th.data_hash] = th
        say = (lambda _m: None) if quiet or as_json else _printer()
        res = build_report(runs, out, theories=theories, title=title, progress=say)
        if as_json:
            print_json({"report": str(res.path), "verdicts": verdict_rows(res.verdicts)})
        else:
            typer.echo(format_table(res.verdicts))
            typer.echo(f"\nreport: {res.path}")

    @app.command("reproduce")
    def reproduce(
        quick: bool = typer.Option(False, "--quick", help="About 20 s instead of about 6 min: only the runs that pass every claim within seconds "
                                   "(the 'stories' transformer and LSTM need the default budget)."),
        text: Optional[Path] = typer.Option(
            None, "--text", help="Run the same pipeline on your own UTF-8 corpus instead of the built-in data."),
        name: Optional[str] = typer.Option(None, "--name", help="Output name: runs/<name> (default: reproduce, "
                                           "reproduce-quick, or text-<file stem>)."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Parent folder of the output."),
        experiment: Optional[List[str]] = typer.Option(
            None, "--experiment", "-e", help="Only these experiments: ufm-synthetic, synthetic, stories (repeatable)."),
        context_len: int = typer.Option(5, "--context-len", help="--text: tokens per context."),
        tokenizer: str = typer.Option("word", "--tokenizer", help="--text: word | char | bpe:<size> | tokenizer.json."),
        max_vocab: int = typer.Option(128, "--max-vocab", help="--text: keep this many next tokens (rest -> <unk>)."),
        max_contexts: int = typer.Option(500, "--max-contexts", help="--text: keep the most frequent contexts (training time grows with this; 500 keeps the default budget near the built-in one)."),
        seed: int = typer.Option(0, "--seed", help="Training seed."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
    ) -> None:
        """Reproduce the paper's experiments end to end; print the verdict table and the report path."""
        from ..report.reproduce import reproduce as _reproduce
        from ..report.reproduce import summary_text
        from ..report.verdicts import verdict_rows

        if name is None:
            name = f"text-{text.stem}" if text is not None else ("reproduce-quick" if quick else "reproduce")
        res = _reproduce(runs_dir / name, quick=quick, text=text, experiments=experiment or None,
                         context_len=context_len, tokenizer=tokenizer, max_vocab=max_vocab,
                         max_contexts=max_contexts, seed=seed)
        if as_json:
            print_json({"report": str(res.report_path), "out": str(res.out), "seconds": res.seconds,
                        "verdicts": verdict_rows(res.verdicts)})
        else:
            typer.echo(summary_text(res))
