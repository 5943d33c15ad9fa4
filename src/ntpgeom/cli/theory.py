"""``ntpgeom solve`` and ``ntpgeom path``: NTP-SVM* with its certificate, and the regularisation path."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from enum import Enum
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional

import typer

from .. import data as D
from ..errors import NTPGeomError
from ..progress import Progress
from ..status import check_solver_options
from ..theory.solve_monitor import INTERRUPTED, progress_line
from ._common import err_console, json_option, out_option, print_json, stages, threads_option

_FLAGS = {"tol": "--tol", "max_iter": "--max-iter", "threads": "--threads"}


class Method(str, Enum):
    """The choices of ``--method``: ``ntpgeom.theory.svm.METHODS`` (a test checks)."""

    auto = "auto"
    fast = "fast"
    cvxpy = "cvxpy"
    large = "large"


class Norm(str, Enum):
    """The choices of ``--norm``: ``ntpgeom.theory.max_margin.NORMS`` (a test checks)."""

    nuclear = "nuclear"
    fro = "fro"
    max = "max"
    spectral = "spectral"


#: the ``-o`` file of ``solve --norm`` other than nuclear: an ntpgeom .npz (``ntpgeom._io.save_npz``, hashed) with
#: arrays ``L`` (V x m) and ``dual`` (the certificate A) and a header holding the result's summary and the data hash
MAX_MARGIN_FORMAT, MAX_MARGIN_VERSION = "ntpgeom-max-margin", 1


def solve(
    data_path: Path = typer.Argument(..., help="Dataset file (.npz) from `ntpgeom data`."),
    tol: float = typer.Option(1e-6, "--tol", help="Target relative duality gap."),
    method: Method = typer.Option(Method.auto, "--method", help="auto (large above 120k reduced entries, else fast) | "
                                  "fast | cvxpy (reference, no progress; needs the cvx extra: pip install "
                                  "'ntpgeom\\[cvx]') | large (torch; 10^4-10^5 contexts)."),
    max_iter: int = typer.Option(20000, "--max-iter", help="Iteration cap."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Stop after this many seconds with the best "
                                               "certified point (status user_limit); Ctrl-C does the same."),
    threads: int = threads_option(),
    out: Optional[Path] = out_option("Save the Theory (L_mm, factors, Grams) to this .npz.", required=False),
    allow_inexact: bool = typer.Option(False, "--allow-inexact", help="Exit 0 even when the solve stops above --tol "
                                       "(the -o file is written either way and records the status and the gap)."),
    as_json: bool = json_option(),
    norm: Norm = typer.Option(Norm.nuclear, "--norm", help="nuclear (L_mm, the default: NTP-SVM* with its theory "
                              "file) | fro (S̃, GD on free logits) | max (sign descent / Adam) | spectral (Muon); "
                              "the others save L in an ntpgeom-max-margin .npz."),
) -> None:
    """Solve NTP-SVM* (L_mm) with a duality-gap certificate and report the predicted geometry.

    On a terminal a progress line shows the iteration, the certified gap, the time elapsed and an estimate of the
    time left (in a log: a line every 10 s). With --threads > 1 idle threads wait passively (OMP_WAIT_POLICY, unless
    set). Exits 1 when the solver stops above ``--tol`` (status ``user_limit``),
    after printing what it reached, unless ``--allow-inexact``; Ctrl-C keeps (and with -o saves) the best certified
    point so far and exits 130. ``--norm fro|max|spectral`` solves the max-margin logits in that norm instead
    (``ntpgeom.theory.max_margin``): value, status, certified gap and time; ``-o`` saves L (format
    ``ntpgeom-max-margin``)."""
    from ..theory import compute_theory

    check_solver_options(tol, max_iter, threads, names=_FLAGS)
    if norm is not Norm.nuclear:
        return _solve_norm(data_path, norm.value, {"tol": tol, "method": method.value, "max_iter": max_iter,
                                                   "threads": threads, "time_limit": time_limit},
                           out, allow_inexact, as_json)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: idle threads sleep, never spin
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise NTPGeomError(f"--time-limit must be a positive number of seconds, got {time_limit:g}")
    data = D.load(data_path)
    with stages(not as_json) as say, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        say("solving NTP-SVM*" + (" with cvxpy + SCS (it reports no progress)" if method is Method.cvxpy else ""))
        try:
            th = compute_theory(data, tol=tol, method=method.value, max_iter=max_iter, threads=threads,
                                time_limit=time_limit, max_entries=2**62, progress=None if as_json else _watch(say))
        except KeyboardInterrupt:
            err_console.print("interrupted before the solver's first certified point; nothing saved", highlight=False)
            raise typer.Exit(130) from None
        if out is not None:
            say("saving")
            th.save(out)
    rec = _record(th, data, data_path, threads, out, caught)
    interrupted = (th.svm.info.get("status") == INTERRUPTED) if th.svm is not None else False
    if as_json:
        print_json({**rec, "interrupted": interrupted})
    else:
        _print_solve(rec, data, tol, threads, out)
    if interrupted:
        if not as_json:
            err_console.print(f"interrupted: the best certified point so far (gap {rec['gap']:.2e}) is kept with "
                              f"status {rec['status']}" + (f" and saved to {out}" if out is not None else ""),
                              highlight=False, soft_wrap=True)
        raise typer.Exit(130)
    _exit_if_inexact(th.status, allow_inexact, as_json)


def _solve_norm(data_path: Path, norm: str, opts: dict, out: Optional[Path], allow_inexact: bool,
                as_json: bool) -> None:
    """``solve --norm fro|max|spectral``: :func:`ntpgeom.theory.max_margin` with its certificate."""
    from .. import _io
    from ..theory import max_margin

    if opts["method"] != "auto":
        raise NTPGeomError(f"--method {opts['method']} applies to --norm nuclear only; drop it for --norm {norm}")
    if opts["time_limit"] is not None and not (math.isfinite(opts["time_limit"]) and opts["time_limit"] > 0):
        raise NTPGeomError(f"--time-limit must be a positive number of seconds, got {opts['time_limit']:g}")
    data = D.load(data_path)
    with stages(not as_json) as say, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        say(f"solving the {norm}-norm max margin")
        res = max_margin(data, norm, **opts)
        rec = {"data": str(data_path), "data_hash": data.hash, **res.summary(), "status": res.status.value,
               "out": None if out is None else str(out), "warnings": [str(w.message) for w in caught]}
        if out is not None:
            say("saving")
            _io.save_npz(out, {"format": MAX_MARGIN_FORMAT, "version": MAX_MARGIN_VERSION,
                               **{k: v for k, v in rec.items() if k not in ("out", "warnings")}},
                         {"L": res.L, "dual": res.dual})
    if as_json:
        print_json(rec)
    else:
        typer.echo(f"dataset        {data!r}")
        typer.echo(f"{'‖L‖ (' + norm + ')':<15}{res.value:.10g}")
        typer.echo(f"gap            {res.gap:.2e} (relative, certified; tol {opts['tol']:g})")
        typer.echo(f"status         {rec['status']}")
        typer.echo(f"max violation  {res.max_violation:.2e}")
        typer.echo(f"time           {res.stats.seconds:.3f} s ({res.stats.backend}, {res.stats.iterations} iterations)")
        for w in rec["warnings"]:
            typer.echo(f"warning: {w}", err=True)
        if out is not None:
            typer.echo(f"saved          {out}")
    _exit_if_inexact(res.status, allow_inexact, as_json)


def _watch(say: Callable[..., None], every: float = 10.0) -> Progress:
    """The solve's progress as one line: live on a terminal (``say``), else printed every ``every`` seconds."""
    last = [time.monotonic()]

    def show(stage: str, done: int | None = None, total: int | None = None,
             numbers: Mapping[str, float] | None = None) -> None:
        line = progress_line(dict(numbers or {}), stage)
        if err_console.is_terminal:
            say(line)
        elif time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            print(line, file=sys.stderr, flush=True)

    return show


