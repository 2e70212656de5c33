"""Numba kernels for a tied precision (one for all components): only ``@njit`` code, no
validation. Conventions as :mod:`fastcavi.kernels.full`, whose triangle and scatter
(:mod:`fastcavi.kernels.core`) these kernels share.

One factor A (lower triangular, ``A^T A = (nu / 2) Psi^-1``), so each row is whitened once per
tile (``z = A (x - c)``, c the means' centroid) and the distance to the whitened means
``A (m_k - c)`` costs p per component, as for a spherical precision. The pooled scatter
``sum_k sum_i w_i r_ik (x_i - m_k)(x_i - m_k)^T`` comes from ``y_i = x_i - sum_k r_ik m_k``
(one p x p product per point) and the co-responsibilities ``M_kl = sum_i w_i r_ik r_il``, which
:func:`fastcavi.models.family_full_fit.block_statistics` combines (see
:mod:`fastcavi.models.family_full`).
"""

import numpy as np
from numba import prange

from . import core
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def _tile_logits_tied(X, centre, factor, white_means, offsets, start, n, xc, zt, expo, top):
    """xc[j, b] = x_bj - c_j; zt = A xc (the whitened rows); expo[k, b] = l_kb =
    -|z_b - A (m_k - c)|^2 - o_k; top[b] = max_k l_kb, for rows start:start+n. A is padded to
    P = ``core.padded_features(p)`` rows, and xc (whose rows past p stay 0), zt and the
    whitened means (K, P) (:func:`_padded_columns`) have P rows or columns."""
    n_features = X.shape[1]
    for b in range(n):
        for j in range(n_features):
            xc[j, b] = X[start + b, j] - centre[j]
        top[b] = -np.inf
    core.tile_triangle(factor, xc, zt, top, n, False)  # zt = A xc (top: unused here)
    core.tile_offsets(expo, offsets, n)
    _tile_distances(zt, white_means, expo, top, n)


