"""Test-suite settings.

Hypothesis runs derandomised by default, so the suite (and CI) is reproducible: the same examples every run. Set
HYPOTHESIS_PROFILE=explore for fresh random examples (and more of them) when hunting for bugs.
"""

import os

from hypothesis import settings

settings.register_profile("default", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
