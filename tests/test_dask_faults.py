"""Faults on a real dask.distributed LocalCluster (worker processes, one thread each): a worker
killed while it loads the kernels, during a pass (batch, incremental, partial_fit) or during
predict; workers added mid-fit; every worker gone. Each fault is placed by the test, never by
timing: a worker kills itself (SIGKILL) from inside the task of a chosen block on its first
visit after a chosen point, once for the whole cluster (a marker file). Every recoverable
fault ends with the in-memory answer; the unrecoverable one with one clear error and the
estimator's previous fit."""

import concurrent.futures
import os
import signal
import time

import dask
import dask.array as da
import numpy as np
import pytest

from fastcavi import BayesianGaussianMixture, GaussianMixtureCAVI
from fastcavi.data import dask as _dask
from fastcavi.data import sources as _sources

pytestmark = pytest.mark.slow  # every test starts or changes a local cluster

distributed = pytest.importorskip("distributed")

ROWS = 1000  # the row chunk, and the in-memory incremental block
HYPER = dict(prior_mean=0.5, prior_var=40.0, likelihood_var=1.2)
# The workers load the kernels from the on-disk cache, which may differ from the in-memory
# fit's compile in the last bit.
RTOL = 1e-10


def blobs(seed, n=6000, p=3, K=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (K, p))
    return centres[rng.integers(K, size=n)] + rng.normal(size=(n, p))


def new_cluster(n_workers):
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                    dashboard_address=":0")


@pytest.fixture(scope="module")
def shared_cluster():
    with new_cluster(2) as cl, distributed.Client(cl) as client:
        yield cl, client


@pytest.fixture
def cluster(shared_cluster):
    """One 2-worker cluster for the module (its client is the current one while it runs),
    with both workers running (a worker killed by the test before is restarted by its nanny)."""
    shared_cluster[1].wait_for_workers(2, timeout=60)
    return shared_cluster


class KillOnce:
    """A block function (``fn(X, ...)``) that first kills its worker process with SIGKILL when
    it runs on a worker with a block starting with row ``first`` (None: any block), once for
    the whole cluster: the first call to create ``marker`` kills."""

    def __init__(self, fn, marker, first=None):
        self.fn, self.marker, self.first = fn, str(marker), first
        self.home = os.getpid()  # never in the client process (which warms the kernels)

    def __call__(self, X, *args):
        if os.getpid() != self.home and (self.first is None or (
                len(X) and np.array_equal(X[0], self.first))):
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.fn(X, *args)


class Record:
    """A block function that records, for each call on a worker, its process and the Numba
    threads it runs with (one file per call in ``folder``)."""

    def __init__(self, fn, folder, phase):
        self.fn, self.folder, self.phase = fn, str(folder), phase
        self.home = os.getpid()

    def __call__(self, X, *args):
        import numba

        if os.getpid() != self.home:
            name = f"{self.phase}-{os.getpid()}-{time.monotonic_ns()}"
            with open(os.path.join(self.folder, name), "w") as f:
                f.write(str(numba.get_num_threads()))
        return self.fn(X, *args)


def on_maps(monkeypatch, start, wrap, act=None):
    """From the ``start``-th block map of a source in this process on (counting every
    ``map`` and ``map_block`` call, 1-based), run the block function ``wrap(fn, n)`` instead of
    ``fn``; ``act()`` runs once, before the ``start``-th map."""
    count = [0]

    def patch(name):
        original = getattr(_dask.DaskSource, name)

        def patched(self, *a):
            count[0] += 1
            if count[0] == start and act is not None:
                act()
            if count[0] < start:
                return original(self, *a)
            i = 1 if name == "map_block" else 0
            a = a[:i] + (wrap(a[i], count[0]),) + a[i + 1:]
            return original(self, *a)

        monkeypatch.setattr(_dask.DaskSource, name, patched)

    patch("map")
    patch("map_block")
    return count


def assert_same_fit(got, want):
    assert got.n_iter_ == want.n_iter_
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=RTOL)
    np.testing.assert_allclose(got.means_, want.means_, rtol=RTOL, atol=RTOL)


def bounded(fn, seconds=90):
    """fn() in a thread, failing the test instead of hanging past ``seconds``."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(fn).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def test_worker_killed_while_loading_the_kernels(cluster, monkeypatch, tmp_path):
    """The first block function a worker runs loads the kernels there: a worker killed then
    (before the fit's first sweep is done) is recovered from."""
    X = blobs(0)
    kw = dict(n_components=4, covariance_type="diag", init_params="random_from_data",
              random_state=0, tol=0, max_iter=8)
    want = BayesianGaussianMixture(**kw).fit(X)
    on_maps(monkeypatch, 1, lambda fn, n: KillOnce(fn, tmp_path / "killed"))
    got = bounded(lambda: BayesianGaussianMixture(**kw).fit(da.from_array(X, chunks=ROWS)))
    assert (tmp_path / "killed").exists()
    assert_same_fit(got, want)
    np.testing.assert_allclose(got.covariances_, want.covariances_, rtol=RTOL)


@pytest.mark.parametrize("how", ["batch", "incremental", "partial_fit"])
def test_worker_killed_during_a_pass(how, cluster, monkeypatch, tmp_path):
    """A worker killed in the third block map (a later sweep, an incremental visit in the second
    pass, a partial_fit step), on block 2: Dask recomputes what it held and reruns its task."""
    X = blobs(1)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=5, **HYPER)
    if how == "incremental":
        monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", ROWS)
        kw["algorithm"] = "incremental"
        start = len(X) // ROWS + 2  # the second pass
    else:
        start = 3
    Xd = da.from_array(X, chunks=ROWS)
    if how == "partial_fit":
        kw = dict(kw, total_samples=len(X))
        want, got = GaussianMixtureCAVI(**kw), GaussianMixtureCAVI(**kw)
        for _ in range(4):
            want.partial_fit(X)
        on_maps(monkeypatch, start, lambda fn, n: KillOnce(fn, tmp_path / "k", X[2 * ROWS]))
        for _ in range(4):
            bounded(lambda: got.partial_fit(Xd))
        np.testing.assert_allclose(got.means_, want.means_, rtol=RTOL, atol=RTOL)
        np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=RTOL)
    else:
        want = GaussianMixtureCAVI(**kw).fit(X)
        on_maps(monkeypatch, start, lambda fn, n: KillOnce(fn, tmp_path / "k", X[2 * ROWS]))
        got = bounded(lambda: GaussianMixtureCAVI(**kw).fit(Xd))
        assert_same_fit(got, want)
    assert (tmp_path / "k").exists()


