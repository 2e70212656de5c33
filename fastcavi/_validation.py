"""Every check of user input, in one place and in scikit-learn's words: X (in memory, memory-
mapped, or a Dask array), sample_weight, the hyperparameters, and the estimators' parameters.

The estimators call these before any data is touched; the kernels assume what they establish
(C-contiguous float32/float64 rows, finite values, non-negative finite weights with a positive
sum). Nothing here imports scikit-learn or Dask at module level (``import fastcavi`` stays
cheap).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# The variances sigma2 and lambda2 must keep 1/v and log(2 pi v) finite: normal float64 values.
VAR_MIN = float(np.finfo(np.float64).tiny)  # 2.2e-308
VAR_MAX = float(np.finfo(np.float64).max) / (2.0 * math.pi)  # 2.9e307


def model_name(estimator):
    """The estimator's name in messages and model files: the public class's name
    (``GaussianMixtureCAVI`` also for the command line's scikit-learn-free form of it)."""
    return getattr(estimator, "_MODEL_NAME", None) or type(estimator).__name__


def is_dask_array(a):
    """Whether ``a`` is a Dask array (detected without importing Dask)."""
    return type(a).__module__.startswith("dask") and hasattr(a, "chunks")


# -- X ---------------------------------------------------------------------------------------

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


def _sums_finite(X):
    """Whether X's float64 sum is finite: then every value is (the cheap first test of
    finiteness; values near the float64 maximum can overflow it, so False is not proof)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.sum(X, dtype=np.float64)))


def check_finite(X, name="X"):
    """Raise a ValueError if X has NaN or infinity (a sum is the cheap first test)."""
    if _sums_finite(X):
        return
    if np.isnan(X).any():
        raise ValueError(f"Input {name} contains NaN.")
    if not np.isfinite(X).all():
        raise ValueError(f"Input {name} contains infinity or a value too large for "
                         f"{X.dtype}.")


def _plain_float_array(X, ensure_min_samples):
    """Whether X is a NumPy array that scikit-learn's ``validate_data`` would pass unchanged
    (float32/float64 in native byte order, 2-D, finite, enough rows, a feature at least)."""
    return (type(X) in (np.ndarray, np.memmap) and X.dtype in _FLOAT_DTYPES and X.ndim == 2
            and X.shape[0] >= max(1, ensure_min_samples) and X.shape[1] >= 1
            and _sums_finite(X))


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def validate_X(estimator, X, *, reset, ensure_min_samples=1):
    """X in memory (or memory-mapped) for ``estimator``'s fit (``reset=True``) or predict:
    scikit-learn's checks and messages (``n_features_in_``, ``feature_names_in_``), then the
    kernels' form (:func:`as_kernel_array`; a float32/float64 C-ordered memmap is not copied).

    float32 stays float32; every other real or boolean dtype becomes float64 (as
    ``check_array`` does). Arrays of strings are refused rather than parsed: check_array with a
    list of dtypes would turn "1.5" into 1.5.

    A plain finite float NumPy array (what the command line reads from a file) is checked
    here without scikit-learn, with what ``validate_data`` would do to it (it would pass it
    unchanged): importing scikit-learn takes about a second, most of a command's start.
    Everything else (other types and dtypes, names, NaN, a fitted model with feature names)
    goes through ``validate_data``.
    """
    if _plain_float_array(X, ensure_min_samples):
        if reset:
            estimator.n_features_in_ = X.shape[1]
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
            return as_kernel_array(X)
        if hasattr(estimator, "n_features_in_") and not hasattr(estimator, "feature_names_in_"):
            check_n_features(estimator, X.shape[1])
            return as_kernel_array(X)
    from sklearn.utils.validation import validate_data

    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind is None and isinstance(X, (list, tuple)):
        kind = np.asarray(X).dtype.kind
    if kind in ("U", "S"):
        raise ValueError(f"X is an array of strings or bytes; {model_name(estimator)} needs "
                         "real numbers. Convert your data to numeric values explicitly "
                         "instead.")
    checked = _as_sklearn_estimator(estimator)
    # scikit-learn's finiteness check sums X first: values near the float64 maximum make that
    # sum inf - inf (a RuntimeWarning), and then it checks element by element.
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(checked, X, dtype=[np.float64, np.float32], order="C",
                              reset=reset, ensure_all_finite=True,
                              ensure_min_samples=ensure_min_samples)
    finally:
        if checked is not estimator:  # back onto the model the stand-in checked for
            _copy_fitted_names(checked, estimator)
    return as_kernel_array(X)


def _as_sklearn_estimator(estimator):
    """``estimator``, or for a model without scikit-learn's base classes (the command line's)
    a scikit-learn estimator of the same name holding its ``n_features_in_`` and
    ``feature_names_in_``, for ``validate_data``."""
    if hasattr(estimator, "__sklearn_tags__"):
        return estimator
    from sklearn.base import BaseEstimator

    stand_in = type(model_name(estimator), (BaseEstimator,), {})()
    _copy_fitted_names(estimator, stand_in)
    return stand_in


def _copy_fitted_names(source, target):
    """``n_features_in_`` and ``feature_names_in_`` of ``source`` onto ``target``, each removed
    from ``target`` where ``source`` has none."""
    for name in ("n_features_in_", "feature_names_in_"):
        if hasattr(source, name):
            setattr(target, name, getattr(source, name))
        elif hasattr(target, name):
            delattr(target, name)


def check_dask_array(X, name="X"):
    """A 2-D float32/float64 Dask array chunked only along rows (lazy: nothing is computed).

    float32 stays float32; other real dtypes become float64, as in memory. Column chunks are
    merged into one, so that every block holds whole points. (Finiteness is checked block by
    block when the data are first read.)
    """
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got {X.ndim}-D with shape {X.shape}")
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if any(math.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes along its rows; call "
                         f"{name}.compute_chunk_sizes() (or persist it) before fitting")
    n_samples, n_features = X.shape
    if n_samples < 1 or n_features < 1:
        raise ValueError(f"Found array with shape {X.shape} while a minimum of 1 sample and "
                         f"1 feature is required.")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if X.dtype != dtype:
        X = X.astype(dtype)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def check_n_features(estimator, n_features):
    """predict's X must have the fitted number of features (scikit-learn's message)."""
    if n_features != estimator.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {model_name(estimator)} is "
                         f"expecting {estimator.n_features_in_} features as input.")


def check_random_state(seed):
    """scikit-learn's ``check_random_state`` (same results, same error), without importing
    scikit-learn: None (or ``np.random``) -> NumPy's global RandomState, an int -> a new
    ``RandomState(seed)``, a RandomState -> itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def check_fitted(estimator):
    """Raise scikit-learn's ``NotFittedError``, in ``check_is_fitted``'s words, unless
    ``estimator`` is fitted (``__sklearn_is_fitted__``); scikit-learn is imported only to
    raise it."""
    if not estimator.__sklearn_is_fitted__():
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {model_name(estimator)} instance is not fitted yet. Call "
                             "'fit' with appropriate arguments before using this estimator.")


