"""GaussianMixture (maximum-likelihood EM) through every engine of fastcavi._registry.ENGINES
(an array in memory, a memory-mapped .npy, a Dask array on the session's LocalCluster) and the
Dask engine without a client (blocks streamed through this process): the fit in memory, with
and without sample weights, from every start.

A memory-mapped .npy is read in place through the same blocks as the array in memory: the fit
is bit-identical. A Dask array's statistics are summed block by block (its row chunks, not the
kernels' own blocks), and the workers run kernels loaded from the on-disk cache: the fit agrees
to rounding (rel 1e-10), the same iterations, and the same labels."""

import numpy as np
import pytest

from fastcavi import GaussianMixture
from fastcavi._registry import ENGINES

from .bgm_problems import data

TYPES = ("full", "tied", "diag", "spherical")
STARTS = ("kmeans", "k-means++", "random", "random_from_data")
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def problem(ctype, weighted, n=5003, p=3, k=4):
    rng = np.random.default_rng(21)
    X = data(rng, n, p, k, ctype)
    w = None
    if weighted:
        w = rng.uniform(0, 2, n)
        w[::10] = 0.0
    return X, w


def assert_same_fit(got, want, exact):
    assert got.n_iter_ == want.n_iter_ and got.converged_ == want.converged_
    assert got.n_features_in_ == want.n_features_in_
    if exact:
        for name in FITTED:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name),
                                          err_msg=name)
        assert got.lower_bounds_ == want.lower_bounds_
        return
    for name in FITTED:
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=1e-12)


def engine_params():
    """memory and memmap in the quick run; Dask starts a cluster: in the full run only."""
    return [e if e != "dask" else pytest.param(e, marks=pytest.mark.slow) for e in ENGINES]


# every type with the default start, and every other start with one type
CASES = [(t, "kmeans") for t in TYPES] + [("full", "k-means++"), ("diag", "random"),
                                          ("tied", "random_from_data")]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("ctype", "init_params"), CASES)
@pytest.mark.parametrize("engine", engine_params())
def test_every_engine_fits_as_in_memory(engine, ctype, init_params, weighted, tmp_path,
                                        request):
    if engine == "dask":
        request.getfixturevalue("dask_client")
    X, w = problem(ctype, weighted)
    kw = dict(n_components=4, covariance_type=ctype, init_params=init_params, random_state=3,
              max_iter=300)  # one start: two can end at the same optimum, tied to rounding
    want = GaussianMixture(**kw).fit(X, sample_weight=w)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    got = GaussianMixture(**kw).fit(Xe, sample_weight=we)
    assert want.converged_
    assert_same_fit(got, want, exact=engine != "dask")
    labels = got.predict(Xe)
    if engine == "dask":
        import dask.array as da

        assert isinstance(labels, da.Array)
        labels = labels.compute()
    np.testing.assert_array_equal(labels, want.predict(X))


@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["full", "diag"])
def test_dask_without_a_client_streams_as_the_cluster(ctype, dask_client, monkeypatch):
    """No dask.distributed client: the blocks are computed and summed in this process, in
    the cluster's order; float32 data stay float32 (attributes included, as in memory)."""
    import dask
    import dask.array as da

    from fastcavi.data import dask as _dask

    X, w = problem(ctype, True)
    X = X.astype(np.float32)
    kw = dict(n_components=4, covariance_type=ctype, random_state=0)
    want = GaussianMixture(**kw).fit(X, sample_weight=w)
    Xd, wd = da.from_array(X, chunks=(1999, 3)), da.from_array(w, chunks=1500)
    on_cluster = GaussianMixture(**kw).fit(Xd, sample_weight=wd)
    monkeypatch.setattr(_dask, "current_client", lambda: None)
    with dask.config.set(scheduler="threads"):
        streamed = GaussianMixture(**kw).fit(Xd, sample_weight=wd)
    for got in (on_cluster, streamed):
        assert got.means_.dtype == np.float32
        assert got.n_iter_ == want.n_iter_
        np.testing.assert_allclose(got.means_, want.means_, rtol=1e-5)
        np.testing.assert_allclose(got._params_.means, want._params_.means, rtol=1e-9)
        np.testing.assert_array_equal(got.predict(Xd).compute(), want.predict(X))
    np.testing.assert_allclose(streamed.lower_bounds_, on_cluster.lower_bounds_, rtol=1e-14)
