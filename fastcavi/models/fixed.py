"""The fixed-variance model (the tutorial's: weights 1/K, one known variance): its sweep as a
map-reduce and the small kernels' drivers shared with the learned-variance family.

A sweep is: per block of points, the K-sized statistics of q(c) at the current q(mu)
(:func:`block_statistics`); their sum; then the O(K p) update of q(mu) and the exact ELBO
(:func:`update_and_elbo`). Every data source and both algorithms
(:mod:`fastcavi.inference.algorithms`)
drive these functions; none has its own copy of the math.

The statistics are centred on the means m_old that produced phi (see :class:`SweepStats`), so
that the likelihood term T3 at the *new* means follows without a second pass and without the
cancellation of ``Q - 2 sum m.S + ...`` far from the origin::

    sum_i w_i phi_ik |x_i - m_new|^2 = R_k - 2 d_k . S~_k + N_k |d_k|^2,   d_k = m_new - m_old
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._threads import parallel_guard, single_threaded_blas
from .._validation import check_prior_mean, check_variances
from ..inference.algorithms import Recorder, Sums, iterate, make_sweep
from ..kernels import fixed as _kernels

_NO_WEIGHTS = np.empty(0, dtype=np.float64)


@dataclass
class Hyper:
    """The model's fixed hyperparameters: alpha (p,), sigma2, lambda2."""

    prior_mean: np.ndarray
    prior_var: float
    likelihood_var: float


@dataclass
class SweepStats(Sums):
    """Sums over points of one sweep's phi, centred on the means that produced phi.

    n_k = sum w phi_ik, r_k = sum w phi_ik |x_i - m_k|^2, s_k = sum w phi_ik (x_i - m_k),
    entropy = sum w H(phi_i), total_weight = sum w.
    """

    n_k: np.ndarray
    r_k: np.ndarray
    s_k: np.ndarray
    entropy: float
    total_weight: float


def kernel_means(means, dtype):
    """The means as the kernels see them: C-contiguous, in the data's dtype."""
    return np.ascontiguousarray(means, dtype=dtype)


def fixed_logit_params(mean_vars, likelihood_var, n_features):
    """The fixed-variance model's logits in the kernels' scalar-precision form
    ``l_ik = -h_k |x_i - m_k|^2 - o_k``: ``h_k = 1/(2 lambda2)``, ``o_k = p s2_k/(2 lambda2)``,
    as float64 (half_prec, offsets)."""
    mean_vars = np.asarray(mean_vars, dtype=np.float64)
    half = 0.5 / float(likelihood_var)
    # s2_k (p h), not (p s2_k) h: the product the kernels formed before this moved out of them
    # (Numba's reassociation), so fits keep their results bit for bit.
    return np.full(mean_vars.shape[0], half), mean_vars * (n_features * half)


def block_statistics(X, means, mean_vars, likelihood_var, sample_weight=None):
    """Map: one block of points (C-contiguous float32/float64) -> its SweepStats, for the
    fixed-variance model.

    ``means`` must already be in X's dtype (:func:`kernel_means`); the statistics are centred
    on exactly those values.
    """
    half_prec, offsets = fixed_logit_params(mean_vars, likelihood_var, X.shape[1])
    return scalar_statistics(X, means, half_prec, offsets, sample_weight)


def in_dtype(dtype, *arrays):
    """The logits' parameters in the data's dtype, C-contiguous, for the kernels: a value
    beyond float32's range becomes inf, and the ELBO (or the prediction) then says so in plain
    words. C order always: a kernel is compiled once per layout of its arguments, and Numba
    runs a call on any compiled layout it can convert to (C to 'A', say), so a parameter in
    Fortran order would make the same fit's rounding depend on what ran before it."""
    with np.errstate(over="ignore"):
        return tuple(np.asarray(a).astype(dtype, order="C") for a in arrays)


def scalar_statistics(X, means, half_prec, offsets, sample_weight=None):
    """Map: one block -> its SweepStats for logits ``-h_k |x - m_k|^2 - o_k`` (h, o: (K,)
    float64; the small-p kernel rounds them to X's dtype, so float32 logits stay float32)."""
    weights = _NO_WEIGHTS if sample_weight is None else sample_weight
    with parallel_guard():  # safe on any Numba threading layer (see _threads)
        if uses_blas(X.shape[1], means.shape[0]):
            return _blas_block_statistics(X, means, half_prec, offsets, weights)
        half_prec, offsets = in_dtype(X.dtype, half_prec, offsets)
        n_k, r_k, s_k, entropy, total_w = _kernels._sweep_statistics(
            X, weights, means, half_prec, offsets)
    return SweepStats(n_k, r_k, s_k, float(entropy), float(total_w))


