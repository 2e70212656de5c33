"""Out-of-core input: a memory-mapped .npy goes through the fit without being copied (the
kernel walks it in at most 256 chunks), gives the in-memory result bit for bit, and allocates
nothing of size N x K; a sweep over uneven row blocks drives the same core."""

import itertools
import tracemalloc
import warnings

import numpy as np
import pytest

from fastcavi import GaussianMixtureCAVI
from fastcavi._threads import thread_limit
from fastcavi._validation import as_kernel_array, validate_X
from fastcavi.data.defaults import _subsample, moments
from fastcavi.data.sources import BLOCK_ROWS, THREADED_BLOCK_ROWS, ArraySource
from fastcavi.models.fixed import check_hyper, run_sweeps

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
    Xk = validate_X(GaussianMixtureCAVI(K), mm, reset=True)
    assert np.shares_memory(Xk, mm)


@pytest.mark.slow
@pytest.mark.parametrize("explicit", [True, False], ids=["explicit", "defaults"])
def test_memmap_fit_allocates_no_n_by_k_array(data, explicit, tmp_path):
    """tracemalloc sees every NumPy allocation: the peak stays far below one N x K float64
    array (and, with an explicit start, below a tenth of a copy of X). Measured in a fresh
    process: tracemalloc counts every thread's allocations, and a Dask client left running by
    other tests allocates in its own threads."""
    import json
    import subprocess
    import sys

    X, path = data
    script = tmp_path / "measure.py"
    script.write_text(f"""
import json, tracemalloc, warnings
import numpy as np
from fastcavi import GaussianMixtureCAVI
warnings.simplefilter("ignore")
mm = np.load({str(path)!r}, mmap_mode="r")
kw = dict({HYPER!r}, means_init=np.array(mm[:{K}])) if {explicit} else {{}}
fit = lambda: GaussianMixtureCAVI({K}, max_iter=6, tol=0, random_state=0, **kw).fit(mm)
fit()  # compile (or load) outside the measurement
tracemalloc.start()
fit()
print(json.dumps(tracemalloc.get_traced_memory()[1]))
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak = json.loads(proc.stdout.strip().splitlines()[-1])
    assert peak < N * K * 8 / 2
    if explicit:
        assert peak < N * P * 8 / 10


@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_moments_over_blocks_are_numpys(weighted, dtype):
    """The default prior's moments, taken block by block by the compiled loops (each block in
    runs of rows): NumPy's weighted mean and variances, at a size whose last block is short
    and whose blocks and last run end off the run length, on data far from the origin with
    weights that are sometimes zero; and no temporary near a block's size."""
    from fastcavi.kernels.moments import _RUN

    n, p = BLOCK_ROWS + 3001, 160
    assert n % BLOCK_ROWS % _RUN and BLOCK_ROWS // _RUN > 1
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(n, p)) * rng.uniform(0.5, 5, p) + 1e3).astype(dtype)
    w = rng.uniform(0, 2, n) if weighted else None
    if weighted:
        w[::5] = 0.0
    Xk = as_kernel_array(X)
    before = X.copy()
    tracemalloc.start()
    try:
        m = moments(ArraySource(Xk, w))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(X, before)
    x64 = X.astype(np.float64)
    weights = np.ones(n) if w is None else w
    mean = np.average(x64, axis=0, weights=weights)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-13)  # measured 2.3e-14 at the offset
    assert m.total == pytest.approx(weights.sum(), rel=1e-14)
    sq = weights @ (x64 - mean) ** 2
    np.testing.assert_allclose(m.sq_sums, sq, rtol=1e-12)
    assert m.mean_var == pytest.approx(sq.sum() / (weights.sum() * p), rel=1e-12)
    assert peak < BLOCK_ROWS * p * 8 / 2  # a block's float64 temporary is 80 MiB


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 2, 255, 256, 257, 1000])
def test_moment_kernels_are_plain_sums(n, dtype):
    """Each of the moments' kernels on one block against a plain float64 loop written out here
    (the weighted sums of x - x_0, the largest |x - x_0|, the weighted squares of
    (x - mean) / scale), at sizes around the run length, weighted and not, on data and their
    mirror image, float32 data widened exactly; the inputs are not modified."""
    from fastcavi.kernels.moments import scaled_square_sums, shifted_sums

    rng = np.random.default_rng(n)
    p = 3
    raw = rng.normal(size=(n, p)) * [1.0, 30.0, 1e-3] + [5.0, -2e4, 0.0]
    shift = rng.normal(size=p)
    scale = 64.0
    # the data and their mirror image: the largest deviation from x_0 is below it in one
    for X, w in itertools.product([as_kernel_array(raw.astype(dtype)),
                                   as_kernel_array((-raw).astype(dtype))],
                                  [np.empty(0), rng.uniform(0, 3, n)]):
        origin = X[0].astype(np.float64)
        mean = origin + shift
        weights = w if w.size else np.ones(n)
        saved = w.copy()
        sums, spread = shifted_sums(X, w, origin)
        squares = scaled_square_sums(X, w, mean, scale)
        want_s, want_spread, want_q = np.zeros(p), 0.0, np.zeros(p)
        for i in range(n):
            for j in range(p):
                d = float(X[i, j]) - origin[j]
                want_s[j] += weights[i] * d
                want_spread = max(want_spread, abs(d))
                want_q[j] += weights[i] * ((float(X[i, j]) - mean[j]) / scale) ** 2
        # the sums cancel: their rounding is bounded on the sum of the terms' sizes, per feature
        sizes = weights @ np.abs(X.astype(np.float64) - origin)
        assert np.all(np.abs(sums - want_s) <= 1e-12 * sizes)
        assert spread == want_spread
        np.testing.assert_allclose(squares, want_q, rtol=1e-12)
        np.testing.assert_array_equal(w, saved)


