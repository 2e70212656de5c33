"""The fast path as functions: input normalisation, the in-memory sweep, and the functional
API that mirrors :mod:`fastcavi.reference` one-to-one (same names, same signatures)."""

from __future__ import annotations

import numbers

import numpy as np

from ._cavi import (
    block_statistics,
    check_hyper,
    fixed_predict,
    real_vector,
    run_sweeps,
)
from ._threads import thread_limit
from .reference import CAVIResult

__all__ = ["cavi", "responsibilities"]


def as_kernel_array(X, name="X"):
    """A read-only, C-contiguous float32/float64 2-D view of X (copied only when it must be).

    float32 stays float32; every other real dtype becomes float64. Read-only so that user
    arrays, scikit-learn's checked arrays and memmaps are one Numba type (one compile each).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got {X.ndim}-D with shape {X.shape}")
    if X.dtype.kind not in "fiu" or X.dtype == np.float16:
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
        if X.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    X = np.ascontiguousarray(X, dtype=dtype)
    view = X.view()
    view.flags.writeable = False
    return view


def check_finite(X, name="X"):
    """Raise a ValueError if X has NaN or infinity (a sum is the cheap first test)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(X, dtype=np.float64)):
            return
    if np.isnan(X).any():
        raise ValueError(f"Input {name} contains NaN.")
    if not np.isfinite(X).all():
        raise ValueError(f"Input {name} contains infinity or a value too large for "
                         f"{X.dtype}.")


def check_sample_weight(sample_weight, n_samples):
    """None (all ones), or a finite non-negative float64 array of length n_samples with a
    positive sum."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n_samples},)!")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight must be finite (it contains NaN or infinity)")
    if np.any(w < 0):
        raise ValueError("Negative values in sample_weight are not allowed")
    if not np.sum(w) > 0:
        raise ValueError("sample_weight must not be all zero: its sum must be positive")
    return w


def check_means(means, n_components, n_features, name="means_init"):
    m = np.asarray(means)
    if m.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {m.dtype}")
    m = np.array(m, dtype=np.float64)  # a copy: never alias the user's array
    if m.shape != (n_components, n_features):
        raise ValueError(f"The parameter '{name}' should have the shape "
                         f"({n_components}, {n_features}), but got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be finite")
    return m


def check_mean_vars(mean_vars, n_components, name="mean_vars_init"):
    v = real_vector(mean_vars, n_components, name)
    if not np.all(np.isfinite(v) & (v > 0)):
        raise ValueError(f"{name} must be finite and positive")
    return v


def in_memory_sweep(X, sample_weight, likelihood_var):
    """The sweep's map-reduce over an in-memory (or memory-mapped) array: one parallel pass."""

    def sweep(means, mean_vars):
        return block_statistics(X, means, mean_vars, likelihood_var, sample_weight)

    return sweep


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
    with thread_limit(n_threads):
        sweep = in_memory_sweep(Xk, w, hyper.likelihood_var)
        total_w = n_samples if w is None else float(w.sum())
        means, mean_vars, bounds, _, prev_m, prev_v = run_sweeps(
            sweep, means, mean_vars, hyper, Xk.dtype, int(n_iter), 0.0, total_w)
        resp = _responsibilities(Xk, prev_m, prev_v, hyper.likelihood_var)
    return CAVIResult(means, mean_vars, resp, np.array(bounds))


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