# Large p: the K p multiply-adds per point dominate, and BLAS's register-blocked GEMM beats
# hand-written loops (which need two loads per multiply-add).
_BLAS_MIN_FEATURES = 16
_BLAS_MIN_COMPONENTS = 8


def uses_blas(n_features, n_components):
    """Whether a sweep over data of this shape takes the BLAS path."""
    return n_features >= _BLAS_MIN_FEATURES and n_components >= _BLAS_MIN_COMPONENTS


def gram_statistics(kernel, X, means, half_prec, offsets, weights):
    """A large-p sweep by BLAS (``kernel``: ``_gram_sweep_statistics`` of the scalar or the
    diagonal precisions), the rows centred on the means' centroid (in X's dtype), with BLAS
    kept single-threaded so that the kernels' threads are the only thread pool. Returns the
    kernel's (n_k, r_k, s_k, entropy, total_weight)."""
    centre = means.astype(np.float64).mean(axis=0).astype(X.dtype)
    centred = np.ascontiguousarray(means - centre)
    with single_threaded_blas():
        return kernel(X, weights, centred, centre, half_prec, offsets)


def _blas_block_statistics(X, means, half_prec, offsets, weights):
    """The scalar precisions' large-p sweep (the logits there are float64)."""
    n_k, r_k, s_k, entropy, total_w = gram_statistics(
        _kernels._gram_sweep_statistics, X, means, half_prec, offsets, weights)
    return SweepStats(n_k, r_k, s_k, float(entropy), float(total_w))


_PREDICT_MODES = {"proba": _kernels.PREDICT_PROBA, "labels": _kernels.PREDICT_LABELS,
                  "log_norm": _kernels.PREDICT_LOG_NORM}


def scalar_predict(X, means, half_prec, offsets, kind):
    """Per row of X (C-contiguous float32/float64), for the logits
    ``l_ik = -h_k |x_i - m_k|^2 - o_k``: ``"proba"`` phi (N, K) in X's dtype, ``"labels"``
    argmax_k (N,) int64, or ``"log_norm"`` log sum_k exp(l_ik) (N,) float64."""
    n, n_components = X.shape[0], len(half_prec)
    proba = np.empty((n if kind == "proba" else 0, n_components), dtype=X.dtype)
    labels = np.empty(n if kind == "labels" else 0, dtype=np.int64)
    log_norm = np.empty(n if kind == "log_norm" else 0, dtype=np.float64)
    half_prec, offsets = in_dtype(X.dtype, half_prec, offsets)
    with parallel_guard():
        _kernels._predict(X, kernel_means(means, X.dtype), half_prec, offsets,
                          _PREDICT_MODES[kind], proba, labels, log_norm)
    return {"proba": proba, "labels": labels, "log_norm": log_norm}[kind]


def fixed_predict(X, means, mean_vars, likelihood_var, kind):
    """predict_proba ('proba'), predict ('labels') or score_samples ('score') of the
    fixed-variance model at q(mu) = N(m_k, s2_k I), for one block of rows. The score is the log
    posterior predictive ``log sum_k (1/K) N(x | m_k, (lambda2 + s2_k) I)``."""
    n_features = X.shape[1]
    if kind != "score":
        half_prec, offsets = fixed_logit_params(mean_vars, likelihood_var, n_features)
        return scalar_predict(X, means, half_prec, offsets, kind)
    pred_vars = likelihood_var + np.asarray(mean_vars, dtype=np.float64)
    log_k = math.log(len(pred_vars))
    offsets = np.array([0.5 * n_features * math.log(2.0 * math.pi * v) + log_k
                        for v in pred_vars])
    return scalar_predict(X, means, 0.5 / pred_vars, offsets, "log_norm")


