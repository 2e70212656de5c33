"""Per-feature centre and scale, for ``GaussianMixtureCAVI(standardize=True)`` and for the
command's warning about features on very different scales.

The model has one variance for every feature (``lambda2 I``), so a feature measured in large
units dominates the distances and the fit. Standardising divides every feature by its
standard deviation first (after subtracting its mean); the fitted model keeps the centre and
scale and applies them to every X it is given later.
"""

from __future__ import annotations

import numpy as np

_BLOCK_ROWS = 65_536


def _is_dask_array(a):
    return type(a).__module__.startswith("dask") and hasattr(a, "chunks")


def center_scale(X, sample_weight=None):
    """The (weighted) mean and standard deviation of every column of X, float64, shape (p,),
    except that a column without spread gets the scale 1.0."""
    mean, sd = mean_sd(X, sample_weight)
    return mean, np.where(sd > 0, sd, 1.0)


def mean_sd(X, sample_weight=None):
    """The (weighted) mean and standard deviation of every column of X, float64, shape (p,).

    Two passes over row blocks (O(block) memory, so a memmap is not read into memory); a
    Dask array is reduced by Dask.
    """
    w = sample_weight
    if _is_dask_array(X):
        Xf = X.astype(np.float64)
        if w is None:
            mean = Xf.mean(axis=0)
            var = ((Xf - mean) ** 2).mean(axis=0)
        else:
            total = w.sum()
            mean = (Xf * w[:, None]).sum(axis=0) / total
            var = (((Xf - mean) ** 2) * w[:, None]).sum(axis=0) / total
        import dask

        mean, var = (np.asarray(a, dtype=np.float64) for a in dask.compute(mean, var))
    else:
        n, p = X.shape
        blocks = [slice(s, min(n, s + _BLOCK_ROWS)) for s in range(0, n, _BLOCK_ROWS)]
        total, s1 = 0.0, np.zeros(p)
        for b in blocks:
            xb = np.asarray(X[b], dtype=np.float64)
            if w is None:
                total += xb.shape[0]
                s1 += xb.sum(axis=0)
            else:
                total += float(w[b].sum())
                s1 += w[b] @ xb
        mean = s1 / total
        s2 = np.zeros(p)
        for b in blocks:
            d2 = (np.asarray(X[b], dtype=np.float64) - mean) ** 2
            s2 += d2.sum(axis=0) if w is None else w[b] @ d2
        var = s2 / total
    return mean, np.sqrt(var)


def standardize(X, center, scale):
    """(X - center) / scale in X's dtype (float32 stays float32); lazy on a Dask array."""
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if _is_dask_array(X):
        return ((X - center) / scale).astype(dtype)
    out = np.asarray(X, dtype=np.float64) - center
    out /= scale
    return out.astype(dtype, copy=False)


def fit_standardize(est, X, w):
    """In ``est.fit``: set ``est.center_``/``scale_`` (None unless ``est.standardize``) and
    return the X to fit."""
    est.center_ = est.scale_ = None
    if not est.standardize:
        return X
    est.center_, est.scale_ = center_scale(X, w)
    return _kernel_ready(standardize(X, est.center_, est.scale_))


def apply_standardize(est, X):
    """X as the fitted ``est`` sees it: standardised when it was fitted so. An X with the
    wrong number of features is returned as it is, for the usual error downstream."""
    center = getattr(est, "center_", None)
    if center is None or X.ndim != 2 or X.shape[1] != center.shape[0]:
        return X
    return _kernel_ready(standardize(X, center, est.scale_))


def _kernel_ready(X):
    if _is_dask_array(X):
        return X
    from ._fit import as_kernel_array

    return as_kernel_array(X)
