"""Numba kernels for scalar precisions (the known-variance model and a learned spherical
precision): only ``@njit`` code, no validation.

Layout follows stumpy: a serial per-chunk helper (``_chunk_statistics``) called by one
``parallel=True`` driver (``_sweep_statistics``). The driver splits the rows into chunks that
depend only on N (never on the thread count); each chunk accumulates in its own row of a
partial-sums buffer, and the rows are summed serially in a fixed order, so results are
bit-identical for any number of threads (:mod:`fastcavi.kernels.core` has those helpers, shared
with the other precisions' kernels).

Conventions (every kernel's):

* ``X`` is C-contiguous float32 or float64 (the callers pass a read-only view, so memmaps and
  user arrays are one Numba type); ``means`` has the dtype of ``X`` so float32 data is computed
  in float32; every sum over points is accumulated in float64.
* ``weights`` is a float64 array of length N, or of length 0 meaning "all ones" (so an unweighted
  fit allocates nothing of size N).
* The logits have the "scalar precision" shape ``l_ik = -h_k |x_i - m_k|^2 - o_k``, with a
  half-precision ``h_k`` and an offset ``o_k`` per component, both in X's dtype, computed by
  the caller from the model: for the fixed-variance model ``h_k = 1 / (2 lambda2)`` and
  ``o_k = p s2_k / (2 lambda2)`` (the textbook ``[x_i . m_k - (|m_k|^2 + p s2_k)/2] / lambda2``
  minus ``|x_i|^2 / (2 lambda2)``, constant in k, so phi is unchanged, while the form is
  translation-invariant and free of the cancellation that ``x . m`` suffers far from the
  origin); for a learned spherical precision ``h_k = nu_k / (2 Psi_k)``. Diagonal precisions
  are in :mod:`fastcavi.kernels.diag`.
* Fit and predict compute the logits of a tile with the same routine (:func:`_tile_logits`).
"""

import numpy as np
from numba import prange

from . import core
from .core import PREDICT_LABELS, PREDICT_LOG_NORM, PREDICT_PROBA  # noqa: F401 (the model's)
from .fastexp import _log_normal
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


@cached_njit(**_JIT)
def _component_logits(means, half_prec, offsets, k, n, xt, dist, expo, top):
    """dist[k, b] = |x_b - m_k|^2, expo[k, b] = l_kb = -h_k dist[k, b] - o_k and
    top[b] = max(top[b], l_kb) for the first n points of the tile xt (one component)."""
    d = dist[k]
    for b in range(n):
        d[b] = 0.0
    for j in range(means.shape[1]):
        mkj = means[k, j]
        xj = xt[j]
        for b in range(n):
            diff = xj[b] - mkj
            d[b] += diff * diff
    e = expo[k]
    off = offsets[k]
    hp = half_prec[k]
    for b in range(n):
        lk = -(d[b] * hp) - off
        e[b] = lk
        top[b] = max(top[b], lk)


@cached_njit(**_JIT)
def _pair_rows(expo, dist, offsets, half_prec, k):
    """Components k and k + 1: their rows of expo and dist, their offsets, their half
    precisions (each as a pair)."""
    return (expo[k], expo[k + 1], dist[k], dist[k + 1], offsets[k], offsets[k + 1],
            half_prec[k], half_prec[k + 1])


@cached_njit(**_JIT)
def _pair_logits(means, half_prec, offsets, k, n, xt, dist, expo, top):
    """:func:`_component_logits` for components k and k + 1 together: one read of each row of
    xt and one update of top for the two (the same arithmetic per component)."""
    e0, e1, d0, d1, off0, off1, hp0, hp1 = _pair_rows(expo, dist, offsets, half_prec, k)
    for b in range(n):
        d0[b] = 0.0
        d1[b] = 0.0
    for j in range(means.shape[1]):
        m0 = means[k, j]
        m1 = means[k + 1, j]
        xj = xt[j]
        for b in range(n):
            diff0 = xj[b] - m0
            diff1 = xj[b] - m1
            d0[b] += diff0 * diff0
            d1[b] += diff1 * diff1
    for b in range(n):
        l0 = -(d0[b] * hp0) - off0
        l1 = -(d1[b] * hp1) - off1
        e0[b] = l0
        e1[b] = l1
        top[b] = max(top[b], max(l0, l1))


@cached_njit(**_JIT)
def _tile_logits(X, means, half_prec, offsets, start, n, xt, dist, expo, top):
    """The logits of rows start:start+n (one tile), laid out [k, b] (component, point) so that
    every inner loop runs over contiguous points and vectorises: xt[j, b] = x_bj,
    dist[k, b] = |x_b - m_k|^2, expo[k, b] = l_kb = -h_k dist[k, b] - o_k, top[b] = max_k l_kb.
    Per-point values are in X's dtype. Two components per step (an odd K's last one alone):
    6% faster than one at a time at p = 2, K = 10, 11% in float32."""
    n_components = means.shape[0]
    core.tile_transpose(X, start, n, xt, top)
    for k in range(0, n_components - 1, 2):
        _pair_logits(means, half_prec, offsets, k, n, xt, dist, expo, top)
    if n_components % 2 == 1:
        _component_logits(means, half_prec, offsets, n_components - 1, n, xt, dist, expo, top)


