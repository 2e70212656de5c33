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
    P = ``core.padded_features(p)`` rows, and xc (whose rows past p stay 0) and zt have P rows."""
    n_components, n_features = white_means.shape
    for b in range(n):
        for j in range(n_features):
            xc[j, b] = X[start + b, j] - centre[j]
        top[b] = -np.inf
    core.tile_triangle(factor, xc, zt, top, n, False)  # zt = A xc (top: unused here)
    core.tile_offsets(expo, offsets, n)
    for k in range(n_components):
        e = expo[k]
        for j in range(n_features):
            mkj = white_means[k, j]
            zj = zt[j]
            for b in range(n):
                diff = zj[b] - mkj
                e[b] -= diff * diff
        core.tile_max(e, top, n)


@cached_njit(**_JIT)
def _tile_statistics_tied(X, weights, centred_means, centre, factor, white_means, offsets,
                          start, stop, xc, zt, expo, phi, top, z, ea, wt, tw,
                          n_k, s_k, r_y, co, scalars):
    """Accumulate into the float64 buffers, for rows start:stop (one tile), with
    ``mc_k = m_k - c`` (``centred_means``) and ``xc_i = x_i - c``:

    n_k[k] += w_i phi_ik;  s_k[k, j] += w_i phi_ik (xc_ij - mc_kj);
    r_y[j, i] += w_i y_ij y_ii (i <= j), y_i = xc_i - sum_k phi_ik mc_k;
    co[k, l] += w_i phi_ik phi_il (k < l);  scalars += (w_i H(phi_i), w_i)
    """
    n_components, n_features = centred_means.shape
    n = stop - start
    _tile_logits_tied(X, centre, factor, white_means, offsets, start, n, xc, zt, expo, top)
    # expo <- exp(a), z[b] <- 1 / z_b, wt[b] <- w_b
    core.tile_entropy(expo, top, z, ea, weights, start, n, wt, scalars)
    for k in range(n_components):
        e = expo[k]
        ph = phi[k]
        for b in range(n):  # stores, then sums: core's NO_SUMS_WITH_STORES
            v = e[b] * z[b]
            ph[b] = v
            e[b] = v * wt[b]
        nk = 0.0
        for b in range(n):
            nk += e[b]
        n_k[k] += nk
        core.tile_centred_sums(e, xc, centred_means[k], n, s_k[k])
    for k in range(n_components):  # M_km, 4 components m at a time
        e = expo[k]
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
    for j in range(n_features):  # zt <- y = xc - sum_k phi_k mc_k, 4 components at a time
        yj = zt[j]
        xj = xc[j]
        for b in range(n):
            yj[b] = xj[b]
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
    core.tile_scatter(wt, zt, n, n_features, tw, r_y)  # zt's rows past p are 0 (padded A)


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
    part_n = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_r = np.zeros((n_chunks, n_features, n_features))
    part_co = np.zeros((n_chunks, n_components, n_components))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        xc, zt = core.padded_work(X, padded, size)  # xc's rows past p stay 0
        expo, top, z, ea = core.tile_work(X, n_components, size)
        phi = np.empty((n_components, size), dtype=X.dtype)
        wt = np.empty(size, dtype=X.dtype)
        tw = np.empty(size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            _tile_statistics_tied(X, weights, centred_means, centre, factor, white_means,
                                  offsets, t0, min(stop, t0 + size), xc, zt, expo, phi, top,
                                  z, ea, wt, tw, part_n[c], part_s[c], part_r[c], part_co[c],
                                  part_scalars[c])
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
    no_log_norm = np.empty(0)
    for c in prange(n_chunks):
        xc, zt = core.padded_work(X, padded, size)  # xc's rows past p stay 0
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits_tied(X, centre, factor, white_means, offsets, t0, n, xc, zt, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, no_log_norm)