def update_and_elbo(stats, means_used, hyper):
    """Global step: the new q(mu) from the summed statistics, and the exact ELBO.

    Parameters
    ----------
    stats : SweepStats, summed over all points
    means_used : (K, p) the means that produced phi (the kernels' copy, as float64)
    hyper : Hyper

    Returns
    -------
    means (K, p), mean_vars (K,), elbo (float)

    Implements ``s2_k = 1/(1/sigma2 + N_k/lambda2)``, ``m_k = s2_k (alpha/sigma2 + S_k/lambda2)``
    and ELBO = T1 + T2 + T3 + T4 + T5 of the specification.
    """
    m_old = np.asarray(means_used, dtype=np.float64)
    n_components, n_features = m_old.shape
    alpha, sig2, lam2 = hyper.prior_mean, hyper.prior_var, hyper.likelihood_var
    n_k = stats.n_k
    mean_vars = 1.0 / (1.0 / sig2 + n_k / lam2)
    # With S_k = S~_k + N_k m_old and s2 (1/sig2 + N/lam2) = 1, the update is
    # m_new = m_old + s2 ((alpha - m_old)/sig2 + S~/lam2): written as a step from m_old it is
    # translation-invariant and keeps its precision far from the origin.
    d = mean_vars[:, None] * ((alpha - m_old) / sig2 + stats.s_k / lam2)
    means = m_old + d
    w = stats.total_weight
    p = n_features
    t1 = (-(n_components * p / 2.0) * math.log(2.0 * math.pi * sig2)
          - float(np.sum(np.sum((means - alpha) ** 2, axis=1) + p * mean_vars)) / (2.0 * sig2))
    t2 = -w * math.log(n_components)
    sq = stats.r_k - 2.0 * np.sum(d * stats.s_k, axis=1) + n_k * np.sum(d * d, axis=1)
    t3 = (-(w * p / 2.0) * math.log(2.0 * math.pi * lam2)
          - float(np.sum(sq + n_k * p * mean_vars)) / (2.0 * lam2))
    t4 = float(np.sum((p / 2.0) * (1.0 + np.log(2.0 * math.pi * mean_vars))))
    t5 = stats.entropy
    return means, mean_vars, t1 + t2 + t3 + t4 + t5


def check_hyper(prior_mean, prior_var, likelihood_var, n_features):
    """Validate the hyperparameters and return them as a Hyper (alpha broadcast to (p,))."""
    check_variances(prior_var, likelihood_var)
    return Hyper(check_prior_mean(prior_mean, n_features), float(prior_var),
                 float(likelihood_var))


def sweep_block(X, sample_weight, means, mean_vars, likelihood_var):
    """The fixed-variance model's block function for a data source (:mod:`fastcavi.data.sources`):
    :func:`block_statistics` with the source's argument order."""
    return block_statistics(X, means, mean_vars, likelihood_var, sample_weight)


def fixed_model(hyper, dtype):
    """The fixed-variance model for :mod:`fastcavi.inference.algorithms`: ``visit(state)``
    (the block function, its arguments, the means the statistics are centred on) and
    ``update(stats, centre)``; the state is ``(means, mean_vars, means the kernels saw)``."""

    def visit(state):
        km = kernel_means(state[0], dtype)
        return sweep_block, (km, state[1], hyper.likelihood_var), km.astype(np.float64)

    def update(stats, used):
        means, variances, bound = update_and_elbo(stats, used, hyper)
        return (means, variances, used), bound

    return visit, update


@dataclass
class FixedRun:
    """What :func:`run_sweeps` returns: the last q(mu) (``means``, ``mean_vars``), the ELBO
    after every sweep, whether the run converged, and the q(mu) the last sweep started from
    (``means_before_last`` as the kernels saw them), and the statistics of the last update
    with the means they are centred on (what ``partial_fit`` continues from)."""

    means: np.ndarray
    mean_vars: np.ndarray
    bounds: list
    converged: bool
    means_before_last: np.ndarray
    mean_vars_before_last: np.ndarray
    stats: tuple


def run_sweeps(source, means, mean_vars, hyper, max_iter, tol, callback=None, *,
               algorithm="batch", on_visit=None):
    """The fixed-variance model's sweeps over a data source on
    :func:`fastcavi.inference.algorithms.iterate`: a :class:`FixedRun`.

    Runs until ``|change in ELBO| <= tol * total weight`` (tol is per unit of weight, i.e. per
    point) or ``max_iter`` sweeps; ``tol == 0`` runs exactly ``max_iter`` sweeps. ``algorithm``:
    'batch' or 'incremental' (:mod:`fastcavi.inference.algorithms`; ``on_visit(elbo)`` after every
    visit of a block).
    """
    visit, update = fixed_model(hyper, source.dtype)
    update = Recorder(update)
    sweep = make_sweep(algorithm, source, visit, update, "scalar", on_visit)
    run = iterate(sweep, (means, mean_vars, None), max_iter, tol * source.total_weight,
                  dtype=source.dtype, callback=callback)
    (means, mean_vars, used), (_, prev_vars, _) = run.state, run.state_before_last
    return FixedRun(means, mean_vars, run.bounds, run.converged, used, prev_vars, update.last)