@cached_njit(**_JIT)
def _tile_distances(zt, white_means, expo, top, n):
    """expo[k, b] -= |z_b - wm_k|^2 over the P rows of zt, two components and four features
    at a time (one load of a point's four features serves both components, and each logit is
    loaded and stored once per four features); then top[b] = max(top[b], expo[k, b]) while
    the two rows are still in L1."""
    n_components, padded = white_means.shape
    j4 = padded - padded % 4
    k = 0
    while k + 2 <= n_components:
        e0, e1 = expo[k], expo[k + 1]
        for j0 in range(0, j4, 4):
            z0, z1, z2, z3 = zt[j0], zt[j0 + 1], zt[j0 + 2], zt[j0 + 3]
            a0, a1 = white_means[k, j0], white_means[k, j0 + 1]
            a2, a3 = white_means[k, j0 + 2], white_means[k, j0 + 3]
            c0, c1 = white_means[k + 1, j0], white_means[k + 1, j0 + 1]
            c2, c3 = white_means[k + 1, j0 + 2], white_means[k + 1, j0 + 3]
            for b in range(n):
                x0, x1, x2, x3 = z0[b], z1[b], z2[b], z3[b]
                d0, d1, d2, d3 = x0 - a0, x1 - a1, x2 - a2, x3 - a3
                e0[b] -= (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
                d0, d1, d2, d3 = x0 - c0, x1 - c1, x2 - c2, x3 - c3
                e1[b] -= (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        for j in range(j4, padded):
            zj = zt[j]
            a, c = white_means[k, j], white_means[k + 1, j]
            for b in range(n):
                d = zj[b] - a
                e0[b] -= d * d
                d = zj[b] - c
                e1[b] -= d * d
        core.tile_max(e0, top, n)
        core.tile_max(e1, top, n)
        k += 2
    if k < n_components:
        e0 = expo[k]
        for j0 in range(0, j4, 4):
            z0, z1, z2, z3 = zt[j0], zt[j0 + 1], zt[j0 + 2], zt[j0 + 3]
            a0, a1 = white_means[k, j0], white_means[k, j0 + 1]
            a2, a3 = white_means[k, j0 + 2], white_means[k, j0 + 3]
            for b in range(n):
                d0, d1 = z0[b] - a0, z1[b] - a1
                d2, d3 = z2[b] - a2, z3[b] - a3
                e0[b] -= (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        for j in range(j4, padded):
            zj = zt[j]
            a = white_means[k, j]
            for b in range(n):
                d = zj[b] - a
                e0[b] -= d * d
        core.tile_max(e0, top, n)


@cached_njit(**_JIT)
def _tile_centred_sums(we, xc, centred_means, n, s_k):
    """s_k[k, j] += sum_b we[k, b] (xc[j, b] - mc_kj) for j < p (float64 sums), four
    components by four features at a time (``centred_means`` (K, P), padded with zeros)."""
    n_components, n_features = s_k.shape
    k4 = n_components - n_components % 4
    j4 = n_features - n_features % 4
    for k0 in range(0, k4, 4):
        e0, e1, e2, e3 = we[k0], we[k0 + 1], we[k0 + 2], we[k0 + 3]
        for j0 in range(0, j4, 4):
            x0, x1, x2, x3 = xc[j0], xc[j0 + 1], xc[j0 + 2], xc[j0 + 3]
            m00, m01 = centred_means[k0, j0], centred_means[k0, j0 + 1]
            m02, m03 = centred_means[k0, j0 + 2], centred_means[k0, j0 + 3]
            m10, m11 = centred_means[k0 + 1, j0], centred_means[k0 + 1, j0 + 1]
            m12, m13 = centred_means[k0 + 1, j0 + 2], centred_means[k0 + 1, j0 + 3]
            m20, m21 = centred_means[k0 + 2, j0], centred_means[k0 + 2, j0 + 1]
            m22, m23 = centred_means[k0 + 2, j0 + 2], centred_means[k0 + 2, j0 + 3]
            m30, m31 = centred_means[k0 + 3, j0], centred_means[k0 + 3, j0 + 1]
            m32, m33 = centred_means[k0 + 3, j0 + 2], centred_means[k0 + 3, j0 + 3]
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0
            for b in range(n):
                y0, y1, y2, y3 = x0[b], x1[b], x2[b], x3[b]
                f = e0[b]
                a00 += f * (y0 - m00)
                a01 += f * (y1 - m01)
                a02 += f * (y2 - m02)
                a03 += f * (y3 - m03)
                f = e1[b]
                a10 += f * (y0 - m10)
                a11 += f * (y1 - m11)
                a12 += f * (y2 - m12)
                a13 += f * (y3 - m13)
                f = e2[b]
                a20 += f * (y0 - m20)
                a21 += f * (y1 - m21)
                a22 += f * (y2 - m22)
                a23 += f * (y3 - m23)
                f = e3[b]
                a30 += f * (y0 - m30)
                a31 += f * (y1 - m31)
                a32 += f * (y2 - m32)
                a33 += f * (y3 - m33)
            s_k[k0, j0] += a00
            s_k[k0, j0 + 1] += a01
            s_k[k0, j0 + 2] += a02
            s_k[k0, j0 + 3] += a03
            s_k[k0 + 1, j0] += a10
            s_k[k0 + 1, j0 + 1] += a11
            s_k[k0 + 1, j0 + 2] += a12
            s_k[k0 + 1, j0 + 3] += a13
            s_k[k0 + 2, j0] += a20
            s_k[k0 + 2, j0 + 1] += a21
            s_k[k0 + 2, j0 + 2] += a22
            s_k[k0 + 2, j0 + 3] += a23
            s_k[k0 + 3, j0] += a30
            s_k[k0 + 3, j0 + 1] += a31
            s_k[k0 + 3, j0 + 2] += a32
            s_k[k0 + 3, j0 + 3] += a33
    for k in range(n_components):  # what the blocks left: the last features, the last comps
        e = we[k]
        for j in range(j4 if k < k4 else 0, n_features):
            xj = xc[j]
            mkj = centred_means[k, j]
            acc = 0.0
            for b in range(n):
                acc += e[b] * (xj[b] - mkj)
            s_k[k, j] += acc


@cached_njit(**_JIT)
def _tile_co_responsibilities(we, phi, n, co):
    """co[k, l] += sum_b we[k, b] phi[l, b] for k < l (float64 sums), four l at a time.
    (Blocks of 4 k x 4 l were no quicker in float64 and slower in float32, whose 16 float64
    sums do not fit in the registers.)"""
    n_components = co.shape[0]
    for k in range(n_components):
        e = we[k]
        m = k + 1
        while m + 4 <= n_components:
            p0, p1, p2, p3 = phi[m], phi[m + 1], phi[m + 2], phi[m + 3]
            a0 = a1 = a2 = a3 = 0.0
            for b in range(n):
                eb = e[b]
                a0 += eb * p0[b]
                a1 += eb * p1[b]
                a2 += eb * p2[b]
                a3 += eb * p3[b]
            co[k, m] += a0
            co[k, m + 1] += a1
            co[k, m + 2] += a2
            co[k, m + 3] += a3
            m += 4
        for m in range(m, n_components):
            pm = phi[m]
            acc = 0.0
            for b in range(n):
                acc += e[b] * pm[b]
            co[k, m] += acc


@cached_njit(**_JIT)
def _tile_residuals(xc, phi, centred_means, n, y):
    """y[j, b] = xc[j, b] - sum_k phi[k, b] mc_kj for the P rows (past p: 0), four features
    at a time and four components per pass (each sum in the order of the component blocks)."""
    n_components, padded = centred_means.shape
    j4 = padded - padded % 4
    for j0 in range(0, padded, 4):
        rows = min(4, padded - j0)
        for a in range(rows):
            yj = y[j0 + a]
            xj = xc[j0 + a]
            for b in range(n):
                yj[b] = xj[b]
        if rows < 4:
            break
        y0, y1, y2, y3 = y[j0], y[j0 + 1], y[j0 + 2], y[j0 + 3]
        k0 = 0
        while k0 + 4 <= n_components:
            p0, p1, p2, p3 = phi[k0], phi[k0 + 1], phi[k0 + 2], phi[k0 + 3]
            m00, m10 = centred_means[k0, j0], centred_means[k0 + 1, j0]
            m20, m30 = centred_means[k0 + 2, j0], centred_means[k0 + 3, j0]
            m01, m11 = centred_means[k0, j0 + 1], centred_means[k0 + 1, j0 + 1]
            m21, m31 = centred_means[k0 + 2, j0 + 1], centred_means[k0 + 3, j0 + 1]
            m02, m12 = centred_means[k0, j0 + 2], centred_means[k0 + 1, j0 + 2]
            m22, m32 = centred_means[k0 + 2, j0 + 2], centred_means[k0 + 3, j0 + 2]
            m03, m13 = centred_means[k0, j0 + 3], centred_means[k0 + 1, j0 + 3]
            m23, m33 = centred_means[k0 + 2, j0 + 3], centred_means[k0 + 3, j0 + 3]
            for b in range(n):
                f0, f1, f2, f3 = p0[b], p1[b], p2[b], p3[b]
                y0[b] -= (f0 * m00 + f1 * m10) + (f2 * m20 + f3 * m30)
                y1[b] -= (f0 * m01 + f1 * m11) + (f2 * m21 + f3 * m31)
                y2[b] -= (f0 * m02 + f1 * m12) + (f2 * m22 + f3 * m32)
                y3[b] -= (f0 * m03 + f1 * m13) + (f2 * m23 + f3 * m33)
            k0 += 4
        for k in range(k0, n_components):
            ph = phi[k]
            m0, m1 = centred_means[k, j0], centred_means[k, j0 + 1]
            m2, m3 = centred_means[k, j0 + 2], centred_means[k, j0 + 3]
            for b in range(n):
                f = ph[b]
                y0[b] -= f * m0
                y1[b] -= f * m1
                y2[b] -= f * m2
                y3[b] -= f * m3
    for j in range(j4, padded):  # the last rows (P not a multiple of 4: p < 8)
        yj = y[j]
        k0 = 0
        while k0 + 4 <= n_components:
            m0, m1 = centred_means[k0, j], centred_means[k0 + 1, j]
            m2, m3 = centred_means[k0 + 2, j], centred_means[k0 + 3, j]
            p0, p1, p2, p3 = phi[k0], phi[k0 + 1], phi[k0 + 2], phi[k0 + 3]
            for b in range(n):
                yj[b] -= (p0[b] * m0 + p1[b] * m1) + (p2[b] * m2 + p3[b] * m3)
            k0 += 4
        for k in range(k0, n_components):
            mkj = centred_means[k, j]
            ph = phi[k]
            for b in range(n):
                yj[b] -= ph[b] * mkj


@cached_njit(**_JIT)
def _tile_statistics_tied(X, weights, centred_means, centre, factor, white_means, offsets,
                          start, stop, xc, zt, expo, phi, wphi, top, z, ea, wt, tw,
                          n_k, s_k, r_y, co, scalars):
    """Accumulate into the float64 buffers, for rows start:stop (one tile), with
    ``mc_k = m_k - c`` (``centred_means``, (K, P) padded with zeros) and ``xc_i = x_i - c``:

    n_k[k] += w_i phi_ik;  s_k[k, j] += w_i phi_ik (xc_ij - mc_kj);
    r_y[j, i] += w_i y_ij y_ii (i <= j), y_i = xc_i - sum_k phi_ik mc_k;
    co[k, l] += w_i phi_ik phi_il (k < l);  scalars += (w_i H(phi_i), w_i)

    ``phi`` and ``wphi`` (w_i phi_ik) are float64 work tiles whatever X's dtype: the sums
    above multiply them K p + K^2 / 2 times per point, and float32 operands would each be
    converted to float64 there (float32 was 1.9x slower than float64 at p = K = 64; at p = 2
    the wider tiles cost float32 about 15%).
    """
    n_components = centred_means.shape[0]
    n_features = X.shape[1]
    n = stop - start
    _tile_logits_tied(X, centre, factor, white_means, offsets, start, n, xc, zt, expo, top)
    # expo <- exp(a), z[b] <- 1 / z_b, wt[b] <- w_b
    core.tile_entropy(expo, top, z, ea, weights, start, n, wt, scalars)
    for k in range(n_components):
        e = expo[k]
        ph = phi[k]
        we = wphi[k]
        n_k[k] += _phi_row(e, z, wt, n, ph, we)
        if n_features < 4:  # no blocks of four features: each row while it is in L1 (P = p)
            core.tile_centred_sums(we, xc, centred_means[k], n, s_k[k])
    if n_features >= 4:
        _tile_centred_sums(wphi, xc, centred_means, n, s_k)
    _tile_co_responsibilities(wphi, phi, n, co)
    _tile_residuals(xc, phi, centred_means, n, zt)  # zt <- y
    core.tile_scatter(wt, zt, n, n_features, tw, r_y)  # zt's rows past p are 0


@cached_njit(**_JIT)
def _padded_columns(a, padded):
    """a (K, p) in a zero (K, P) array of a's dtype (a copy even when P = p)."""
    out = np.zeros((a.shape[0], padded), dtype=a.dtype)
    for k in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[k, j] = a[k, j]
    return out


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics_tied(X, weights, centred_means, centre, factor, white_means, offsets):
    """One pass over X: (n_k (K,), s_k (K, p), r_y (p, p), co (K, K), entropy,
    total_weight), float64; see :func:`_tile_statistics_tied` (r_y symmetric, co upper)."""
    n_samples, n_features = X.shape
    n_components = centred_means.shape[0]
    # the float64 partial sums below, per chunk
    per_chunk = n_components * (n_features + n_components + 1) + n_features * n_features + 2
    n_chunks, chunk, size, padded = core.matrix_plan(n_samples, n_components, n_features,
                                                     per_chunk)
    factor = core.padded_factors(factor.reshape((1, n_features, n_features)), padded)[0]
    centred_means = _padded_columns(centred_means, padded)
    white_means = _padded_columns(white_means, padded)
    part_n = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_r = np.zeros((n_chunks, n_features, n_features))
    part_co = np.zeros((n_chunks, n_components, n_components))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xc, zt = core.padded_work(X, padded, size)  # xc's rows past p stay 0
        expo, top, z, ea = core.tile_work(X, n_components, size)
        phi = np.empty((n_components, size))  # float64 whatever X's dtype: see the tile
        wphi = np.empty((n_components, size))
        wt = np.empty(size, dtype=X.dtype)
        tw = np.empty(size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_tied(X, weights, centred_means, centre, factor, white_means,
                                  offsets, t0, min(stop, t0 + size), xc, zt, expo, phi, wphi,
                                  top, z, ea, wt, tw, part_n[c], part_s[c], part_r[c],
                                  part_co[c], part_scalars[c])
    r_y = core.sum_partials(part_r)
    core.symmetrise(r_y)
    n_k, s_k, co = core.sum_partials(part_n), core.sum_partials(part_s), core.sum_partials(part_co)
    scalars = core.sum_partials(part_scalars)
    return n_k, s_k, r_y, co, scalars[0], scalars[1]


@cached_njit(parallel=True, **_JIT)
def _predict_tied(X, centre, factor, white_means, offsets, mode, proba, labels):
    """As :func:`_predict_full`, for the tied logits."""
    n_samples, n_features = X.shape
    n_components = white_means.shape[0]
    n_chunks, chunk, size, padded = core.matrix_plan(n_samples, n_components, n_features, 0)
    factor = core.padded_factors(factor.reshape((1, n_features, n_features)), padded)[0]
    white_means = _padded_columns(white_means, padded)
    no_log_norm = np.empty(0)
    for c in prange(n_chunks):
        xc, zt = core.padded_work(X, padded, size)  # xc's rows past p stay 0
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits_tied(X, centre, factor, white_means, offsets, t0, n, xc, zt, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, no_log_norm)


# -- the large-p pass: BLAS products on blocks of rows ----------------------------------------

@cached_njit(**_JIT)
def _gram_inputs(factor, white_means):
    """V (K, p) in the factor's dtype, V_k = A^T wm_k (so xc . V_k = z . wm_k for z = A xc),
    and |wm_k|^2 (float64), from the whitened means as the kernels hold them."""
    n_features = factor.shape[0]
    n_components = white_means.shape[0]
    products = np.zeros((n_components, n_features), dtype=factor.dtype)
    sq_white = np.zeros(n_components)
    for k in range(n_components):
        for i in range(n_features):
            wm = float(white_means[k, i])
            sq_white[k] += wm * wm
        for j in range(n_features):
            acc = 0.0
            for i in range(j, n_features):  # A lower triangular: A[i, j] = 0 for i < j
                acc += float(factor[i, j]) * float(white_means[k, i])
            products[k, j] = acc
    return products, sq_white


@cached_njit(**_JIT)
def _gram_logits_tied(expo, sq_white, offsets, n, top64, top):
    """From a block's product expo[k, b] = xc_b . V_k = z_b . wm_k (the tile layout):
    expo[k, b] <- a_kb = l_kb - max_k l_kb with l_kb = 2 z_b . wm_k - |wm_k|^2 - o_k, and
    top[b] = 0, for the first n points. l_kb is the logit -|z_b - wm_k|^2 - o_k plus |z_b|^2,
    the same for every component, which neither the responsibilities nor their entropy see: so
    no product whitens the rows. It is formed in float64 and shifted by the point's largest
    before it is stored (in X's dtype), as small as the logits' differences."""
    n_components = expo.shape[0]
    for b in range(n):
        top64[b] = -np.inf
    for k in range(n_components):
        e = expo[k]
        sq_w = sq_white[k]
        off = float(offsets[k])
        for b in range(n):
            top64[b] = max(top64[b], 2.0 * float(e[b]) - sq_w - off)
    for k in range(n_components):
        e = expo[k]
        sq_w = sq_white[k]
        off = float(offsets[k])
        for b in range(n):
            e[b] = (2.0 * float(e[b]) - sq_w - off) - top64[b]
    for b in range(n):
        top[b] = 0.0


@cached_njit(parallel=True, **_JIT)
def _gram_sweep_statistics_tied(X, weights, centred_means, centre, factor, white_means,
                                offsets, residuals):
    """The large-p sweep: the arguments of :func:`_sweep_statistics_tied`, with every
    per-point product a BLAS GEMM on a block of rows centred on ``centre`` (the means'
    centroid). V Xc^T gives the rows' products with the whitened means, z . wm_k = xc . V_k
    (the logits less |z|^2, which no responsibility sees: :func:`_gram_logits_tied`; in the
    tile layout [k, b]) and (w phi) Xc the sums S'_k = sum w phi xc. The
    pooled scatter about the means R (see :mod:`fastcavi.models.family_full`) comes

    * with ``residuals`` False, from the rows' scatter T = Xc^T W Xc about the centre:
      ``R = T - sum_k (S'_k mc_k^T + mc_k S'_k^T) + sum_k N_k mc_k mc_k^T``, one p x p product
      per point, expanded as the squares of the spherical and diag BLAS paths: its terms
      cancel by about the square of the ratio of the means' spread to the clusters' width,
      harmless in float64;
    * with ``residuals`` True, as the direct kernel forms it, from non-negative terms only:
      ``y = xc - sum_k phi_k mc_k`` (Y = Xc - Phi^T Mc), Y^T W Y and the co-responsibilities
      (w Phi) Phi^T, two more products per point (K p and K^2) but no cancellation, which
      float32 products could not afford.

    Each chunk calls BLAS from its own thread; the caller keeps BLAS single-threaded so there
    is one thread pool. Returns (n_k, s_k, r, co, entropy, total_weight): s_k centred on the
    means as :func:`_sweep_statistics_tied`'s; without ``residuals`` r is R itself and co is
    0, with them r is the direct kernel's sum w y y^T and co holds M_kl for every k, l (the
    direct kernel's only for k < l, the part that is used), float64.
    """
    n_samples, n_features = X.shape
    n_components = centred_means.shape[0]
    # the float64 partial sums below, per chunk (the co-responsibilities only with residuals)
    per_chunk = (n_components * (n_features + 1) + n_features * n_features + 2
                 + (n_components * n_components if residuals else 0))
    n_chunks, chunk = core.chunking(n_samples, per_chunk)
    size = core.gram_block_rows(n_components)
    products, sq_white = _gram_inputs(factor, white_means)
    weighted = weights.shape[0] > 0
    part_n = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_t = np.zeros((n_chunks, n_features, n_features))
    part_co = np.zeros((n_chunks, n_components if residuals else 0, n_components))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        rows = np.empty((size, n_features), dtype=X.dtype)
        wrows = np.empty((size if weighted or residuals else 0, n_features), dtype=X.dtype)
        resid = np.empty((size if residuals else 0, n_features), dtype=X.dtype)
        wphi_work = np.empty(n_components * size if residuals else 0, dtype=X.dtype)
        expo_work = np.empty(n_components * size, dtype=X.dtype)
        top64 = np.empty(size)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        ea = np.empty(size, dtype=X.dtype)
        wt = np.empty(size if residuals else 0, dtype=X.dtype)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(size, stop - t0)
            xb = rows[:n]
            for b in range(n):
                for j in range(n_features):
                    xb[b, j] = X[t0 + b, j] - centre[j]
            expo = core.gram_block(expo_work, n_components, n)  # then (w) phi
            np.dot(products, xb.T, expo)
            _gram_logits_tied(expo, sq_white, offsets, n, top64, top)
            # residuals: z = 1 / z and wt = w (expo into phi); else z = w / z (into w phi)
            core.tile_entropy(expo, top, z, ea, weights, t0, n, wt[:n], part_scalars[c])
            if residuals:
                wphi = core.gram_block(wphi_work, n_components, n)
                _phi_and_weighted(expo, z, wt, n, wphi, part_n[c])
                part_s[c] += np.dot(wphi, xb)
                part_co[c] += np.dot(wphi, expo.T)
                yb = resid[:n]
                np.dot(expo.T, centred_means, yb)  # sum_k phi_k mc_k
                wb = wrows[:n]
                for b in range(n):
                    for j in range(n_features):
                        y = xb[b, j] - yb[b, j]
                        yb[b, j] = y
                        wb[b, j] = y * wt[b]
                part_t[c] += np.dot(wb.T, yb)
            else:
                core.weighted_counts(expo, z, n, part_n[c])
                part_s[c] += np.dot(expo, xb)
                if weighted:
                    wb = wrows[:n]
                    for b in range(n):
                        w = weights[t0 + b]
                        for j in range(n_features):
                            wb[b, j] = xb[b, j] * w
                    part_t[c] += np.dot(wb.T, xb)
                else:
                    part_t[c] += np.dot(xb.T, xb)
    n_k = core.sum_partials(part_n)
    s_c = core.sum_partials(part_s)
    r = core.sum_partials(part_t)
    if residuals:
        co = core.sum_partials(part_co)
    else:
        co = np.zeros((n_components, n_components))
        for i in range(n_features):  # R's lower triangle
            for j in range(i + 1):
                acc = 0.0
                for k in range(n_components):
                    mi = float(centred_means[k, i])
                    mj = float(centred_means[k, j])
                    acc += n_k[k] * mi * mj - (s_c[k, i] * mj + mi * s_c[k, j])
                r[i, j] += acc
    core.symmetrise(r)  # from the lower triangle (a product's own rounding is not symmetric)
    scalars = core.sum_partials(part_scalars)
    for k in range(n_components):  # S~_k = sum w phi (xc - mc_k) = S'_k - N_k mc_k
        for j in range(n_features):
            s_c[k, j] -= n_k[k] * float(centred_means[k, j])
    return n_k, s_c, r, co, scalars[0], scalars[1]


@cached_njit(**_JIT)
def _phi_row(e, z, wt, n, ph, we):
    """One component's row of a tile: ph[b] = phi_kb = exp(a_kb) z[b] (z[b] = 1 / z_b; ``ph``
    may be ``e`` itself) and we[b] = w_b phi_kb for the first n points; returns the sum of
    the we[b] (float64)."""
    for b in range(n):  # stores, then sums: core's NO_SUMS_WITH_STORES
        v = float(e[b] * z[b])
        ph[b] = v
        we[b] = v * wt[b]
    nk = 0.0
    for b in range(n):
        nk += we[b]
    return nk


@cached_njit(**_JIT)
def _phi_and_weighted(expo, z, wt, n, wphi, n_k):
    """expo[k, b] <- phi_kb = exp(a_kb) z[b] (z[b] = 1 / z_b), wphi[k, b] = w_b phi_kb and
    n_k[k] += sum_b wphi[k, b], for the first n points."""
    for k in range(expo.shape[0]):
        n_k[k] += _phi_row(expo[k], z, wt, n, expo[k], wphi[k])
