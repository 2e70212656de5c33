"""The Dask engine: :class:`DaskSource` (the data-source interface of :mod:`fastcavi.data.sources`
on a Dask array) and lazy prediction (imported only when the input is a Dask array).

Two ways to run, both summing the K-sized results in block order, so that a fit depends only on
the data, the row chunks and the start -- not on the engine, the number of workers or the
scheduling:

* a ``dask.distributed`` client (``distributed.get_client()`` finds one): X and the weights are
  persisted on the cluster once per fit; each map is ``client.map`` of a module-level task
  over the blocks' futures, so only K-sized results travel.
* no client: the blocks are computed one at a time with Dask's default scheduler and streamed
  through the block function in this process: O(one block) memory, and every sweep re-reads
  the blocks (out-of-core for arrays backed by zarr or HDF5; ``X.persist()`` first to keep
  them in memory instead).

Threads: a task's kernel runs with ``cores // (Dask threads of all workers on its host)`` Numba
threads (at least 1), so Numba threads times Dask threads never oversubscribe a machine, also
when a LocalCluster puts several worker processes on it; the estimator's ``n_threads`` caps it.
The workers per host are read from the scheduler at every map, so workers that join or leave
count from the next map on; each task works out its own count from them and its host's cores.
The kernels are bit-identical across thread counts, so no result depends on which worker ran
what. Before a block function first runs on a cluster it runs once on two rows in this
process (compiling its kernels into Numba's on-disk cache); a worker's first task loads them.

Faults: nothing is broadcast to the workers, so a worker that dies at any moment is Dask's to
recover (it recomputes the blocks the worker held and reruns its tasks), and a worker that
joins takes tasks like any other. A cluster that cannot go on -- no worker for longer than
``distributed.scheduler.no-workers-timeout`` (60 s when unset), the scheduler gone, a task that
killed its workers too often -- is one RuntimeError that says so.
"""

from __future__ import annotations

import dask
import dask.array as da
import numba
import numpy as np

from .._threads import check_n_threads, thread_limit
from .._validation import as_kernel_array, check_finite, check_weight_values


def kernel_block(X, sample_weight=None):
    """One block as the kernels take it: X read-only C-contiguous float32/float64 (copied only
    if it must be), the weights C-contiguous, writeable float64 (or None). Blocks that arrive
    deserialised may be read-only or non-contiguous; normalising them keeps every block the
    same Numba type as in memory, so no block triggers a second compile."""
    Xk = as_kernel_array(X)
    if sample_weight is None:
        return Xk, None
    return Xk, np.require(np.asarray(sample_weight).reshape(-1), np.float64, ["C", "W"])


def _fresh(args):
    """Writeable copies of the array arguments (pickled arrays may come back read-only, which
    Numba would treat as another type and compile again)."""
    return tuple(np.array(a, order="C") if isinstance(a, np.ndarray) else a for a in args)


# -- threads and the kernels on the workers ---------------------------------------------------

def _usable_cores():
    # Dask's count honours CPU affinity and cgroup quotas (containers), unlike os.cpu_count.
    from dask.system import CPU_COUNT

    return CPU_COUNT


def _warm(fn, args, dtype, n_features):
    """``fn`` on two rows of zeros: compiles its kernels (writing the on-disk cache) in the
    first process to get here, and loads them from that cache in the others."""
    X = as_kernel_array(np.zeros((2, n_features), dtype=dtype))
    fn(X, None, *_fresh(args))


def _host_threads(client):
    """{host: Dask threads of all its workers}, as the scheduler knows them now."""
    from distributed.comm import get_address_host

    hosts = {}
    _check_client(client)
    try:
        workers = client.nthreads()  # {address: Dask threads}, one small call
    except (*_cluster_errors(), OSError) as exc:  # the scheduler went away
        _check_client(client)
        raise _lost(exc) from exc
    for addr, nthreads in workers.items():
        host = get_address_host(addr)
        hosts[host] = hosts.get(host, 0) + int(nthreads)
    return hosts


