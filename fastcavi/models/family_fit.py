"""Fitting the learned-weight, learned-precision mixtures: one pass over a block of rows
(the kernels), the starting responsibilities as scikit-learn draws them, the default prior,
and the posterior predictive density. The O(K p) math is in :mod:`fastcavi.models.family`; the loop
is :func:`fastcavi.inference.algorithms.iterate`.
"""

from __future__ import annotations

import copy

import numpy as np
from scipy.special import gammaln

from .._threads import parallel_guard
from ..data.sources import ArraySource, blocks
from ..inference.algorithms import iterate, make_sweep
from ..kernels import core as _kernels
from ..kernels import diag as _kernels_diag
from . import family as _family
from . import family_full as _family_full
from . import family_full_fit as _family_full_fit
from .covariance import COVARIANCES
from .family import FamilyStats, expected_weights
from .fixed import gram_statistics, in_dtype, kernel_means, scalar_predict, scalar_statistics

_NO_WEIGHTS = np.empty(0, dtype=np.float64)

# When diagonal precisions take the BLAS path (two products per block of rows,
# kernels.diag._gram_sweep_statistics_diag) rather than the direct kernel: measured on 2 cores,
# N = 2e5-3e5, direct time over the BLAS path's (above 1: BLAS faster). float32: p = 16, K = 8 /
# 16 / 32 / 64: 1.24x / 1.57x / 1.84x / 2.05x; p = 20-32, K = 8-16: 1.25-1.97x; p = 32, K = 2 /
# 4: 1.51x / 1.07x; p = 48, K = 4: 1.26x; but p = 16-24, K = 4: 0.94x. float64: the direct
# kernel matches or beats it below K = 64 (p = 32-128, K = 4-16: 0.70-0.93x; K = 24-32:
# 0.90-1.22x) and it gains a little at p = 64, K = 64 (1.08x). So the BLAS path is float32's
# from 16 features (8 components) and float64's only with many of both.
DIAG_BLAS_MIN_FEATURES = 32
DIAG_BLAS_MIN_FEATURES_FLOAT32 = 16
DIAG_BLAS_MIN_COMPONENTS_FLOAT32 = 8
DIAG_BLAS_MIN_COMPONENTS_FLOAT64 = 64


def diag_uses_blas(n_features, n_components, dtype):
    """Whether a diagonal-precision pass over data of this shape and dtype takes the BLAS
    path."""
    if np.dtype(dtype) == np.float32:
        return n_features >= DIAG_BLAS_MIN_FEATURES or (
            n_features >= DIAG_BLAS_MIN_FEATURES_FLOAT32
            and n_components >= DIAG_BLAS_MIN_COMPONENTS_FLOAT32)
    return (n_features >= DIAG_BLAS_MIN_FEATURES
            and n_components >= DIAG_BLAS_MIN_COMPONENTS_FLOAT64)


def block_statistics(X, means, half_prec, offsets, covariance_type, sample_weight=None):
    """One block of rows (C-contiguous float32/float64; ``means`` in X's dtype) -> its
    :class:`~fastcavi.models.family.FamilyStats` for the E-step logits ``(half_prec, offsets)`` of
    :func:`fastcavi.models.family.logit_params`."""
    kind = COVARIANCES[covariance_type]
    if kind.matrix:
        return _family_full_fit.block_statistics(X, means, half_prec, offsets, covariance_type,
                                                 sample_weight)
    if not kind.per_feature:
        s = scalar_statistics(X, means, half_prec, offsets, sample_weight)
        return FamilyStats(s.n_k, s.s_k, s.r_k, s.entropy, s.total_weight)
    weights = _NO_WEIGHTS if sample_weight is None else sample_weight
    half_prec, offsets = in_dtype(X.dtype, half_prec, offsets)
    with parallel_guard():
        if diag_uses_blas(X.shape[1], means.shape[0], X.dtype):  # squares expanded, by BLAS
            n_k, r_k, s_k, entropy, total_w = gram_statistics(
                _kernels_diag._gram_sweep_statistics_diag, X, means, half_prec, offsets,
                weights)
        else:
            n_k, r_k, s_k, entropy, total_w = _kernels_diag._sweep_statistics_diag(
                X, weights, means, half_prec, offsets)
    return FamilyStats(n_k, s_k, r_k, float(entropy), float(total_w))


def sweep_block(X, sample_weight, means, half_prec, offsets, covariance_type):
    """The block function of a data source (:mod:`fastcavi.data.sources`):
    :func:`block_statistics` with the source's argument order."""
    return block_statistics(X, means, half_prec, offsets, covariance_type, sample_weight)


