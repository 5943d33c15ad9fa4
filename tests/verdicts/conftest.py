"""Shared data of the verdict tests."""

import numpy as np
import pytest

from ntpgeom.data.builders import from_counts


@pytest.fixture
def five_cycle():
    """The 5-cycle: supports {j, j+1 mod 5}, uneven counts. ‖S̃‖_* equals the NTP-SVM* optimum 2√5 (S̃ lies on a
    non-unique optimal face) although Prop. 3's certificate sits on its boundary."""
    C = np.zeros((5, 5))
    for j in range(5):
        C[j, j], C[(j + 1) % 5, j] = 1 + j % 3, 2
    return from_counts(C)
