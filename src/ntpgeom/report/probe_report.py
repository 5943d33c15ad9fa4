"""The report of ``ntpgeom probe``: figures and a self-contained HTML page for a probe result.

Takes a :class:`~ntpgeom.probe.ProbeResult` (duck-typed: ``data``, ``metrics``, ``theory``, ``H``, ``L``, ``lse``,
``summary()``), so the report layer does not depend on the probe layer. Two steps: **draw** the figures, **write** the
page from ``templates/probe.html.j2`` (with the same provenance block as ``ntpgeom report``).
"""

from __future__ import annotations

import json
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from .._io import write_text_atomic
from ..data import NTPData
from ..metrics import corr_from_gram, corr_map
from ..theory import Theory, proj_F
from ..verdicts import Verdict
from . import html as Hh
from . import provenance as prov
from .heatmaps import context_order, group_lines
from .style import CORR_CMAP, new_figure, output, save, styled

#: Measurements listed on the probe page, in order.
MEASURE_KEYS = (
    "ce_full", "gap_full", "support_mass", "ce_in", "gap_in", "softlabel_rel", "softlabel_cos", "softlabel_scale",
    "softlabel_scaled_rel", "frac_F", "collapse_H", "collapse_H_base", "collapse_H_base_std", "collapse_Hc",
    "collapse_Hc_base", "collapse_Lperp", "collapse_Lperp_base", "sim_H_proxy", "pearson_H_proxy", "sim_Hc_proxy",
    "pearson_Hc_proxy", "sim_W_proxy", "pearson_W_proxy", "sim_H_mm", "pearson_H_mm", "sim_W_mm", "pearson_W_mm",
    "dir_perp_tilde", "dir_perp_mm", "slr_R", "slr_resid", "reference", "solved", "solve_reason", "svm_status",
    "svm_gap", "svm_seconds", "certificate_holds", "reduced_shape", "n_contexts_measured", "n_contexts_total",
    "n_contexts_sampled", "H_offset_share", "H_eff_rank",
)


def reference_line(mt: dict[str, Any]) -> str:
    """What the model was judged against, in words: "L_mm to certified gap g" (with the solve's status when it
    stopped at its time budget), "L_mm = S̃ (Prop. 3 certificate)" or "S̃ proxy"."""
    ref = str(mt.get("reference") or ("L_mm" if mt.get("solved") else "S̃ proxy"))
    if mt.get("svm_status") == "user_limit":
        ref += " (stopped at its time budget: the best certified point)"
    n, tot = mt.get("n_contexts_measured"), mt.get("n_contexts_total")
    if n is not None and tot is not None and n < tot:
        ref += f"; measured on a seeded sample of {n} of {tot} contexts"
    return ref


class LayerLike(Protocol):
    """One layer of a probe (:class:`~ntpgeom.probe.LayerResult`): its depth and metrics."""

    index: int
    metrics: dict[str, Any]


class ProbeResultLike(Protocol):
    """What the probe report reads of a :class:`~ntpgeom.probe.ProbeResult` (the probe layer sits above this one):
    the measured data (V x m), hidden states H (d x m), logits L (V x m), log-partitions lse (m,), the metrics, the
    restricted theory, and the JSON summary."""

    data: NTPData
    H: np.ndarray
    L: np.ndarray
    lse: np.ndarray
    metrics: dict[str, Any]
    theory: Theory
    layers: Sequence[LayerLike]
    info: dict[str, Any]

    def summary(self) -> dict[str, Any]: ...


def write_probe_report(result: ProbeResultLike, out_dir: str | Path, *, dpi: int | None = None, svg: bool = True,
                       started: float | None = None) -> Path:
    """Figures and a self-contained ``index.html`` for a :class:`~ntpgeom.probe.ProbeResult` in ``out_dir``.

    Uses the same figure style, templates and provenance block as ``ntpgeom report``. Returns the path of
    ``index.html``. ``started``: ``time.perf_counter()`` at the start of the probe (for the total wall time).
    """
    t0 = time.perf_counter() if started is None else started
    out = Path(out_dir)
    with output(dpi, svg):
        figs = {"geometry": _fig_geometry(result, out / "figures" / "probe_geometry.png"),
                "logits": _fig_logits(result, out / "figures" / "probe_logits.png")}
        if len(result.layers) > 1:
            figs["layers"] = _fig_layers(result, out / "figures" / "probe_layers.png")
    seed = (result.summary().get("config") or {}).get("seed")
    pv = prov.collect(seconds=time.perf_counter() - t0, seeds=[] if seed is None else [seed])
    index = out / "index.html"
    write_text_atomic(index, _page(result, figs, pv, out))
    return index


