"""GaussianMixtureCAVI on Dask arrays: the same fit as in memory, on a real 2-process
dask.distributed LocalCluster (one for the session: ``dask_client`` in conftest.py) and on the
no-client streaming engine."""

import dask
import dask.array as da
import numpy as np
import pytest

from fastcavi import GaussianMixtureCAVI
from fastcavi.data import dask as _dask

HYPER = dict(prior_mean=0.5, prior_var=40.0, likelihood_var=1.2)


def blobs(seed, n=24_000, p=3, K=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (K, p))
    return centres[rng.integers(K, size=n)] + rng.normal(size=(n, p))


def assert_same_fit(a, b, rtol=1e-10):
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=rtol)
    np.testing.assert_allclose(b.means_, a.means_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(b.mean_vars_, a.mean_vars_, rtol=rtol)
    assert b.n_iter_ == a.n_iter_


@pytest.mark.slow
def test_explicit_start_matches_in_memory(dask_client):
    X = blobs(0)
    # uneven row chunks, and column chunks that the fit must merge
    Xd = da.from_array(X, chunks=((5000, 7000, 3000, 9000), (2, 1)))
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=15, **HYPER)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(Xd)
    assert_same_fit(a, b)
    assert b.n_features_in_ == 3


@pytest.mark.slow
@pytest.mark.parametrize("init_params", ["kmeans++", "random", "random_from_data"])
def test_defaults_match_in_memory(dask_client, init_params):
    """Default hyperparameters (Dask reductions) and the initialisation (the same subsample
    rows, drawn from the same random state) agree with the in-memory fit."""
    X = blobs(1)
    Xd = da.from_array(X, chunks=6000)
    kw = dict(n_components=4, init_params=init_params, random_state=0, tol=0, max_iter=10)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(Xd)
    np.testing.assert_allclose(b.prior_mean_, a.prior_mean_, rtol=1e-12)
    assert b.prior_var_ == pytest.approx(a.prior_var_, rel=1e-12)
    assert b.likelihood_var_ == a.likelihood_var_
    assert_same_fit(a, b)


@pytest.mark.slow
def test_converges_like_in_memory(dask_client):
    X = blobs(2)
    a = GaussianMixtureCAVI(4, random_state=0, n_init=2).fit(X)
    b = GaussianMixtureCAVI(4, random_state=0, n_init=2).fit(da.from_array(X, chunks=8000))
    assert a.converged_ and b.converged_
    assert_same_fit(a, b)


@pytest.mark.slow
def test_large_p_blas_path_matches_in_memory(dask_client):
    """p >= 16 and K >= 8 take the BLAS sweep (warmed on the workers for that shape class)."""
    X = blobs(7, n=6000, p=16, K=8)
    kw = dict(n_components=8, means_init=X[:8], tol=0, max_iter=6, **HYPER)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=2500))
    assert_same_fit(a, b)


@pytest.mark.slow
def test_float32_stays_float32(dask_client):
    X = blobs(3).astype(np.float32)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=10, **HYPER)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(da.from_array(X, chunks=5000))
    assert_same_fit(a, b, rtol=1e-5)
    assert b.predict_proba(da.from_array(X, chunks=5000)).dtype == np.float32


@pytest.mark.slow
def test_no_client_streams_the_blocks_identically(dask_client, monkeypatch):
    """Without a distributed client the blocks stream through this process; the statistics are
    summed in the same block order, so the fit is bit-identical to the cluster's."""
    X = blobs(4)
    Xd = da.from_array(X, chunks=7000)
    kw = dict(n_components=4, means_init=X[:4], tol=0, max_iter=8, **HYPER)
    w = np.random.default_rng(0).uniform(0, 2, X.shape[0])
    on_cluster = GaussianMixtureCAVI(**kw).fit(Xd, sample_weight=w)
    monkeypatch.setattr(_dask, "current_client", lambda: None)
    with dask.config.set(scheduler="threads"):
        local = GaussianMixtureCAVI(**kw).fit(Xd, sample_weight=w)
    np.testing.assert_array_equal(local.lower_bounds_, on_cluster.lower_bounds_)
    np.testing.assert_array_equal(local.means_, on_cluster.means_)