def test_worker_killed_during_predict(cluster, monkeypatch, tmp_path):
    X = blobs(2)
    gm = GaussianMixtureCAVI(4, means_init=X[:4], **HYPER).fit(X)
    Xd = da.from_array(X, chunks=ROWS)
    original = _dask.map_predict
    markers = iter([tmp_path / "predict", tmp_path / "proba"])

    def killing(Xd, fn, *rest):
        return original(Xd, KillOnce(fn, next(markers), X[2 * ROWS]), *rest)

    monkeypatch.setattr(_dask, "map_predict", killing)
    labels = bounded(lambda: gm.predict(Xd).compute())
    proba = bounded(lambda: gm.predict_proba(Xd).compute())
    assert (tmp_path / "predict").exists() and (tmp_path / "proba").exists()
    np.testing.assert_array_equal(labels, gm.predict(X))
    np.testing.assert_allclose(proba, gm.predict_proba(X), rtol=RTOL, atol=1e-300)
    monkeypatch.undo()
    assert bounded(lambda: gm.score(Xd)) == pytest.approx(gm.score(X), rel=1e-12)


def test_workers_added_mid_fit(cluster, monkeypatch, tmp_path):
    """Two workers join after the second sweep and the two first ones leave: the later sweeps
    run on the new workers only, each with its share of the host's cores (Numba threads times
    the Dask threads on this machine within its cores), and give the in-memory fit."""
    cl, client = cluster
    X = blobs(3)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=6, **HYPER)
    want = GaussianMixtureCAVI(**kw).fit(X)
    undisturbed = GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=ROWS))
    first = set(client.run(lambda: os.getpid()).values())
    (tmp_path / "r").mkdir()

    def swap_workers():
        old = list(client.scheduler_info()["workers"])
        cl.scale(len(old) + 2)
        client.wait_for_workers(len(old) + 2, timeout=60)
        client.retire_workers(old, close_workers=True)

    on_maps(monkeypatch, 3, lambda fn, n: Record(fn, tmp_path / "r", n), act=swap_workers)
    got = bounded(lambda: GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=ROWS)))
    assert_same_fit(got, want)
    # Other workers, other thread counts: the same bits as without the change.
    np.testing.assert_array_equal(got.lower_bounds_, undisturbed.lower_bounds_)
    np.testing.assert_array_equal(got.means_, undisturbed.means_)
    records = [(int(name.split("-")[1]), int((tmp_path / "r" / name).read_text()))
               for name in os.listdir(tmp_path / "r")]
    assert len(records) >= 4 * len(X) // ROWS
    assert not first & {pid for pid, _ in records}
    share = max(1, _dask._usable_cores() // 2)
    assert all(threads <= share for _, threads in records), records


def test_no_workers_left_is_a_clear_error_and_keeps_the_fit(monkeypatch):
    """Every worker closed during a fit: once the cluster has had no workers for the wait
    allowed (Dask's ``distributed.scheduler.no-workers-timeout``), the fit fails with one error
    saying so, and the estimator keeps its previous fit."""
    X = blobs(4)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=6, **HYPER)
    with new_cluster(1) as cl, distributed.Client(cl) as client:
        gm = GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=ROWS))
        before = {k: np.copy(v) for k, v in vars(gm).items() if isinstance(v, np.ndarray)}

        def close_every_worker():
            cl.scale(0)
            deadline = time.monotonic() + 30
            while client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)

        on_maps(monkeypatch, 2, lambda fn, n: fn, act=close_every_worker)
        Y = da.from_array(blobs(5), chunks=ROWS)
        with dask.config.set({"distributed.scheduler.no-workers-timeout": "1s"}):
            with pytest.raises(RuntimeError, match="no workers"):
                bounded(lambda: gm.fit(Y), seconds=60)
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(gm, k), v)


def test_scheduler_lost_is_a_clear_error_and_keeps_the_fit(monkeypatch):
    """The scheduler closed during a fit: once the client's reconnection attempts end (Dask's
    connect timeout, 2 s here), the fit fails with one error saying so, and keeps the previous
    fit."""
    X = blobs(6)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=6, **HYPER)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), new_cluster(1) as cl, \
            distributed.Client(cl):
        gm = GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=ROWS))
        before = gm.means_.copy()
        on_maps(monkeypatch, 2, lambda fn, n: fn, act=lambda: cl.sync(cl.scheduler.close))
        Y = da.from_array(blobs(7), chunks=ROWS)
        with pytest.raises(RuntimeError, match="lost the connection to the Dask scheduler"):
            bounded(lambda: gm.fit(Y), seconds=60)
    np.testing.assert_array_equal(gm.means_, before)
