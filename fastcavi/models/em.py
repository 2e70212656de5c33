"""Maximum-likelihood EM for Gaussian mixtures (scikit-learn's ``GaussianMixture``): the O(K p^2)
math around the one-pass kernels that the variational mixtures use.

The E-step's logit of point i in component k is ``log pi_k + log N(x_i | mu_k, Sigma_k)``. In
the kernels' form ``l_ik = -|A_k (x_i - m_k)|^2 - o_k`` (full and tied; diag and spherical:
``-sum_j h_kj (x_ij - m_kj)^2 - o_k``) it is, up to the ``-(p/2) log(2 pi)`` common to every k,

    A_k = U_k^T / sqrt(2)   (U_k the upper factor of the precision, U_k U_k^T = Sigma_k^-1)
    h_k = 1 / (2 sigma_k^2)
    o_k = -(log pi_k + log|U_k|)

One pass (:func:`em_block`) returns, centred on the means m_k that produced the
responsibilities r (:class:`~fastcavi.models.family.FamilyStats`), ``N_k = sum_i w_i r_ik``,
``S_k = sum_i w_i r_ik (x_i - m_k)``, the scatter ``R_k`` and, in place of the entropy, the
log-likelihood ``L = sum_i w_i log sum_k exp(l_ik)``: since r_i is the softmax of l_i,
``log sum_k exp(l_ik) = sum_k r_ik l_ik - sum_k r_ik log r_ik``, so

    L = H - sum_k [N_k o_k + tr(A_k^T A_k R_k)] - W (p/2) log(2 pi)

with H the kernel's entropy sum and W the total weight: no N x K array. ``L / W`` is
scikit-learn's ``lower_bound_`` (the mean log-likelihood at the parameters before the update).

The M-step (:func:`m_step`) is scikit-learn's ``_estimate_gaussian_parameters`` from the sums:
``n_k = N_k + 10 eps``, ``mu_k = (N_k m_k + S_k) / n_k``, and with ``d_k = mu_k - m_k`` the
scatter about the new mean ``R_k - d_k S_k^T - S_k d_k^T + N_k d_k d_k^T`` over n_k, plus
``reg_covar`` on the diagonal (tied: the sum over k, over sum_k n_k; diag: per feature;
spherical: the mean of diag's over the features); ``pi_k = n_k / sum_j n_j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..data.sources import blocks
from ..inference.algorithms import recentre
from .covariance import COVARIANCES
from .em_types import EM_TYPES
from .family import FamilyStats
from .family_fit import block_statistics
from .family_full import lower_inverses, one_blas_thread
from .fixed import kernel_means

_LOG_2PI = math.log(2.0 * math.pi)

ILL_DEFINED = ("Fitting the mixture model failed because some components have ill-defined "
               "empirical covariance (for instance caused by singleton or collapsed samples). "
               "Try to decrease the number of components, increase reg_covar, or scale the "
               "input data.")


@dataclass
class EMParams:
    """A Gaussian mixture's parameters as scikit-learn stores them: ``weights`` (K,),
    ``means`` (K, p), ``covariances`` and ``precisions_cholesky`` ((K, p, p) full, (p, p)
    tied, (K, p) diag, (K,) spherical; the upper factor U, U U^T = the precision)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def _ill_defined(which, covariance_type):
    shared = COVARIANCES[covariance_type].shared
    whose = "the shared covariance" if shared else f"component {which}"
    return ValueError(f"{ILL_DEFINED} ({whose}: its {covariance_type} covariance is not "
                      "positive definite)")


@one_blas_thread
def precisions_cholesky(covariances, covariance_type):
    """scikit-learn's ``_compute_precision_cholesky`` in float64, with an error that names the
    component whose covariance is not positive definite."""
    cov = np.asarray(covariances, dtype=np.float64)
    kind = COVARIANCES[covariance_type]
    if kind.matrix:
        stack = cov[None] if kind.shared else cov
        chol = np.empty_like(stack)
        for k in range(stack.shape[0]):
            if not np.all(np.isfinite(stack[k])):
                raise _ill_defined(k, covariance_type)
            try:
                chol[k] = np.linalg.cholesky(stack[k])
            except np.linalg.LinAlgError:
                raise _ill_defined(k, covariance_type) from None
        out = np.ascontiguousarray(np.swapaxes(lower_inverses(chol), 1, 2))
        return out[0] if kind.shared else out
    bad = ~(cov > 0.0) | ~np.isfinite(cov)
    if np.any(bad):
        raise _ill_defined(int(np.argwhere(bad)[0][0]), covariance_type)
    return 1.0 / np.sqrt(cov)


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """log|U_k| (K,) (one float for tied), as scikit-learn's ``_compute_log_det_cholesky``."""
    return EM_TYPES[covariance_type].log_det(prec_chol, n_features)


