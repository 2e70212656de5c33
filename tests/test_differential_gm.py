"""Differential test of fastcavi.GaussianMixture against scikit-learn's GaussianMixture over
the whole parameter space, with hypothesis (tests/differential_gm.py draws and judges).

Derandomized, so a CI run is reproducible; ``FASTCAVI_DIFFERENTIAL_EXAMPLES`` sets the number
of draws (250 by default). ``python -m tests.differential_gm N`` runs N random draws and lists
every disagreement instead of stopping at the first.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings

from .differential_gm import draws, judge

EXAMPLES = int(os.environ.get("FASTCAVI_DIFFERENTIAL_EXAMPLES", "250"))


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(draws())
def test_gaussian_mixture_agrees_with_scikit_learn(draw):
    judge(draw)