def _task_threads(hosts, cap):
    """Numba threads for a kernel call inside a Dask task: the host's cores shared among the
    Dask threads of the workers on it (``hosts``: :func:`_host_threads` when the task was
    submitted; a worker that joined since counts at least its own threads)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    cores = _usable_cores()
    if worker is not None:
        from distributed.comm import get_address_host

        own = worker.state.nthreads
        n = max(1, cores // max(own, (hosts or {}).get(get_address_host(worker.address), 0)))
    else:  # Dask's local threaded scheduler: one task per core
        n = max(1, cores // (dask.config.get("num_workers", None) or cores))
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    return n if cap is None else max(1, min(n, cap))


def _map_task(X, w, fn, args, hosts, cap):
    """One block's result, run on a worker. Concurrent Dask threads are safe on any Numba
    threading layer: the kernels' callers hold parallel_guard."""
    with thread_limit(_task_threads(hosts, cap)):
        return fn(*kernel_block(X, w), *_fresh(args))


# -- waiting for the cluster -------------------------------------------------------------------

_POLL_S = 1.0  # how often a wait looks at the cluster (a finished wait returns at once)
_NO_WORKERS_S = 60.0  # the wait for a worker when Dask's no-workers-timeout is unset


def _no_workers_timeout():
    from dask.utils import parse_timedelta

    t = dask.config.get("distributed.scheduler.no-workers-timeout", None)
    return _NO_WORKERS_S if t is None else float(parse_timedelta(t, default="s"))


def _lost(exc):
    """The one error for a cluster that cannot finish a call, from Dask's exception."""
    from distributed import KilledWorker

    why = ("workers kept dying while running one block's task, and Dask gave up on it"
           if isinstance(exc, KilledWorker) else "lost the connection to the Dask scheduler")
    return RuntimeError(f"the Dask cluster cannot finish this call: {why} "
                        f"({type(exc).__name__}: {exc})")


def _cluster_errors():
    """Exceptions that mean the cluster failed, not the task's own code."""
    from distributed import KilledWorker
    from distributed.comm import CommClosedError
    from distributed.utils import CancelledError

    return (KilledWorker, CommClosedError, CancelledError)


def _check_client(client):
    """Raise the cluster's error if ``client`` has lost its scheduler for good; whether it is
    connected now (False while it reconnects, which Dask bounds by its connect timeout)."""
    if client.status in ("closing", "closed"):
        raise RuntimeError("the Dask cluster cannot finish this call: lost the connection to "
                           f"the Dask scheduler (the client is {client.status})")
    return client.status == "running"


def wait_for(client, futures):
    """The futures' results, in order. A worker that dies is recovered by Dask (its blocks are
    recomputed and its tasks rerun elsewhere, or on a worker that joins); this only gives up,
    with one RuntimeError that says why, when the cluster cannot go on: no worker for longer
    than Dask's ``distributed.scheduler.no-workers-timeout`` (60 s when unset), the scheduler
    lost for good (after Dask's reconnection attempts), or a task that Dask gave up on
    (KilledWorker)."""
    import time

    import distributed.scheduler
    from distributed import wait
    from distributed.utils import TimeoutError as WaitTimeout

    # the scheduler's own no-workers-timeout, when set, fails the tasks with these
    no_workers = tuple(getattr(distributed.scheduler, name) for name in
                       ("NoWorkerError", "NoValidWorkerError")
                       if hasattr(distributed.scheduler, name))

    limit, empty_since = None, None
    try:
        while True:
            try:
                wait(futures, timeout=_POLL_S)
                break
            except WaitTimeout:
                pass
            if not _check_client(client):
                continue
            if any(f.status in ("error", "cancelled") for f in futures):
                break  # gather raises it
            if _host_threads(client):
                empty_since = None
                continue
            now = time.monotonic()
            if empty_since is None:
                limit, empty_since = _no_workers_timeout(), now
            elif now - empty_since > limit:
                client.cancel(futures)
                raise _no_workers(limit)
        return client.gather(futures)
    except no_workers as exc:
        raise _no_workers() from exc
    except _cluster_errors() as exc:
        _check_client(client)
        raise _lost(exc) from exc


def _no_workers(seconds=None):
    waited = ("the scheduler's no-workers-timeout passed" if seconds is None
              else f"none for {seconds:g} s")
    return RuntimeError(f"the Dask cluster has no workers left ({waited}): this call cannot "
                        "finish; start workers, or set Dask's "
                        "'distributed.scheduler.no-workers-timeout' to wait longer for them")


