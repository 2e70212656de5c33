"""Data-driven defaults, from passes over any data source (:mod:`fastcavi.data.sources`) in
O(block) memory: moments that stay exact far from the origin and at any scale (for both
estimators' priors and for standardisation), k-means++ seeds on a subsample, the subsample
itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import VAR_MAX, VAR_MIN, as_kernel_array


@dataclass
class Moments:
    """Weighted moments of the columns of X, float64: ``mean`` (p,), ``total`` (the total
    weight), ``sq_sums`` (p,) = sum_i w_i (x_ij - mean_j)^2 and ``mean_var``, the variance
    averaged over features (sum_i w_i |x_i - mean|^2 / (total p))."""

    mean: np.ndarray
    total: float
    sq_sums: np.ndarray
    mean_var: float

    def variances(self, ddof=0):
        """Per-feature variances, sum of squares / (total - ddof)."""
        return self.sq_sums / (self.total - ddof)


_NO_WEIGHTS = np.empty(0)


def _block_weights(wb):
    """A block's weights as the moments' kernels take them (length 0: every row counts once)."""
    return _NO_WEIGHTS if wb is None else np.ascontiguousarray(wb, dtype=np.float64)


def _moment_sums(xb, wb, origin):
    """First pass over one row block: total weight, sum of w (x - x_0), max |x - x_0| (inf when
    they overflow: data near the float64 maximum, refused by the caller). A compiled loop
    over the rows (:mod:`fastcavi.kernels.moments`), no temporary of the block's size."""
    from ..kernels.moments import shifted_sums  # (imports Numba: not at this module's import)

    s, spread = shifted_sums(as_kernel_array(xb), _block_weights(wb), origin)
    total = float(xb.shape[0]) if wb is None else float(np.sum(wb))
    return total, s, spread


def _square_sums(xb, wb, mean, scale):
    """Second pass over one row block: sum of w |(x - mean) / scale|^2, and per feature."""
    from ..kernels.moments import scaled_square_sums

    per_feature = scaled_square_sums(as_kernel_array(xb), _block_weights(wb), mean, scale)
    return float(per_feature.sum()), per_feature


def moments(source):
    """:class:`Moments` of the source's rows: two map-reduces over row blocks, the same for
    every engine."""
    n_features = source.n_features
    # Sums of x - x_0, not of x: the mean is exact when every point is the same (so the
    # variance is exactly 0, not rounding noise), and no digits are lost to an offset.
    origin = source.take(np.array([0]))[0]
    total = spread = 0.0
    s = np.zeros(n_features)
    for part_w, part_s, part_spread in source.map_rows(_moment_sums, origin):
        total += part_w
        s += part_s
        spread = max(spread, part_spread)
    mean = origin + s / total
    if not (math.isfinite(spread) and np.all(np.isfinite(mean))):
        raise _too_large("the mean of X")
    if spread == 0.0:
        return Moments(mean, total, np.zeros(n_features), 0.0)
    # Deviations over a power of two above the spread (an exact division): their squares can
    # neither overflow nor underflow, whatever the data's scale.
    scale = _pow2_above(spread)
    ss, per_feature = 0.0, np.zeros(n_features)
    for part, part_features in source.map_rows(_square_sums, mean, scale):
        ss += part
        per_feature += part_features
    var = ss / (float(total) * n_features) * scale * scale  # Python floats: inf, no warning
    with np.errstate(over="ignore"):  # inf: refused by the caller (0 stays 0)
        per_feature = per_feature * scale * scale
    # A variance that underflowed stays visibly positive (and is then refused): 0 is kept for
    # data without spread.
    return Moments(mean, total, per_feature, 5e-324 if var == 0.0 and ss > 0.0 else var)


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
    centred = _centred(sub, "the k-means++ seeding")
    centred /= _pow2_above(float(np.abs(centred).max()))  # exact; no overflow at any scale
    return sub[kmeans_plusplus_indices(centred, n_clusters, rng, sample_weight)]