def _fig_geometry(result: ProbeResultLike, path: Path) -> Path:
    data, mt, th = result.data, result.metrics, result.theory
    order = context_order(data, 300, prefer_groups=True)
    g = np.asarray(data.support_groups)[order]
    H = result.H[:, order]
    panels = [("model: corr(H)", corr_map(H)), ("model: corr(H − mean)", corr_map(H - result.H.mean(axis=1, keepdims=True)[:, :1]))]
    if th.G_H_proxy is not None:
        panels.append(("proxy: corr from (S̃ᵀS̃)^½", corr_from_gram(th.G_H_proxy[np.ix_(order, order)])))
    if th.H_mm is not None:
        panels.append(("theory: corr(H_mm)", corr_map(th.H_mm[:, order])))
    n_multi = int(mt.get("n_contexts_in_multi") or 0)
    with styled():
        fig = new_figure(3.3 * len(panels) + 0.6, 3.5)
        axes = fig.subplots(1, len(panels))
        for ax, (name, A) in zip(np.atleast_1d(axes), panels):
            im = ax.imshow(A, cmap=CORR_CMAP, vmin=-1, vmax=1, aspect="auto")
            ax.grid(False)
            ax.set_title(name)
            ax.set_xticks([])
            ax.set_yticks([])
            group_lines(ax, g, square=True)
            if n_multi < len(order):
                ax.axvline(min(n_multi, len(order)) - 0.5, color="k", lw=1.0)
                ax.axhline(min(n_multi, len(order)) - 0.5, color="k", lw=1.0)
        fig.colorbar(im, ax=list(np.atleast_1d(axes)), fraction=0.02, pad=0.01)
        fig.suptitle(f"{len(order)} contexts ordered by support group (largest first; thick line: end of groups with >= 2 contexts)", y=1.03)
        return save(fig, path)


