"""Per-feature centre and scale, for ``GaussianMixtureCAVI(standardize=True)`` and for the
command's warning about features on very different scales.

The model has one variance for every feature (``lambda2 I``), so a feature measured in large
units dominates the distances and the fit. Standardising divides every feature by its
standard deviation first (after subtracting its mean); the fitted model keeps the centre and
scale and applies them to every X it is given later.
"""

from __future__ import annotations

from functools import partial

import numpy as np


def mean_sd(source):
    """The (weighted) mean and standard deviation of every column of a data source's rows,
    float64, shape (p,) (:func:`fastcavi.data.defaults.moments`: O(block) memory, so a memmap
    is not read into memory, and exact far from the origin)."""
    from .defaults import moments

    m = moments(source)
    return m.mean, np.sqrt(m.variances())


def standardize(X, center, scale):
    """(X - center) / scale in X's dtype (float32 stays float32), for one block of rows."""
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    out = np.asarray(X, dtype=np.float64) - center
    out /= scale
    return out.astype(dtype, copy=False)


def fit_standardize(est, source):
    """In ``est.fit``: set ``est.center_``/``scale_`` (None unless ``est.standardize``) and
    return the data source to fit (the standardised rows)."""
    est.center_ = est.scale_ = None
    if not est.standardize:
        return source
    mean, sd = mean_sd(source)
    est.center_, est.scale_ = mean, np.where(sd > 0, sd, 1.0)
    return source.transformed(standardizer(est))


def standardizer(est):
    """The fitted ``est``'s transformation of a block of rows (None when it has none)."""
    center = getattr(est, "center_", None)
    return None if center is None else partial(standardize, center=center, scale=est.scale_)