def test_moments_where_the_scale_is_subnormal():
    """Data spread over less than 2**-1022: the squares are divided by a subnormal power of
    two, which has no finite reciprocal. The mean is the data's and the squares, too small
    for float64 once scaled back, leave the variance at the smallest positive float (so the
    defaults refuse it as unrepresentable), never NaN or infinity."""
    X = as_kernel_array(np.array([[1e-310, -2e-310], [3e-310, 2e-310], [2e-310, 0.0]]))
    m = moments(ArraySource(X))
    np.testing.assert_allclose(m.mean, [2e-310, 0.0], atol=1e-323)
    np.testing.assert_array_equal(m.sq_sums, 0.0)  # (1e-310)**2 underflows
    assert m.mean_var == 5e-324


def _block_summary(xb, wb):
    return float(xb[0, 0]), xb.shape[0], None if wb is None else float(wb.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_threaded_row_blocks_are_the_blocks_in_order(weighted):
    """map_rows(threaded=True): blocks of THREADED_BLOCK_ROWS rows (the last one short), each
    with its own weights, returned in row order on any number of threads."""
    rng = np.random.default_rng(5)
    n = 3 * THREADED_BLOCK_ROWS + 7
    X = rng.normal(size=(n, 3))
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    source = ArraySource(as_kernel_array(X), w)
    expected = [(X[i, 0], min(THREADED_BLOCK_ROWS, n - i),
                 None if w is None else pytest.approx(w[i:i + THREADED_BLOCK_ROWS].sum()))
                for i in range(0, n, THREADED_BLOCK_ROWS)]
    for threads in (1, 2):
        with thread_limit(threads):
            assert source.map_rows(_block_summary, threaded=True) == expected


def test_default_subsample_needs_no_o_n_memory():
    """The k-means++ / default-likelihood_var subsample of a huge N is drawn in O(size)."""
    rng = np.random.RandomState(0)
    tracemalloc.start()
    try:
        rows = np.broadcast_to(np.zeros((1, 1)), (10**8, 1))  # no memory of its own
        idx = _subsample(ArraySource(rows), 20_000, rng)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # an O(N) permutation would be 800 MB
    assert idx.shape == (20_000,) and np.all(np.diff(idx) > 0) and idx[-1] < 10**8


def test_blocked_sweep_drives_the_same_core(data):
    """Sweeping uneven row blocks one at a time (the Dask engine streaming a memmap's blocks)
    gives the in-memory fit up to the order of the sums."""
    import dask.array as da

    from fastcavi.data.dask import DaskSource

    X, path = data
    mm = as_kernel_array(np.load(path, mmap_mode="r"))
    w = np.random.default_rng(1).uniform(0, 2, N)
    hyper = check_hyper(HYPER["prior_mean"], HYPER["prior_var"], HYPER["likelihood_var"], P)
    rows = (30_000, 1_000, 69_000, 50_001, N - 150_001)
    blocked = DaskSource(da.from_array(mm, chunks=(rows, -1)), da.from_array(w, chunks=rows))
    runs = [run_sweeps(source, X[:K], np.ones(K), hyper, 8, 0.0)
            for source in (ArraySource(mm, w), blocked)]
    np.testing.assert_allclose(runs[1].bounds, runs[0].bounds, rtol=1e-12)
    np.testing.assert_allclose(runs[1].means, runs[0].means, rtol=1e-12)