def _fig_logits(result: ProbeResultLike, path: Path) -> Path:
    data, mt, th = result.data, result.metrics, result.theory
    with styled():
        fig = new_figure(13.5, 3.6)
        ax1, ax2, ax3 = fig.subplots(1, 3)
        Lin = th.L_in
        PF = proj_F(result.L, data)
        P = data.P
        col = np.repeat(np.arange(data.m), np.diff(P.indptr))
        x, y = Lin[P.indices, col], PF[P.indices, col]
        keep = data.support_sizes[col] >= 2
        ax1.scatter(x[keep], y[keep], s=4, alpha=0.35, color="#0072B2", rasterized=True)
        xl = float(np.abs(x[keep]).max()) if keep.any() else 1.0
        yl = float(np.abs(y[keep]).max()) if keep.any() else 1.0
        xl, yl = xl or 1.0, yl or 1.0
        t = np.linspace(-xl, xl, 3)
        ax1.plot(t, t, color="k", lw=0.8, label="P_F(L) = L_in")
        a = mt.get("softlabel_scale")
        if a and np.isfinite(a) and a != 0:
            ax1.plot(t, t / a, color="#D55E00", lw=0.8, ls="--", label=f"best fit P_F(L) = L_in / {a:.3g}")
        ax1.set_xlim(-1.05 * xl, 1.05 * xl)
        ax1.set_ylim(-1.05 * max(yl, xl), 1.05 * max(yl, xl))
        ax1.set_xlabel("corpus in-support log-odds L_in")
        ax1.set_ylabel("model P_F(L)")
        ax1.set_title(f"F part: rel. error {mt['softlabel_rel']:.2f}, cos {mt['softlabel_cos']:.2f}")
        ax1.legend(loc="upper left")
        names, vals, bases, sds = [], [], [], []
        for key, label in (("collapse_H", "H"), ("collapse_Hc", "H − mean"), ("collapse_Lperp", "P_⊥(L)")):
            v = mt.get(key)
            if v is not None and np.isfinite(v):
                names.append(label)
                vals.append(v)
                bases.append(mt.get(key + "_base", np.nan))
                sds.append(mt.get(key + "_base_std", np.nan))
        xs = np.arange(len(names))
        ax2.bar(xs - 0.2, vals, width=0.4, color="#0072B2", label="support grouping")
        ax2.bar(xs + 0.2, bases, width=0.4, yerr=sds, color="#bbbbbb", label="random grouping (mean ± sd)")
        for xi, v in zip(xs, vals):
            ax2.text(xi - 0.2, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
        ax2.set_xticks(xs, names)
        ax2.set_ylim(0, 1.05)
        ax2.set_title("subspace-collapse index (0 = collapsed)")
        ax2.set_ylabel("collapse index")
        ax2.legend(loc="upper right")
        mass = np.bincount(col, weights=np.exp(result.L[P.indices, col] - result.lse[col]), minlength=data.m)
        ax3.hist(mass, bins=30, color="#009E73")
        ax3.set_xlabel("probability on the support")
        ax3.set_ylabel("contexts")
        ax3.set_title(f"support mass (π-weighted mean {mt['support_mass']:.2f})")
        return save(fig, path)


def model_name(model: dict[str, Any]) -> str:
    """The probed model as a reader knows it: its name or folder (and GGUF file), then its architecture."""
    where = str(model.get("name_or_path") or model.get("path") or "model").rstrip("/")
    name = Path(where).name or where
    if model.get("gguf_file"):
        name = f"{name}/{model['gguf_file']}"
    return f"{name} ({model['architecture']})" if model.get("architecture") else name


def verdict_of(row: dict[str, Any]) -> Verdict:
    """A verdict of ``summary.json`` (a :class:`~ntpgeom.verdicts.Verdict` as a dict, plus the page's check/detail)."""
    known = {f.name for f in fields(Verdict)}
    v = {k: val for k, val in row.items() if k in known}
    if v.get("interval") is not None:
        v["interval"] = tuple(v["interval"])
    for k in ("value", "threshold", "margin"):
        v[k] = float("nan") if v.get(k) is None else v[k]
    return Verdict(**v)


#: Per-layer panels: metric key and title.
LAYER_PANELS = (("gap_full", "CE − ℋ (logit lens)"), ("softlabel_rel", "C4: ‖P_F(L) − L_in‖ / ‖L_in‖"),
                ("collapse_Hc", "C3: collapse index of H − mean"), ("cdnv", "CDNV (support groups)"),
                ("rankme", "RankMe (effective rank of H)"), ("anisotropy", "anisotropy (mean cosine)"))


def layer_curve(layers: Sequence[LayerLike], key: str) -> tuple[list[int], np.ndarray]:
    """(depths, values of ``key``) over the layers (NaN where missing)."""
    vals = [layer.metrics.get(key) for layer in layers]
    return [int(x.index) for x in layers], np.array([np.nan if v is None else float(v) for v in vals])


def _band(ax: Any, baseline: Mapping[str, Any], key: str) -> None:
    """The untrained baseline of ``key``: min-max band and mean over its seeds, against depth."""
    rows = (baseline.get("metrics") or {}).get(key)
    if not rows:
        return
    A = np.array([[np.nan if v is None else float(v) for v in r] for r in rows], dtype=float)
    x = baseline["layers"]
    with np.errstate(all="ignore"):
        lo, hi, mid = np.nanmin(A, axis=0), np.nanmax(A, axis=0), np.nanmean(A, axis=0)
    ax.fill_between(x, lo, hi, color="#bbbbbb", alpha=0.5, lw=0, label=f"untrained ({len(rows)} seeds)")
    ax.plot(x, mid, color="#888888", lw=0.8)


def _fig_layers(result: ProbeResultLike, path: Path) -> Path:
    """Each per-layer metric against depth (0 = embedding), with the untrained-baseline band when measured."""
    baseline = result.info.get("baseline") or {}
    with styled():
        fig = new_figure(13.5, 6.4)
        axes = np.atleast_1d(fig.subplots(2, 3)).ravel()
        for ax, (key, title) in zip(axes, LAYER_PANELS):
            _band(ax, baseline, key)
            x, y = layer_curve(result.layers, key)
            ax.plot(x, y, marker="o", ms=3, color="#0072B2", label="model")
            ax.set_title(title)
        _depth_axes(fig, axes)
        axes[0].legend(loc="best")
        return save(fig, path)


def _depth_axes(fig: Any, axes: np.ndarray) -> None:
    """Integer depth ticks, the x label on the bottom row only, room between the rows."""
    from matplotlib.ticker import MaxNLocator

    for i, ax in enumerate(axes):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if i >= len(axes) - 3:
            ax.set_xlabel("layer (0 = embedding)")
    fig.subplots_adjust(hspace=0.35)


def write_series_figure(series: Any, out_dir: str | Path, *, dpi: int | None = None, svg: bool = True) -> Path:
    """Per-layer curves over a checkpoint series (``series.curves(key)`` → (depths, checkpoints x layers);
    :class:`~ntpgeom.probe.series.SeriesResult`), one line per distinct checkpoint, early light to late dark."""
    import matplotlib

    names = [c.name for c in series.checkpoints if c.duplicate_of is None]
    cmap = matplotlib.colormaps["viridis"]
    with output(dpi, svg), styled():
        fig = new_figure(13.5, 6.4)
        axes = np.atleast_1d(fig.subplots(2, 3)).ravel()
        for ax, (key, title) in zip(axes, LAYER_PANELS):
            x, Y = series.curves(key)
            for i, (name, y) in enumerate(zip(names, Y)):
                ax.plot(x, y, marker="o", ms=2, color=cmap(i / max(len(names) - 1, 1)), label=name)
            ax.set_title(title)
        _depth_axes(fig, axes)
        axes[0].legend(loc="best", fontsize=7)
        return save(fig, Path(out_dir) / "figures" / "series_layers.png")


def _layer_rows(result: ProbeResultLike) -> list[list[Any]]:
    """The per-layer table: depth and each panel's metric."""
    return [[layer.index, *(layer.metrics.get(k) for k, _ in LAYER_PANELS)] for layer in result.layers]


def _page(result: ProbeResultLike, figs: dict[str, Path], pv: prov.Provenance, out: Path) -> str:
    data, mt, s = result.data, result.metrics, result.summary()
    model = s["model"]
    q = model.get("quantization") or {}
    head = [
        ("model", model.get("name_or_path") or model["path"]), ("architecture", model["architecture"]),
        ("parameters", model["n_params"]), ("d", model["d"]), ("model vocabulary", model["V_model"]),
        ("tied unembedding", model["tied_unembedding"]), ("output bias", model["head_bias"]),
        ("GGUF file", model.get("gguf_file")), ("GGUF tensor types", json.dumps(q.get("tensor_types")) if q else None),
    ]
    d = s["data"]
    dat = [
        ("text", s["config"]["text"]), ("context length T-1", d["context_len"]), ("contexts m", d["m"]),
        ("measured tokens V (support + sampled)", d["V"]),
        ("support tokens", data.meta.get("n_support_tokens")), ("distinct supports", d["distinct_supports"]),
        ("contexts measured", s["measured"]["contexts"]),
        ("support groups with >= 2 contexts (measured)", mt.get("n_groups_multi")), ("contexts in them", mt.get("n_contexts_in_multi")),
        ("entropy bound ℋ", d["entropy_bound"]), ("data hash", s["data_hash"]),
    ]
    verdicts = [Hh.verdict_view(verdict_of(v)) for v in s["verdicts"]]  # the report page's columns
    return Hh.render_page(
        "probe.html.j2", title=f"ntpgeom probe: {model_name(model)}", architecture=model_name(model),
        text_name=Path(str(s["config"]["text"] or "text")).name, provenance=pv, verdicts=verdicts,
        model_rows=head, wh=s["wh_check"], data_rows=dat,
        figures={"geometry": Hh.figure_view(figs["geometry"], "corr(H) of the model next to the predicted maps", out),
                 "logits": Hh.figure_view(figs["logits"], "F part of the logits vs L_in; collapse index vs random "
                                          "grouping; mass on the supports", out),
                 "layers": Hh.figure_view(figs["layers"], "each metric against depth (logit lens through the final "
                                          "norm); grey: untrained same-config models", out) if "layers" in figs
                 else None},
        layer_head=["layer", *(t for _, t in LAYER_PANELS)], layer_rows=_layer_rows(result),
        measure_rows=[(k, mt.get(k)) for k in MEASURE_KEYS if k in mt], summary_json=Hh.to_json_text(s),
        reference=reference_line(mt), fixed_rows=fixed_rows(s.get("fixed_features")),
        fixed_certified=bool((s.get("fixed_features") or {}).get("certified")),
        fixed_separable=(s.get("fixed_features") or {}).get("separable"),
    )


#: the rows of the page's fixed-features table: (label, summary key)
FIXED_ROWS = (("direction distance of W to W_mm", "dist_W"), ("direction distance of P⊥(W H) to W_mm H", "dist_L"),
              ("in-support residual ‖P_F(W H) − L_in‖ / ‖L_in‖", "in_residual"),
              ("features reach L_in (compatible)", "compatible"), ("features separate the supports", "separable"),
              ("W_mm solve status", "status"), ("certified relative gap", "gap"), ("‖W_mm‖_F", "norm"),
              ("solve seconds", "seconds"))


def fixed_rows(ff: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    """The fixed-features table of the probe page (:data:`FIXED_ROWS`); [] when the probe did not compute them.

    Parameters
    ----------
    ff : mapping or None
        The ``fixed_features`` block of ``summary.json``.

    Returns
    -------
    list of (str, value)
    """
    return [] if not ff else [(label, ff.get(key)) for label, key in FIXED_ROWS]
