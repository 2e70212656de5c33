"""sample_weight on every engine: point i counts w_i times (N_k = sum_i w_i phi_ik; T2, T3 and
T5 weighted), so integer weights equal repeated rows and a zero weight equals a dropped row."""

import re

import numpy as np
import pytest

from fastcavi import GaussianMixtureCAVI

KW = dict(n_components=3, prior_mean=0.0, prior_var=50.0, likelihood_var=1.3, tol=0,
          max_iter=10)


def blobs(seed, n=3000, p=2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 7, (3, p))
    return centres[rng.integers(3, size=n)] + rng.normal(size=(n, p))


def as_dask(X, w, kind):
    """The same data as a Dask array, with the weights as NumPy or as a Dask array chunked
    differently from X (the fit rechunks them to X's rows)."""
    import dask.array as da

    Xd = da.from_array(X, chunks=700)
    if kind == "dask-weights" and w is not None:
        w = da.from_array(w, chunks=1100)
    return Xd, w


ENGINES = ["memory", "dask", "dask-weights"]
# the Dask engines start a local cluster: in the full run only
ENGINE_PARAMS = [e if e == "memory" else pytest.param(e, marks=pytest.mark.slow) for e in ENGINES]


def fit(engine, request, X, w=None, **kw):
    gm = GaussianMixtureCAVI(**dict(KW, **kw))
    if engine == "memory":
        return gm.fit(X, sample_weight=w)
    request.getfixturevalue("dask_client")
    Xd, wd = as_dask(X, w, engine)
    return gm.fit(Xd, sample_weight=wd)


def assert_same_fit(a, b):
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-10)
    np.testing.assert_allclose(b.mean_vars_, a.mean_vars_, rtol=1e-10)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_integer_weights_equal_repeated_rows(engine, request):
    X = blobs(0)
    w = np.random.default_rng(1).integers(0, 4, X.shape[0])
    m0 = X[w > 0][:3]
    weighted = fit(engine, request, X, w.astype(float), means_init=m0)
    repeated = GaussianMixtureCAVI(**KW, means_init=m0).fit(np.repeat(X, w, axis=0))
    assert_same_fit(repeated, weighted)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_zero_weight_equals_dropping_the_row(engine, request):
    X = blobs(2)
    keep = np.random.default_rng(3).random(X.shape[0]) < 0.7
    m0 = X[keep][:3]
    weighted = fit(engine, request, X, keep.astype(float), means_init=m0)
    dropped = GaussianMixtureCAVI(**KW, means_init=m0).fit(X[keep])
    assert_same_fit(dropped, weighted)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["dask", "dask-weights"])
def test_weighted_defaults_match_in_memory(engine, request):
    """The weighted defaults and k-means++ start (subsample of positive-weight rows) are the
    same on every engine."""
    X = blobs(4)
    w = np.random.default_rng(5).uniform(0, 3, X.shape[0]) * (np.arange(X.shape[0]) % 3 > 0)
    kw = dict(n_components=3, random_state=0, tol=0, max_iter=10)
    a = GaussianMixtureCAVI(**kw).fit(X, sample_weight=w)
    b = fit(engine, request, X, w, prior_mean=None, prior_var=None, likelihood_var=None, **kw)
    np.testing.assert_allclose(b.prior_mean_, a.prior_mean_, rtol=1e-12)
    assert b.prior_var_ == pytest.approx(a.prior_var_, rel=1e-12)
    assert b.likelihood_var_ == a.likelihood_var_
    assert_same_fit(a, b)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
@pytest.mark.parametrize("bad, word", [(-1.0, "negative"), (np.nan, "finite|nan"),
                                       (np.inf, "finite|inf")])
def test_bad_weights_are_refused(engine, request, bad, word):
    X = blobs(6, n=1500)
    w = np.ones(X.shape[0])
    w[1234] = bad
    with pytest.raises(ValueError, match="sample_weight") as err:
        fit(engine, request, X, w, means_init=X[:3])
    assert re.search(word, str(err.value), re.IGNORECASE)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_weight_shape_and_zero_sum_are_refused(engine, request):
    X = blobs(7, n=1500)
    with pytest.raises(ValueError, match="sample_weight"):
        fit(engine, request, X, np.ones(X.shape[0] - 1), means_init=X[:3])
    with pytest.raises(ValueError, match="sample_weight"):
        fit(engine, request, X, np.zeros(X.shape[0]), means_init=X[:3])