def check_n_samples(n_samples, n_components):
    if n_samples < n_components:
        raise ValueError(f"Expected n_samples >= n_components but got "
                         f"n_components = {n_components}, n_samples = {n_samples}")


# -- sample_weight ---------------------------------------------------------------------------

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
    check_weight_values(np.all(np.isfinite(w)), int(np.count_nonzero(w < 0)), np.sum(w))
    return w


def check_weight_values(finite, n_negative, total):
    """The value checks of a weight vector, from its summaries (so that a Dask engine can
    compute them in one pass where the weights are)."""
    if not finite:
        raise ValueError("sample_weight must be finite (it contains NaN or infinity)")
    if n_negative:
        raise ValueError("Negative values in sample_weight are not allowed")
    if not total > 0:
        raise ValueError("sample_weight must not be all zero: its sum must be positive")


def check_dask_weights(sample_weight, X):
    """sample_weight for a Dask X as a lazy float64 Dask array chunked like X's rows, or None.

    A NumPy (or scalar) weight is checked here; a Dask one when the data are first read
    (:func:`check_weight_values` on its summaries), so that it is read once.
    """
    import dask.array as da

    n_samples = X.shape[0]
    if sample_weight is None:
        return None
    if not is_dask_array(sample_weight):
        w = check_sample_weight(sample_weight, n_samples)
        return da.from_array(w, chunks=(X.chunks[0],))
    w = sample_weight
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n_samples},)!")
    return w.astype(np.float64).rechunk((X.chunks[0],))


def check_positive_count(n_positive, n_components):
    if n_positive < n_components:
        raise ValueError("sample_weight must give positive weight to at least "
                         f"n_components = {n_components} points")


# -- hyperparameters and starting values -------------------------------------------------------

def real_vector(value, length, name, context=""):
    """``value`` as a new float64 array of shape (length,), a scalar broadcast to it.

    TypeError when it does not hold real numbers, ValueError when its shape is wrong.
    """
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim == 0:
        a = np.full(length, float(a))
    if a.shape != (length,):
        raise ValueError(f"{name} must be a scalar or have shape ({length},){context}, "
                         f"got shape {a.shape}")
    return a


