"""Numba kernels for a diagonal precision per component: only ``@njit`` code, no validation.

The logits have the shape ``l_ik = -sum_j h_kj (x_ij - m_kj)^2 - o_k`` (``half_prec`` h (K, p)
and ``offsets`` o (K,), in X's dtype). Layout and conventions are those of
:mod:`fastcavi.kernels.core` (tiles laid out [k, point], chunks that depend on N only, partial
sums reduced in a fixed order, every sum over points in float64, weights of length 0 meaning
all ones); fit and predict share :func:`_tile_logits_diag`.
"""

import numpy as np
from numba import prange

from . import core
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def _tile_logits_diag(X, means, half_prec, offsets, start, n, xt, expo, top):
    """xt[j, b] = x_bj; expo[k, b] = l_kb; top[b] = max_k l_kb, for rows start:start+n."""
    n_components, n_features = means.shape
    core.tile_transpose(X, start, n, xt, top)
    core.tile_offsets(expo, offsets, n)
    for k in range(n_components):
        e = expo[k]
        for j in range(n_features):
            mkj = means[k, j]
            hkj = half_prec[k, j]
            xj = xt[j]
            for b in range(n):
                diff = xj[b] - mkj
                e[b] -= hkj * (diff * diff)
        core.tile_max(e, top, n)


@cached_njit(**_JIT)
def _tile_statistics_diag(X, weights, means, half_prec, offsets, start, stop,
                          xt, expo, top, z, ea, n_k, r_k, s_k, scalars):
    """Accumulate into the float64 buffers, for rows start:stop (one tile):

    n_k[k] += w_i phi_ik;  s_k[k, j] += w_i phi_ik (x_ij - m_kj);
    r_k[k, j] += w_i phi_ik (x_ij - m_kj)^2;  scalars += (w_i H(phi_i), w_i)
    """
    n_components, n_features = means.shape
    n = stop - start
    _tile_logits_diag(X, means, half_prec, offsets, start, n, xt, expo, top)
    core.tile_entropy(expo, top, z, ea, weights, start, n, z[:0], scalars)  # z <- w / z
    for k in range(n_components):
        e = expo[k]
        nk = 0.0
        for b in range(n):
            wphi = e[b] * z[b]
            e[b] = wphi
            nk += wphi
        n_k[k] += nk
        for j in range(n_features):
            mkj = means[k, j]
            xj = xt[j]
            acc_s = 0.0
            acc_r = 0.0
            for b in range(n):
                diff = xj[b] - mkj
                t = e[b] * diff
                acc_s += t
                acc_r += t * diff
            s_k[k, j] += acc_s
            r_k[k, j] += acc_r


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics_diag(X, weights, means, half_prec, offsets):
    """One pass over X: (n_k (K,), r_k (K, p), s_k (K, p), entropy, total_weight), float64,
    centred on ``means``; see :func:`_tile_statistics_diag`."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks, chunk = core.chunking(n_samples)
    size = core.tile_rows(n_components)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components, n_features))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        expo, top, z, ea = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_diag(X, weights, means, half_prec, offsets, t0,
                                  min(stop, t0 + size), xt, expo, top, z, ea,
                                  part_n[c], part_r[c], part_s[c], part_scalars[c])
    n_k, r_k, s_k = core.sum_partials(part_n), core.sum_partials(part_r), core.sum_partials(part_s)
    scalars = core.sum_partials(part_scalars)
    return n_k, r_k, s_k, scalars[0], scalars[1]


@cached_njit(parallel=True, **_JIT)
def _predict_diag(X, means, half_prec, offsets, mode, proba, labels):
    """Per row: phi into ``proba`` (N, K) (mode PREDICT_PROBA) or argmax_k into ``labels`` (N,)
    (PREDICT_LABELS); the other output may be empty. The fit's logits."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks, chunk = core.chunking(n_samples)
    size = core.tile_rows(n_components)
    no_log_norm = np.empty(0)
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits_diag(X, means, half_prec, offsets, t0, n, xt, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, no_log_norm)
