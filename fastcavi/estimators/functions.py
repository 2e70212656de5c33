"""The fast path as functions: the functional API that mirrors :mod:`fastcavi.reference`
one-to-one (same names, same signatures)."""

from __future__ import annotations

import numbers

import numpy as np

from .._threads import thread_limit
from .._validation import (
    as_kernel_array,
    check_finite,
    check_mean_vars,
    check_means,
    check_sample_weight,
)
from ..data.sources import ArraySource
from ..models.fixed import check_hyper, fixed_predict, run_sweeps
from ..reference import CAVIResult

__all__ = ["cavi", "responsibilities"]


def cavi(X, means_init, mean_vars_init, *, prior_mean, prior_var, likelihood_var, n_iter,
         sample_weight=None, n_threads=None):
    """Run exactly ``n_iter`` CAVI sweeps from the given q(mu) with the fast kernels.

    Same signature and result as :func:`fastcavi.reference.cavi` (plus ``n_threads``), so the
    two can be compared stage by stage. ``resp`` is the phi of the last sweep (computed from
    the means before it); it is the only N x K array and is formed after the loop.
    """
    Xk = _check_data(X)
    n_samples, n_features = Xk.shape
    means = check_means(means_init, _n_components(means_init), n_features)
    mean_vars = check_mean_vars(mean_vars_init, means.shape[0])
    hyper = check_hyper(prior_mean, prior_var, likelihood_var, n_features)
    w = check_sample_weight(sample_weight, n_samples)
    if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral):
        raise TypeError(f"n_iter must be an int, got {n_iter!r}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    source = ArraySource(Xk, w)
    with thread_limit(n_threads):
        run = run_sweeps(source, means, mean_vars, hyper, int(n_iter), 0.0)
        resp = _responsibilities(Xk, run.means_before_last, run.mean_vars_before_last,
                                 hyper.likelihood_var)
    return CAVIResult(run.means, run.mean_vars, resp, np.array(run.bounds))


def responsibilities(X, means, mean_vars, *, likelihood_var):
    """phi (N, K) at the given q(mu), as :func:`fastcavi.reference.responsibilities`."""
    Xk = _check_data(X)
    n_features = Xk.shape[1]
    m = check_means(means, _n_components(means, "means"), n_features, "means")
    mean_vars = check_mean_vars(mean_vars, m.shape[0], "mean_vars")
    likelihood_var = check_hyper(0.0, 1.0, likelihood_var, n_features).likelihood_var
    return _responsibilities(Xk, m, mean_vars, likelihood_var)


def _responsibilities(Xk, means, mean_vars, likelihood_var):
    """phi on checked input (Xk from as_kernel_array; means (K, p), mean_vars (K,))."""
    return fixed_predict(Xk, means, mean_vars, float(likelihood_var), "proba")


def _check_data(X):
    """The functional API's X: 2-D, real, finite, at least one row and one column."""
    Xk = as_kernel_array(X)
    if Xk.shape[0] < 1 or Xk.shape[1] < 1:
        raise ValueError(f"Found array with shape {Xk.shape}: X needs at least one sample and "
                         "one feature")
    check_finite(Xk)
    return Xk


def _n_components(means, name="means_init"):
    """K from a (K, p) array of means, with a clear error for any other shape."""
    shape = np.shape(means)
    if len(shape) != 2 or shape[0] < 1:
        raise ValueError(f"{name} must be a 2-D array of shape (n_components, n_features) "
                         f"with n_components >= 1, got shape {shape}")
    return shape[0]