def check_variances(prior_var, likelihood_var):
    """sigma2 and lambda2: positive reals whose 1/v and log(2 pi v) are finite in float64."""
    for name, v in (("prior_var", prior_var), ("likelihood_var", likelihood_var)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a positive real number, got {v!r}")
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite positive number, got {v!r}")
        if not VAR_MIN <= v <= VAR_MAX:
            raise ValueError(f"{name} must be between {VAR_MIN:.3g} and {VAR_MAX:.3g} (1/{name} "
                             f"and log(2 pi {name}) must be finite in float64), got {v!r}")


def check_prior_mean(prior_mean, n_features):
    alpha = real_vector(prior_mean, n_features, "prior_mean",
                        " to match the number of features")
    if not np.all(np.isfinite(alpha)):
        raise ValueError("prior_mean must be finite")
    return alpha


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


# -- the estimators' parameters, in scikit-learn's wording -----------------------------------

def _invalid(estimator, name, expected, error=ValueError):
    return error(f"The '{name}' parameter of {model_name(estimator)} must be {expected}. "
                 f"Got {getattr(estimator, name)!r} instead.")


def is_real(v):
    return not isinstance(v, bool) and isinstance(v, numbers.Real)


def check_int_params(estimator, lows):
    """Each ``name: low`` of ``lows`` is an int >= low."""
    for name, low in lows.items():
        v = getattr(estimator, name)
        expected = f"an int in the range [{low}, inf)"
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise _invalid(estimator, name, expected, TypeError)
        if v < low:
            raise _invalid(estimator, name, expected)


def check_real_params(estimator, names, *, positive=False, optional=False):
    """Each parameter of ``names`` is a finite real number >= 0 (> 0 with ``positive``), or
    None with ``optional``."""
    interval = "(0.0, inf)" if positive else "[0.0, inf)"
    expected = ("None or " if optional else "") + f"a float in the range {interval}"
    for name in names:
        v = getattr(estimator, name)
        if optional and v is None:
            continue
        if not is_real(v):
            raise _invalid(estimator, name, expected, TypeError)
        if not (math.isfinite(v) and (v > 0 if positive else v >= 0)):
            raise _invalid(estimator, name, expected)


def check_choice_params(estimator, options):
    """Each ``name: options`` of ``options`` is one of those strings."""
    for name, choices in options.items():
        v = getattr(estimator, name)
        if not isinstance(v, str) or v not in choices:
            raise _invalid(estimator, name, f"a str among {{{', '.join(map(repr, choices))}}}")


def check_mixture_params(estimator, covariance_types, init_params, **choices):
    """The parameters every scikit-learn mixture has, in scikit-learn's order and words:
    ``n_components``, ``n_init``, ``max_iter``, ``verbose``, ``verbose_interval``, ``tol``,
    ``reg_covar``, ``covariance_type`` and ``init_params`` (and the estimator's own
    ``choices``, name: options)."""
    check_int_params(estimator, {"n_components": 1, "n_init": 1, "max_iter": 0, "verbose": 0,
                                 "verbose_interval": 1})
    check_real_params(estimator, ("tol", "reg_covar"))
    check_choice_params(estimator, {"covariance_type": covariance_types,
                                    "init_params": init_params, **choices})


def check_bool_params(estimator, names):
    for name in names:
        if not isinstance(getattr(estimator, name), (bool, np.bool_)):
            raise _invalid(estimator, name, "an instance of 'bool'", TypeError)


def check_stream_params(estimator):
    """``partial_fit``'s settings: total_samples > 0, learning_offset >= 0 and learning_decay
    in (0.5, 1] (where the stochastic steps provably converge); total_samples only where the
    estimator has it (maximum-likelihood EM keeps its sums per unit weight)."""
    if hasattr(estimator, "total_samples"):
        check_real_params(estimator, ("total_samples",), positive=True)
    check_real_params(estimator, ("learning_offset",))
    check_real_params(estimator, ("learning_decay",), positive=True)
    if not 0.5 < estimator.learning_decay <= 1.0:
        raise _invalid(estimator, "learning_decay", "a float in the range (0.5, 1.0]")


def check_prior_mean_param(estimator):
    """GaussianMixtureCAVI's prior_mean before the data: None, a real or a 1-D finite array
    (its length is checked once n_features is known)."""
    if estimator.prior_mean is None:
        return
    alpha = np.asarray(estimator.prior_mean)
    expected = "None, a real number or an array of shape (n_features,) of real numbers"
    if alpha.dtype.kind not in "fiu":
        raise _invalid(estimator, "prior_mean", expected, TypeError)
    if alpha.ndim > 1 or not np.all(np.isfinite(alpha)):
        raise _invalid(estimator, "prior_mean", expected + ", all finite")