def logit_params(params, covariance_type):
    """(factors A_k (K, p, p) / one (p, p) for tied, or half precisions h ((K, p) diag, (K,)
    spherical), offsets o (K,)) for the kernels (see the module docstring)."""
    pc = np.asarray(params.precisions_cholesky, dtype=np.float64)
    p = params.means.shape[1]
    with np.errstate(divide="ignore"):  # a zero weight: log 0 = -inf, the component is off
        log_w = np.log(params.weights)
    offsets = -(log_w + log_det_cholesky(pc, covariance_type, p))
    return EM_TYPES[covariance_type].factors(pc), offsets


def em_block(X, sample_weight, means, factors, offsets, covariance_type):
    """The block function of a data source: one block's statistics for the logits
    ``(factors, offsets)`` (:func:`logit_params`), with ``entropy`` replaced by the block's
    log-likelihood ``sum_i w_i log p(x_i)`` (see the module docstring)."""
    stats = block_statistics(X, means, factors, offsets, covariance_type, sample_weight)
    # The kernels saw the parameters rounded to X's dtype: the expected logits use the same.
    a = np.asarray(factors).astype(X.dtype).astype(np.float64)
    o = np.asarray(offsets).astype(X.dtype).astype(np.float64)
    quad = EM_TYPES[covariance_type].quadratic(a, stats.r_k)
    live = stats.n_k > 0  # o_k = inf (zero weight) with N_k = 0 adds nothing
    p = means.shape[1]
    loglik = (stats.entropy - float(np.sum(stats.n_k[live] * o[live])) - quad
              - stats.total_weight * 0.5 * p * _LOG_2PI)
    return FamilyStats(stats.n_k, stats.s_k, stats.r_k, loglik, stats.total_weight)


def statistics_of(params, covariance_type, reg_covar):
    """Sums per unit weight whose M-step gives back ``params`` (up to scikit-learn's 10 eps
    on N_k), centred on its means: N_k the weights, S_k 0 and the scatter N_k (Sigma_k -
    reg_covar I) in the type's shape. What a model read from a file continues a stream from
    (at a fixed point of EM they are the last E-step's sums)."""
    n_k = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    cov = np.asarray(params.covariances, dtype=np.float64)
    r = EM_TYPES[covariance_type].scatter_of(n_k, cov, reg_covar, means.shape[1])
    return FamilyStats(n_k, np.zeros_like(means), r, 0.0, float(np.sum(n_k))), means


def _scatter_about(stats, centre, means, covariance_type):
    """The statistics' scatter about the new means (same shape as R)."""
    return recentre(stats, centre, means, COVARIANCES[covariance_type].stats_shape).r_k


@one_blas_thread
def m_step(stats, centre, covariance_type, reg_covar, eps, factor=True):
    """scikit-learn's M-step (``_estimate_gaussian_parameters``, the weights normalised, the
    precisions' factors) from one pass's statistics centred on ``centre`` (K, p); ``eps`` is
    the machine epsilon of the data's dtype (scikit-learn adds 10 eps to every N_k).
    ``factor=False`` leaves the precisions' factors out (None)."""
    n_k = np.asarray(stats.n_k, dtype=np.float64)
    nk = n_k + 10.0 * eps
    means = (n_k[:, None] * centre + stats.s_k) / nk[:, None]
    scatter = _scatter_about(stats, centre, means, covariance_type)
    cov = EM_TYPES[covariance_type].covariances(scatter, nk, reg_covar, means.shape[1])
    return EMParams(nk / np.sum(nk), means, cov,
                    precisions_cholesky(cov, covariance_type) if factor else None)


def entropy_block(X, sample_weight, means, factors, offsets, covariance_type):
    """The block function of incremental EM: one block's statistics with ``entropy`` the
    responsibilities' entropy ``-sum_i w_i sum_k r_ik log r_ik`` (what the free energy
    needs)."""
    return block_statistics(X, means, factors, offsets, covariance_type, sample_weight)


