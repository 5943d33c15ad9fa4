"""Every experiment of ``reproduce``, by name: the paper's three (:mod:`.paper`) and the five appendix experiments
(:mod:`.mlp`, :mod:`.optimizers`, :mod:`.autoregressive`, :mod:`.bottleneck`, :mod:`.fingerprint`), each one
:class:`Experiment` record.
:data:`RECIPES` and :data:`APPENDIX_RECIPES` are views of their runs by budget."""

from __future__ import annotations

from . import autoregressive, bottleneck, fingerprint, mlp, optimizers, paper
from .experiment import BUDGETS, Experiment
from .jobs import RunSpec

#: name -> experiment, in the order ``reproduce`` runs them (the paper's first)
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (*paper.EXPERIMENTS, mlp.EXPERIMENT, optimizers.EXPERIMENT,
                                                          autoregressive.EXPERIMENT, bottleneck.EXPERIMENT,
                                                          fingerprint.EXPERIMENT)}
#: the paper's experiments (``reproduce`` without ``-e``) and the appendix ones (``--appendix``)
MAIN = tuple(n for n, e in EXPERIMENTS.items() if not e.appendix)
APPENDIX = tuple(n for n, e in EXPERIMENTS.items() if e.appendix)
#: ``-e appendix`` selects every appendix experiment
ALL_APPENDIX = "appendix"

#: budget -> experiment -> runs of the paper's experiments, and ``text`` (``reproduce --text``)
RECIPES: dict[str, dict[str, list[RunSpec]]] = {
    b: {**{n: EXPERIMENTS[n].recipe(b == "quick") for n in MAIN}, "text": list(paper.TEXT_RUNS[b])} for b in BUDGETS}
#: budget -> appendix experiment -> runs
APPENDIX_RECIPES: dict[str, dict[str, list[RunSpec]]] = {
    b: {n: EXPERIMENTS[n].recipe(b == "quick") for n in APPENDIX} for b in BUDGETS}