def predict_block(X, params, prior, kind):
    """'labels' (argmax of the E-step's r), 'proba' (r) or 'score' (the log posterior
    predictive density) for one block of rows (C-contiguous float32/float64)."""
    if kind == "score":
        return log_predictive(X, params, prior)
    if prior.kind.matrix:
        return _family_full_fit.predict_block(X, params, prior, kind)
    half_prec, offsets = _family.logit_params(params, prior)
    means = kernel_means(params.means, X.dtype)
    if not prior.kind.per_feature:
        return scalar_predict(X, means, half_prec, offsets, kind)
    n, k = X.shape[0], len(offsets)
    proba = np.empty((n if kind == "proba" else 0, k), dtype=X.dtype)
    labels = np.empty(n if kind == "labels" else 0, dtype=np.int64)
    mode = _kernels.PREDICT_PROBA if kind == "proba" else _kernels.PREDICT_LABELS
    half_prec, offsets = in_dtype(X.dtype, half_prec, offsets)
    with parallel_guard():
        _kernels_diag._predict_diag(X, means, half_prec, offsets, mode, proba, labels)
    return proba if kind == "proba" else labels


def log_predictive(X, params, prior):
    """log p(x | data) per row: ``log sum_k wbar_k T_k(x)``, the Student-t's of the posterior
    predictive (diag: a product of 1-D Student-t's with nu_k degrees of freedom and scales^2
    ``Psi_kj (1 + b_k) / (b_k nu_k)``; spherical: a p-variate one, scale^2
    ``Psi_k (1 + b_k) / (b_k nu_k)``; full and tied: :func:`fastcavi.models.family_full_fit.
    log_predictive`), ``wbar`` the normalised E[pi]. float64, in row blocks."""
    if prior.kind.matrix:
        return _family_full_fit.log_predictive(X, params, prior)
    p = prior.mean.shape[0]
    nu, b, psi = params.degrees_of_freedom, params.mean_precision, params.psi
    log_w = np.log(expected_weights(prior.weight_type, params.weight_concentration))
    if prior.kind.per_feature:
        scale2 = psi * ((1.0 + b) / (b * nu))[:, None]                      # (K, p)
        const = (log_w + p * (gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0))
                 - 0.5 * np.sum(np.log(nu[:, None] * np.pi * scale2), axis=1))
        denom, power = nu[:, None] * scale2, (nu + 1.0) / 2.0
    else:
        scale2 = psi * (1.0 + b) / (b * nu)                                 # (K,)
        const = (log_w + gammaln((nu + p) / 2.0) - gammaln(nu / 2.0)
                 - 0.5 * p * np.log(nu * np.pi * scale2))
        denom, power = nu * scale2, (nu + p) / 2.0
    means = params.means
    out = np.empty(X.shape[0])
    for rows in blocks(X.shape[0]):
        diff = np.asarray(X[rows], dtype=np.float64)[:, None, :] - means[None]  # (B, K, p)
        if prior.kind.per_feature:
            logs = const - np.sum(power[None, :, None] * np.log1p(diff * diff / denom), axis=2)
        else:
            logs = const - power * np.log1p(np.sum(diff * diff, axis=2) / denom)
        top = np.max(logs, axis=1, keepdims=True)
        out[rows] = top[:, 0] + np.log(np.sum(np.exp(logs - top), axis=1))
    return out


# -- the start --------------------------------------------------------------------------------

def shared(cache, key, compute):
    """``compute()``, or a copy of the value kept under ``key`` in the dict ``cache`` (filled on
    the first call; None: no cache). What fits of one data set from one random state share
    (a selection grid's covariance types and models): the 'kmeans' labels and their sums, and
    the data's moments. A copy, so that no fit changes what the next one reads."""
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return copy.deepcopy(cache[key])


def kmeans_labels(X, w, k, random_state, labels_cache=None):
    """The labels of ``KMeans(n_clusters=k, n_init=1)`` on rows X (weights w), scikit-learn's
    'kmeans' start. ``labels_cache``: a dict of labels by k, read and filled (for fits of one
    data set from one random state, which draw the same labels: a selection grid's covariance
    types and models); a cached start leaves ``random_state`` undrawn."""
    def fit():
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=1, random_state=random_state).fit(
            np.asarray(X), sample_weight=w).labels_

    return shared(labels_cache, k, fit)


