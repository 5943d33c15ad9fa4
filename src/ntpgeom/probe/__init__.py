"""Probe pretrained causal language models: does a real LM organise its last-layer geometry as theory.md predicts?

Pipeline: :func:`load_model` (local folder or GGUF, offline) → :func:`corpus_data` (NTP data over the model's own
tokenizer) → :func:`extract` (H = final hidden state at the last position after the final norm, the model's logits,
L = W H + b check; with ``layers=`` every layer's hidden states and logit lens, :mod:`.layers`) → measurements
against the support pattern. :func:`probe_series`: a checkpoint series, identified by weight hashes, judged as a
trajectory.
"""

from .._callable import make_module_callable
from .extract import Extraction, RunningMoments, corpus_data, extract, measured_tokens, token_names
from .measure import measure, measure_subset, probe_extras, restricted_data
from .reference import given_theory, probe_theory, restrict_theory
from .model import LoadedModel, ProbeError, check_model_path, load_model
from .config import ProbeConfig
from .run import ProbeResult, load_probe, probe, verdicts
from .remeasure import remeasure
from .layers import LayerResult
from .series import Checkpoint, SeriesResult, probe_series

__all__ = [
    "ProbeError", "ProbeConfig", "LoadedModel", "load_model", "check_model_path", "corpus_data", "measured_tokens", "extract",
    "Extraction", "token_names", "measure", "probe_extras", "restricted_data", "probe", "ProbeResult", "load_probe",
    "verdicts", "RunningMoments", "measure_subset", "given_theory", "probe_theory", "restrict_theory", "remeasure",
    "LayerResult", "probe_series", "SeriesResult", "Checkpoint",
]

make_module_callable(__name__, probe)  # ntpgeom.probe(model, text, context_len, ...) probes; the subpackage stays importable
