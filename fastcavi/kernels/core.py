"""The helpers every kernel module shares, each written once: only ``@njit`` code.

Each model's module (:mod:`~fastcavi.kernels.fixed`, :mod:`~fastcavi.kernels.diag`,
:mod:`~fastcavi.kernels.full`, :mod:`~fastcavi.kernels.tied`) has its own cached ``parallel=True``
drivers (one pass over the rows, and a prediction) and its own tile routines; what they have in
common is here, called from inside those drivers (a driver that took the tile routine as an
argument could not be cached):

* chunks: the rows are split into a number of chunks that depends only on the shape (N, and
  the size of a chunk's partial sums; never the thread count), :func:`chunking`; each chunk
  accumulates into its own row of a partial-sums buffer, and :func:`sum_partials` adds the rows
  in a fixed order, so results are bit-identical for any number of threads;
* tiles: points per tile (:func:`tile_rows`, :func:`matrix_tile_rows`) and a tile's work arrays
  (:func:`tile_work`), laid out [component or feature, point] so that every inner loop runs over
  contiguous points;
* the log-sum-exp of a tile's logits (:func:`tile_exp`, :func:`tile_exp_entropy`), the weighted
  entropy of its points (:func:`tile_entropy`) and what a prediction writes from the logits
  (:func:`tile_outputs`);
* the lower triangle ``A u`` (:func:`tile_triangle`) and the symmetric scatter
  (:func:`tile_scatter`) of the full and tied precisions, in 4 x 4 register blocks from
  ``_BLOCKED_MIN_FEATURES`` features on.

Conventions: ``X`` is C-contiguous float32 or float64 and the logits are in X's dtype; every sum
over points is accumulated in float64; ``weights`` of length 0 means "all ones".
"""

import math

import numpy as np
from numba import types
from numba.extending import overload

from .fastexp import _exp_nonpos, _exp_nonpos_f32, _log_normal
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS


def _exp_shifted(x):
    """exp(x) for x <= 0 in x's own precision (float32 data: 16 SIMD lanes, not 8)."""
    # The body runs only with NUMBA_DISABLE_JIT=1; compiled code takes the overload below.
    return _exp_nonpos_f32(x) if isinstance(x, np.float32) else _exp_nonpos(x)


@overload(_exp_shifted)
def _exp_shifted_impl(x):
    if x == types.float32:
        return lambda x: _exp_nonpos_f32(x)
    return lambda x: _exp_nonpos(x)


# -- loops: a sum over points never shares a loop with a store (NO_SUMS_WITH_STORES) ----------
#
# LLVM vectorises a loop that writes an array only behind a run-time check that the arrays it
# writes do not overlap those it reads, and keeps the scalar loop for when they might. A sum
# (``acc += ...``) is added in another order in the two loops (lanes, then the lanes together),
# so a loop that both stores and sums gives a result that depends on where malloc put the
# work arrays, which differs between threads and runs: the same fit then ends 1 ulp apart.
# So every sum over a tile's points runs in a loop that only reads; the stores get loops of
# their own (tests/test_kernel_determinism.py checks the tile functions wherever their work
# arrays lie).

# -- chunks and their partial sums -----------------------------------------------------------

# Rows per chunk never fall below _MIN_CHUNK_ROWS (the per-chunk overhead is a few K-sized
# buffers), and there are never more than _MAX_CHUNKS chunks. Each chunk of a statistics pass
# keeps its own partial sums (K p^2 float64s for full precisions), so the chunks are also
# capped to keep all their partial sums within _PARTIALS_DOUBLES float64s (16 MiB), but never
# below _MIN_CHUNKS, which keeps 16 threads busy: at full K = p = 64 that is 16 chunks (34 MiB)
# instead of 64 (134 MiB), at spherical p = 128, K = 1024 16 chunks (17 MiB) instead of 68 MiB.
# Every bound is a function of the shape, never of the thread count.
_MIN_CHUNK_ROWS = 2048
_MAX_CHUNKS = 64
_PARTIALS_DOUBLES = 1 << 21
_MIN_CHUNKS = 16


