"""Numba kernels for full precisions (and the blocked triangle and scatter that the tied
kernels of :mod:`fastcavi.kernels.tied` share): only ``@njit`` code, no validation.

The logits have the shape ``l_ik = -|A_k (x_i - m_k)|^2 - o_k`` with a lower-triangular
``A_k`` (``factors``, (K, p, p)) and ``offsets`` o (K,), in X's dtype: the Mahalanobis distance
costs p (p + 1)/2 multiply-adds through the triangle. Layout and conventions are those of
:mod:`fastcavi.kernels.fixed` (tiles laid out [feature or component, point], chunks that depend on
N only, partial sums reduced in a fixed order, every sum over points in float64, weights of
length 0 meaning all ones); fit and predict share the tile's logit routine.

Per point and component, ``u = x - m_k`` (in X's dtype for the logits, from the raw row: no
digits lost far from the origin; in float64 for the sums), ``|A_k u|^2``, and for the
statistics the symmetric scatter ``w r u u^T`` (p (p + 1)/2 multiply-adds; the upper triangle
is filled once after the reduction). From ``_BLOCKED_MIN_FEATURES`` features on, both run in
4 x 4 register blocks.
"""

import numpy as np
from numba import prange

from .diag import _tile_exp_entropy
from .fastexp import _log_normal
from .fixed import PREDICT_LABELS, n_chunks_for, tile_rows
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def matrix_tile_rows(n_components, n_features):
    """Points per tile: :func:`fastcavi.kernels.fixed.tile_rows`, and at most what keeps a p x B
    tile of the rows (the operand of every multiply-add of the triangle) in L1."""
    return max(32, min(tile_rows(n_components), 4096 // max(1, n_features)))


# From this many features on, the triangle A_k u and the scatter are computed in 4 x 4 blocks
# of (j, i) (one load or store per 2 multiply-adds instead of 2 per one; the rows and the
# factors are padded with zeros to a multiple of 4).
_BLOCKED_MIN_FEATURES = 8


@cached_njit(**_JIT)
def padded_features(n_features):
    """Rows of the float64 work tile of u = x - m_k: p, rounded up to a multiple of 4 from
    ``_BLOCKED_MIN_FEATURES`` on."""
    if n_features < _BLOCKED_MIN_FEATURES:
        return n_features
    return (n_features + 3) // 4 * 4


# -- full --------------------------------------------------------------------------------------

@cached_njit(**_JIT)
def _padded_factors(factors, padded):
    """The factors (K, p, p) in a zero (K, P, P) array (a copy even when P = p)."""
    n_components, n_features = factors.shape[0], factors.shape[1]
    out = np.zeros((n_components, padded, padded), dtype=factors.dtype)
    for k in range(n_components):
        for j in range(n_features):
            for i in range(n_features):
                out[k, j, i] = factors[k, j, i]
    return out


@cached_njit(**_JIT)
def _tile_logits_full(X, means, factors, offsets, start, n, xt, ut, yt, expo, top):
    """xt[j, b] = x_bj; expo[k, b] = l_kb; top[b] = max_k l_kb, for rows start:start+n.
    ``factors`` (K, P, P) are the A_k padded with zeros to P = :func:`padded_features` rows;
    ut (P, B) (u = x - m_k; rows past p stay 0) and yt (P, B) (A_k u) are work space."""
    n_components, n_features = means.shape
    padded = factors.shape[1]
    for b in range(n):
        for j in range(n_features):
            xt[j, b] = X[start + b, j]
        top[b] = -np.inf
    for k in range(n_components):
        e = expo[k]
        off = offsets[k]
        for j in range(n_features):
            mkj = means[k, j]
            xj = xt[j]
            uj = ut[j]
            for b in range(n):
                uj[b] = xj[b] - mkj
        for b in range(n):
            e[b] = -off
        if padded < _BLOCKED_MIN_FEATURES:
            y = yt[0]
            for j in range(n_features):
                # (A_k u)_j = sum_{i <= j} A_k[j, i] u_i
                a = factors[k, j, 0]
                u0 = ut[0]
                for b in range(n):
                    y[b] = a * u0[b]
                for i in range(1, j + 1):
                    a = factors[k, j, i]
                    ui = ut[i]
                    for b in range(n):
                        y[b] += a * ui[b]
                for b in range(n):
                    e[b] -= y[b] * y[b]
        else:
            _tile_triangle_blocked(factors[k], ut, yt, e, n, True)
        for b in range(n):
            top[b] = max(top[b], e[b])


@cached_njit(**_JIT)
def _tile_triangle_blocked(a, ut, yt, e, n, square):
    """yt[j] = sum_{i <= j} A[j, i] ut[i] for a lower-triangular A (P, P), P a multiple of 4,
    in 4 x 4 blocks; and e[b] -= |A u_b|^2 when ``square``."""
    padded = a.shape[0]
    for j0 in range(0, padded, 4):
        y0, y1, y2, y3 = yt[j0], yt[j0 + 1], yt[j0 + 2], yt[j0 + 3]
        for i0 in range(0, j0 + 1, 4):
            v0, v1, v2, v3 = ut[i0], ut[i0 + 1], ut[i0 + 2], ut[i0 + 3]
            a00, a01, a02, a03 = a[j0, i0], a[j0, i0 + 1], a[j0, i0 + 2], a[j0, i0 + 3]
            a10, a11, a12, a13 = a[j0 + 1, i0], a[j0 + 1, i0 + 1], a[j0 + 1, i0 + 2], \
                a[j0 + 1, i0 + 3]
            a20, a21, a22, a23 = a[j0 + 2, i0], a[j0 + 2, i0 + 1], a[j0 + 2, i0 + 2], \
                a[j0 + 2, i0 + 3]
            a30, a31, a32, a33 = a[j0 + 3, i0], a[j0 + 3, i0 + 1], a[j0 + 3, i0 + 2], \
                a[j0 + 3, i0 + 3]
            if i0 == 0:
                for b in range(n):
                    x0, x1, x2, x3 = v0[b], v1[b], v2[b], v3[b]
                    y0[b] = a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                    y1[b] = a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                    y2[b] = a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                    y3[b] = a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
            else:
                for b in range(n):
                    x0, x1, x2, x3 = v0[b], v1[b], v2[b], v3[b]
                    y0[b] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                    y1[b] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                    y2[b] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                    y3[b] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
        if square:
            for b in range(n):
                e[b] -= y0[b] * y0[b] + y1[b] * y1[b] + y2[b] * y2[b] + y3[b] * y3[b]


@cached_njit(**_JIT)
def _tile_scatter(we, u, n, n_features, tw, r):
    """r[j, i] += sum_b we[b] u[j, b] u[i, b] for i <= j < p (float64 throughout)."""
    if n_features < _BLOCKED_MIN_FEATURES:
        for j in range(n_features):
            uj = u[j]
            for b in range(n):
                tw[b] = we[b] * uj[b]
            for i in range(j + 1):
                ui = u[i]
                acc = 0.0
                for b in range(n):
                    acc += tw[b] * ui[b]
                r[j, i] += acc
        return
    for j0 in range(0, n_features, 4):
        t0, t1, t2, t3 = u[j0], u[j0 + 1], u[j0 + 2], u[j0 + 3]
        for i0 in range(0, j0 + 1, 4):
            v0, v1, v2, v3 = u[i0], u[i0 + 1], u[i0 + 2], u[i0 + 3]
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
            for b in range(n):
                w = we[b]
                x0, x1, x2, x3 = v0[b], v1[b], v2[b], v3[b]
                s = w * t0[b]
                a00 += s * x0
                a01 += s * x1
                a02 += s * x2
                a03 += s * x3
                s = w * t1[b]
                a10 += s * x0
                a11 += s * x1
                a12 += s * x2
                a13 += s * x3
                s = w * t2[b]
                a20 += s * x0
                a21 += s * x1
                a22 += s * x2
                a23 += s * x3
                s = w * t3[b]
                a30 += s * x0
                a31 += s * x1
                a32 += s * x2
                a33 += s * x3
            block = ((a00, a01, a02, a03), (a10, a11, a12, a13), (a20, a21, a22, a23),
                     (a30, a31, a32, a33))
            for a in range(4):
                for c in range(4):
                    j, i = j0 + a, i0 + c
                    if j < n_features and i <= j:
                        r[j, i] += block[a][c]


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
            wphi = float(e[b] * z[b])
            we[b] = wphi
            nk += wphi
        n_k[k] += nk
        for j in range(n_features):
            mkj = float(means[k, j])
            xj = xt[j]
            uj = u64[j]
            acc_s = 0.0
            for b in range(n):
                d = float(xj[b]) - mkj
                uj[b] = d
                acc_s += we[b] * d
            s_k[k, j] += acc_s
        _tile_scatter(we, u64, n, n_features, tw, r_k[k])
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics_full(X, weights, means, factors, offsets):
    """One pass over X: (n_k (K,), r_k (K, p, p), s_k (K, p), entropy, total_weight), float64,
    centred on ``means``; see :func:`_tile_statistics_full`."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    size = matrix_tile_rows(n_components, n_features)
    padded = padded_features(n_features)
    factors = _padded_factors(factors, padded)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components, n_features, n_features))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        ut = np.zeros((padded, size), dtype=X.dtype)  # rows past p stay 0
        yt = np.empty((padded, size), dtype=X.dtype)
        expo = np.empty((n_components, size), dtype=X.dtype)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        we = np.empty(size)
        u64 = np.zeros((padded, size))  # rows past p stay 0
        tw = np.empty(size)
        stop = min(n_samples, (c + 1) * chunk)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_full(X, weights, means, factors, offsets, t0,
                                  min(stop, t0 + size), xt, ut, yt, expo, top, z, ea, we, u64,
                                  tw, part_n[c], part_r[c], part_s[c], part_scalars[c])
    n_k = np.zeros(n_components)
    r_k = np.zeros((n_components, n_features, n_features))
    s_k = np.zeros((n_components, n_features))
    entropy = 0.0
    total_w = 0.0
    for c in range(n_chunks):  # fixed order: bit-identical for any thread count
        n_k += part_n[c]
        r_k += part_r[c]
        s_k += part_s[c]
        entropy += part_scalars[c, 0]
        total_w += part_scalars[c, 1]
    for k in range(n_components):  # the upper triangle, from the lower one
        for j in range(n_features):
            for i in range(j):
                r_k[k, i, j] = r_k[k, j, i]
    return n_k, r_k, s_k, entropy, total_w


@cached_njit(**_JIT)
def _tile_outputs(expo, top, z, ea, start, n, mode, proba, labels):
    """From a tile's logits: the first argmax into labels, or phi into proba."""
    n_components = expo.shape[0]
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


@cached_njit(**_JIT)
def _tile_predict_full(X, means, factors, offsets, start, n, mode, xt, ut, yt, expo, top, z,
                       ea, proba, labels):
    _tile_logits_full(X, means, factors, offsets, start, n, xt, ut, yt, expo, top)
    _tile_outputs(expo, top, z, ea, start, n, mode, proba, labels)


@cached_njit(parallel=True, **_JIT)
def _predict_full(X, means, factors, offsets, mode, proba, labels):
    """Per row: phi into ``proba`` (N, K) (mode PREDICT_PROBA) or argmax_k into ``labels`` (N,)
    (PREDICT_LABELS); the other output may be empty. The fit's logits."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks = n_chunks_for(n_samples)
    chunk = (n_samples + n_chunks - 1) // n_chunks
    size = matrix_tile_rows(n_components, n_features)
    padded = padded_features(n_features)
    factors = _padded_factors(factors, padded)
    for c in prange(n_chunks):
        xt = np.empty((n_features, size), dtype=X.dtype)
        ut = np.zeros((padded, size), dtype=X.dtype)  # rows past p stay 0
        yt = np.empty((padded, size), dtype=X.dtype)
        expo = np.empty((n_components, size), dtype=X.dtype)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        stop = min(n_samples, (c + 1) * chunk)
        for t0 in range(c * chunk, stop, size):
            _tile_predict_full(X, means, factors, offsets, t0, min(stop - t0, size), mode,
                               xt, ut, yt, expo, top, z, ea, proba, labels)
