"""Out-of-core input: a memory-mapped .npy goes through the fit without being copied (the
kernel walks it in at most 256 chunks), gives the in-memory result bit for bit, and allocates
nothing of size N x K; the blocked sweep of fastcavi._stream drives the same core."""

import tracemalloc
import warnings

import numpy as np
import pytest

from fastcavi import GaussianMixtureCAVI
from fastcavi._cavi import check_hyper, run_sweeps
from fastcavi._estimator import _subsample
from fastcavi._fit import as_kernel_array, in_memory_sweep
from fastcavi._stream import blocked_sweep

N, P, K = 200_000, 2, 5
HYPER = dict(prior_mean=0.0, prior_var=30.0, likelihood_var=1.1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 5, (K, P))[rng.integers(K, size=N)] + rng.normal(size=(N, P))
    path = tmp_path_factory.mktemp("memmap") / "x.npy"
    np.save(path, X)
    return X, path


def fitted(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short runs: convergence is not the point here
        return GaussianMixtureCAVI(K, max_iter=6, tol=0, random_state=0, **kw).fit(X)


def assert_identical(a, b):
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.mean_vars_, b.mean_vars_)


@pytest.mark.parametrize("kw", [dict(HYPER, means_init="first rows"), dict(),
                                dict(init_params="random")], ids=["explicit", "defaults",
                                                                  "random-init"])
def test_memmap_fit_equals_in_memory(data, kw):
    X, path = data
    if "means_init" in kw:
        kw = dict(kw, means_init=X[:K])
    mm = np.load(path, mmap_mode="r")
    assert_identical(fitted(mm, **kw), fitted(X, **kw))


def test_float32_memmap(data, tmp_path):
    X, _ = data
    X32 = X.astype(np.float32)
    np.save(tmp_path / "x32.npy", X32)
    mm = np.load(tmp_path / "x32.npy", mmap_mode="r")
    assert_identical(fitted(mm, means_init=X[:K], **HYPER), fitted(X32, means_init=X[:K], **HYPER))


def test_validation_does_not_copy_a_memmap(data):
    _, path = data
    mm = np.load(path, mmap_mode="r")
    Xk = GaussianMixtureCAVI(K)._validate_X(mm, reset=True)
    assert np.shares_memory(Xk, mm)


@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "defaults"])
def test_memmap_fit_allocates_no_n_by_k_array(data, explicit):
    """tracemalloc sees every NumPy allocation: the peak stays far below one N x K float64
    array (and, with an explicit start, below a tenth of a copy of X)."""
    X, path = data
    kw = dict(HYPER, means_init=X[:K]) if explicit else {}
    mm = np.load(path, mmap_mode="r")
    fitted(mm, **kw)  # compile outside the measurement
    tracemalloc.start()
    try:
        fitted(mm, **kw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < N * K * 8 / 2
    if explicit:
        assert peak < N * P * 8 / 10


def test_default_subsample_needs_no_o_n_memory():
    """The k-means++ / default-likelihood_var subsample of a huge N is drawn in O(size)."""
    rng = np.random.RandomState(0)
    tracemalloc.start()
    try:
        idx = _subsample(10**8, None, 20_000, rng)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # an O(N) permutation would be 800 MB
    assert idx.shape == (20_000,) and np.all(np.diff(idx) > 0) and idx[-1] < 10**8


def test_blocked_sweep_drives_the_same_core(data):
    """Sweeping block by block (fastcavi._stream, as the Dask fit without a cluster does) gives
    the in-memory fit up to the order of the sums."""
    X, path = data
    mm = as_kernel_array(np.load(path, mmap_mode="r"))
    w = np.random.default_rng(1).uniform(0, 2, N)
    hyper = check_hyper(HYPER["prior_mean"], HYPER["prior_var"], HYPER["likelihood_var"], P)
    sizes = [0, 30_000, 31_000, 100_000, 150_001, N]

    def blocks():
        return ((mm[a:b], w[a:b]) for a, b in zip(sizes[:-1], sizes[1:]))

    runs = [run_sweeps(sweep, X[:K], np.ones(K), hyper, mm.dtype, 8, 0.0, w.sum())
            for sweep in (in_memory_sweep(mm, w, hyper.likelihood_var),
                          blocked_sweep(blocks, hyper.likelihood_var))]
    np.testing.assert_allclose(runs[1][2], runs[0][2], rtol=1e-12)
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12)
