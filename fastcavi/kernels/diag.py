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
        n_k[k] += core.weighted_count(e, z, n)
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
    per_chunk = n_components * (2 * n_features + 1) + 2  # partial sums per chunk
    n_chunks, chunk = core.chunking(n_samples, per_chunk)
    size = core.tile_rows(n_components)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components, n_features))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xt = core.tile_block(X, n_features, size)
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
    n_chunks, chunk = core.chunking(n_samples, 0)
    size = core.tile_rows(n_components)
    no_log_norm = np.empty(0)
    for c in prange(n_chunks):
        xt = core.tile_block(X, n_features, size)
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits_diag(X, means, half_prec, offsets, t0, n, xt, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, no_log_norm)


@cached_njit(**_JIT)
def _gram_logits_diag(expo, sq_means, offsets, n, top):
    """From a block's products expo[k, b] = sum_j h_kj (xc_bj^2 - 2 mc_kj xc_bj) (the tile
    layout): expo[k, b] <- l_kb = -d_kb - o_k with d_kb = expo[k, b] + sum_j h_kj mc_kj^2 =
    sum_j h_kj (x_bj - m_kj)^2 (formed in float64, ``sq_means`` float64; clipped at 0, where
    the expansion rounds below), and
    top[b] = max_k l_kb, for the first n points."""
    for b in range(n):
        top[b] = -np.inf
    for k in range(expo.shape[0]):
        e = expo[k]
        sq_m = sq_means[k]
        off = offsets[k]
        for b in range(n):  # the sum in float64: its terms are larger than the result
            lk = -max(0.0, float(e[b]) + sq_m) - off
            e[b] = lk
            top[b] = max(top[b], lk)


@cached_njit(parallel=True, **_JIT)
def _gram_sweep_statistics_diag(X, weights, centred_means, centre, half_prec, offsets):
    """The large-p sweep: as :func:`_sweep_statistics_diag`, with the K p multiply-adds per
    point done by two BLAS products per block of rows, centred on ``centre`` (the means'
    centroid, so that the expanded squares lose no digits far from the origin):
    G = W [xc^2 | xc]^T with W = [h | -2 h mc] (K, 2p) gives the logits in the tile layout
    [k, b], and (w phi) [xc^2 | xc] gives per component sum w phi xc^2 and sum w phi xc, from
    which S_k and R_k about the means follow. Each chunk calls BLAS from its own thread; the
    caller keeps BLAS single-threaded so there is one thread pool.

    Returns (n_k, r_k, s_k, entropy, total_weight) as :func:`_sweep_statistics_diag`."""
    n_samples, n_features = X.shape
    n_components = centred_means.shape[0]
    per_chunk = n_components * (2 * n_features + 1) + 2  # partial sums per chunk
    n_chunks, chunk = core.chunking(n_samples, per_chunk)
    size = core.gram_block_rows(n_components)
    w_mat = np.empty((n_components, 2 * n_features), dtype=X.dtype)
    sq_means = np.zeros(n_components)
    for k in range(n_components):
        for j in range(n_features):
            h = float(half_prec[k, j])
            m = float(centred_means[k, j])
            w_mat[k, j] = h
            w_mat[k, n_features + j] = -2.0 * h * m
            sq_means[k] += h * m * m
    part_n = np.zeros((n_chunks, n_components))
    part_a = np.zeros((n_chunks, n_components, 2 * n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        feats = np.empty((size, 2 * n_features), dtype=X.dtype)
        expo_work = np.empty(n_components * size, dtype=X.dtype)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(size, stop - t0)
            fb = feats[:n]
            expo = core.gram_block(expo_work, n_components, n)
            for i in range(n):
                for j in range(n_features):
                    xc = X[t0 + i, j] - centre[j]
                    fb[i, j] = xc * xc
                    fb[i, n_features + j] = xc
            np.dot(w_mat, fb.T, expo)
            _gram_logits_diag(expo, sq_means, offsets, n, top)
            core.tile_entropy(expo, top, z, ea, weights, t0, n, z[:0], part_scalars[c])
            core.weighted_counts(expo, z, n, part_n[c])  # z = w / z: into w phi
            part_a[c] += np.dot(expo, fb)
    n_k = core.sum_partials(part_n)
    a = core.sum_partials(part_a)
    scalars = core.sum_partials(part_scalars)
    s_k = np.empty((n_components, n_features))
    r_k = np.empty((n_components, n_features))
    for k in range(n_components):
        for j in range(n_features):
            m = float(centred_means[k, j])
            sx = a[k, n_features + j]
            # about m_k: sum w phi (xc - mc)^2 = Sxx - 2 mc Sx + N mc^2 (>= 0)
            s_k[k, j] = sx - n_k[k] * m
            r_k[k, j] = max(0.0, a[k, j] - 2.0 * m * sx + n_k[k] * m * m)
    return n_k, r_k, s_k, scalars[0], scalars[1]