def kmeans_plusplus_indices(X, n_clusters, rng, sample_weight=None):
    """The rows of X (float64, C-ordered) that scikit-learn's ``sklearn.cluster.kmeans_plusplus``
    picks with the same random state: the same greedy k-means++ (``2 + log K`` trials per
    centre, the one that lowers the weighted potential most kept), the same arithmetic in the
    same order, so the same seeds bit for bit (a test holds it to scikit-learn's).

    Written out (after scikit-learn's ``_kmeans_plusplus``, BSD-3-Clause) so that a fit does
    not import scikit-learn: its import takes about a second, most of a command's start.
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        sample_weight = np.ones(n_samples, dtype=X.dtype)
    n_local_trials = 2 + int(np.log(n_clusters))
    x_squared_norms = np.einsum("ij,ij->i", X, X)

    def squared_distances(rows):  # scikit-learn's _euclidean_distances(rows, X, squared=True)
        d = -2 * (rows @ X.T)
        d += np.einsum("ij,ij->i", rows, rows)[:, None]
        d += x_squared_norms.reshape(1, -1)
        return np.maximum(d, 0, out=d)

    indices = np.full(n_clusters, -1, dtype=int)
    indices[0] = rng.choice(n_samples, p=sample_weight / sample_weight.sum())
    closest_dist_sq = squared_distances(X[indices[0], np.newaxis])
    current_pot = closest_dist_sq @ sample_weight
    for c in range(1, n_clusters):
        rand_vals = rng.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(sample_weight * closest_dist_sq), rand_vals)
        np.clip(candidate_ids, None, closest_dist_sq.size - 1, out=candidate_ids)
        distance_to_candidates = squared_distances(X[candidate_ids])
        np.minimum(closest_dist_sq, distance_to_candidates, out=distance_to_candidates)
        candidates_pot = distance_to_candidates @ sample_weight.reshape(-1, 1)
        best = np.argmin(candidates_pot)
        current_pot = candidates_pot[best]
        closest_dist_sq = distance_to_candidates[best]
        indices[c] = candidate_ids[best]
    return indices


def _subsample(source, size, rng):
    """Indices of at most `size` rows with positive weight, drawn uniformly, sorted.

    Draws ranks among the positive-weight rows in O(size) memory when size << N (no O(N)
    permutation: this runs on memmaps and Dask arrays far larger than RAM), then maps ranks to
    rows; every engine draws the same rows from the same random state.
    """
    n_positive = source.count_positive()
    if n_positive <= size:
        ranks = np.arange(n_positive)
    else:
        from sklearn.utils.random import sample_without_replacement

        ranks = np.sort(sample_without_replacement(n_positive, size, random_state=rng))
    return source.positive_rows(ranks)


# -- a proper default covariance_prior ---------------------------------------------------------

#: The ridge of :func:`proper_covariance_prior`, relative to each feature's variance.
PRIOR_RIDGE = 1e-6


def _feature_scales(variances):
    """Each feature's variance, or for a feature without spread the mean variance of the others
    (1 when no feature has spread): a scale for every feature."""
    variances = np.asarray(variances, dtype=np.float64)
    spread = variances > 0
    fallback = float(variances[spread].mean()) if np.any(spread) else 1.0
    return np.where(spread, variances, fallback)


def proper_covariance_prior(psi0):
    """The data-driven covariance prior made proper: ``(psi0, changed)``.

    The exact ELBO needs a proper prior: Psi0 positive definite ('full', 'tied'), positive
    ('diag', 'spherical'). The data's covariance is not when a feature has no spread, when
    there are no more points than features, or when features are collinear. Then the nearest
    proper prior is used instead: ``PRIOR_RIDGE`` times each feature's variance added to the
    diagonal ('full', 'tied': Psi0 + 1e-6 diag(s)), or the zero variances replaced by 1e-6
    times their scale ('diag', 'spherical'), where s_j is feature j's variance, or for a
    feature without spread the mean variance of the others (1 when there is none). The
    ridge is relative to each feature's own scale, so the fit stays equivariant to rescaling
    features, and a prior that is already proper is returned unchanged.

    'full'/'tied' count as singular when Psi0 scaled to unit diagonal (the correlation matrix)
    has an eigenvalue at or below 1e-10: a condition that no rescaling of the features
    changes.
    """
    psi0 = np.asarray(psi0, dtype=np.float64)
    if psi0.ndim < 2:
        if np.all(psi0 > 0):
            return (float(psi0) if psi0.ndim == 0 else psi0), False
        floor = PRIOR_RIDGE * _feature_scales(np.atleast_1d(psi0))
        fixed = np.where(psi0 > 0, psi0, floor)
        return (float(fixed[0]) if psi0.ndim == 0 else fixed), True
    scales = _feature_scales(np.diagonal(psi0))
    root = np.sqrt(scales)
    with np.errstate(invalid="ignore"):
        smallest = np.linalg.eigvalsh(psi0 / np.outer(root, root))[0]
    if smallest > 1e-10:
        return psi0, False
    return psi0 + np.diag(PRIOR_RIDGE * scales), True