@cached_njit(**_JIT)
def _component_sums(means, half_prec, offsets, k, n, xt, dist, expo, top, z, n_k, r_k, s_k):
    """Component k's sums over the first n points of a tile: expo[k, b] <- w_b phi_kb
    (expo holding exp(a_kb) and z[b] = w_b / z_b), n_k[k], r_k[k] and (when xt has rows; the
    large-p path's product sums it) s_k[k] added to; returns sum_b w_b phi_kb a_kb
    (a_kb = l_kb - max_k l_kb, its part of the entropy)."""
    e = expo[k]
    d = dist[k]
    off = offsets[k]
    hp = half_prec[k]
    for b in range(n):  # stores, then sums: core's NO_SUMS_WITH_STORES
        e[b] = e[b] * z[b]
    nk = 0.0
    rk = 0.0
    ek = 0.0
    for b in range(n):
        wphi = e[b]
        nk += wphi
        rk += wphi * d[b]
        t = wphi * (-(d[b] * hp) - off - top[b])
        ek += t if wphi > 0.0 else 0.0  # 0 log 0 = 0
    n_k[k] += nk
    r_k[k] += rk
    if xt.shape[0] > 0:
        core.tile_centred_sums(e, xt, means[k], n, s_k[k])
    return ek


@cached_njit(**_JIT)
def _pair_sums(means, half_prec, offsets, k, n, xt, dist, expo, top, z, n_k, r_k, s_k):
    """:func:`_component_sums` for components k and k + 1 together (one read of z, top and
    each row of xt for the two; the same arithmetic per component); returns the sum of the
    two entropy parts."""
    e0, e1, d0, d1, off0, off1, hp0, hp1 = _pair_rows(expo, dist, offsets, half_prec, k)
    n0 = 0.0
    n1 = 0.0
    r0 = 0.0
    r1 = 0.0
    q0 = 0.0
    q1 = 0.0
    for b in range(n):  # stores, then sums: core's NO_SUMS_WITH_STORES
        zb = z[b]
        e0[b] = e0[b] * zb
        e1[b] = e1[b] * zb
    for b in range(n):
        tb = top[b]
        wphi0 = e0[b]
        wphi1 = e1[b]
        n0 += wphi0
        n1 += wphi1
        r0 += wphi0 * d0[b]
        r1 += wphi1 * d1[b]
        t0 = wphi0 * (-(d0[b] * hp0) - off0 - tb)
        t1 = wphi1 * (-(d1[b] * hp1) - off1 - tb)
        q0 += t0 if wphi0 > 0.0 else 0.0  # 0 log 0 = 0
        q1 += t1 if wphi1 > 0.0 else 0.0
    n_k[k] += n0
    n_k[k + 1] += n1
    r_k[k] += r0
    r_k[k + 1] += r1
    for j in range(xt.shape[0]):  # no rows: the caller sums S_k itself (the large-p path)
        m0 = means[k, j]
        m1 = means[k + 1, j]
        xj = xt[j]
        a0 = 0.0
        a1 = 0.0
        for b in range(n):
            a0 += e0[b] * (xj[b] - m0)
            a1 += e1[b] * (xj[b] - m1)
        s_k[k, j] += a0
        s_k[k + 1, j] += a1
    return q0 + q1


@cached_njit(**_JIT)
def _tile_statistics(X, weights, means, half_prec, offsets, start, stop,
                     xt, dist, expo, top, z, n_k, r_k, s_k, scalars):
    """Accumulate the statistics of rows start:stop (one tile) into the float64 buffers.

    The logits come from :func:`_tile_logits` (the [k, b] layout); every sum over points is
    accumulated in float64.
    """
    n = stop - start
    _tile_logits(X, means, half_prec, offsets, start, n, xt, dist, expo, top)
    _tile_sums(weights, means, half_prec, offsets, start, n, xt, dist, expo, top, z, n_k, r_k,
               s_k, scalars)


