"""Numba kernels for a diagonal precision per component: only ``@njit`` code, no validation.

The logits have the shape ``l_ik = -sum_j h_kj (x_ij - m_kj)^2 - o_k`` (``half_prec`` h (K, p)
and ``offsets`` o (K,), in X's dtype). Layout and conventions are those of
:mod:`fastcavi.kernels.fixed` (tiles laid out [k, point], chunks that depend on N only, partial
sums reduced in a fixed order, every sum over points in float64, weights of length 0 meaning
all ones); fit and predict share :func:`_tile_logits_diag`.
"""

import numpy as np
from numba import prange

from .fastexp import _log_normal
from .fixed import PREDICT_LABELS, _exp_shifted, n_chunks_for, tile_rows
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def _tile_logits_diag(X, means, half_prec, offsets, start, n, xt, expo, top):
    """xt[j, b] = x_bj; expo[k, b] = l_kb; top[b] = max_k l_kb, for rows start:start+n."""
    n_components, n_features = means.shape
    for b in range(n):
        for j in range(n_features):
            xt[j, b] = X[start + b, j]
        top[b] = -np.inf
    for k in range(n_components):
        e = expo[k]
        off = offsets[k]
        for b in range(n):
            e[b] = -off
        for j in range(n_features):
            mkj = means[k, j]
            hkj = half_prec[k, j]
            xj = xt[j]
            for b in range(n):
                diff = xj[b] - mkj
                e[b] -= hkj * (diff * diff)
        for b in range(n):
            top[b] = max(top[b], e[b])


@cached_njit(**_JIT)
def _tile_exp_entropy(expo, top, z, ea, n):
    """expo[k, b] <- exp(a_kb), a_kb = l_kb - max_k l_kb; z[b] = sum_k exp(a_kb) and
    ea[b] = sum_k exp(a_kb) a_kb (for the entropy log z_b - ea_b / z_b)."""
    for b in range(n):
        z[b] = 0.0
        ea[b] = 0.0
    for k in range(expo.shape[0]):
        e = expo[k]
        for b in range(n):
            a = e[b] - top[b]
            v = _exp_shifted(a)
            e[b] = v
            z[b] += v
            ea[b] += v * a


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
    _tile_exp_entropy(expo, top, z, ea, n)
    weighted = weights.shape[0] > 0
    entropy = 0.0
    total_w = 0.0
    for b in range(n):
        w = weights[start + b] if weighted else 1.0
        inv_z = 1.0 / z[b]
        # H(phi_b) = log z_b - sum_k phi_kb a_kb
        entropy += w * (_log_normal(float(z[b])) - float(ea[b] * inv_z))
        total_w += w
        z[b] = w * inv_z  # the factor that turns exp(a_kb) into w_b phi_kb
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
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics_diag(X, weights, means, half_prec, offsets):
    """One pass over X: (n_k (K,), r_k (K, p), s_k (K, p), entropy, total_weight), float64,
    centred on ``means``; see :func:`_tile_statistics_diag`."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    size = tile_rows(n_components)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components, n_features))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        expo = np.empty((n_components, size), dtype=X.dtype)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        stop = min(n_samples, (c + 1) * chunk)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_diag(X, weights, means, half_prec, offsets, t0,
                                  min(stop, t0 + size), xt, expo, top, z, ea,
                                  part_n[c], part_r[c], part_s[c], part_scalars[c])
    n_k = np.zeros(n_components)
    r_k = np.zeros((n_components, n_features))
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


@cached_njit(**_JIT)
def _tile_predict_diag(X, means, half_prec, offsets, start, n, mode, xt, expo, top, z, ea,
                       proba, labels):
    _tile_logits_diag(X, means, half_prec, offsets, start, n, xt, expo, top)
    n_components = means.shape[0]
    if mode == PREDICT_LABELS:
        for b in range(n):
            best = 0
            for k in range(n_components):
                if expo[k, b] == top[b]:
                    best = k
                    break
            labels[start + b] = best
        return
    _tile_exp_entropy(expo, top, z, ea, n)
    for b in range(n):
        z[b] = 1.0 / z[b]
    for b in range(n):
        for k in range(n_components):
            proba[start + b, k] = expo[k, b] * z[b]


@cached_njit(parallel=True, **_JIT)
def _predict_diag(X, means, half_prec, offsets, mode, proba, labels):
    """Per row: phi into ``proba`` (N, K) (mode PREDICT_PROBA) or argmax_k into ``labels`` (N,)
    (PREDICT_LABELS); the other output may be empty. The fit's logits."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    size = tile_rows(n_components)
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        expo = np.empty((n_components, size), dtype=X.dtype)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        stop = min(n_samples, (c + 1) * chunk)
        for t0 in range(c * chunk, stop, size):
            _tile_predict_diag(X, means, half_prec, offsets, t0, min(stop - t0, size), mode,
                               xt, expo, top, z, ea, proba, labels)
