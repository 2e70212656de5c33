"""A sweep over a sequence of row blocks: the map-reduce of :mod:`fastcavi._cavi` with one
:func:`~fastcavi._cavi.block_statistics` call per block and the K-sized results summed with
:func:`~fastcavi._cavi.combine` in block order.

This is how data that is not one in-memory array is fitted: the Dask fit without a distributed
client streams its blocks through here (one block in memory at a time), and the distributed
fit runs :func:`block_sweep` on the workers. A memory-mapped ``.npy`` does *not* need it: the
in-memory kernel already walks the array in at most 64 contiguous chunks with O(64 K p)
partial sums and never copies it, so a float32/float64 C-ordered memmap is passed to the
kernel as it is (and its fit is bit-identical to fitting the same array in memory).
"""

from __future__ import annotations

import numpy as np

from ._cavi import block_statistics, combine
from ._fit import as_kernel_array


def kernel_block(X, sample_weight=None):
    """One block as the kernels take it: X read-only C-contiguous float32/float64 (copied only
    if it must be), the weights C-contiguous, writeable float64 (or None).

    Blocks that arrive deserialised (from Dask workers) may be read-only or non-contiguous;
    normalising them here keeps every block the same Numba type as the in-memory path, so no
    block triggers a second compile.
    """
    Xk = as_kernel_array(X)
    if sample_weight is None:
        return Xk, None
    w = np.require(np.asarray(sample_weight).reshape(-1), np.float64, ["C", "W"])
    if w.shape != (Xk.shape[0],):
        raise ValueError(f"sample_weight block has shape {w.shape}, expected ({Xk.shape[0]},)")
    return Xk, w


def block_sweep(X, sample_weight, means, mean_vars, likelihood_var):
    """The statistics of one block, from q(mu) as the client sent it."""
    Xk, w = kernel_block(X, sample_weight)
    # Fresh, writeable copies: arrays that were pickled may come back read-only, which Numba
    # would treat as another type (and compile again).
    means = np.array(means, dtype=Xk.dtype, order="C")
    mean_vars = np.array(mean_vars, dtype=np.float64)
    return block_statistics(Xk, means, mean_vars, likelihood_var, w)


def blocked_sweep(blocks, likelihood_var):
    """The sweep for :func:`fastcavi._cavi.run_sweeps` over ``blocks()``, a callable returning an
    iterable of ``(X_block, weight_block or None)`` in a fixed order (re-read every sweep)."""

    def sweep(means, mean_vars):
        return combine(block_sweep(xb, wb, means, mean_vars, likelihood_var)
                       for xb, wb in blocks())

    return sweep