@cached_njit(**_JIT)
def n_chunks_for(n_samples, per_chunk):
    """Number of chunks for N rows whose chunks keep ``per_chunk`` float64 partial sums each
    (0 for a pass that sums nothing, as prediction): a function of the shape only, never of the
    thread count."""
    n = (n_samples + _MIN_CHUNK_ROWS - 1) // _MIN_CHUNK_ROWS
    cap = _MAX_CHUNKS
    if per_chunk > 0:
        cap = min(cap, max(_MIN_CHUNKS, _PARTIALS_DOUBLES // per_chunk))
    return max(1, min(cap, n))


@cached_njit(**_JIT)
def chunking(n_samples, per_chunk):
    """(number of chunks, rows per chunk) for N rows (``per_chunk`` as in
    :func:`n_chunks_for`); chunk c is rows c * chunk up to :func:`chunk_stop` (the last one
    may be shorter)."""
    n_chunks = n_chunks_for(n_samples, per_chunk)
    return n_chunks, (n_samples + n_chunks - 1) // n_chunks


@cached_njit(**_JIT)
def chunk_stop(c, chunk, n_samples):
    """One past the last row of chunk c."""
    return min(n_samples, (c + 1) * chunk)


@cached_njit(**_JIT)
def sum_partials(part):
    """part[0] + part[1] + ... (the chunks' partial sums, float64), added in that order."""
    out = np.zeros(part.shape[1:])
    for c in range(part.shape[0]):  # fixed order: bit-identical for any thread count
        out += part[c]
    return out


@cached_njit(**_JIT)
def symmetrise(r):
    """r[..., i, j] = r[..., j, i] for i < j: the upper triangle, from the lower one, of each
    p x p matrix of r ((p, p) or (K, p, p)), in place."""
    n_features = r.shape[-1]
    flat = r.reshape((-1, n_features, n_features))
    for k in range(flat.shape[0]):
        for j in range(n_features):
            for i in range(j):
                flat[k, i, j] = flat[k, j, i]


# Rows per BLAS call in the large-p paths (fixed's and diag's): a block of the centred rows
# and of their products with the means (512 x 64 doubles = 256 KiB each) stays in L2 between
# the two products. At large K fewer rows, so that a block's K x B products stay within
# GRAM_BLOCK_VALUES values (1 MiB of float64 at K = 1024, B = 128): each thread holds two.
GRAM_BLOCK_ROWS = 512
GRAM_BLOCK_VALUES = 1 << 17
_GRAM_MIN_ROWS = 64


@cached_njit(**_JIT)
def gram_block_rows(n_components):
    """Rows per BLAS block of the large-p paths for K components."""
    return max(_GRAM_MIN_ROWS, min(GRAM_BLOCK_ROWS, GRAM_BLOCK_VALUES // max(1, n_components)))


@cached_njit(**_JIT)
def gram_block(work, n_components, n):
    """The first K n values of a flat work array as a C-contiguous (K, n) block: one
    component's values of n points per row (the tile layout), contiguous for BLAS whatever n."""
    return work[:n_components * n].reshape((n_components, n))


# -- tiles -------------------------------------------------------------------------------------

@cached_njit(**_JIT)
def tile_rows(n_components):
    """Points per tile: the tile's K x B work arrays stay around 128 KiB (L2-resident)."""
    return max(32, min(1024, 16384 // max(1, n_components)))


@cached_njit(**_JIT)
def matrix_tile_rows(n_components, n_features):
    """Points per tile for the full and tied precisions: :func:`tile_rows`, and at most what
    keeps a p x B tile of the rows (the operand of every multiply-add of the triangle) in L1."""
    return max(32, min(tile_rows(n_components), 4096 // max(1, n_features)))


# From this many features on, the triangle A u and the scatter are computed in 4 x 4 blocks
# of (j, i) (one load or store per 2 multiply-adds instead of 2 per one; the rows and the
# factors are padded with zeros to a multiple of 4).
_BLOCKED_MIN_FEATURES = 8


@cached_njit(**_JIT)
def padded_features(n_features):
    """Rows of the work tiles of u = x - m_k: p, rounded up to a multiple of 4 from
    ``_BLOCKED_MIN_FEATURES`` on."""
    if n_features < _BLOCKED_MIN_FEATURES:
        return n_features
    return (n_features + 3) // 4 * 4


@cached_njit(**_JIT)
def padded_factors(factors, padded):
    """The factors (K, p, p) in a zero (K, P, P) array (a copy even when P = p)."""
    n_components, n_features = factors.shape[0], factors.shape[1]
    out = np.zeros((n_components, padded, padded), dtype=factors.dtype)
    for k in range(n_components):
        for j in range(n_features):
            for i in range(n_features):
                out[k, j, i] = factors[k, j, i]
    return out


@cached_njit(**_JIT)
def matrix_plan(n_samples, n_components, n_features, per_chunk):
    """(number of chunks, rows per chunk, points per tile, padded features P) for the full and
    tied precisions (``per_chunk`` as in :func:`n_chunks_for`)."""
    n_chunks, chunk = chunking(n_samples, per_chunk)
    return (n_chunks, chunk, matrix_tile_rows(n_components, n_features),
            padded_features(n_features))


# The rows of a tile's transposed block (xt[j, :], one per feature) are TILE_PAD elements longer
# than the tile. With a row stride of a multiple of 4 KiB (1,024 float32 or 512 float64 points)
# the j-th elements of a point fall in one L1 set, and from 8 features on writing a point's
# features (one per row) evicts the lines just written: 5x slower at p = 16, measured.
TILE_PAD = 8


@cached_njit(**_JIT)
def tile_block(X, n_rows, size):
    """An (n_rows, size) work block in X's dtype for a tile's rows laid out by feature, with
    rows TILE_PAD longer than the tile (only the first ``size`` columns are used)."""
    return np.empty((n_rows, size + TILE_PAD), dtype=X.dtype)


@cached_njit(**_JIT)
def tile_transpose(X, start, n, xt, top):
    """xt[j, b] = x_bj for rows start:start+n, and top[b] = -inf (for the max over k)."""
    n_features = X.shape[1]
    if n_features < 4:  # one contiguous pass per feature (at p = 2, 30% quicker)
        for j in range(n_features):
            xj = xt[j]
            for b in range(n):
                xj[b] = X[start + b, j]
    else:
        for b in range(n):
            for j in range(n_features):
                xt[j, b] = X[start + b, j]
    for b in range(n):
        top[b] = -np.inf


@cached_njit(**_JIT)
def tile_offsets(expo, offsets, n):
    """expo[k, b] = -o_k for the first n points: the logits before their sums over features."""
    for k in range(expo.shape[0]):
        e = expo[k]
        off = offsets[k]
        for b in range(n):
            e[b] = -off


@cached_njit(**_JIT)
def tile_max(e, top, n):
    """top[b] = max(top[b], e[b]) for the first n points (the running max over k of l_kb)."""
    for b in range(n):
        top[b] = max(top[b], e[b])


@cached_njit(**_JIT)
def tile_centred_sums(e, xt, m, n, s):
    """s[j] += sum_b e[b] (xt[j, b] - m[j]) for the first n points, summed in float64."""
    for j in range(m.shape[0]):
        mj = m[j]
        xj = xt[j]
        acc = 0.0
        for b in range(n):
            acc += e[b] * (xj[b] - mj)
        s[j] += acc


@cached_njit(**_JIT)
def padded_work(X, padded, size):
    """Two (P, size) work tiles in X's dtype: rows (those past p zero, and they stay so) and
    their image through the triangle (:func:`tile_triangle`)."""
    return (np.zeros((padded, size + TILE_PAD), dtype=X.dtype),
            np.empty((padded, size + TILE_PAD), dtype=X.dtype))


@cached_njit(**_JIT)
def tile_work(X, n_components, size):
    """A chunk's work arrays for tiles of ``size`` points, in X's dtype: (the logits expo
    (K, size), and per point top, z and ea (size,)), as :func:`tile_exp_entropy` fills them."""
    expo = np.empty((n_components, size), dtype=X.dtype)
    top = np.empty(size, dtype=X.dtype)
    z = np.empty(size, dtype=X.dtype)
    ea = np.empty(size, dtype=X.dtype)
    return expo, top, z, ea


# -- log-sum-exp, entropy and the outputs of a tile ------------------------------------------

@cached_njit(**_JIT)
def tile_exp(expo, top, z, n):
    """expo[k, b] <- exp(l_kb - max_k l_kb) in place (top[b] = max_k l_kb), z[b] = their sum
    over k, for the first n points.

    Two components per step: two independent exps in flight and one update of z and one read
    of top per pair (a quarter faster than one component per step, measured at K = 10)."""
    n_components = expo.shape[0]
    for b in range(n):
        z[b] = 0.0
    for k in range(0, n_components - 1, 2):
        e0 = expo[k]
        e1 = expo[k + 1]
        for b in range(n):
            t = top[b]
            v0 = _exp_shifted(e0[b] - t)
            v1 = _exp_shifted(e1[b] - t)
            e0[b] = v0
            e1[b] = v1
            z[b] += v0 + v1
    if n_components % 2 == 1:
        e = expo[n_components - 1]
        for b in range(n):
            v = _exp_shifted(e[b] - top[b])
            e[b] = v
            z[b] += v


@cached_njit(**_JIT)
def tile_exp_entropy(expo, top, z, ea, n):
    """As :func:`tile_exp`, and ea[b] = sum_k exp(a_kb) a_kb, a_kb = l_kb - max_k l_kb (for
    the entropy log z_b - ea_b / z_b)."""
    n_components = expo.shape[0]
    for b in range(n):
        z[b] = 0.0
        ea[b] = 0.0
    for k in range(0, n_components - 1, 2):  # two components per step, as tile_exp
        e0 = expo[k]
        e1 = expo[k + 1]
        for b in range(n):
            t = top[b]
            a0 = e0[b] - t
            a1 = e1[b] - t
            v0 = _exp_shifted(a0)
            v1 = _exp_shifted(a1)
            e0[b] = v0
            e1[b] = v1
            z[b] += v0 + v1
            ea[b] += v0 * a0 + v1 * a1
    if n_components % 2 == 1:
        e = expo[n_components - 1]
        for b in range(n):
            a = e[b] - top[b]
            v = _exp_shifted(a)
            e[b] = v
            z[b] += v
            ea[b] += v * a


@cached_njit(**_JIT)
def tile_entropy(expo, top, z, ea, weights, start, n, wt, scalars):
    """From a tile's logits expo[k, b] = l_kb, top[b] = max_k l_kb (rows start + b):
    expo[k, b] <- exp(a_kb), a_kb = l_kb - top[b] (:func:`tile_exp_entropy`);
    scalars += (sum_b w_b H(phi_b), sum_b w_b), H(phi_b) = log z_b - ea_b / z_b; then
    z[b] <- w_b / z_b (the factor that turns exp(a_kb) into w_b phi_kb), or, when ``wt`` is not
    empty, z[b] <- 1 / z_b (into phi_kb) and wt[b] <- w_b."""
    tile_exp_entropy(expo, top, z, ea, n)
    weighted = weights.shape[0] > 0
    fold = wt.shape[0] == 0
    entropy = 0.0
    total_w = 0.0
    for b in range(n):  # sums only, and then stores only (see NO_SUMS_WITH_STORES)
        w = weights[start + b] if weighted else 1.0
        # H(phi_b) = log z_b - sum_k phi_kb a_kb
        entropy += w * (_log_normal(float(z[b])) - float(ea[b] * (1.0 / z[b])))
        total_w += w
    for b in range(n):
        w = weights[start + b] if weighted else 1.0
        inv_z = 1.0 / z[b]
        if fold:
            z[b] = w * inv_z
        else:
            z[b] = inv_z
            wt[b] = w
    scalars[0] += entropy
    scalars[1] += total_w


@cached_njit(**_JIT)
def weighted_count(e, z, n):
    """One component's row of a tile: e[b] <- e[b] z[b] (exp(a_kb) into w_b phi_kb, z[b] holding
    w_b / z_b) for the first n points; returns their sum (in float64)."""
    for b in range(n):  # stores, then sums: NO_SUMS_WITH_STORES
        e[b] = e[b] * z[b]
    nk = 0.0
    for b in range(n):
        nk += e[b]
    return nk


@cached_njit(**_JIT)
def weighted_counts(expo, z, n, n_k):
    """expo[k, b] <- expo[k, b] z[b] (exp(a_kb) into w_b phi_kb) and n_k[k] += its sum over
    the first n points, for every component."""
    for k in range(expo.shape[0]):
        n_k[k] += weighted_count(expo[k], z, n)


# What :func:`tile_outputs` computes for each row.
PREDICT_PROBA = 0      # phi_ik, into proba (N, K), X's dtype
PREDICT_LABELS = 1     # argmax_k phi_ik (the first maximum, as np.argmax), into labels (N,)
PREDICT_LOG_NORM = 2   # log sum_k exp(l_ik), into log_norm (N,) float64


@cached_njit(**_JIT)
def tile_outputs(expo, top, z, start, n, mode, proba, labels, log_norm):
    """From a tile's logits expo[k, b] = l_kb and top[b] = max_k l_kb (rows start + b), by
    ``mode``: the first argmax into labels, log sum_k exp(l_kb) into log_norm, or phi into
    proba (expo and z are work space)."""
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
    tile_exp(expo, top, z, n)
    if mode == PREDICT_LOG_NORM:
        for b in range(n):
            log_norm[start + b] = float(top[b]) + math.log(float(z[b]))
        return
    for b in range(n):
        z[b] = 1.0 / z[b]
    for b in range(n):
        for k in range(n_components):
            proba[start + b, k] = expo[k, b] * z[b]


# -- the triangle and the scatter of the full and tied precisions ----------------------------

@cached_njit(**_JIT)
def tile_triangle(a, ut, yt, e, n, square):
    """yt[j] = sum_{i <= j} A[j, i] ut[i] for a lower-triangular A (P, P) (the first n points);
    and e[b] -= |A u_b|^2 when ``square``. From ``_BLOCKED_MIN_FEATURES`` rows on (P then a
    multiple of 4, A and ut padded with zeros) in 4 x 4 blocks."""
    padded = a.shape[0]
    if padded < _BLOCKED_MIN_FEATURES:
        for j in range(padded):
            y = yt[j]
            c = a[j, 0]
            u0 = ut[0]
            for b in range(n):
                y[b] = c * u0[b]
            for i in range(1, j + 1):
                c = a[j, i]
                ui = ut[i]
                for b in range(n):
                    y[b] += c * ui[b]
            if square:
                for b in range(n):
                    e[b] -= y[b] * y[b]
        return
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
def tile_scatter(we, u, n, n_features, tw, r):
    """r[j, i] += sum_b we[b] u[j, b] u[i, b] for i <= j < p (float64 throughout); u has
    :func:`padded_features` rows, those past p zero."""
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
