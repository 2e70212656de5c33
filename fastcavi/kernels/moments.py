"""Numba kernels for the column moments of a block of rows (the passes behind the default
priors, the known-variance model's defaults and standardisation): only ``@njit`` code, no
validation.

:func:`fastcavi.data.defaults.moments` takes two passes, each a call per block of rows:

* :func:`shifted_sums`: sum_i w_i (x_i - x_0) and max_ij |x_ij - x_0j|, with x_0 a row of the
  data (so the mean stays exact far from the origin, and is exact when every row is the same);
* :func:`scaled_square_sums`: sum_i w_i ((x_ij - mean_j) / s)^2 per feature, with s a power of
  two above that largest deviation (an exact division, so the squares neither overflow nor
  underflow whatever the data's scale).

X is C-contiguous float32 or float64 (float32 values widen exactly), ``weights`` float64 of
length N or of length 0 (all ones). Every sum is float64, taken over runs of ``_RUN`` rows whose
sums are then added, so the rounding error grows with the run's length plus the number of
runs rather than with N. One thread per call, rows in order: the result depends on the block
alone. A loop of NumPy operations did the same with a block-sized temporary per operation:
1.8 s for the two passes over 1e7 rows of 16 features, against 0.2 s here.
"""

import numpy as np

from .jit import KERNEL_FASTMATH, KERNEL_OPTIONS, cached_njit

# The kernels' options without "arcp": with it LLVM may divide by a reciprocal, which
# overflows where the scale is subnormal (data within 2**-1022 of their mean).
_JIT = dict(KERNEL_OPTIONS, fastmath=set(KERNEL_FASTMATH) - {"arcp"})
_RUN = 256  # rows per run of sums


@cached_njit(**_JIT)
def shifted_sums(X, weights, origin):
    """(sums (p,), spread): sums_j = sum_i w_i (x_ij - origin_j) and spread = max_ij
    |x_ij - origin_j| (inf where a difference overflows float64: data near its maximum)."""
    n_rows, n_features = X.shape
    weighted = weights.shape[0] > 0
    sums = np.zeros(n_features)
    run = np.empty(n_features)
    spread = 0.0
    for start in range(0, n_rows, _RUN):
        for j in range(n_features):
            run[j] = 0.0
        for i in range(start, min(n_rows, start + _RUN)):
            w = weights[i] if weighted else 1.0
            for j in range(n_features):  # each run[j] in row order; a max in any order is one
                d = float(X[i, j]) - origin[j]
                run[j] += w * d
                spread = max(spread, abs(d))
        for j in range(n_features):
            sums[j] += run[j]
    return sums, spread


@cached_njit(**_JIT)
def scaled_square_sums(X, weights, mean, scale):
    """sum_i w_i ((x_ij - mean_j) / scale)^2 per feature (p,); ``scale`` a power of two (the
    division is exact unless it underflows)."""
    n_rows, n_features = X.shape
    weighted = weights.shape[0] > 0
    sums = np.zeros(n_features)
    run = np.empty(n_features)
    for start in range(0, n_rows, _RUN):
        for j in range(n_features):
            run[j] = 0.0
        for i in range(start, min(n_rows, start + _RUN)):
            w = weights[i] if weighted else 1.0
            for j in range(n_features):
                d = (float(X[i, j]) - mean[j]) / scale
                run[j] += w * (d * d)
        for j in range(n_features):
            sums[j] += run[j]
    return sums