def _block_call(X, w, fn, args):
    return fn(X, w, *args)


def _check_block(X):
    check_finite(as_kernel_array(X))
    return X.shape[0]


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


# -- the data source ---------------------------------------------------------------------------

class DaskSource:
    """The rows of a Dask array X (from :func:`fastcavi._validation.check_dask_array`) and its
    weights (a float64 Dask array chunked like X's rows, or None), read where they are.

    Checks every block for NaN/infinity and the weights' values on the first read (persisting
    them on a cluster first, so they are read once)."""

    def __init__(self, X, weights, n_threads=None):
        self._client = current_client()
        self._cap = check_n_threads(n_threads)  # the estimator's n_threads caps every task
        self._warmed = set()
        self._x_futures, self._w_futures = [], []
        if self._client is not None:
            if weights is None:
                X = self._client.persist(X)
            else:
                X, weights = self._client.persist([X, weights])
            self._x_futures = _block_futures(self._client, X)
            self._w_futures = ([None] * len(self._x_futures) if weights is None
                               else _block_futures(self._client, weights))
        self.X, self.weights = X, weights
        self.n_rows, self.n_features = X.shape
        self.dtype = X.dtype
        if weights is None:
            self.total_weight = float(self.n_rows)
        else:
            finite, n_negative, total = self._compute(da.isfinite(weights).all(),
                                                      (weights < 0).sum(), weights.sum())
            check_weight_values(finite, int(n_negative), float(total))
            self.total_weight = float(total)
        if self._client is None:
            for xb, _ in self.row_blocks():
                check_finite(as_kernel_array(xb))
        else:
            wait_for(self._client, self._client.map(_check_block, self._x_futures, pure=False))

    # -- running block functions -------------------------------------------------------------

    def _prepare(self, fn, args):
        """Compile ``fn``'s kernels here once (into Numba's on-disk cache, which the workers'
        first tasks load them from); the Dask threads per host now, for the tasks' threads."""
        key = (getattr(fn, "__module__", None), getattr(fn, "__qualname__", repr(fn)))
        if key not in self._warmed:
            _warm(fn, args, self.dtype, self.n_features)
            self._warmed.add(key)
        return _host_threads(self._client)

    def _compute(self, *collections):
        """``dask.compute(*collections)``, on the cluster through :func:`wait_for`."""
        if self._client is None:
            return dask.compute(*collections)
        return tuple(wait_for(self._client, self._client.compute(list(collections))))

    def map(self, fn, *args):
        if self._client is None:
            return [fn(*kernel_block(xb, wb), *args) for xb, wb in self.row_blocks()]
        hosts = self._prepare(fn, args)
        futures = self._client.map(_map_task, self._x_futures, self._w_futures, fn=fn,
                                   args=args, hosts=hosts, cap=self._cap, pure=False)
        return wait_for(self._client, futures)  # block order: deterministic

    @property
    def n_blocks(self):
        return self.X.numblocks[0]

    def map_blocks(self, fn, *args):
        return self.map(fn, *args)

    def map_block(self, b, fn, *args):
        if self._client is None:
            return fn(*kernel_block(*self._block(b)), *args)
        hosts = self._prepare(fn, args)
        future = self._client.submit(_map_task, self._x_futures[b], self._w_futures[b], fn=fn,
                                     args=args, hosts=hosts, cap=self._cap, pure=False)
        return wait_for(self._client, [future])[0]

    def map_rows(self, fn, *args, threaded=False):
        """``fn(x_block, w_block, *args)`` computed where the blocks are (on the current
        scheduler, which runs them in parallel: ``threaded`` changes nothing); only the results
        travel back."""
        xs = self.X.to_delayed().ravel()  # one column chunk
        ws = [None] * len(xs) if self.weights is None else self.weights.to_delayed().ravel()
        return list(self._compute(*[dask.delayed(_block_call)(xb, wb, fn, args)
                                    for xb, wb in zip(xs, ws)]))

    def _block(self, i):
        """Row block i and its weights (or None), computed here as NumPy."""
        if self.weights is None:
            return self._compute(self.X.blocks[i])[0], None
        return self._compute(self.X.blocks[i], self.weights.blocks[i])

    def row_blocks(self):
        for i in range(self.X.numblocks[0]):
            yield self._block(i)

    # -- rows --------------------------------------------------------------------------------

    def take(self, rows):
        """Rows ``rows`` (in the order given) as float64 NumPy; only those rows are computed."""
        return _take_rows(self.X, rows, self._compute)

    def take_weights(self, rows):
        return None if self.weights is None else _take_rows(self.weights, rows, self._compute)

    def _positive_counts(self):
        w = self.weights
        return self._compute(w.map_blocks(_count_positive_block, chunks=((1,) * w.numblocks[0],),
                                          dtype=np.int64))[0]

    def count_positive(self):
        return self.n_rows if self.weights is None else int(self._positive_counts().sum())

    def positive_rows(self, ranks):
        """``np.flatnonzero(w > 0)[ranks]`` for sorted ranks, computing only K-sized answers."""
        ranks = np.asarray(ranks)
        w = self.weights
        if w is None:
            return ranks
        counts = self._positive_counts()
        ends = np.cumsum(counts)
        row_starts = np.cumsum((0,) + w.chunks[0])
        parts = []
        for i in range(w.numblocks[0]):
            lo, hi = ends[i] - counts[i], ends[i]
            sel = ranks[(ranks >= lo) & (ranks < hi)] - lo
            if sel.size:
                parts.append(dask.delayed(_select_positive)(w.blocks[i], sel,
                                                            int(row_starts[i])))
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(self._compute(*parts))

    def gather(self):
        """X and the weights in this process (one copy of the data)."""
        if self.weights is None:
            return as_kernel_array(self._compute(self.X)[0]), None
        X, w = self._compute(self.X, self.weights)
        return as_kernel_array(X), np.ascontiguousarray(w, dtype=np.float64)

    def transformed(self, fn):
        """A source of ``fn`` applied to every block (lazily), the weights kept; this source
        is released."""
        X = self.X.map_blocks(fn, dtype=self.dtype)
        self.close()
        return DaskSource(X, self.weights, self._cap)

    def close(self):
        # Drop our references (never cancel: X may be the caller's own persisted array).
        self._x_futures.clear()
        self._w_futures.clear()