def free_energy(stats, centre, params, covariance_type):
    """The free energy F(q, theta) = sum_i w_i sum_k r_ik [log pi_k + log N(x_i | theta_k)
    - log r_ik] of the responsibilities behind ``stats`` (centred on ``centre``, ``entropy``
    their entropy) at the parameters ``params``: the entropy plus the expected complete-data
    log-likelihood, which is linear in the statistics (the scatter taken about ``params``'
    means). F <= the log-likelihood at ``params``, with equality when r is the E-step's
    there."""
    p = params.means.shape[1]
    pc = np.asarray(params.precisions_cholesky, dtype=np.float64)
    n_k = np.asarray(stats.n_k, dtype=np.float64)
    scatter = _scatter_about(stats, centre, params.means, covariance_type)
    quad = EM_TYPES[covariance_type].precision_quadratic(pc, scatter)
    log_det = log_det_cholesky(pc, covariance_type, p)
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    live = n_k > 0
    expected = (float(np.sum(n_k[live] * log_w[live])) + float(np.sum(n_k * log_det))
                - 0.5 * quad - stats.total_weight * 0.5 * p * _LOG_2PI)
    return stats.entropy + expected


def em_model(covariance_type, reg_covar, dtype, bound="loglik"):
    """The model for :mod:`fastcavi.inference.algorithms`: ``visit(params)`` (the block
    function, its arguments, the means the statistics are centred on) and
    ``update(stats, centre)`` (the M-step, and a bound per unit weight).

    ``bound='loglik'`` (batch EM, scikit-learn's): the mean log-likelihood at the parameters
    the statistics came from. ``bound='free_energy'`` (incremental EM, whose statistics come
    from blocks visited at different parameters): the free energy (:func:`free_energy`) per
    unit weight at the parameters after the M-step, which no E-step of a block and no M-step
    decreases (with ``reg_covar=0``: ``reg_covar`` is added to the maximiser)."""
    eps = float(np.finfo(dtype).eps)
    block = em_block if bound == "loglik" else entropy_block

    def visit(params):
        factors, offsets = logit_params(params, covariance_type)
        km = kernel_means(params.means, dtype)
        return block, (km, factors, offsets, covariance_type), km.astype(np.float64)

    def update(stats, centre):
        params = m_step(stats, centre, covariance_type, reg_covar, eps)
        if bound == "loglik":
            return params, stats.entropy / stats.total_weight
        return params, free_energy(stats, centre, params, covariance_type) / stats.total_weight

    return visit, update


def start_from_sums(n_k, s_k, r_k, centre, covariance_type, reg_covar, eps, factor=True):
    """scikit-learn's start from its starting responsibilities' sums (per-feature R (K, p), or
    (K, p, p) for full and tied), centred on ``centre`` ((p,), or (K, p): one per component)
    (``factor``: see
    :func:`m_step`)."""
    r_k = EM_TYPES[covariance_type].start_scatter(r_k)
    stats = FamilyStats(n_k, s_k, r_k, 0.0, float(np.sum(n_k)))
    return m_step(stats, np.broadcast_to(centre, s_k.shape), covariance_type, reg_covar, eps,
                  factor)


