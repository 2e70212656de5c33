"""Fitting and predicting on Dask arrays (imported only when the input is one).

A CAVI sweep is a map-reduce (:mod:`fastcavi._cavi`): here the map runs
:func:`fastcavi._stream.block_sweep` on each row block, the K-sized
:class:`~fastcavi._cavi.SweepStats` come back to this process, and the reduce
(:func:`~fastcavi._cavi.combine`, in block order) and the O(K p) update run in
:func:`~fastcavi._cavi.run_sweeps`, as for every other fit. Two engines:

* a ``dask.distributed`` client (``distributed.get_client()`` finds one): X and the weights are
  persisted on the cluster once per fit; each sweep is ``client.map`` of a plain module-level
  function over the blocks' futures, so only K-sized statistics travel.
* no client: the blocks are computed one at a time with Dask's default scheduler and streamed
  through the kernels in this process (:func:`fastcavi._stream.blocked_sweep`): O(one block)
  memory, and every sweep re-reads the blocks (out-of-core for arrays backed by zarr or HDF5;
  ``X.persist()`` first to keep them in memory instead).

Both sum the statistics in block order, so the fit depends only on the data, the row chunks
and the start -- not on the engine, the number of workers or the scheduling.

Threads: a task's kernel runs with ``cores // (Dask threads of all workers on its host)`` Numba
threads (at least 1), so Numba threads times Dask threads never oversubscribe a machine, also
when a LocalCluster puts several worker processes on it; the estimator's ``n_threads`` caps it.
Before a fit the kernels are compiled once in this process (writing Numba's on-disk cache) and
then loaded on every worker (``client.run``), so the workers do not race to compile.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import dask
import dask.array as da
import numba
import numpy as np

from ._cavi import block_statistics, combine, kernel_means
from ._fit import as_kernel_array, check_finite, check_sample_weight
from ._predict import KINDS, output_spec, predict_block
from ._stream import block_sweep, blocked_sweep
from ._threads import check_n_threads, thread_limit


def is_dask_array(a):
    return type(a).__module__.startswith("dask") and hasattr(a, "chunks")


# -- validation ------------------------------------------------------------------------------

def check_array(X, name="X"):
    """A 2-D float32/float64 Dask array chunked only along rows (lazy: nothing is computed).

    float32 stays float32; other real dtypes become float64, as in memory. Column chunks are
    merged into one, so that every block holds whole points.
    """
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got {X.ndim}-D with shape {X.shape}")
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {X.dtype}")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if any(math.isnan(c) for c in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes along its rows; call "
                         f"{name}.compute_chunk_sizes() (or persist it) before fitting")
    n_samples, n_features = X.shape
    if n_samples < 1 or n_features < 1:
        raise ValueError(f"Found array with shape {X.shape} while a minimum of 1 sample and "
                         f"1 feature is required.")
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if X.dtype != dtype:
        X = X.astype(dtype)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def check_weights(sample_weight, X):
    """sample_weight as a lazy float64 Dask array chunked like X's rows, or None.

    A NumPy (or scalar) weight is checked here; a Dask one is checked by :func:`check_dask_weights`
    once it is persisted (so it is read only once).
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        return None
    if not is_dask_array(sample_weight):
        w = check_sample_weight(sample_weight, n_samples)
        return da.from_array(w, chunks=(X.chunks[0],))
    w = sample_weight
    if w.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n_samples},)!")
    return w.astype(np.float64).rechunk((X.chunks[0],))


def check_dask_weights(w):
    """The checks of :func:`fastcavi._fit.check_sample_weight`, as one pass of Dask reductions."""
    finite, n_negative, total = dask.compute(da.isfinite(w).all(), (w < 0).sum(), w.sum())
    if not finite:
        raise ValueError("sample_weight must be finite (it contains NaN or infinity)")
    if n_negative:
        raise ValueError("Negative values in sample_weight are not allowed")
    if not total > 0:
        raise ValueError("sample_weight must not be all zero: its sum must be positive")


# -- the data-driven defaults and the initialisation (called from the estimator) -------------

def map_row_blocks(X, w, func, *args):
    """``func(x_block, w_block, *args)`` for every row block, computed where the blocks are
    (on the current scheduler); only the results travel back. A list, in block order."""
    xs = X.to_delayed().ravel()  # X has one column chunk (check_array merges them)
    ws = [None] * len(xs) if w is None else w.to_delayed().ravel()
    return list(dask.compute(*[dask.delayed(func)(xb, wb, *args) for xb, wb in zip(xs, ws)]))