def _take_rows(a, rows, compute):
    """Rows of a Dask array (in the order given) as float64 NumPy; only those are computed
    (by ``compute``, as ``dask.compute``)."""
    rows = np.asarray(rows)
    order = np.argsort(rows, kind="stable")
    # A sorted index keeps Dask's take one task per chunk (no reshuffle).
    got = np.asarray(compute(a[rows[order]])[0], dtype=np.float64)
    out = np.empty_like(got)
    out[order] = got
    return out


def _count_positive_block(wb):
    return np.array([np.count_nonzero(wb > 0)])


def _select_positive(wb, ranks, start):
    return np.flatnonzero(wb > 0)[ranks] + start


# -- prediction ------------------------------------------------------------------------------

def _predict_task(X, fn, args, transform, hosts, cap):
    Xk = as_kernel_array(X)
    check_finite(Xk)
    if transform is not None:
        Xk = as_kernel_array(transform(Xk))
    with thread_limit(_task_threads(hosts, cap)):
        return fn(Xk, *_fresh(args))


def map_predict(X, fn, args, tail, dtype, transform, n_threads):
    """``fn(block, *args)`` over the row blocks of X (checked), as a lazy Dask array with
    trailing shape ``tail`` and ``dtype`` (None: X's). The kernels are compiled (or loaded)
    here first; the tasks' threads are planned from the workers per host now (see
    :func:`_task_threads`). Computing it is Dask's: a worker lost meanwhile is recovered by Dask,
    as for any Dask array."""
    cap = check_n_threads(n_threads)
    client = current_client()
    hosts = None if client is None else _host_threads(client)
    tiny = as_kernel_array(np.zeros((2, X.shape[1]), dtype=X.dtype))
    fn(tiny if transform is None else as_kernel_array(transform(tiny)), *args)
    dtype = X.dtype if dtype is None else np.dtype(dtype)
    kw = dict(fn=fn, args=args, transform=transform, hosts=hosts, cap=cap)
    if tail:
        return X.map_blocks(_predict_task, chunks=(X.chunks[0], tail), dtype=dtype, **kw)
    return X.map_blocks(_predict_task, drop_axis=1, dtype=dtype, **kw)
