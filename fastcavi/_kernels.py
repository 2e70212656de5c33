"""Numba kernels: only ``@njit`` code, no validation.

Layout follows stumpy: a serial per-chunk helper (``_chunk_statistics``) called by one
``parallel=True`` driver (``_sweep_statistics``). The driver splits the rows into a number of
chunks that depends only on N (never on the thread count); each chunk accumulates in its own
row of a partial-sums buffer, and the rows are summed serially in a fixed order, so results are
bit-identical for any number of threads.

Conventions shared by every kernel:

* ``X`` is C-contiguous float32 or float64 (the callers pass a read-only view, so memmaps and
  user arrays are one Numba type); ``means`` has the dtype of ``X`` so float32 data is computed
  in float32; every sum over points is accumulated in float64.
* ``weights`` is a float64 array of length N, or of length 0 meaning "all ones" (so an unweighted
  fit allocates nothing of size N).
* The logits are ``l_ik = -(|x_i - m_k|^2 + p s2_k) / (2 lambda2)``: the spec's
  ``[x_i . m_k - (|m_k|^2 + p s2_k)/2] / lambda2`` minus ``|x_i|^2 / (2 lambda2)``, which is
  constant in k and so leaves phi unchanged, while being translation-invariant and free of the
  cancellation that ``x . m`` suffers far from the origin.
"""

import math

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._fastexp import _exp_nonpos, _exp_nonpos_f32, _log_normal
from ._jit import KERNEL_OPTIONS, cached_njit


def _exp_shifted(x):
    """exp(x) for x <= 0 in x's own precision (float32 data: 16 SIMD lanes, not 8)."""
    # The body runs only with NUMBA_DISABLE_JIT=1; compiled code takes the overload below.
    return _exp_nonpos_f32(x) if isinstance(x, np.float32) else _exp_nonpos(x)


@overload(_exp_shifted)
def _exp_shifted_impl(x):
    if x == types.float32:
        return lambda x: _exp_nonpos_f32(x)
    return lambda x: _exp_nonpos(x)

_JIT = KERNEL_OPTIONS

# Rows per chunk never fall below this (the per-chunk overhead is a few K-sized buffers), and
# the number of chunks never exceeds _MAX_CHUNKS (so the partial-sums buffer is O(K p)).
_MIN_CHUNK_ROWS = 2048
_MAX_CHUNKS = 64


@cached_njit(**_JIT)
def n_chunks_for(n_samples):
    """Number of chunks for N rows: a function of N only, never of the thread count."""
    n = (n_samples + _MIN_CHUNK_ROWS - 1) // _MIN_CHUNK_ROWS
    return max(1, min(_MAX_CHUNKS, n))


@cached_njit(**_JIT)
def _point_logits(X, i, means, log_lik_offsets, inv_two_lam2, dist, logits):
    """Fill dist[k] = |x_i - m_k|^2 and logits[k] = l_ik; return max_k l_ik."""
    n_components, n_features = means.shape
    top = -np.inf
    for k in range(n_components):
        d = 0.0
        for j in range(n_features):
            diff = X[i, j] - means[k, j]
            d += diff * diff
        dist[k] = d
        lk = -(d * inv_two_lam2) - log_lik_offsets[k]
        logits[k] = lk
        top = max(top, lk)
    return top


