"""Experiments layer (above :mod:`ntpgeom.report`): the paper's experiments and the appendix ones, end to end.

Each experiment is one :class:`Experiment` record (its data, its training runs per budget, how its runs are measured
and drawn), declared in its own module and listed in :data:`EXPERIMENTS`. ``reproduce(out, quick=False, ...)`` (or
``reproduce(ReproduceConfig(...))``) trains, measures, judges and writes the report: the ``ntpgeom reproduce``
command. The lab notes behind every recipe are in docs/experiments.md.
"""

from ..errors import ReproduceError
from .config import ReproduceConfig
from .experiment import Experiment
from .jobs import ReproduceInterrupted, RunSpec
from .registry import APPENDIX as APPENDIX_EXPERIMENTS, APPENDIX_RECIPES, EXPERIMENTS, RECIPES
from .reproduce import ReproduceResult, summary_text
from .reproduce import reproduce as reproduce  # the function shadows the submodule attribute on purpose

__all__ = ["reproduce", "ReproduceConfig", "ReproduceResult", "ReproduceError", "ReproduceInterrupted",
           "Experiment", "EXPERIMENTS", "RECIPES", "APPENDIX_RECIPES", "APPENDIX_EXPERIMENTS", "RunSpec",
           "summary_text"]
