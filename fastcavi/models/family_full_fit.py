"""Fitting the full and tied mixtures: one pass over a block of rows (the kernels of
:mod:`fastcavi.kernels.full` and :mod:`fastcavi.kernels.tied`), the posterior predictive
density, the p x p sums of a start and the default ``covariance_prior``. The O(K p^2) math
is in :mod:`fastcavi.models.family_full`; the loop and the starts are
:mod:`fastcavi.models.family_fit`'s.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .._threads import parallel_guard
from ..data.sources import blocks
from ..kernels import core as _kernels
from ..kernels import full as _kernels_full
from ..kernels import tied as _kernels_tied
from .covariance import COVARIANCES
from .family import FamilyStats, expected_weights
from .family_full import (
    _stack,
    cholesky,
    log_det,
    logit_params,
    lower_inverses,
    one_blas_thread,
)
from .fixed import in_dtype, kernel_means

_NO_WEIGHTS = np.empty(0, dtype=np.float64)

# Which tied pass (kernels.tied) a block takes: the direct kernel, whose co-responsibilities
# cost K (K - 1)/2 multiply-adds per point in scalar-width loops, or the BLAS path
# (_gram_sweep_statistics_tied: no whitening product, the logits from V Xc^T). Measured on 2
# cores (N = 2e5, best of 5 calls; the direct kernel's time over the BLAS path's, above 1
# meaning BLAS faster):
#   float64 (the pooled scatter from the rows' scatter about the centre):
#     p = 2-4: 0.89-1.12 at K = 2-4, 1.08-1.19 at K = 8, 1.30-2.42 from K = 16;
#     p = 6: 1.12-1.26 at K = 2-8;  p >= 8: 1.05-2.36 at every K
#   float32 (the pooled scatter from the residuals, as the direct kernel forms it):
#     p <= 8: 0.36-0.96 at K = 2-8, 1.04-1.37 from K = 16;  p = 12: 1.13-1.22 at K = 2-8;
#     p >= 16: 1.24-3.77 at every K
# So float64 takes it from 8 features or 8 components, float32 from 12 features or 16
# components.
TIED_BLAS_MIN_FEATURES = {"float64": 8, "float32": 12}
TIED_BLAS_MIN_COMPONENTS = {"float64": 8, "float32": 16}


def tied_uses_blas(n_features, n_components, dtype):
    """Whether a tied pass over data of this shape and dtype takes the BLAS path."""
    name = np.dtype(dtype).name
    return (n_features >= TIED_BLAS_MIN_FEATURES[name]
            or n_components >= TIED_BLAS_MIN_COMPONENTS[name])


def _tied_inputs(means, factor, dtype):
    """What the tied kernels take besides the factor A: the centre c (the means' centroid, in
    X's dtype), the centred means mc_k = m_k - c and the whitened means A mc_k (X's dtype)."""
    centre = means.astype(np.float64).mean(axis=0).astype(dtype)
    centred = np.ascontiguousarray(means.astype(np.float64) - centre.astype(np.float64))
    white = centred @ np.asarray(factor, dtype=np.float64).T
    return centre, centred.astype(dtype), np.ascontiguousarray(white, dtype=dtype)


@one_blas_thread
def block_statistics(X, means, factors, offsets, covariance_type, sample_weight=None):
    """One block of rows (C-contiguous float32/float64; ``means`` in X's dtype) -> its
    :class:`~fastcavi.models.family.FamilyStats` (R (K, p, p) for full, the pooled (p, p) for
    tied) for the E-step logits ``(factors, offsets)`` of
    :func:`fastcavi.models.family_full.logit_params`.
    """
    weights = _NO_WEIGHTS if sample_weight is None else sample_weight
    factors, offsets = in_dtype(X.dtype, factors, offsets)
    if not COVARIANCES[covariance_type].shared:
        with parallel_guard():
            n_k, r_k, s_k, entropy, total_w = _kernels_full._sweep_statistics_full(
                X, weights, means, np.ascontiguousarray(factors), offsets)
        return FamilyStats(n_k, s_k, r_k, float(entropy), float(total_w))
    centre, centred, white = _tied_inputs(means, factors, X.dtype)
    factor = np.ascontiguousarray(factors)
    blas = tied_uses_blas(X.shape[1], means.shape[0], X.dtype)
    # float64 on the BLAS path: R from the rows' scatter about the centre; otherwise from the
    # residuals y and the co-responsibilities, every term non-negative (no cancellation)
    residuals = not blas or X.dtype == np.float32
    with parallel_guard():
        if blas:
            n_k, s_k, r_y, co, entropy, total_w = _kernels_tied._gram_sweep_statistics_tied(
                X, weights, centred, centre, factor, white, offsets, residuals)
        else:
            n_k, s_k, r_y, co, entropy, total_w = _kernels_tied._sweep_statistics_tied(
                X, weights, centred, centre, factor, white, offsets)
    r_k = r_y
    if residuals:  # R = sum_i w y y^T + sum_{k<l} M_kl (m_k - m_l)(m_k - m_l)^T (_family_full)
        r_k = r_y + pair_scatter(co, centred)
    return FamilyStats(n_k, s_k, r_k, float(entropy), float(total_w))


def pair_scatter(co, centred):
    """sum_{k<l} M_kl (m_k - m_l)(m_k - m_l)^T (p, p) from the upper triangle of the
    co-responsibilities ``co`` and the centred means, as ``mc^T L mc`` with L = diag(M 1) - M
    the Laplacian of the symmetric M: O(K^2 p + K p^2) in float64, where the sum over pairs
    took K^2 p^2 and a (K, K, p) array (1 GiB at K = 1024, p = 128). Its terms cancel at most
    as much as those of the rows' scatter about the centre (sum_l M_kl <= N_k), harmless in
    float64."""
    m = np.triu(co, 1)
    m = m + m.T
    laplacian = np.diag(m.sum(axis=1)) - m
    mc = centred.astype(np.float64)
    out = mc.T @ (laplacian @ mc)
    return 0.5 * (out + out.T)


@one_blas_thread
def predict_block(X, params, prior, kind):
    """'labels' (argmax of the E-step's r) or 'proba' (r) for one block of rows."""
    factors, offsets = logit_params(params, prior)
    means = kernel_means(params.means, X.dtype)
    n, k = X.shape[0], len(offsets)
    proba = np.empty((n if kind == "proba" else 0, k), dtype=X.dtype)
    labels = np.empty(n if kind == "labels" else 0, dtype=np.int64)
    mode = _kernels.PREDICT_PROBA if kind == "proba" else _kernels.PREDICT_LABELS
    factors, offsets = in_dtype(X.dtype, factors, offsets)
    factors = np.ascontiguousarray(factors)
    with parallel_guard():
        if not prior.kind.shared:
            _kernels_full._predict_full(X, means, factors, offsets, mode, proba, labels)
        else:
            centre, _, white = _tied_inputs(means, factors, X.dtype)
            _kernels_tied._predict_tied(X, centre, factors, white, offsets, mode, proba,
                                        labels)
    return proba if kind == "proba" else labels


@one_blas_thread
def log_predictive(X, params, prior):
    """log p(x | data) per row: ``log sum_k wbar_k T_k(x)`` with T_k the multivariate
    Student-t of the posterior predictive (Bishop 10.81): ``nu_k + 1 - p`` degrees of freedom,
    location m_k, scale matrix ``Psi_k (1 + b_k) / ((nu_k + 1 - p) b_k)`` (the shared Psi for
    tied); ``wbar`` the normalised E[pi]. float64, in row blocks."""
    p = prior.mean.shape[0]
    b = params.mean_precision
    k_comp = len(b)
    nu, psi = _stack(params, prior)
    chol = cholesky(psi, prior)
    nu = np.broadcast_to(nu, b.shape)
    logdet = np.broadcast_to(log_det(chol), b.shape)
    inv_l = np.broadcast_to(lower_inverses(chol), (k_comp, p, p))
    dof = nu + 1.0 - p
    ratio = b / (1.0 + b)                       # u^T S^-1 u / dof = ratio u^T Psi^-1 u
    log_w = np.log(expected_weights(prior.weight_type, params.weight_concentration))
    const = (log_w + gammaln((dof + p) / 2.0) - gammaln(dof / 2.0) - 0.5 * p * np.log(dof * np.pi)
             - 0.5 * (p * np.log(1.0 / (ratio * dof)) + logdet))
    power = (dof + p) / 2.0
    out = np.empty(X.shape[0])
    for rows in blocks(X.shape[0], max(64, 2 ** 20 // (k_comp * p))):
        diff = np.asarray(X[rows], dtype=np.float64)[:, None, :] - params.means[None]
        v = np.einsum("kij,bkj->bki", inv_l, diff)
        logs = const - power * np.log1p(ratio * np.sum(v * v, axis=2))
        top = np.max(logs, axis=1, keepdims=True)
        out[rows] = top[:, 0] + np.log(np.sum(np.exp(logs - top), axis=1))
    return out


# -- the start and the default prior -----------------------------------------------------------

def scatter_sums(d, r):
    """sum_i r_ik d_i d_i^T (K, p, p) for rows d (B, p) and weighted responsibilities r
    (B, K)."""
    return np.einsum("bk,bi,bj->kij", r, d, d, optimize=True)