def take(a, idx):
    """Rows idx of a (in the order given) as float64 NumPy; only those rows are computed."""
    idx = np.asarray(idx)
    order = np.argsort(idx, kind="stable")
    # A sorted index keeps Dask's take one task per chunk (no reshuffle, no PerformanceWarning).
    rows = np.asarray(a[idx[order]].compute(), dtype=np.float64)
    out = np.empty_like(rows)
    out[order] = rows
    return out


def _count_positive_block(wb):
    return np.array([np.count_nonzero(wb > 0)])


def _positive_counts(w):
    return w.map_blocks(_count_positive_block, chunks=((1,) * w.numblocks[0],),
                        dtype=np.int64).compute()


def count_positive(w):
    return int(_positive_counts(w).sum())


def _select_positive(wb, ranks, start):
    return np.flatnonzero(wb > 0)[ranks] + start


def positive_rows(w, ranks):
    """``np.flatnonzero(w > 0)[ranks]`` for sorted ranks, computing only K-sized answers."""
    counts = _positive_counts(w)
    ends = np.cumsum(counts)
    row_starts = np.cumsum((0,) + w.chunks[0])
    parts = []
    for i in range(w.numblocks[0]):
        lo, hi = ends[i] - counts[i], ends[i]
        sel = ranks[(ranks >= lo) & (ranks < hi)] - lo
        if sel.size:
            parts.append(dask.delayed(_select_positive)(w.blocks[i], sel, int(row_starts[i])))
    if not parts:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(dask.compute(*parts))


def iter_blocks(X, w=None):
    """(X block, weight block or None) as NumPy, one row block at a time, in order."""
    for i in range(X.numblocks[0]):
        if w is None:
            yield X.blocks[i].compute(), None
        else:
            yield dask.compute(X.blocks[i], w.blocks[i])


# -- threads and the kernels on the workers ---------------------------------------------------

def _usable_cores():
    # Dask's count honours CPU affinity and cgroup quotas (containers), unlike os.cpu_count.
    from dask.system import CPU_COUNT

    return CPU_COUNT


def warm_kernels(dtype, n_features=1, n_components=1):
    """Run the sweep once on tiny data of this dtype and shape class (p and K choose between
    the kernels and the BLAS path): it compiles, writing the on-disk cache, in the first
    process to get here, and loads from that cache in the others."""
    dtype = np.dtype(dtype)
    X = as_kernel_array(np.zeros((2, n_features), dtype=dtype))
    block_statistics(X, kernel_means(np.zeros((n_components, n_features)), dtype),
                     np.ones(n_components), 1.0)


def _warm_predict_kernels(dtype):
    X = as_kernel_array(np.zeros((2, 1), dtype=dtype))
    for kind in KINDS:
        predict_block(X, np.zeros((1, 1)), np.ones(1), 1.0, kind)


def _prepare_worker(dtype_name, n_features, n_components, dask_worker=None):
    """On every worker before a fit: load the kernels, and report (host, Dask threads, cores,
    Numba's thread ceiling)."""
    from distributed.comm import get_address_host

    warm_kernels(dtype_name, n_features, n_components)
    return (get_address_host(dask_worker.address), dask_worker.state.nthreads, _usable_cores(),
            numba.config.NUMBA_NUM_THREADS)