@cached_njit(**_JIT)
def _tile_sums(weights, means, half_prec, offsets, start, n, xt, dist, expo, top, z,
               n_k, r_k, s_k, scalars):
    """From a tile's distances dist[k, b], logits expo[k, b] = -h_k dist[k, b] - o_k and
    top[b] = max_k (rows start + b): expo[k, b] <- w_b phi_kb, and n_k, r_k, the entropy and
    the weight added to; s_k too when xt holds the tile's rows (``xt[j, b] = x_bj``), else
    (no rows) the caller sums it from w phi."""
    n_components = expo.shape[0]
    core.tile_exp(expo, top, z, n)
    weighted = weights.shape[0] > 0
    entropy = 0.0
    total_w = 0.0
    for b in range(n):  # sums, then stores: core's NO_SUMS_WITH_STORES
        w = weights[start + b] if weighted else 1.0
        # H(phi_b) = log z_b - sum_k phi_kb a_kb, a_kb = l_kb - max_k l_kb; the first half here
        entropy += w * _log_normal(float(z[b]))
        total_w += w
    for b in range(n):
        w = weights[start + b] if weighted else 1.0
        z[b] = w / z[b]  # from now on: the factor that turns exp(a_kb) into w_b phi_kb
    for k in range(0, n_components - 1, 2):
        entropy -= _pair_sums(means, half_prec, offsets, k, n, xt, dist, expo, top, z, n_k,
                              r_k, s_k)
    if n_components % 2 == 1:
        entropy -= _component_sums(means, half_prec, offsets, n_components - 1, n, xt, dist,
                                   expo, top, z, n_k, r_k, s_k)
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(**_JIT)
def _chunk_statistics(X, weights, means, half_prec, offsets, start, stop,
                      n_k, r_k, s_k, scalars):
    """Accumulate the statistics of rows start:stop, tile by tile, into float64 buffers:

    n_k[k] += w_i phi_ik                       (K,)
    r_k[k] += w_i phi_ik |x_i - m_k|^2         (K,)
    s_k[k] += w_i phi_ik (x_i - m_k)           (K, p)
    scalars[0] += w_i * entropy of phi_i;  scalars[1] += w_i
    """
    n_components, n_features = means.shape
    size = core.tile_rows(n_components)
    xt = core.tile_block(X, n_features, size)
    dist = np.empty((n_components, size), dtype=X.dtype)
    expo, top, z, _ = core.tile_work(X, n_components, size)
    for t0 in range(start, stop, size):
        _tile_statistics(X, weights, means, half_prec, offsets, t0,
                         min(stop, t0 + size), xt, dist, expo, top, z, n_k, r_k, s_k, scalars)


@cached_njit(parallel=True, **_JIT)
def _sweep_statistics(X, weights, means, half_prec, offsets):
    """One pass over the rows of X: the K-sized statistics of q(c) for the logits
    ``l_ik = -h_k |x_i - m_k|^2 - o_k`` (``half_prec`` h and ``offsets`` o: (K,), X's dtype,
    so that float32 logits stay float32).

    Returns (n_k (K,), r_k (K,), s_k (K, p), entropy, total_weight), all float64;
    see ``_chunk_statistics`` for what each one sums.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    per_chunk = n_components * (n_features + 2) + 2  # partial sums per chunk
    n_chunks, chunk = core.chunking(n_samples, per_chunk)
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        _chunk_statistics(X, weights, means, half_prec, offsets, c * chunk,
                          core.chunk_stop(c, chunk, n_samples), part_n[c], part_r[c], part_s[c],
                          part_scalars[c])
    n_k, r_k, s_k = core.sum_partials(part_n), core.sum_partials(part_r), core.sum_partials(part_s)
    scalars = core.sum_partials(part_scalars)
    return n_k, r_k, s_k, scalars[0], scalars[1]


@cached_njit(parallel=True, **_JIT)
def _predict(X, means, half_prec, offsets, mode, proba, labels, log_norm):
    """Per row of X, for the logits ``l_ik = -h_k |x_i - m_k|^2 - o_k``, by ``mode``: phi into
    ``proba`` (N, K), the label into ``labels`` (N,), or ``log sum_k exp(l_ik)`` into
    ``log_norm`` (N,); the other two outputs may be empty. Rows are independent: chunks of
    tiles, no reduction; the logits are those of the fit (:func:`_tile_logits`)."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_chunks, chunk = core.chunking(n_samples, 0)
    size = core.tile_rows(n_components)
    for c in prange(n_chunks):
        xt = core.tile_block(X, n_features, size)
        dist = np.empty((n_components, size), dtype=X.dtype)
        expo, top, z, _ = core.tile_work(X, n_components, size)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(stop - t0, size)
            _tile_logits(X, means, half_prec, offsets, t0, n, xt, dist, expo, top)
            core.tile_outputs(expo, top, z, t0, n, mode, proba, labels, log_norm)


@cached_njit(**_JIT)
def _gram_rows(X, start, n, centre, xb, sq_x):
    """xb[b] = x_b - centre (X's dtype) and sq_x[b] = |x_b - centre|^2 (float64) for rows
    start:start+n."""
    n_features = X.shape[1]
    for b in range(n):
        acc = 0.0
        for j in range(n_features):
            v = X[start + b, j] - centre[j]
            xb[b, j] = v
            acc += float(v) * float(v)
        sq_x[b] = acc