def initial_statistics(source, n_components, init_params, random_state, centre, matrix=False,
                       labels_cache=None):
    """The sums of :class:`~fastcavi.models.family.FamilyStats` (per-feature R, or the (K, p, p)
    scatters when ``matrix``) for scikit-learn's starting responsibilities over a data
    source's rows, centred on ``centre`` (p,), in O(block x K) memory.

    'kmeans': one-hot on the labels of ``KMeans(n_clusters=K, n_init=1)``; 'k-means++' and
    'random_from_data': one point per component (k-means++ seeds, or K distinct random rows);
    'random': ``random_state.uniform(size=(N, K))`` in X's dtype, rows normalised. Each draws
    exactly what scikit-learn's ``BayesianGaussianMixture`` draws from the same random state.
    scikit-learn's KMeans and k-means++ need every row in memory at once: on a Dask array,
    those two starts gather X into this process (the other two read K rows, or stream).
    ``labels_cache``: a dict of 'kmeans' labels by K, read and filled (for fits of one data set
    from one random state, which draw the same labels: the selection grid's covariance
    types).
    """
    k = n_components
    if init_params == "random_from_data":
        idx = random_state.choice(source.n_rows, size=k, replace=False)
        return _one_hot_sums(source.take(idx), source.take_weights(idx), k, np.arange(k),
                             centre, matrix)
    if init_params in ("k-means++", "kmeans"):
        X, w = source.gather()
        if init_params == "k-means++":
            from sklearn.cluster import kmeans_plusplus

            _, idx = kmeans_plusplus(np.asarray(X), k, random_state=random_state,
                                     sample_weight=w)
            idx = np.asarray(idx)
            return _one_hot_sums(X[idx], None if w is None else w[idx], k, np.arange(k),
                                 centre, matrix)
        labels = kmeans_labels(X, w, k, random_state, labels_cache)
        return shared(labels_cache, ("one_hot_sums", k, matrix, np.asarray(centre).tobytes()),
                      lambda: _one_hot_sums(X, w, k, labels, centre, matrix))

    def random_resp(start, stop):
        r = np.asarray(random_state.uniform(size=(stop - start, k)), dtype=source.dtype)
        r /= r.sum(axis=1)[:, np.newaxis]
        return r

    return _resp_sums(source, k, random_resp, centre, matrix)


def _resp_sums(source, k, resp_rows, centre, matrix=False):
    """N_k, S_k, R_k (per feature, or (K, p, p) when ``matrix``), centred on ``centre``, of
    the responsibilities ``resp_rows(start, stop)`` of rows start..stop-1 (one block at a time,
    in row order), weighted."""
    p = source.n_features
    n_k, s_k = np.zeros(k), np.zeros((k, p))
    r_k = np.zeros((k, p, p) if matrix else (k, p))
    start = 0
    for xb, wb in source.row_blocks():
        stop = start + xb.shape[0]
        r = np.asarray(resp_rows(start, stop), dtype=np.float64)
        start = stop
        if wb is not None:
            r = r * wb[:, None]
        d = np.asarray(xb, dtype=np.float64) - centre
        n_k += r.sum(axis=0)
        s_k += r.T @ d
        r_k += _family_full_fit.scatter_sums(d, r) if matrix else r.T @ (d * d)
    return n_k, s_k, r_k


def m_step_from_sums(n_k, s_k, r_k, prior):
    """The M-step from a start's sums (per-feature R, or (K, p, p) for full and tied, centred on
    the prior mean)."""
    if not prior.kind.per_feature:  # one variance for every feature: R summed over them
        r_k = r_k.sum(axis=1)
    elif prior.kind.shared:  # one matrix for every component: R pooled over them
        r_k = r_k.sum(axis=0)
    stats = FamilyStats(n_k, s_k, r_k, 0.0, float(np.sum(n_k)))
    return model_math(prior).m_step(stats, np.broadcast_to(prior.mean, s_k.shape), prior)


def _one_hot_sums(X, w, k, labels, centre, matrix=False):
    """N_k, S_k, R_k (per feature, or (K, p, p) when ``matrix``) when row i of X (weight w[i])
    belongs to labels[i]."""
    p = X.shape[1]
    n_k, s_k = np.zeros(k), np.zeros((k, p))
    r_k = np.zeros((k, p, p) if matrix else (k, p))
    for part in blocks(X.shape[0]):
        lab = labels[part]
        d = np.asarray(X[part], dtype=np.float64) - centre
        wi = np.ones(len(lab)) if w is None else w[part]
        n_k += np.bincount(lab, wi, minlength=k)
        for j in range(p):
            s_k[:, j] += np.bincount(lab, wi * d[:, j], minlength=k)
            if not matrix:
                r_k[:, j] += np.bincount(lab, wi * d[:, j] ** 2, minlength=k)
        if matrix:
            for c in range(k):
                mine = lab == c
                r_k[c] += (d[mine] * wi[mine, None]).T @ d[mine]
    return n_k, s_k, r_k


