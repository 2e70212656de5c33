"""Every implementation and every engine against the independent NumPy oracle
(``tests/oracles.py``), at sizes that cross every chunk, tile and BLAS block boundary and are a
multiple of none, weighted and not, float64 and float32.

Small problems (N < 60) run in one chunk and one tile, so a kernel that reads the wrong offset,
skips a chunk or a tile, or drops the last rows of a chunk passes them. The cases below are
chosen so that each boundary falls inside the data, and the test checks that it does.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastcavi import GaussianMixtureCAVI
from fastcavi._registry import ENGINES, IMPLEMENTATIONS
from fastcavi._validation import as_kernel_array
from fastcavi.kernels import core as _core
from fastcavi.models import fixed as _cavi

from . import oracles
from .conftest import random_problem

# (N, p, K): several chunks with tiles that do not divide them; small tiles (large K); the
# BLAS path; the 64-chunk cap (chunks of more than 2048 rows). N is prime or odd in each.
CASES = {
    "chunks-tiles": (5003, 2, 3),
    "small-tiles": (5003, 3, 40),
    "blas-blocks": (5003, 20, 10),
    "chunk-cap": (140_009, 2, 5),
}
# The reference is pure Python: it is checked against the oracle on small problems
# (test_reference.py); here every other implementation runs at boundary-crossing sizes.
FAST_IMPLEMENTATIONS = [name for name in IMPLEMENTATIONS if name != "reference"]

# What each path achieves against the float64 oracle on the same (rounded) numbers, measured
# on these cases after 3 sweeps; the tolerances sit a few times above. float64: ~1e-14.
# float32, small-p kernel: ELBO ~1e-8, means ~5e-8 (on the means' scale), mean variances
# ~2e-7, phi ~1.5e-6. float32, BLAS path: the distance |xc|^2 - 2 xc.mc + |mc|^2 is formed in
# float32 (sgemm), so phi agrees to ~5e-5, the ELBO to ~4e-7, the means to ~4e-7.
TOL64 = dict(means=1e-10, mean_vars=1e-10, bounds=1e-10, resp=1e-11, score=1e-10)
TOL32 = dict(means=2e-7, mean_vars=1e-6, bounds=5e-8, resp=5e-6, score=1e-6)
TOL32_BLAS = dict(means=1.5e-6, mean_vars=8e-6, bounds=1.5e-6, resp=2e-4, score=1e-5)


def tolerances(case, dtype):
    if dtype == np.float64:
        return TOL64
    return TOL32_BLAS if _cavi.uses_blas(*CASES[case][1:]) else TOL32


def problem(case, dtype, weighted):
    N, p, K = CASES[case]
    rng = np.random.default_rng(N + 10 * p + K)
    X, m0, v0, hyper = random_problem(rng, n_samples=N, n_features=p, n_components=K)
    X = X.astype(dtype)
    m0 = m0.astype(dtype).astype(np.float64)  # the start the float32 kernels can represent
    w = None
    if weighted:
        w = rng.uniform(0, 3, N)
        w[rng.random(N) < 0.1] = 0.0
    return X, m0, v0, hyper, w


def assert_close(actual, desired, rtol, scale=None, name=""):
    atol = 0.0 if scale is None else rtol * scale
    np.testing.assert_allclose(actual, desired, rtol=0 if scale is not None else rtol,
                               atol=atol, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_cases_cross_every_boundary(case):
    N, p, K = CASES[case]
    n_chunks = _core.n_chunks_for(N, K * (p + 2) + 2)
    chunk = -(-N // n_chunks)
    assert n_chunks > 1 and N % chunk != 0
    if _cavi.uses_blas(p, K):
        block = _core.gram_block_rows(K)
        assert chunk > block and chunk % block != 0
    else:
        tile = _core.tile_rows(K)
        assert chunk > tile and chunk % tile != 0
    if case == "chunk-cap":
        assert n_chunks == _core._MAX_CHUNKS and chunk > _core._MIN_CHUNK_ROWS


def test_blas_blocks_shrink_at_large_k():
    """The large-p paths' blocks hold GRAM_BLOCK_ROWS rows up to 256 components, then as many
    as GRAM_BLOCK_VALUES products allow (each thread holds two such blocks), and never fewer
    than _GRAM_MIN_ROWS."""
    for k in (1, 8, 64, 256):
        assert _core.gram_block_rows(k) == _core.GRAM_BLOCK_ROWS
    for k in (257, 300, 1024, 2048):
        rows = _core.gram_block_rows(k)
        assert rows * k <= _core.GRAM_BLOCK_VALUES < (rows + 1) * k
    assert _core.gram_block_rows(10**6) == _core._GRAM_MIN_ROWS


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 10**10), per_chunk=st.one_of(
    st.integers(0, 2 * _core._PARTIALS_DOUBLES),
    st.sampled_from([_core._PARTIALS_DOUBLES // d + e for d in (64, 16) for e in (-1, 0, 1)])))
def test_chunks_keep_their_partial_sums_within_the_budget(n, per_chunk):
    """Where each chunk keeps many partial sums (large K and p), there are fewer chunks: as
    many as the rows allow, as long as all their partial sums fit in _PARTIALS_DOUBLES
    float64s, but never fewer than _MIN_CHUNKS (so many threads stay busy). A function of the
    shape only."""
    budget, floor = _core._PARTIALS_DOUBLES, _core._MIN_CHUNKS
    plain = max(1, min(_core._MAX_CHUNKS, -(-n // _core._MIN_CHUNK_ROWS)))
    assert _core.n_chunks_for(n, 0) == plain
    n_chunks = _core.n_chunks_for(n, per_chunk)
    assert min(plain, floor) <= n_chunks <= plain
    assert n_chunks * per_chunk <= budget or n_chunks == min(plain, floor)
    if n_chunks < plain:  # as many chunks as the budget holds
        assert (n_chunks + 1) * per_chunk > budget
    chunks, rows = _core.chunking(n, per_chunk)
    assert chunks == n_chunks and (chunks - 1) * rows < n <= chunks * rows


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_sweep_statistics_match_oracle(case, dtype, weighted):
    """The fit's pass on its own: N_k, R_k, S~_k, the entropy and the weight, each a different
    sum over the kernel's phi, against the same sums over the oracle's phi."""
    X, m0, v0, hyper, w = problem(case, dtype, weighted)
    Xk = as_kernel_array(X)
    stats = _cavi.block_statistics(Xk, _cavi.kernel_means(m0, Xk.dtype), v0,
                                   hyper["likelihood_var"], w)
    n_k, r_k, s_k, entropy, total = oracles.sweep_statistics(
        X.astype(np.float64), m0, v0, hyper["likelihood_var"], w)
    # Per-point errors average out in the sums: float32 reaches ~1e-8 of each sum's scale on
    # every path (measured; 2e-8 at worst), float64 ~1e-15. A sum accumulated in float32 over
    # a tile (~1e-6) does not.
    tol = 1e-7 if dtype == np.float32 else 1e-12
    assert_close(stats.total_weight, total, 1e-12, name="total weight")
    assert_close(stats.n_k, n_k, tol, scale=total, name="n_k")
    assert_close(stats.r_k, r_k, tol, scale=r_k.sum(), name="r_k")
    assert_close(stats.s_k, s_k, tol, scale=np.sqrt(r_k.sum() * total), name="s_k")
    assert_close(stats.entropy, entropy, tol, scale=total, name="entropy")


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", FAST_IMPLEMENTATIONS)
def test_implementations_match_oracle_every_sweep(name, case, dtype, weighted):
    X, m0, v0, hyper, w = problem(case, dtype, weighted)
    if name == "numpy" and dtype == np.float32:
        pytest.skip("the NumPy implementation computes in float64 only")
    o_means, o_vars, o_resp, o_bounds = oracles.vectorised_cavi(
        X.astype(np.float64), m0, v0, n_iter=3, sample_weight=w, **hyper)
    tol = tolerances(case, dtype)
    for n_iter in (1, 3):
        res = IMPLEMENTATIONS[name](X, m0, v0, n_iter=n_iter, sample_weight=w, **hyper)
        ref = oracles.vectorised_cavi(X.astype(np.float64), m0, v0, n_iter=n_iter,
                                      sample_weight=w, **hyper) if n_iter < 3 else (
            o_means, o_vars, o_resp, o_bounds)
        assert_close(res.lower_bounds, ref[3], tol["bounds"], name="lower_bounds")
        assert_close(res.means, ref[0], tol["means"], scale=np.abs(ref[0]).max(), name="means")
        assert_close(res.mean_vars, ref[1], tol["mean_vars"], name="mean_vars")
        assert_close(res.resp, ref[2], tol["resp"], scale=1.0, name="resp")


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("engine", ENGINES)
def test_engines_fit_and_predict_like_oracle(engine, case, dtype, weighted, tmp_path, request):
    """The estimator through every engine: the ELBO after every sweep and the fitted q(mu)
    against the oracle, then predict, predict_proba and score_samples at the fitted q(mu)."""
    if engine == "dask":
        request.getfixturevalue("dask_client")
    X, m0, v0, hyper, w = problem(case, dtype, weighted)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    gm = GaussianMixtureCAVI(m0.shape[0], means_init=m0, mean_vars_init=v0, tol=0, max_iter=3,
                             **hyper).fit(Xe, sample_weight=we)
    X64 = X.astype(np.float64)
    means, mean_vars, _, bounds = oracles.vectorised_cavi(X64, m0, v0, n_iter=3,
                                                         sample_weight=w, **hyper)
    tol = tolerances(case, dtype)
    assert_close(gm.lower_bounds_, bounds, tol["bounds"], name="lower_bounds_")
    assert_close(gm.means_, means, tol["means"], scale=np.abs(means).max(), name="means_")
    assert_close(gm.mean_vars_, mean_vars, tol["mean_vars"], name="mean_vars_")

    lam2 = hyper["likelihood_var"]
    # The oracle at the estimator's own q(mu), rounded as the kernels see it.
    m_fit = gm.means_.astype(dtype).astype(np.float64)
    resp = np.exp(oracles.log_resp(X64, m_fit, gm.mean_vars_, lam2))
    score = oracles.log_predictive(X64, m_fit, gm.mean_vars_, lam2)
    got_resp = np.asarray(gm.predict_proba(Xe))
    got_labels = np.asarray(gm.predict(Xe))
    got_score = np.asarray(gm.score_samples(Xe))
    assert got_resp.shape == resp.shape and got_labels.shape == (X.shape[0],)
    assert_close(got_resp, resp, tol["resp"], scale=1.0, name="predict_proba")
    assert_close(got_score, score, tol["score"], scale=np.abs(score).max(), name="score_samples")
    # Labels: the oracle's argmax wherever its top two responsibilities are not a near tie.
    top2 = np.sort(resp, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 10 * tol["resp"]
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(got_labels[clear], resp.argmax(axis=1)[clear])


@pytest.mark.parametrize("case", ["chunks-tiles", "chunk-cap"])
def test_float32_data_is_summed_in_float64(case):
    """float32 data: per-point values in float32, every sum over points in float64.

    Three clusters (a pair of components and an odd last one: the kernel's two paths) so far
    apart that phi is exactly 0 or 1 in float32, and weights that float32
    represents exactly: N_k is then a float64 sum of float32 numbers, exact to ~1e-16, which a
    float32 running sum (~2e-8 here) cannot match. R_k and S~_k carry only the per-point
    float32 rounding, which averages out in a float64 sum (1.3e-9 and 5e-10, measured), not in
    a float32 running sum (2.5e-8 and 2e-8 with the tile sums in float32).
    """
    N = CASES[case][0]
    rng = np.random.default_rng(7)
    labels = rng.integers(3, size=N)
    centres = np.array([[-50.0, 20.0], [50.0, -20.0], [0.0, 60.0]])
    X = (centres[labels] + rng.normal(size=(N, 2))).astype(np.float32)
    w = rng.uniform(0, 3, N).astype(np.float32).astype(np.float64)
    means = (centres + [4.0, -3.0]).astype(np.float32)  # off centre: S~_k is far from 0
    stats = _cavi.block_statistics(as_kernel_array(X), means, np.array([0.3, 0.1, 0.2]), 1.0,
                                   w)
    diff = X.astype(np.float64) - means.astype(np.float64)[labels]
    n_k = np.bincount(labels, w, minlength=3)
    r_k = np.bincount(labels, w * np.sum(diff * diff, axis=1), minlength=3)
    s_k = np.stack([np.bincount(labels, w * diff[:, j], minlength=3) for j in range(2)], 1)
    np.testing.assert_allclose(stats.n_k, n_k, rtol=1e-13)
    np.testing.assert_allclose(stats.r_k, r_k, rtol=5e-9)
    np.testing.assert_allclose(stats.s_k, s_k, rtol=5e-9)
    # phi is 0 or 1: no entropy, but for the float32 rounding of the winner's log-odds, which
    # the kernel recomputes (~1e-8 per point; it differs between a fresh compile and the
    # cached kernels: 9e-9 and 2e-10 per point measured)
    assert abs(stats.entropy) < 1e-7 * w.sum()
    assert stats.total_weight == pytest.approx(w.sum(), rel=1e-14)
