"""ntpgeom: the implicit geometry of next-token prediction.

Data (``NTPData`` and its builders) → theory (L_in, L_mm, S̃) → training → metrics → verdicts → reports →
experiments (``reproduce``).

The data layer is imported eagerly; the theory, training, metrics, report, probe and experiments layers load on first use (so that
``import ntpgeom`` does not import PyTorch or matplotlib).
"""

from __future__ import annotations

import importlib as _importlib
from importlib import metadata as _metadata
from typing import Any as _Any

from .data import (
    NTPData,
    corpora,
    filter_data,
    from_counts,
    from_pairs,
    from_text,
    from_tokens,
    load,
    synthetic,
)
from .errors import FormatError, NTPDataError, NTPGeomError

try:
    __version__ = _metadata.version("ntpgeom")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

# public name -> submodule that defines it (loaded lazily)
_LAZY = {
    # streaming corpus engines (optional Ray engine imported only when asked for)
    "build_corpus": "data.engines", "CorpusConfig": "data.engines",
    # theory
    "L_in": "theory", "S_tilde": "theory", "proj_F": "theory", "proj_perp": "theory", "cross_entropy": "theory",
    "cross_entropy_in": "theory", "entropy_bound": "theory", "tilde_certificate": "theory", "factors": "theory",
    "grams": "theory", "proxy_grams": "theory", "solve_ntp_svm": "theory", "SVMResult": "theory",
    "solve_regularized": "theory", "regularization_path": "theory", "RegResult": "theory", "compute_theory": "theory",
    "load_theory": "theory", "check_theory": "theory", "Theory": "theory", "lambda_max": "theory", "SolverError": "theory",
    "SolverWarning": "theory", "TildeCertificate": "theory", "Status": "theory", "SolverStats": "theory",
    "TheoryLike": "theory", "max_margin": "theory", "MaxMarginResult": "theory", "fixed_features": "theory",
    "FixedFeaturesResult": "theory", "orthant_clusters": "theory", "cluster_purity": "theory",
    "learning_times": "theory",
    # training (``ntpgeom.train`` itself is the training subpackage, callable as ``ntpgeom.train(data, ...)``)
    "load_run": "train", "Run": "train", "Snapshot": "train", "TrainError": "train", "RunStatus": "status",
    "StopReason": "status",
    # metrics
    "snapshot_metrics": "metrics", "run_metrics": "metrics", "corr_map": "metrics", "sim_ssim": "metrics",
    "pearson": "metrics", "collapse_index": "metrics", "collapse_baseline": "metrics", "gram_distance": "metrics",
    "neural_collapse": "metrics", "direction_distance": "theory", "cdnv": "metrics", "rankme": "metrics",
    "alpha_req": "metrics", "anisotropy": "metrics", "layer_metrics": "metrics", "cdnv_by_next_token": "metrics",
    "gnc2": "metrics", "unc3": "metrics", "ncc_agreement": "metrics", "logit_rank_summary": "metrics",
    "run_representation": "metrics", "fingerprint": "metrics", "Fingerprint": "metrics",
    "fixed_features_trajectory": "metrics",
    # verdicts
    "assess": "verdicts", "Assessment": "verdicts", "Verdict": "verdicts",
    # report
    "build_report": "report", "ReportConfig": "report",
    # experiments
    "reproduce": "experiments", "ReproduceConfig": "experiments",
    # probe (``ntpgeom.probe`` is the probe subpackage, callable as ``ntpgeom.probe(...)``)
    "load_probe": "probe", "ProbeResult": "probe", "ProbeConfig": "probe", "ProbeError": "probe",
    "LayerResult": "probe", "probe_series": "probe", "SeriesResult": "probe",
}
_SUBMODULES = ("data", "theory", "train", "metrics", "verdicts", "report", "probe", "experiments", "cli", "errors",
               "status", "progress")


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        module = _importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ntpgeom' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``__all__``) and the public subpackages: no import helpers, no private modules."""
    return sorted(set(__all__) | set(_SUBMODULES))


__all__ = [
    "NTPData", "load", "from_counts", "from_tokens", "from_text", "from_pairs", "filter_data", "synthetic", "corpora",
    "NTPGeomError", "NTPDataError", "FormatError", "__version__", *_LAZY,
]