@cached_njit(**_JIT)
def _gram_logits(dist, sq_x, sq_means, half_prec, offsets, n, expo, top):
    """From a block's products dist[k, b] = mc_k . xc_b (rows and means centred on one point):
    dist[k, b] <- |x_b - m_k|^2 = |xc_b|^2 - 2 mc_k . xc_b + |mc_k|^2 (formed in float64 from
    the float64 squares sq_x and sq_means; clipped at 0, where the expansion rounds below),
    expo[k, b] = l_kb = -h_k dist[k, b] - o_k from that stored distance (in X's dtype: the
    entropy's l_kb - max_k l_kb, formed again from dist by :func:`_tile_sums`, is then 0 for
    the largest, where logits from the float64 distance left float32 data a rounding error per
    point) and top[b] = max_k l_kb, for the first n points; the tile layout of
    :func:`_tile_logits`."""
    for b in range(n):
        top[b] = -np.inf
    for k in range(dist.shape[0]):
        d = dist[k]
        e = expo[k]
        sq_m = sq_means[k]
        hp = half_prec[k]
        off = offsets[k]
        for b in range(n):  # the expansion in float64: its terms are larger than the result
            v = max(0.0, sq_x[b] - 2.0 * float(d[b]) + sq_m)
            d[b] = v
            # from the stored distance (X's dtype), as _tile_sums forms l - max for the entropy
            lk = -(d[b] * hp) - off
            e[b] = lk
            top[b] = max(top[b], lk)


@cached_njit(parallel=True, **_JIT)
def _gram_sweep_statistics(X, weights, centred_means, centre, half_prec, offsets):
    """The large-p sweep: like ``_sweep_statistics`` but the two K p products per point are
    BLAS GEMMs on blocks of rows centred on ``centre`` (the means' centroid, so the expanded
    distance has no cancellation far from the origin): D = Mc Xc^T gives the distances in the
    tile layout [k, b] (so every per-point loop runs over contiguous points, as the small-p
    kernel's), and (w phi) Xc the sums S_k. Each chunk calls BLAS from its own thread; the
    caller keeps BLAS single-threaded so there is one thread pool.

    Returns (n_k, r_k, s_k, entropy, total_weight) with s_k centred on the means
    (``centred_means + centre``), exactly as ``_sweep_statistics``.
    """
    n_samples, n_features = X.shape
    n_components = centred_means.shape[0]
    per_chunk = n_components * (n_features + 2) + 2  # partial sums per chunk
    n_chunks, chunk = core.chunking(n_samples, per_chunk)
    size = core.gram_block_rows(n_components)
    sq_means = np.zeros(n_components)  # float64: the expansion's terms, as sq_x
    for k in range(n_components):
        for j in range(n_features):
            sq_means[k] += float(centred_means[k, j]) ** 2
    part_n = np.zeros((n_chunks, n_components))
    part_r = np.zeros((n_chunks, n_components))
    part_s = np.zeros((n_chunks, n_components, n_features))
    part_scalars = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        rows = np.empty((size, n_features), dtype=X.dtype)
        dist_work = np.empty(n_components * size, dtype=X.dtype)
        expo_work = np.empty(n_components * size, dtype=X.dtype)
        sq_x = np.empty(size)
        top = np.empty(size, dtype=X.dtype)
        z = np.empty(size, dtype=X.dtype)
        no_rows = np.empty((0, 0), dtype=X.dtype)
        stop = core.chunk_stop(c, chunk, n_samples)
        for t0 in range(c * chunk, stop, size):
            n = min(size, stop - t0)
            xb = rows[:n]
            dist = core.gram_block(dist_work, n_components, n)
            expo = core.gram_block(expo_work, n_components, n)
            _gram_rows(X, t0, n, centre, xb, sq_x)
            np.dot(centred_means, xb.T, dist)
            _gram_logits(dist, sq_x, sq_means, half_prec, offsets, n, expo, top)
            _tile_sums(weights, centred_means, half_prec, offsets, t0, n, no_rows, dist, expo,
                       top, z, part_n[c], part_r[c], part_s[c], part_scalars[c])
            part_s[c] += np.dot(expo, xb)
    n_k = core.sum_partials(part_n)
    s_c = core.sum_partials(part_s)
    scalars = core.sum_partials(part_scalars)
    # S~_k = sum w phi (x - m_k) = sum w phi xc - N_k mc_k
    for k in range(n_components):
        for j in range(n_features):
            s_c[k, j] -= n_k[k] * centred_means[k, j]
    return n_k, core.sum_partials(part_r), s_c, scalars[0], scalars[1]