def label_sums(X, w, labels, n_components, matrix):
    """(N_k, S_k, R_k, centres (K, p)) when row i of X (weight w[i], None for ones) belongs to
    component labels[i], each component's sums centred on its own weighted mean (so S_k is
    zero up to round-off and R_k loses no digits to the data's offset or to the distance
    between components); R per feature (K, p), or (K, p, p) when ``matrix``."""
    x = np.asarray(X, dtype=np.float64)
    k, p = n_components, x.shape[1]
    wi = np.ones(x.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    n_k = np.bincount(labels, wi, minlength=k)
    sums = np.array([np.bincount(labels, wi * x[:, j], minlength=k) for j in range(p)]).T
    centres = sums / np.where(n_k > 0, n_k, 1.0)[:, None]
    d = x - centres[labels]
    s_k = np.array([np.bincount(labels, wi * d[:, j], minlength=k) for j in range(p)]).T
    if matrix:
        r_k = np.zeros((k, p, p))
        for c in range(k):
            mine = labels == c
            r_k[c] = (d[mine] * wi[mine, None]).T @ d[mine]
    else:
        r_k = np.array([np.bincount(labels, wi * d[:, j] ** 2, minlength=k)
                        for j in range(p)]).T.reshape(k, p)
    return n_k, s_k.reshape(k, p), r_k, centres


def second_moment_block(xb, wb):
    """sum_i w_i x_i x_i^T (p, p) of one block of rows, about the origin (float64)."""
    x = np.asarray(xb, dtype=np.float64)
    return (x if wb is None else x * wb[:, None]).T @ x


def one_point_tied_covariance(second_moment, params, n_k, eps, reg_covar):
    """scikit-learn's tied covariance for starting responsibilities of one point per component
    ('k-means++', 'random_from_data'): its formula ``(X^T X - sum_k n_k mu_k mu_k^T) /
    sum_k n_k`` assumes that every row's responsibilities sum to 1, so with these starts
    ``X^T X`` runs over every row while the n_k count K of them. Kept, so that the start (and
    the fit) is scikit-learn's."""
    nk = np.asarray(n_k, dtype=np.float64) + 10.0 * eps
    mu = params.means
    p = mu.shape[1]
    return (second_moment - (mu.T * nk) @ mu) / np.sum(nk) + reg_covar * np.eye(p)


# -- prediction --------------------------------------------------------------------------------

def weighted_log_prob(X, params, covariance_type):
    """log pi_k + log N(x_i | mu_k, Sigma_k) (B, K) for rows X (B, p), float64."""
    x = np.asarray(X, dtype=np.float64)
    p = x.shape[1]
    pc = params.precisions_cholesky
    diff = x[:, None, :] - params.means[None]                           # (B, K, p)
    sq = EM_TYPES[covariance_type].squared_distance(diff, pc)
    with np.errstate(divide="ignore"):
        log_w = np.log(params.weights)
    return log_w - 0.5 * (p * _LOG_2PI + sq) + log_det_cholesky(pc, covariance_type, p)


def predict_block(X, params, covariance_type, kind):
    """'labels', 'proba' or 'score' (log p(x)) for rows of X, in row blocks of O(block x K)
    memory."""
    n, k = X.shape[0], params.means.shape[0]
    p = params.means.shape[1]
    out = (np.empty(n, dtype=np.int64) if kind == "labels" else
           np.empty((n, k), dtype=X.dtype) if kind == "proba" else np.empty(n))
    for rows in blocks(n, max(64, 2 ** 20 // (k * p))):
        logs = weighted_log_prob(X[rows], params, covariance_type)
        if kind == "labels":
            out[rows] = np.argmax(logs, axis=1)
            continue
        top = np.max(logs, axis=1, keepdims=True)
        with np.errstate(under="ignore"):
            e = np.exp(logs - top)
            z = np.sum(e, axis=1)
            # e / z, not exp(logs - log p(x)): that difference of two large numbers (far from
            # every component) would leave rows that do not sum to 1
            out[rows] = e / z[:, None] if kind == "proba" else top[:, 0] + np.log(z)
    return out


def n_parameters(covariance_type, n_components, n_features):
    """The free parameters of the mixture (scikit-learn's ``_n_parameters``), for BIC/AIC."""
    k, p = n_components, n_features
    return int(COVARIANCES[covariance_type].n_parameters(k, p) + p * k + k - 1)


# -- the functional API, one-to-one with fastcavi.reference.em.em ------------------------------

def em(X, resp_init, covariance_type, reg_covar, n_iter, sample_weight=None, n_threads=None):
    """The M-step from ``resp_init`` (N, K), then ``n_iter`` iterations (E-step and M-step in
    one pass, the bound from the same pass), with the fast kernels; same signature and result
    as :func:`fastcavi.reference.em.em`, so that the two can be compared iteration by
    iteration. ``resp`` is the last E-step's (formed after the loop)."""
    from .._threads import thread_limit
    from .._validation import as_kernel_array, check_sample_weight
    from ..data.sources import ArraySource
    from ..inference.algorithms import iterate, make_sweep
    from ..reference.em import EMResult
    from .family_fit import _resp_sums

    Xk = as_kernel_array(X)
    source = ArraySource(Xk, check_sample_weight(sample_weight, Xk.shape[0]))
    resp_init = np.asarray(resp_init, dtype=np.float64)
    eps = float(np.finfo(Xk.dtype).eps)
    centre = np.asarray(Xk, dtype=np.float64).mean(axis=0)
    covariance = COVARIANCES[covariance_type]
    with thread_limit(n_threads):
        sums = _resp_sums(source, resp_init.shape[1], lambda a, b: resp_init[a:b], centre,
                          covariance.matrix)
        params = start_from_sums(*sums, centre, covariance_type, reg_covar, eps)
        visit, update = em_model(covariance_type, reg_covar, Xk.dtype)
        run = iterate(make_sweep("batch", source, visit, update, covariance.stats_shape), params,
                      int(n_iter), 0.0, dtype=Xk.dtype)
        resp = predict_block(Xk, run.state_before_last, covariance_type, "proba")
    q = run.state
    return EMResult(q.weights, q.means, q.covariances, resp, np.asarray(run.bounds))
