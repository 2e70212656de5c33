"""Numba kernels for full precisions: only ``@njit`` code, no validation.

The logits have the shape ``l_ik = -|A_k (x_i - m_k)|^2 - o_k`` with a lower-triangular
``A_k`` (``factors``, (K, p, p)) and ``offsets`` o (K,), in X's dtype: the Mahalanobis distance
costs p (p + 1)/2 multiply-adds through the triangle. Layout and conventions are those of
:mod:`fastcavi.kernels.core` (tiles laid out [feature or component, point], chunks that depend on
N only, partial sums reduced in a fixed order, every sum over points in float64, weights of
length 0 meaning all ones); fit and predict share the tile's logit routine.

Per point and component, ``u = x - m_k`` (in X's dtype for the logits, from the raw row: no
digits lost far from the origin; in float64 for the sums), ``|A_k u|^2``, and for the
statistics the symmetric scatter ``w r u u^T`` (p (p + 1)/2 multiply-adds; the upper triangle
is filled once after the reduction). From 8 features on, both run in 4 x 4 register blocks
(:func:`fastcavi.kernels.core.tile_triangle`, :func:`fastcavi.kernels.core.tile_scatter`, which
the tied kernels share).
"""

import numpy as np
from numba import prange

from . import core
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def _tile_logits_full(X, means, factors, offsets, start, n, xt, ut, yt, expo, top):
    """xt[j, b] = x_bj; expo[k, b] = l_kb; top[b] = max_k l_kb, for rows start:start+n.
    ``factors`` (K, P, P) are the A_k padded with zeros to P = ``core.padded_features(p)`` rows;
    ut (P, B) (u = x - m_k; rows past p stay 0) and yt (P, B) (A_k u) are work space."""
    n_components, n_features = means.shape
    core.tile_transpose(X, start, n, xt, top)
    core.tile_offsets(expo, offsets, n)
    for k in range(n_components):
        for j in range(n_features):  # u = x - m_k
            mkj = means[k, j]
            xj = xt[j]
            uj = ut[j]
            for b in range(n):
                uj[b] = xj[b] - mkj
        core.tile_triangle(factors[k], ut, yt, expo[k], n, True)  # l_k -= |A_k u|^2
        core.tile_max(expo[k], top, n)


@cached_njit(**_JIT)
def _tile_statistics_full(X, weights, means, factors, offsets, start, stop,
                          xt, ut, yt, expo, top, z, ea, we, u64, tw, n_k, r_k, s_k, scalars):
    """Accumulate into the float64 buffers, for rows start:stop (one tile):

    n_k[k] += w_i phi_ik;  s_k[k, j] += w_i phi_ik u_ikj;
    r_k[k, j, i] += w_i phi_ik u_ikj u_iki (i <= j);  scalars += (w_i H(phi_i), w_i)

    with u_ik = x_i - m_k, formed in float64 for the sums (exact for float32 data).
    """
    n_components, n_features = means.shape
    n = stop - start
    _tile_logits_full(X, means, factors, offsets, start, n, xt, ut, yt, expo, top)
    core.tile_entropy(expo, top, z, ea, weights, start, n, z[:0], scalars)  # z <- w / z
    for k in range(n_components):
        e = expo[k]
        for b in range(n):  # stores, then sums: core's NO_SUMS_WITH_STORES
            we[b] = float(e[b] * z[b])
        nk = 0.0
        for b in range(n):
            nk += we[b]
        n_k[k] += nk
        for j in range(n_features):
            mkj = float(means[k, j])
            xj = xt[j]
            uj = u64[j]
            for b in range(n):
                uj[b] = float(xj[b]) - mkj
            acc_s = 0.0
            for b in range(n):
                acc_s += we[b] * uj[b]
            s_k[k, j] += acc_s
        core.tile_scatter(we, u64, n, n_features, tw, r_k[k])


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics_full(X, weights, means, factors, offsets):
    """One pass over X: (n_k (K,), r_k (K, p, p), s_k (K, p), entropy, total_weight), float64,
    centred on ``means``; see :func:`_tile_statistics_full`."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    # the float64 partial sums below, per chunk
    per_chunk = n_components * (n_features * n_features + n_features + 1) + 2
    n_chunks, chunk, size, padded = core.matrix_plan(n_samples, n_components, n_features,
                                                     per_chunk)
    factors = core.padded_factors(factors, padded)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components, n_features, n_features))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xt = core.tile_block(X, n_features, size)
        ut, yt = core.padded_work(X, padded, size)  # ut's rows past p stay 0
        expo, top, z, ea = core.tile_work(X, n_components, size)
        we = np.empty(size)
        u64 = np.zeros((padded, size))  # rows past p stay 0
        tw = np.empty(size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_full(X, weights, means, factors, offsets, t0,
                                  min(stop, t0 + size), xt, ut, yt, expo, top, z, ea, we, u64,
                                  tw, part_n[c], part_r[c], part_s[c], part_scalars[c])
    r_k = core.sum_partials(part_r)
    core.symmetrise(r_k)
    scalars = core.sum_partials(part_scalars)
    return core.sum_partials(part_n), r_k, core.sum_partials(part_s), scalars[0], scalars[1]


@cached_njit(parallel=True, **_JIT)
def _predict_full(X, means, factors, offsets, mode, proba, labels):
    """Per row: phi into ``proba`` (N, K) (mode PREDICT_PROBA) or argmax_k into ``labels`` (N,)
    (PREDICT_LABELS); the other output may be empty. The fit's logits."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks, chunk, size, padded = core.matrix_plan(n_samples, n_components, n_features, 0)
    factors = core.padded_factors(factors, padded)
    no_log_norm = np.empty(0)
    for c in prange(n_chunks):
        xt = core.tile_block(X, n_features, size)
        ut, yt = core.padded_work(X, padded, size)  # ut's rows past p stay 0
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits_full(X, means, factors, offsets, t0, n, xt, ut, yt, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, no_log_norm)
