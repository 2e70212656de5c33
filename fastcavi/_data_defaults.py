"""Passes over the rows of any engine's data (an array in memory, a memmap, a Dask array) in
O(block) memory, and the fixed-variance model's data-driven defaults built on them: moments that
stay exact far from the origin and at any scale, k-means++ seeds on a subsample, and the
subsample itself. Used by :class:`fastcavi.GaussianMixtureCAVI`."""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.random import sample_without_replacement

from ._cavi import VAR_MAX, VAR_MIN

_BLOCK_ROWS = 65_536  # rows per block for the O(block) NumPy passes outside the kernels


def _blocks(n_samples, size=_BLOCK_ROWS):
    for start in range(0, n_samples, size):
        yield slice(start, min(n_samples, start + size))


def _is_dask_array(a):
    # Detected without importing dask; fastcavi._dask (which needs it) is imported on use.
    return type(a).__module__.startswith("dask") and hasattr(a, "chunks")


def _row_blocks(X, w):
    """(X block, weight block or None) over the rows, in O(block) memory."""
    if _is_dask_array(X):
        from ._dask import iter_blocks

        yield from iter_blocks(X, w)
        return
    for b in _blocks(X.shape[0]):
        yield X[b], None if w is None else w[b]


def _take(a, idx):
    """Rows (or entries) idx of a as float64 NumPy; on Dask only those rows are computed."""
    if _is_dask_array(a):
        from ._dask import take

        return take(a, idx)
    return np.asarray(a[idx], dtype=np.float64)


def _count_positive(w):
    if _is_dask_array(w):
        from ._dask import count_positive

        return count_positive(w)
    return int(np.count_nonzero(w > 0))


def _moment_sums(xb, wb, origin):
    """First pass over one row block: total weight, sum of w (x - x_0), max |x - x_0| (inf or
    NaN when they overflow: data near the float64 maximum, refused by the caller)."""
    with np.errstate(over="ignore", invalid="ignore"):
        d = np.asarray(xb, dtype=np.float64) - origin
        spread = float(np.abs(d).max()) if d.size else 0.0
        if wb is None:
            return float(d.shape[0]), d.sum(axis=0), spread
        return float(wb.sum()), wb @ d, spread


def _square_sum(xb, wb, mean, scale):
    """Second pass over one row block: sum of w |(x - mean) / scale|^2."""
    sq = (((np.asarray(xb, dtype=np.float64) - mean) / scale) ** 2).sum(axis=1)
    return float(sq.sum()) if wb is None else float(wb @ sq)


def _map_row_blocks(X, w, func, *args):
    """``func(x_block, w_block, *args)`` for every row block of X, as a list in block order:
    NumPy slices in memory, the blocks where they live on Dask (only the results travel)."""
    if _is_dask_array(X):
        from ._dask import map_row_blocks

        return map_row_blocks(X, w, func, *args)
    return [func(X[b], None if w is None else w[b], *args) for b in _blocks(X.shape[0])]


def _column_moments(X, w):
    """Weighted mean (p,) and mean per-feature variance of X, in float64, in O(block) memory:
    two map-reduces over row blocks, the same for in-memory and Dask data."""
    n_features = X.shape[1]
    # Sums of x - x_0, not of x: the mean is exact when every point is the same (so the
    # variance is exactly 0, not rounding noise), and no digits are lost to an offset.
    origin = _take(X, np.array([0]))[0]
    total = spread = 0.0
    s = np.zeros(n_features)
    for part_w, part_s, part_spread in _map_row_blocks(X, w, _moment_sums, origin):
        total += part_w
        s += part_s
        spread = max(spread, part_spread)
    mean = origin + s / total
    if not (math.isfinite(spread) and np.all(np.isfinite(mean))):
        raise _too_large("the mean of X")
    if spread == 0.0:
        return mean, 0.0
    # Deviations over a power of two above the spread (an exact division): their squares can
    # neither overflow nor underflow, whatever the data's scale.
    scale = _pow2_above(spread)
    ss = 0.0
    for part in _map_row_blocks(X, w, _square_sum, mean, scale):
        ss += part
    var = ss / (float(total) * n_features) * scale * scale  # Python floats: inf, no warning
    # A variance that underflowed stays visibly positive (and is then refused): 0 is kept for
    # data without spread.
    return mean, 5e-324 if var == 0.0 and ss > 0.0 else var


def _pow2_above(x):
    """The smallest power of two above finite x > 0 (1.0 for 0), at most 2**1023 (the largest
    float64 power of two, for x >= 2**1023: x / 2**1023 < 2): dividing by it is exact."""
    return math.ldexp(1.0, min(math.frexp(x)[1], 1023)) if x > 0 else 1.0


def _too_large(what):
    return ValueError(
        f"Computing {what} overflowed float64: X's values are too close to the largest float64 "
        "(about 1.8e308) for the arithmetic of the fit. Rescale X (the model is "
        "scale-equivariant) before fitting.")


def _centred(sub, what):
    """sub minus its column means, or the 'rescale X' ValueError if that overflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        centred = sub - sub.mean(axis=0)
    if not np.all(np.isfinite(centred)):
        raise _too_large(what)
    return centred


def _default_variance(name, value):
    """A data-driven default for prior_var or likelihood_var: 1.0 when the data have no spread
    at all; otherwise the value, which must be a variance float64 can hold."""
    if value == 0.0:
        return 1.0
    if not VAR_MIN <= value <= VAR_MAX:
        raise ValueError(
            f"The default {name} computed from X is {value:.3g}, outside the range of variances "
            f"float64 can hold ({VAR_MIN:.3g} to {VAR_MAX:.3g}): X's spread, squared, cannot "
            "be represented. Rescale X (the model is scale-equivariant) before fitting.")
    return value


def _kmeans_plusplus(sub, n_clusters, rng, sample_weight=None):
    """k-means++ seeds: rows of ``sub`` (float64), chosen on its centred copy.

    scikit-learn computes squared distances as ``|x|^2 - 2 x.c + |c|^2``, which loses every
    digit when the data sit far from the origin relative to their spread (at an offset of 1e8
    the distances between unit-spread points are rounding noise). Centring first makes the
    choice translation-equivariant; returning rows of ``sub`` keeps the seeds exact data points.
    """
    # Imported here: sklearn.cluster costs ~0.5 s at import, a third of a cold start.
    from sklearn.cluster import kmeans_plusplus

    centred = _centred(sub, "the k-means++ seeding")
    centred /= _pow2_above(float(np.abs(centred).max()))  # exact; no overflow at any scale
    _, idx = kmeans_plusplus(centred, n_clusters, random_state=rng, sample_weight=sample_weight)
    return sub[idx]


def _subsample(n_samples, w, size, rng):
    """Indices of at most `size` rows with positive weight, drawn uniformly, sorted.

    Draws ranks among the positive-weight rows in O(size) memory when size << N (no O(N)
    permutation: this runs on memmaps and Dask arrays far larger than RAM), then maps ranks to
    rows; every engine draws the same rows from the same random state.
    """
    n_positive = n_samples if w is None else _count_positive(w)
    if n_positive <= size:
        ranks = np.arange(n_positive)
    else:
        ranks = np.sort(sample_without_replacement(n_positive, size, random_state=rng))
    if w is None:
        return ranks
    if _is_dask_array(w):
        from ._dask import positive_rows

        return positive_rows(w, ranks)
    return np.flatnonzero(w > 0)[ranks]
