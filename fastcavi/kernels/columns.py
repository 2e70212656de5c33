"""Numba kernels for the sums of given responsibilities, one column per component (the columns
of a q(c)), which a round of moves takes of the current responsibilities and of every
candidate's: only ``@njit`` code, no validation.

For rows X (B, p), weights w (B,) and responsibilities r (B, K), all float64, C-ordered and
given transposed where they are 2-D (``xt`` (p, B), ``rt`` (K, B): the loops run along rows),
and each column k centred on its own centre c_k (``centres`` (K, p)), with d_ik = x_i - c_k:

    n_k = sum_i w_i r_ik               s_k = sum_i w_i r_ik d_ik
    h_k = -sum_i w_i r_ik log r_ik     (0 where r_ik = 0, and below the normal numbers)
    q_k = sum_i w_i r_ik d_ik d_ik^T   (K, p, p), or its diagonal (K, p)

Each sum runs over the rows in order, in float64, on the calling thread (a round sums its
blocks of rows on threads of its own, so the kernels release the GIL and do not start any);
the matrix one is a BLAS product per component, which the caller keeps single-threaded.
"""

import numpy as np

from .fastexp import _log_normal
from .jit import KERNEL_OPTIONS, cached_njit

_JIT = KERNEL_OPTIONS
_TINY = np.finfo(np.float64).tiny  # the smallest normal float64


@cached_njit(**_JIT)
def _column(w, rk, wk):
    """(n_k, h_k) of a column rk (B,); wk <- w_i r_ik."""
    n_rows = rk.shape[0]
    for i in range(n_rows):  # stores only, then sums only (core's NO_SUMS_WITH_STORES)
        wk[i] = w[i] * rk[i]
    nk = 0.0
    hk = 0.0
    for i in range(n_rows):
        nk += wk[i]
        # The kernels' log takes normal numbers only; a term of an r_ik below them (under
        # 1e-305) is left out, far below the rounding of any sum it could join.
        x = rk[i]
        lg = _log_normal(max(x, _TINY))
        hk -= wk[i] * lg if x >= _TINY else 0.0
    return nk, hk


@cached_njit(**_JIT)
def _outputs(xt, rt):
    """n (K,), s (K, p), h (K,), and a column's work array (B,)."""
    p, n_rows = xt.shape
    n_cols = rt.shape[0]
    return np.empty(n_cols), np.empty((n_cols, p)), np.empty(n_cols), np.empty(n_rows)


@cached_njit(**_JIT)
def column_sums_matrix(xt, w, rt, centres):
    """(n (K,), s (K, p), q (K, p, p), h (K,)) of the module's sums, q the full scatters."""
    n, s, h, wk = _outputs(xt, rt)
    p, n_rows = xt.shape
    q = np.empty((len(n), p, p))
    d = np.empty((p, n_rows))
    dw = np.empty((p, n_rows))
    for k in range(len(n)):
        n[k], h[k] = _column(w, rt[k], wk)
        for j in range(p):
            c = centres[k, j]
            for i in range(n_rows):  # stores only
                d[j, i] = xt[j, i] - c
                dw[j, i] = wk[i] * d[j, i]
            acc = 0.0
            for i in range(n_rows):  # sums only
                acc += dw[j, i]
            s[k, j] = acc
        np.dot(dw, d.T, q[k])
    return n, s, q, h


@cached_njit(**_JIT)
def column_sums_diagonal(xt, w, rt, centres):
    """(n (K,), s (K, p), q (K, p), h (K,)) of the module's sums, q the scatters' diagonals."""
    n, s, h, wk = _outputs(xt, rt)
    p, n_rows = xt.shape
    q = np.empty((len(n), p))
    for k in range(len(n)):
        n[k], h[k] = _column(w, rt[k], wk)
        for j in range(p):
            c = centres[k, j]
            acc_s = 0.0
            acc_q = 0.0
            for i in range(n_rows):  # sums only
                v = wk[i]
                dij = xt[j, i] - c
                acc_s += v * dij
                acc_q += v * (dij * dij)
            s[k, j] = acc_s
            q[k, j] = acc_q
    return n, s, q, h