def _record(th: Any, data: Any, data_path: Path, threads: int, out: Optional[Path], caught: list) -> dict:
    s = th.summary()
    svm = s["svm"]
    return {
        "data": str(data_path), "data_hash": data.hash, "V": data.V, "m": data.m,
        "reduced_shape": svm.get("reduced_shape"), "nuclear_norm": svm.get("nuclear_norm"), "rank": svm.get("rank"),
        "gap": svm.get("gap"), "max_violation": svm.get("max_violation"), "seconds": svm.get("seconds"),
        "iterations": svm.get("iterations"), "method": svm.get("method"), "converged": svm.get("converged"),
        "status": th.status.value,
        "threads": threads, "certificate_holds": s["certificate_holds"], "dist_mm_tilde": s["dist_mm_tilde"],
        "out": None if out is None else str(out), "warnings": [str(w.message) for w in caught],
    }


def _print_solve(rec: dict, data: Any, tol: float, threads: int, out: Optional[Path]) -> None:
    typer.echo(f"dataset        {data!r}")
    typer.echo(f"reduced        {rec['reduced_shape'][0]} x {rec['reduced_shape'][1]} distinct rows x supports")
    typer.echo(f"‖L_mm‖_*       {rec['nuclear_norm']:.10g}")
    typer.echo(f"rank           {rec['rank']}")
    typer.echo(f"gap            {rec['gap']:.2e} (relative, certified; tol {tol:g})")
    typer.echo(f"status         {rec['status']}")
    typer.echo(f"max violation  {rec['max_violation']:.2e}")
    typer.echo(f"time           {rec['seconds']:.3f} s ({rec['method']}, {rec['iterations']} iterations, {threads} thread(s))")
    typer.echo(f"S̃ certificate  {'holds: L_mm = S̃' if rec['certificate_holds'] else 'fails'} (Prop. 3)")
    typer.echo(f"dist(L_mm, S̃)  {rec['dist_mm_tilde']:.4g} (Frobenius, unit-norm directions)")
    for w in rec["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    if out is not None:
        typer.echo(f"saved          {out}")


def _exit_if_inexact(status: Any, allow_inexact: bool, as_json: bool) -> None:
    if status.solved or allow_inexact:
        return
    if not as_json:
        typer.echo(f"error: the solve stopped above --tol (status {status.value}); raise --max-iter or --tol, "
                   "or accept the certified gap with --allow-inexact", err=True)
    raise typer.Exit(1)


def path(
    data_path: Path = typer.Argument(..., help="Dataset file (.npz) from `ntpgeom data`."),
    lams: List[str] = typer.Option(..., "--lams", help="Regularisation strengths (repeat the option or give a comma list)."),
    tol: float = typer.Option(1e-6, "--tol", help="Target relative duality gap per λ."),
    max_iter: int = typer.Option(20000, "--max-iter", help="Iteration cap per λ."),
    threads: int = threads_option(),
    as_json: bool = json_option(),
) -> None:
    """Solve min CE(L) + λ‖L‖_* along λ (warm starts) and track the convergence predicted by Thms 1-2."""
    from ..theory import lambda_max, path_diagnostics, regularization_path, solve_ntp_svm

    check_solver_options(tol, max_iter, threads, names=_FLAGS)
    lam_values = _parse_lams(lams)
    data = D.load(data_path)
    with stages(not as_json) as say, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        say("solving NTP-SVM*")
        svm = solve_ntp_svm(data, tol=1e-8, threads=threads)
        say("regularisation path")
        res = regularization_path(data, lam_values, tol=tol, max_iter=max_iter, threads=threads)
    rows = path_diagnostics(data, res, svm.L)
    rec = {"data": str(data_path), "data_hash": data.hash, "entropy_bound": data.entropy_bound, "lambda_max": lambda_max(data),
           "threads": threads, "path": rows, "warnings": [str(w.message) for w in caught]}
    if as_json:
        print_json(rec)
        return
    typer.echo(f"dataset {data!r}; λ_max = {rec['lambda_max']:.4g} (L = 0 above it)")
    typer.echo(f"{'λ':>10} {'CE-ℋ':>10} {'‖P_F L-L_in‖':>13} {'dir dist':>9} {'‖L‖_*':>10} {'gap':>9} {'iters':>6} {'sec':>7}")
    for row in rows:
        dd = row["dist_direction_mm"]
        typer.echo(f"{row['lam']:>10.3g} {row['ce_minus_H']:>10.3e} {row['dist_PF_Lin']:>13.3e} "
                   f"{(f'{dd:.3e}' if dd is not None else '-'):>9} {row['nuclear_norm']:>10.4g} {row['gap']:>9.1e} "
                   f"{row['iterations']:>6d} {row['seconds']:>7.2f}")
    for w in rec["warnings"]:
        typer.echo(f"warning: {w}", err=True)


def _parse_lams(values: List[str]) -> list[float]:
    out: list[float] = []
    for v in values:
        for part in str(v).split(","):
            if part.strip():
                try:
                    out.append(float(part))
                except ValueError as exc:
                    raise NTPGeomError(f"--lams: {part!r} is not a number; give e.g. --lams 1e-2,1e-3") from exc
    return out


def register(app: typer.Typer) -> None:
    app.command("solve")(solve)
    app.command("path")(path)
