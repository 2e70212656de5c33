"""Differential tests: scikit-learn (and, for GaussianMixtureCAVI, the reference) as the judge,
over the whole parameter space, with hypothesis.

Derandomized, so a CI run is reproducible. ``FASTCAVI_DIFFERENTIAL_EXAMPLES`` sets the number
of draws against scikit-learn (250 by default; the other tests run a fifth as many):
``FASTCAVI_DIFFERENTIAL_EXAMPLES=5000 pytest tests/test_differential.py`` before a release.
``python -m tests.differential N`` runs N draws and lists every disagreement instead of
stopping at the first.
"""

import copy
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastcavi
from fastcavi import reference

from .differential import COVARIANCE_TYPES, WEIGHT_PRIORS, draws, judge

EXAMPLES = int(os.environ.get("FASTCAVI_DIFFERENTIAL_EXAMPLES", "250"))
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.slow
@settings(max_examples=EXAMPLES, **SETTINGS)
@given(draws())
def test_bayesian_mixture_agrees_with_scikit_learn(draw):
    judge(draw)


# -- sample_weight, which scikit-learn does not have: its facts ------------------------------

@st.composite
def weighted_problems(draw):
    """Small float64 data, integer weights 0..3 (zero = the row left out), valid options."""
    n = draw(st.integers(4, 60))
    p = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n, p)) * draw(st.sampled_from((1.0, 1e-3, 1e3))) + rng.normal(0, 5, p)
    w = rng.integers(0, 4, size=n)
    w[:2] = np.maximum(w[:2], 1)
    opts = dict(
        n_components=draw(st.integers(1, 4)),
        covariance_type=draw(st.sampled_from(COVARIANCE_TYPES)),
        weight_concentration_prior_type=draw(st.sampled_from(WEIGHT_PRIORS)),
        reg_covar=draw(st.sampled_from((0.0, 1e-6, 1e-2))),
        mean_precision_prior=draw(st.sampled_from((None, 0.1, 10.0))),
        algorithm=draw(st.sampled_from(("batch", "incremental"))),
        random_state=draw(st.integers(0, 100)),
    )
    return X, w, opts, draw(st.integers(1, 6)), draw(st.sampled_from((0.0, 1e-3)))


@pytest.mark.slow
@settings(max_examples=max(10, EXAMPLES // 5), **SETTINGS)
@given(weighted_problems())
def test_integer_weights_are_repeated_rows(problem):
    """Integer weights fit as repeated rows, zero weights as rows left out: both fits continue
    one start (a warm start from the same q), with the prior's defaults from their data."""
    X, w, opts, max_iter, tol = problem
    repeated = np.repeat(X, w, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            start = fastcavi.BayesianGaussianMixture(max_iter=1, warm_start=True, **opts).fit(
                repeated)
        except ValueError:
            with pytest.raises(ValueError):
                fastcavi.BayesianGaussianMixture(max_iter=1, **opts).fit(X, sample_weight=w)
            return
        weighted, rows = (copy.deepcopy(start).set_params(max_iter=max_iter, tol=tol)
                          for _ in range(2))
        weighted.fit(X, sample_weight=w.astype(float))
        rows.fit(repeated)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        a, b = np.asarray(getattr(weighted, name)), np.asarray(getattr(rows, name))
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max(), err_msg=name)
    assert weighted.n_iter_ == rows.n_iter_
    np.testing.assert_allclose(weighted.predict_proba(X), rows.predict_proba(X), atol=1e-8)


# -- GaussianMixtureCAVI against its reference ------------------------------------------------

@st.composite
def fixed_problems(draw):
    """Data, a start, hyperparameters (given or the data's defaults), weights, tol."""
    n = draw(st.integers(2, 50))
    p = draw(st.integers(1, 4))
    k = draw(st.integers(1, min(n, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from((1.0, 1e-4, 1e4)))
    offset = draw(st.sampled_from((0.0, 1e3)))
    X = (rng.normal(0, 3, (k, p))[rng.integers(k, size=n)] + rng.normal(size=(n, p))) * scale
    X += offset * scale
    w = rng.uniform(0, 3, n) if draw(st.booleans()) else None
    given_ = draw(st.booleans())
    opts = dict(
        n_components=k,
        means_init=X[rng.choice(n, k, replace=False)] + rng.normal(0, 0.1 * scale, (k, p)),
        mean_vars_init=rng.uniform(0.1, 2, k) * scale**2,
        prior_mean=rng.normal(0, 3, p) * scale + offset * scale if given_ else None,
        prior_var=float(rng.uniform(1, 20)) * scale**2 if given_ else None,
        likelihood_var=float(rng.uniform(0.3, 3)) * scale**2 if given_ else None,
        max_iter=draw(st.integers(1, 12)),
        tol=draw(st.sampled_from((0.0, 1e-4, 1e-2))),
    )
    return X, w, opts


@settings(max_examples=max(10, EXAMPLES // 5), **SETTINGS)
@given(fixed_problems())
def test_fixed_model_agrees_with_the_reference(problem):
    """The estimator's fit from a given start equals the reference's sweeps with the same
    hyperparameters, and stops where the reference's bounds first change by at most
    tol per unit of weight."""
    X, w, opts = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = fastcavi.GaussianMixtureCAVI(**opts).fit(X, sample_weight=w)
    ref = reference.cavi(X, opts["means_init"], opts["mean_vars_init"],
                         prior_mean=gm.prior_mean_, prior_var=gm.prior_var_,
                         likelihood_var=gm.likelihood_var_, n_iter=opts["max_iter"],
                         sample_weight=w)
    total = X.shape[0] if w is None else w.sum()
    changes = np.abs(np.diff(ref.lower_bounds))
    stop = np.flatnonzero(changes <= opts["tol"] * total) if opts["tol"] > 0 else []
    expected = int(stop[0]) + 2 if len(stop) else opts["max_iter"]
    assert gm.n_iter_ == expected
    run = reference.cavi(X, opts["means_init"], opts["mean_vars_init"],
                         prior_mean=gm.prior_mean_, prior_var=gm.prior_var_,
                         likelihood_var=gm.likelihood_var_, n_iter=expected, sample_weight=w)
    scale = np.abs(X).max()
    np.testing.assert_allclose(gm.means_, run.means, rtol=1e-8, atol=1e-9 * scale)
    np.testing.assert_allclose(gm.mean_vars_, run.mean_vars, rtol=1e-8)
    np.testing.assert_allclose(gm.lower_bound_, run.lower_bounds[-1], rtol=1e-8)