@pytest.mark.slow
def test_predict_on_dask_arrays(dask_client):
    X = blobs(5, n=9000)
    gm = GaussianMixtureCAVI(4, means_init=X[:4], **HYPER).fit(X)
    Xd = da.from_array(X, chunks=(2500, 1))
    labels = gm.predict(Xd)
    assert isinstance(labels, da.Array) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels.compute(), gm.predict(X))
    proba = gm.predict_proba(Xd)
    assert proba.shape == (9000, 4)
    np.testing.assert_allclose(proba.compute(), gm.predict_proba(X), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(gm.score_samples(Xd).compute(), gm.score_samples(X),
                               rtol=1e-12)
    assert gm.score(Xd) == pytest.approx(gm.score(X), rel=1e-12)
    with pytest.raises(ValueError, match="2 features, but GaussianMixtureCAVI is expecting 3"):
        gm.predict(Xd[:, :2])
    fp = GaussianMixtureCAVI(4, means_init=X[:4], **HYPER).fit_predict(Xd)
    np.testing.assert_array_equal(fp.compute(), labels.compute())


@pytest.mark.slow
def test_predict_after_set_params_uses_the_fitted_k(dask_client):
    """set_params(n_components=5) on a model fitted with K = 3: on a Dask array, as in memory,
    the responsibilities have the fitted K = 3 columns, declared and computed, and are equal
    (bit for bit: one predict path for both engines)."""
    X = blobs(6, n=6000, K=3)
    gm = GaussianMixtureCAVI(3, random_state=0, **HYPER).fit(X)
    gm.set_params(n_components=5)
    Xd = da.from_array(X, chunks=(2500, -1))
    for dask_result, in_memory in ((gm.predict_proba(Xd), gm.predict_proba(X)),
                                   (gm.predict(Xd), gm.predict(X)),
                                   (gm.score_samples(Xd), gm.score_samples(X))):
        assert dask_result.shape == in_memory.shape
        assert dask_result.dtype == in_memory.dtype
        computed = dask_result.compute()
        assert computed.shape == in_memory.shape
        np.testing.assert_array_equal(computed, in_memory)
    assert gm.predict_proba(X).shape == (6000, 3)
    with dask.config.set(scheduler="synchronous"):  # the no-client engine too
        np.testing.assert_array_equal(gm.predict_proba(Xd).compute(scheduler="synchronous"),
                                      gm.predict_proba(X))


@pytest.mark.slow
def test_validation(dask_client):
    X = blobs(6, n=4000)
    gm = GaussianMixtureCAVI(4, means_init=X[:4], max_iter=2, tol=0, **HYPER)
    bad = X.copy()
    bad[3100, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(da.from_array(bad, chunks=1000))
    bad[3100, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        gm.fit(da.from_array(bad, chunks=1000))
    assert not hasattr(gm, "means_")  # a failed fit leaves the estimator as it was
    with pytest.raises(ValueError, match="2-D"):
        gm.fit(da.from_array(X[:, 0], chunks=1000))
    with pytest.raises(ValueError, match="Complex"):
        gm.fit(da.from_array(X.astype(complex), chunks=1000))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.fit(da.from_array(X[:3], chunks=2))
    Xd = da.from_array(X, chunks=1000)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        gm.fit(Xd[Xd[:, 0] > 0])
    # integer data are fitted in float64, as in memory
    Xi = np.round(X * 10).astype(np.int64)
    a = GaussianMixtureCAVI(4, means_init=Xi[:4], max_iter=3, tol=0, **HYPER).fit(Xi)
    b = GaussianMixtureCAVI(4, means_init=Xi[:4], max_iter=3, tol=0, **HYPER).fit(
        da.from_array(Xi, chunks=1500))
    assert_same_fit(a, b)


def threads_used(X, w):
    """A block function: the Numba threads its task runs with."""
    import numba

    return numba.get_num_threads()


@pytest.mark.slow
def test_tasks_share_the_cores(dask_client):
    """Numba threads x Dask threads per host stay within the host's cores (both workers of
    the LocalCluster share this machine)."""
    X = blobs(8, n=3000)
    source = _dask.DaskSource(da.from_array(X, chunks=500), None)
    used = source.map(threads_used)
    assert len(used) == 6
    assert all(1 <= n <= max(1, _dask._usable_cores() // 2) for n in used), used


@pytest.mark.parametrize("case", ["offset", "identical", "huge", "weighted"])
def test_default_moments_match_in_memory_on_extreme_data(case):
    """The data-driven defaults come from one map-reduce over row blocks for both engines, so
    Dask data get the same care as in-memory data: exact means at an offset, exactly zero
    variance for identical points, no overflow at 1e152 (no cluster needed: the default
    scheduler computes the blocks)."""
    from fastcavi._validation import as_kernel_array
    from fastcavi.data.defaults import moments
    from fastcavi.data.sources import ArraySource

    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 2))
    w = None
    if case == "offset":
        X = X + 1e8
    elif case == "identical":
        X = np.full((3000, 2), 0.1)
    elif case == "huge":
        X = X * 1e152
    else:
        w = rng.uniform(0, 2, 3000)
    m = moments(ArraySource(as_kernel_array(X), w))
    mean, var = m.mean, m.mean_var
    dw = None if w is None else da.from_array(w, chunks=700)
    dm = moments(_dask.DaskSource(da.from_array(X, chunks=(700, 2)), dw))
    dmean, dvar = dm.mean, dm.mean_var
    # Block order differs between engines: compare the mean on the scale of the spread.
    np.testing.assert_allclose(dmean, mean, rtol=1e-15, atol=1e-14 * np.ptp(X))
    assert np.isfinite(dvar)
    if case == "identical":
        assert var == dvar == 0.0
    else:
        assert dvar == pytest.approx(var, rel=1e-12)


@pytest.mark.slow
def test_standardize_matches_in_memory(dask_client, monkeypatch):
    """standardize=True on a Dask array (streamed, no client): the same centre, scale and fit
    as in memory, and predict standardises Dask input lazily."""
    X = blobs(6, n=6000) * np.array([1.0, 100.0, 0.01])
    kw = dict(n_components=4, standardize=True, random_state=0, max_iter=20)
    mem = GaussianMixtureCAVI(**kw).fit(X)
    monkeypatch.setattr(_dask, "current_client", lambda: None)
    with dask.config.set(scheduler="threads"):
        Xd = da.from_array(X, chunks=2000)
        lazy = GaussianMixtureCAVI(**kw).fit(Xd)
        np.testing.assert_allclose(lazy.center_, mem.center_, rtol=1e-12)
        np.testing.assert_allclose(lazy.scale_, mem.scale_, rtol=1e-12)
        assert_same_fit(mem, lazy, rtol=1e-8)
        np.testing.assert_array_equal(lazy.predict(Xd).compute(), mem.predict(X))