@cached_njit(**_JIT)
def tile_rows(n_components):
    """Points per tile: the tile's K x B work arrays stay around 128 KiB (L2-resident)."""
    return max(32, min(1024, 16384 // max(1, n_components)))


@cached_njit(**_JIT)
def _tile_statistics(X, weights, means, log_lik_offsets, inv_two_lam2, start, stop,
                     xt, dist, expo, top, z, n_k, r_k, s_k, scalars):
    """Accumulate the statistics of rows start:stop (one tile) into the float64 buffers.

    The tile is laid out [k, b] (component, point) so that every inner loop runs over
    contiguous points and vectorises; xt is the tile of X transposed to [j, b]. Per-point
    values (distances, logits, exps, phi) are in X's dtype; every sum over points is float64.
    """
    n_components, n_features = means.shape
    n = stop - start
    for b in range(n):
        for j in range(n_features):
            xt[j, b] = X[start + b, j]
        top[b] = -np.inf
    # logits l_kb = -(|x_b - m_k|^2 + p s2_k) / (2 lambda2), and their max over k
    for k in range(n_components):
        d = dist[k]
        for b in range(n):
            d[b] = 0.0
        for j in range(n_features):
            mkj = means[k, j]
            xj = xt[j]
            for b in range(n):
                diff = xj[b] - mkj
                d[b] += diff * diff
        e = expo[k]
        off = log_lik_offsets[k]
        for b in range(n):
            lk = -(d[b] * inv_two_lam2) - off
            e[b] = lk
            top[b] = max(top[b], lk)
    # exp(l - max) and their sums z_b
    for b in range(n):
        z[b] = 0.0
    for k in range(n_components):
        e = expo[k]
        for b in range(n):
            v = _exp_shifted(e[b] - top[b])
            e[b] = v
            z[b] += v
    weighted = weights.shape[0] > 0
    entropy = 0.0
    total_w = 0.0
    for b in range(n):
        w = weights[start + b] if weighted else 1.0
        # H(phi_b) = log z_b - sum_k phi_kb a_kb, a_kb = l_kb - max_k l_kb; the first half here
        entropy += w * _log_normal(float(z[b]))
        total_w += w
        z[b] = w / z[b]  # from now on: the factor that turns exp(a_kb) into w_b phi_kb
    for k in range(n_components):
        e = expo[k]
        d = dist[k]
        off = log_lik_offsets[k]
        nk = 0.0
        rk = 0.0
        ek = 0.0
        for b in range(n):
            wphi = e[b] * z[b]
            e[b] = wphi
            nk += wphi
            rk += wphi * d[b]
            t = wphi * (-(d[b] * inv_two_lam2) - off - top[b])
            ek += t if wphi > 0.0 else 0.0  # 0 log 0 = 0
        n_k[k] += nk
        r_k[k] += rk
        entropy -= ek
        for j in range(n_features):
            mkj = means[k, j]
            xj = xt[j]
            acc = 0.0
            for b in range(n):
                acc += e[b] * (xj[b] - mkj)
            s_k[k, j] += acc
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(**_JIT)
def _chunk_statistics(X, weights, means, log_lik_offsets, inv_two_lam2, start, stop,
                      n_k, r_k, s_k, scalars):
    """Accumulate the statistics of rows start:stop, tile by tile, into float64 buffers:

    n_k[k] += w_i phi_ik                       (K,)
    r_k[k] += w_i phi_ik |x_i - m_k|^2         (K,)
    s_k[k] += w_i phi_ik (x_i - m_k)           (K, p)
    scalars[0] += w_i * entropy of phi_i;  scalars[1] += w_i
    """
    n_components, n_features = means.shape
    size = tile_rows(n_components)
    xt = np.empty((n_features, size), dtype=X.dtype)
    dist = np.empty((n_components, size), dtype=X.dtype)
    expo = np.empty((n_components, size), dtype=X.dtype)
    top = np.empty(size, dtype=X.dtype)
    z = np.empty(size, dtype=X.dtype)
    for t0 in range(start, stop, size):
        _tile_statistics(X, weights, means, log_lik_offsets, inv_two_lam2, t0,
                         min(stop, t0 + size), xt, dist, expo, top, z, n_k, r_k, s_k, scalars)


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics(X, weights, means, mean_vars, likelihood_var):
    """One pass over the rows of X: the K-sized statistics of q(c) at the current q(mu).

    Returns (n_k (K,), r_k (K,), s_k (K, p), entropy, total_weight), all float64;
    see ``_chunk_statistics`` for what each one sums.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    # The per-point constants in X's dtype, so that float32 logits stay float32.
    log_lik_offsets = (n_features * mean_vars * (0.5 / likelihood_var)).astype(X.dtype)
    inv_two_lam2 = np.full(1, 0.5 / likelihood_var, dtype=X.dtype)[0]
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(n_samples, start + chunk)
        _chunk_statistics(X, weights, means, log_lik_offsets, inv_two_lam2, start, stop,
                          part_n[c], part_r[c], part_s[c], part_scalars[c])
    n_k = np.zeros(n_components)
    r_k = np.zeros(n_components)
    s_k = np.zeros((n_components, n_features))
    entropy = 0.0
    total_w = 0.0
    for c in range(n_chunks):  # fixed order: bit-identical for any thread count
        n_k += part_n[c]
        r_k += part_r[c]
        s_k += part_s[c]
        entropy += part_scalars[c, 0]
        total_w += part_scalars[c, 1]
    return n_k, r_k, s_k, entropy, total_w


@cached_njit(parallel=True, **_JIT)
def _responsibilities(X, means, mean_vars, likelihood_var, out):
    """out[i, k] = phi_ik at the given q(mu) (rows are independent: no reduction)."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    inv_two_lam2 = 0.5 / likelihood_var
    log_lik_offsets = n_features * mean_vars * inv_two_lam2
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        dist = np.empty(n_components, dtype=np.float64)
        logits = np.empty(n_components, dtype=np.float64)
        for i in range(c * chunk, min(n_samples, (c + 1) * chunk)):
            top = _point_logits(X, i, means, log_lik_offsets, inv_two_lam2, dist, logits)
            z = 0.0
            for k in range(n_components):
                e = _exp_nonpos(logits[k] - top)
                logits[k] = e
                z += e
            inv_z = 1.0 / z
            for k in range(n_components):
                out[i, k] = logits[k] * inv_z


@cached_njit(parallel=True, **_JIT)
def _labels(X, means, mean_vars, likelihood_var, out):
    """out[i] = argmax_k phi_ik (the first maximum, as np.argmax), without forming phi."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    inv_two_lam2 = 0.5 / likelihood_var
    log_lik_offsets = n_features * mean_vars * inv_two_lam2
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        dist = np.empty(n_components, dtype=np.float64)
        logits = np.empty(n_components, dtype=np.float64)
        for i in range(c * chunk, min(n_samples, (c + 1) * chunk)):
            top = _point_logits(X, i, means, log_lik_offsets, inv_two_lam2, dist, logits)
            best = 0
            for k in range(n_components):
                if logits[k] == top:
                    best = k
                    break
            out[i] = best


@cached_njit(parallel=True, **_JIT)
def _log_predictive(X, means, pred_vars, out):
    """out[i] = log sum_k (1/K) N(x_i | m_k, v_k I) with v_k = lambda2 + s2_k."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    inv_two_v = 0.5 / pred_vars
    offsets = 0.5 * n_features * np.log(2.0 * np.pi * pred_vars) + np.log(n_components)
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        logp = np.empty(n_components, dtype=np.float64)
        for i in range(c * chunk, min(n_samples, (c + 1) * chunk)):
            top = -np.inf
            for k in range(n_components):
                d = 0.0
                for j in range(n_features):
                    diff = X[i, j] - means[k, j]
                    d += diff * diff
                lk = -(d * inv_two_v[k]) - offsets[k]
                logp[k] = lk
                top = max(top, lk)
            z = 0.0
            for k in range(n_components):
                z += _exp_nonpos(logp[k] - top)
            out[i] = top + math.log(z)


# Rows per BLAS call in the large-p path: a block of xc and of G (512 x 64 doubles = 256 KiB
# each) stays in L2 between the two products.
_GRAM_BLOCK_ROWS = 512


@cached_njit(**_JIT)
def _gram_rows(xc, gram, weights, w_offset, sq_means, log_lik_offsets, inv_two_lam2,
               dist, n_k, r_k, scalars):
    """Rows of a centred block: turn gram[i, k] = xc_i . mc_k into w_i phi_ik in place, and
    accumulate n_k, r_k, the entropy and the weight (the large-p path; S_k comes from BLAS)."""
    n_rows, n_features = xc.shape
    n_components = gram.shape[1]
    weighted = weights.shape[0] > 0
    entropy = 0.0
    total_w = 0.0
    for i in range(n_rows):
        sq_x = 0.0
        for j in range(n_features):
            sq_x += xc[i, j] * xc[i, j]
        g = gram[i]
        top = -np.inf
        for k in range(n_components):
            # |x - m|^2 = |xc|^2 - 2 xc.mc + |mc|^2 >= 0; centring keeps the terms small.
            d = max(0.0, sq_x - 2.0 * g[k] + sq_means[k])
            dist[k] = d
            top = max(top, -(d * inv_two_lam2) - log_lik_offsets[k])
        z = 0.0
        for k in range(n_components):
            e = _exp_nonpos(-(dist[k] * inv_two_lam2) - log_lik_offsets[k] - top)
            g[k] = e
            z += e
        w = weights[w_offset + i] if weighted else 1.0
        scale = w / z
        ent = 0.0
        for k in range(n_components):
            wphi = g[k] * scale
            g[k] = wphi
            n_k[k] += wphi
            r_k[k] += wphi * dist[k]
            t = wphi * (-(dist[k] * inv_two_lam2) - log_lik_offsets[k] - top)
            ent += t if wphi > 0.0 else 0.0
        entropy += w * _log_normal(z) - ent
        total_w += w
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(parallel=True, **_JIT)
def _gram_sweep_statistics(X, weights, centred_means, centre, mean_vars, likelihood_var):
    """The large-p sweep: like ``_sweep_statistics`` but the two K p products per point are
    BLAS GEMMs on blocks of rows centred on ``centre`` (the means' centroid, so the expanded
    distance has no cancellation far from the origin). Each chunk calls BLAS from its own
    thread; the caller keeps BLAS single-threaded so there is one thread pool.

    Returns (n_k, r_k, s_k, entropy, total_weight) with s_k centred on the means
    (``centred_means + centre``), exactly as ``_sweep_statistics``.
    """
    n_samples, n_features = X.shape
    n_components = centred_means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    inv_two_lam2 = 0.5 / likelihood_var
    log_lik_offsets = n_features * mean_vars * inv_two_lam2
    mc_t = centred_means.T
    sq_means = np.zeros(n_components)
    for k in range(n_components):
        for j in range(n_features):
            sq_means[k] += float(centred_means[k, j]) ** 2
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xc = np.empty((_GRAM_BLOCK_ROWS, n_features), dtype=X.dtype)
        gram = np.empty((_GRAM_BLOCK_ROWS, n_components), dtype=X.dtype)
        dist = np.empty(n_components)
        stop = min(n_samples, (c + 1) * chunk)
        for t0 in range(c * chunk, stop, _GRAM_BLOCK_ROWS):
            n = min(_GRAM_BLOCK_ROWS, stop - t0)
            xb = xc[:n]
            gb = gram[:n]
            for i in range(n):
                for j in range(n_features):
                    xb[i, j] = X[t0 + i, j] - centre[j]
            np.dot(xb, mc_t, gb)
            _gram_rows(xb, gb, weights, t0, sq_means, log_lik_offsets, inv_two_lam2, dist,
                       part_n[c], part_r[c], part_scalars[c])
            part_s[c] += np.dot(gb.T, xb)
    n_k = np.zeros(n_components)
    r_k = np.zeros(n_components)
    s_c = np.zeros((n_components, n_features))
    entropy = 0.0
    total_w = 0.0
    for c in range(n_chunks):  # fixed order: bit-identical for any thread count
        n_k += part_n[c]
        r_k += part_r[c]
        s_c += part_s[c]
        entropy += part_scalars[c, 0]
        total_w += part_scalars[c, 1]
    # S~_k = sum w phi (x - m_k) = sum w phi xc - N_k mc_k
    for k in range(n_components):
        for j in range(n_features):
            s_c[k, j] -= n_k[k] * centred_means[k, j]
    return n_k, r_k, s_c, entropy, total_w
