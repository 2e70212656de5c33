"""Where the rows are: one small interface, one implementation per engine.

Every fit is a loop over map-reduces (:mod:`fastcavi.models.fixed`): a function of one block of rows
that returns K-sized sums, summed in a fixed order. A *data source* runs such functions where
its rows are and returns the results in block order; the estimators and the models never ask
which engine they are on. Two implementations:

* :class:`ArraySource`: an array in this process, in memory or memory-mapped (a float32/float64
  C-ordered ``np.load(path, mmap_mode="r")`` is read in place, never copied). The kernels take
  the whole array in one call (they split it into a fixed number of chunks themselves and run
  them in parallel), so :meth:`~ArraySource.map` has one block.
* :class:`fastcavi.data.dask.DaskSource`: a Dask array, block by block on the current
  ``dask.distributed`` client (persisted there once; only the K-sized results travel), or,
  with no client, streamed through this process one block at a time.

The interface (both implement it)::

    n_rows, n_features, dtype, weights (None: every row counts once), total_weight
    map(fn, *args)       [fn(X_block, w_block, *args) for each kernel block], in block order
    map_rows(fn, *args, threaded=False)
                         the same over blocks of at most 65,536 rows, for NumPy passes;
                         ``threaded``: blocks of 16,384 rows run on Python threads, as many
                         as Numba's (for passes that NumPy keeps busy outside the GIL)
    n_blocks, map_blocks(fn, *args), map_block(b, fn, *args)
                         the blocks of incremental CAVI, fixed by the number of rows (memory)
                         or the row chunks (Dask): all of them in order, or block b alone
    row_blocks()         (X_block, w_block) in row order, one block in memory at a time
    take(rows)           those rows, float64 NumPy (rows in any order)
    take_weights(rows)   their weights (None without weights)
    count_positive(), positive_rows(ranks)   rows with positive weight
    gather()             (X, w) as NumPy in this process (for scikit-learn's KMeans start)
    transformed(fn)      a source of fn(X_block) (standardisation), the weights kept
    close()

A block function ``fn`` must be a module-level function (or a ``functools.partial`` of one):
on a cluster it is pickled by reference, so the workers load its kernels from Numba's on-disk
cache instead of compiling them again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from .._validation import (
    as_kernel_array,
    check_dask_array,
    check_dask_weights,
    check_n_features,
    check_sample_weight,
    is_dask_array,
    validate_X,
)

BLOCK_ROWS = 65_536  # rows per block for the O(block) NumPy passes outside the kernels
THREADED_BLOCK_ROWS = 16_384  # ... and when the blocks run on threads (the load evened out)
# Rows per block of incremental CAVI in memory: q(theta) is updated after each, so smaller
# blocks update it more often, at an O(K p^2) update each (negligible next to 2**18 rows).
INCREMENTAL_BLOCK_ROWS = 2**18


def blocks(n_rows, size=BLOCK_ROWS):
    """Slices of at most ``size`` rows covering ``range(n_rows)``, in order."""
    for start in range(0, n_rows, size):
        yield slice(start, min(n_rows, start + size))


class ArraySource:
    """Rows in this process: X (from :func:`fastcavi._validation.as_kernel_array`) and the
    checked weights (or None)."""

    def __init__(self, X, weights=None):
        self.X, self.weights = X, weights
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        self.total_weight = float(self.n_rows) if weights is None else float(weights.sum())

    def map(self, fn, *args):
        return [fn(self.X, self.weights, *args)]

    @property
    def n_blocks(self):
        return -(-self.n_rows // INCREMENTAL_BLOCK_ROWS)

    def map_block(self, b, fn, *args):
        rows = slice(b * INCREMENTAL_BLOCK_ROWS, min(self.n_rows, (b + 1) * INCREMENTAL_BLOCK_ROWS))
        return fn(self.X[rows], None if self.weights is None else self.weights[rows], *args)

    def map_blocks(self, fn, *args):
        return [self.map_block(b, fn, *args) for b in range(self.n_blocks)]

    def row_blocks(self, size=BLOCK_ROWS):
        w = self.weights
        for b in blocks(self.n_rows, size):
            yield self.X[b], None if w is None else w[b]

    def map_rows(self, fn, *args, threaded=False):
        if not threaded:
            return [fn(xb, wb, *args) for xb, wb in self.row_blocks()]
        from .._threads import threads_in_use  # (imports Numba: not at this module's import)

        parts = list(self.row_blocks(THREADED_BLOCK_ROWS))
        workers = min(len(parts), threads_in_use())
        if workers < 2:
            return [fn(xb, wb, *args) for xb, wb in parts]
        with ThreadPoolExecutor(workers) as pool:  # results in block order, whatever the threads
            return list(pool.map(lambda part: fn(part[0], part[1], *args), parts))

    def take(self, rows):
        return np.asarray(self.X[np.asarray(rows)], dtype=np.float64)

    def take_weights(self, rows):
        w = self.weights
        return None if w is None else np.asarray(w[np.asarray(rows)], dtype=np.float64)

    def count_positive(self):
        w = self.weights
        return self.n_rows if w is None else int(np.count_nonzero(w > 0))

    def positive_rows(self, ranks):
        """``np.flatnonzero(w > 0)[ranks]`` (``ranks`` itself without weights)."""
        w = self.weights
        return np.asarray(ranks) if w is None else np.flatnonzero(w > 0)[ranks]

    def gather(self):
        return self.X, self.weights

    def transformed(self, fn):
        return ArraySource(as_kernel_array(fn(self.X)), self.weights)

    def close(self):
        pass


@contextmanager
def open_source(estimator, X, sample_weight, *, n_threads=None, ensure_min_samples=1,
                reset=True):
    """The data source of a fit: X and sample_weight checked (and, for a Dask X, persisted on
    the cluster), ``estimator``'s ``n_features_in_`` (and ``feature_names_in_``) set (with
    ``reset``; else checked against them, as for a later ``partial_fit``). Released on exit."""
    if is_dask_array(X):
        from .dask import DaskSource

        X = check_dask_array(X)
        if reset:
            estimator.n_features_in_ = X.shape[1]
            estimator.__dict__.pop("feature_names_in_", None)
        else:
            check_n_features(estimator, X.shape[1])
        source = DaskSource(X, check_dask_weights(sample_weight, X), n_threads)
    else:
        X = validate_X(estimator, X, reset=reset, ensure_min_samples=ensure_min_samples)
        source = ArraySource(X, check_sample_weight(sample_weight, X.shape[0]))
    try:
        yield source
    finally:
        source.close()


def predict_rows(estimator, X, fn, args, tail, dtype, transform=None):
    """``fn(X_block, *args)`` over the rows of X, for a fitted ``estimator``'s predict methods:
    on X in memory, one call (after scikit-learn's checks); on a Dask array, a lazy Dask array
    mapped over its row blocks, with trailing shape ``tail`` and ``dtype`` (``None``: X's).
    ``transform(X_block)``, if given, prepares each block first (standardisation)."""
    if is_dask_array(X):
        from .dask import map_predict

        X = check_dask_array(X)
        check_n_features(estimator, X.shape[1])
        return map_predict(X, fn, args, tail, dtype, transform,
                           getattr(estimator, "n_threads", None))
    from .._threads import thread_limit

    X = validate_X(estimator, X, reset=False)
    if transform is not None:
        X = as_kernel_array(transform(X))
    with thread_limit(getattr(estimator, "n_threads", None)):
        return fn(X, *args)