def _thread_plan(client, dtype, n_features=1, n_components=1):
    """Numba threads per worker so that, on each host, Numba threads times Dask threads stays
    within the host's cores (LocalCluster runs several worker processes on one machine)."""
    info = client.run(_prepare_worker, np.dtype(dtype).name, n_features, n_components)
    host_threads = {}
    for host, nthreads, _, _ in info.values():
        host_threads[host] = host_threads.get(host, 0) + nthreads
    return {addr: max(1, min(cores // host_threads[host], numba_max))
            for addr, (host, _, cores, numba_max) in info.items()}


def _task_threads(plan, cap):
    """Numba threads for a kernel call inside a Dask task."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    cores = _usable_cores()
    if worker is not None:
        n = plan.get(worker.address) if plan else None
        if n is None:
            n = max(1, cores // worker.state.nthreads)
    else:  # Dask's local threaded scheduler: one task per core
        n = max(1, cores // (dask.config.get("num_workers", None) or cores))
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    return n if cap is None else max(1, min(n, cap))


def _sweep_task(X, w, means, mean_vars, likelihood_var, plan, cap):
    """One block's SweepStats, run on a worker (plain module-level function: a pickled Numba
    dispatcher would lose its on-disk cache and compile on every worker). Concurrent Dask
    threads are safe on any Numba threading layer: block_statistics holds parallel_guard."""
    with thread_limit(_task_threads(plan, cap)):
        return block_sweep(X, w, means, mean_vars, likelihood_var)


def _check_block_task(X):
    check_finite(as_kernel_array(X))
    return X.shape[0]


# -- the fit ---------------------------------------------------------------------------------

def current_client():
    """The current dask.distributed client, or None (distributed not installed, or no client)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _block_futures(client, arr):
    """The futures of a persisted array's blocks, in block order (rows only: one column chunk)."""
    from dask.core import flatten
    from distributed import futures_of

    by_key = {f.key: f for f in futures_of(arr)}
    return [by_key[k] for k in flatten(arr.__dask_keys__())]


@contextmanager
def fit_session(X, w, n_components, n_threads):
    """Make X (from :func:`check_array`) and w (from :func:`check_weights`) ready to sweep.

    Yields ``(X, w, make_sweep)``: the (persisted, on a cluster) arrays for the defaults and the
    initialisation, and ``make_sweep(likelihood_var) -> sweep`` for
    :func:`fastcavi._cavi.run_sweeps`. The persisted data are released on exit.
    """
    # The on-disk cache exists before any worker looks for it (concurrent first compiles in
    # several processes can race).
    warm_kernels(X.dtype, X.shape[1], n_components)
    client = current_client()
    if client is None:
        if w is not None:
            check_dask_weights(w)
        for xb, _ in iter_blocks(X):
            check_finite(as_kernel_array(xb))

        def make_sweep(likelihood_var):
            return blocked_sweep(lambda: iter_blocks(X, w), likelihood_var)

        yield X, w, make_sweep
        return

    if w is None:
        X = client.persist(X)
    else:
        X, w = client.persist([X, w])
    x_futures, w_futures = [], []
    try:
        x_futures = _block_futures(client, X)
        w_futures = [None] * len(x_futures) if w is None else _block_futures(client, w)
        if w is not None:
            check_dask_weights(w)
        client.gather(client.map(_check_block_task, x_futures, pure=False))
        plan = _thread_plan(client, X.dtype, X.shape[1], n_components)
        cap = check_n_threads(n_threads)  # the estimator's n_threads caps every task

        def make_sweep(likelihood_var):
            def sweep(means, mean_vars):
                futures = client.map(_sweep_task, x_futures, w_futures, means=means,
                                     mean_vars=mean_vars, likelihood_var=likelihood_var,
                                     plan=plan, cap=cap, pure=False)
                return combine(client.gather(futures))  # block order: deterministic

            return sweep

        yield X, w, make_sweep
    finally:
        # Drop our references (never cancel: X may be the caller's own persisted array).
        x_futures.clear()
        w_futures.clear()


# -- prediction ------------------------------------------------------------------------------

def _predict_task(X, means, mean_vars, likelihood_var, kind, cap):
    Xk = as_kernel_array(X)
    check_finite(Xk)
    with thread_limit(_task_threads(None, cap)):
        return predict_block(Xk, means, mean_vars, likelihood_var, kind)


def map_predict(estimator, X, kind):
    """predict ('labels'), predict_proba ('proba') or score_samples ('score') as a lazy Dask
    array: :func:`fastcavi._predict.predict_block` on every row block, with K from the fitted
    means (as in memory)."""
    X = check_array(X)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input.")
    _warm_predict_kernels(X.dtype)
    means = estimator.means_
    tail, dtype = output_spec(kind, means.shape[0], X.dtype)
    kw = dict(means=means, mean_vars=estimator.mean_vars_,
              likelihood_var=estimator.likelihood_var_, kind=kind,
              cap=check_n_threads(estimator.n_threads))
    if tail:
        return X.map_blocks(_predict_task, chunks=(X.chunks[0], tail), dtype=dtype, **kw)
    return X.map_blocks(_predict_task, drop_axis=1, dtype=dtype, **kw)