# -- the functional API, one-to-one with fastcavi.reference.family.cavi ----------------------

def family_prior(prior):
    """A :class:`~fastcavi.models.family.FamilyPrior` from the reference's ``Prior`` (scikit-learn's
    names)."""
    from .family import FamilyPrior

    psi0 = prior.covariance_prior
    psi0 = np.asarray(psi0, dtype=np.float64) if np.ndim(psi0) else float(psi0)
    return FamilyPrior(prior.covariance_type, prior.weight_concentration_prior_type,
                       float(prior.weight_concentration_prior),
                       float(prior.mean_precision_prior),
                       np.asarray(prior.mean_prior, dtype=np.float64),
                       float(prior.degrees_of_freedom_prior), psi0, float(prior.reg_covar))


def start_from_resp(source, resp, prior):
    """The M-step from given responsibilities (N, K), centred on the prior mean."""
    sums = _resp_sums(source, resp.shape[1], lambda start, stop: resp[start:stop], prior.mean,
                      prior.kind.matrix)
    return m_step_from_sums(*sums, prior)


def model_math(prior):
    """The module with the O(K p) math of ``prior``'s covariance type: ``m_step``, ``elbo`` and
    ``logit_params`` (:mod:`fastcavi.models.family` for spherical and diag,
    :mod:`fastcavi.models.family_full` for full and tied)."""
    return _family_full if prior.kind.matrix else _family


def family_model(prior, dtype):
    """The model for :mod:`fastcavi.inference.algorithms`: ``visit(params)`` (the block function,
    its
    arguments, the means the statistics are centred on) and ``update(stats, centre)`` (the
    M-step and the exact ELBO)."""
    math = model_math(prior)

    def visit(params):
        half_prec, offsets = math.logit_params(params, prior)
        km = kernel_means(params.means, dtype)
        return (sweep_block, (km, half_prec, offsets, prior.covariance_type),
                km.astype(np.float64))

    def update(stats, used):
        new = math.m_step(stats, used, prior)
        return new, math.elbo(stats, used, new, prior)

    return visit, update


def family_sweep(source, prior, algorithm="batch", on_visit=None):
    """One CAVI iteration over a data source (:mod:`fastcavi.data.sources`) for
    :func:`fastcavi.inference.algorithms.iterate`: E-step and statistics in one pass, M-step, exact
    ELBO (``algorithm='incremental'``: one pass of block visits, see
    :mod:`fastcavi.inference.algorithms`)."""
    visit, update = family_model(prior, source.dtype)
    return make_sweep(algorithm, source, visit, update, prior.kind.stats_shape,
                      on_visit)


def cavi(X, resp_init, prior, n_iter, sample_weight=None, n_threads=None, algorithm="batch"):
    """``n_iter`` iterations of scikit-learn's order (E-step, M-step, ELBO) after an M-step
    from ``resp_init``, with the fast kernels; same signature and result as
    :func:`fastcavi.reference.family.cavi` (``prior`` is its ``Prior``), so that the two can be
    compared iteration by iteration. ``resp`` is the last E-step's (the only N x K array, formed
    after the loop). ``algorithm='accelerated'`` is
    :func:`fastcavi.reference.accelerated.accelerated_cavi`'s loop (its ``resp`` then the
    E-step at the state before the last iteration's, which an extrapolated step skips)."""
    from .._threads import thread_limit
    from .._validation import as_kernel_array, check_sample_weight
    from ..reference.family import FamilyResult, Params

    Xk = as_kernel_array(X)
    fam = family_prior(prior)
    source = ArraySource(Xk, check_sample_weight(sample_weight, Xk.shape[0]))
    with thread_limit(n_threads):
        params = start_from_resp(source, np.asarray(resp_init), fam)
        run = iterate(family_sweep(source, fam, algorithm), params, int(n_iter), 0.0,
                      dtype=Xk.dtype)
        resp = predict_block(Xk, run.state_before_last, fam, "proba")
    q = run.state
    return FamilyResult(Params(fam.covariance_type, fam.weight_type, q.weight_concentration,
                               q.mean_precision, q.means, q.degrees_of_freedom, q.psi),
                        resp, np.asarray(run.bounds, dtype=np.float64))
