"""fastcavi.GaussianMixture against scikit-learn's GaussianMixture, the independent oracle: from
the same start (every init_params, given weights/means/precisions, warm starts, several
starts) the same fit: parameters to 1e-8, the same n_iter_, converged_, bounds, BIC and AIC,
predictions and samples."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGM

from fastcavi.estimators.gaussian_mixture import GaussianMixture

from .bgm_problems import correlated_blobs

TYPES = ("full", "tied", "diag", "spherical")
INITS = ("kmeans", "k-means++", "random", "random_from_data")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def blobs(seed=0, n=600, p=3, k=3):
    return correlated_blobs(np.random.default_rng(seed), n, p, k)


def fit_both(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SkGM(**kw).fit(X), GaussianMixture(**kw).fit(X)


def assert_same_fit(ours, theirs, X, rtol=1e-8):
    for name in FITTED:
        want = np.asarray(getattr(theirs, name))
        np.testing.assert_allclose(getattr(ours, name), want, rtol=rtol,
                                   atol=rtol * np.abs(want).max(), err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-10)
    # The first bound after a one-point start (covariances = reg_covar) is a sum of huge
    # squared distances, which scikit-learn's diag and spherical log-densities form expanded
    # (x^2 P - 2 x mu P + mu^2 P), losing digits; fastcavi's (x - mu)^2 P does not (checked
    # against long double arithmetic), so that one is compared at 1e-6.
    np.testing.assert_allclose(ours.lower_bounds_[:1], theirs.lower_bounds_[:1], rtol=1e-6)
    np.testing.assert_allclose(ours.lower_bounds_[1:], theirs.lower_bounds_[1:], rtol=1e-10)
    assert ours.n_features_in_ == theirs.n_features_in_
    np.testing.assert_allclose(ours.bic(X), theirs.bic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.aic(X), theirs.aic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-9)
    assert np.array_equal(ours.predict(X), theirs.predict(X))


def test_default_fit_equals_scikit_learns():
    X = blobs()
    assert_same_fit(*fit_both(X, n_components=3, random_state=0)[::-1], X)


@pytest.mark.slow
@pytest.mark.parametrize("init_params", INITS)
@pytest.mark.parametrize("ctype", TYPES)
def test_every_type_and_start_equals_scikit_learns(ctype, init_params):
    X = blobs(1, p=2)
    theirs, ours = fit_both(X, n_components=4, covariance_type=ctype, init_params=init_params,
                            random_state=3, max_iter=300, tol=1e-6)
    assert_same_fit(ours, theirs, X)
    assert np.array_equal(ours.fit_predict(X), theirs.fit_predict(X))


@pytest.mark.parametrize("ctype", TYPES)
def test_a_run_stopped_by_max_iter_equals_scikit_learns_and_warns(ctype):
    X = blobs(2)
    kw = dict(n_components=3, covariance_type=ctype, init_params="random", random_state=0,
              max_iter=3, tol=1e-9)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ours = GaussianMixture(**kw).fit(X)
    theirs = fit_both(X, **kw)[0]
    assert_same_fit(ours, theirs, X)
    assert not ours.converged_


@pytest.mark.slow
@pytest.mark.parametrize("given", ["weights", "means", "precisions", "all"])
@pytest.mark.parametrize("ctype", TYPES)
def test_given_starting_values_equal_scikit_learns(ctype, given):
    X = blobs(3, p=2)
    rng = np.random.default_rng(0)
    k, p = 3, 2
    a = rng.normal(size=(k, p, p))
    full = np.einsum("kij,klj->kil", a, a) + np.eye(p)
    values = {"weights_init": np.array([0.2, 0.3, 0.5]),
              "means_init": X[rng.choice(len(X), k, replace=False)],
              "precisions_init": {"full": full, "tied": full[0],
                                  "diag": rng.uniform(0.5, 2, (k, p)),
                                  "spherical": rng.uniform(0.5, 2, k)}[ctype]}
    kw = values if given == "all" else {f"{given}_init": values[f"{given}_init"]}
    theirs, ours = fit_both(X, n_components=k, covariance_type=ctype, random_state=1, **kw)
    assert_same_fit(ours, theirs, X)


@pytest.mark.slow
@pytest.mark.parametrize("ctype", TYPES)
def test_several_starts_keep_scikit_learns_best(ctype):
    X = blobs(4, p=2, k=4)
    theirs, ours = fit_both(X, n_components=4, covariance_type=ctype, n_init=3,
                            init_params="random_from_data", random_state=5)
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("ctype", TYPES)
def test_warm_start_continues_as_scikit_learns(ctype):
    X = blobs(5)
    kw = dict(n_components=3, covariance_type=ctype, warm_start=True, max_iter=2,
              random_state=0, tol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs, ours = SkGM(**kw), GaussianMixture(**kw)
        for _ in range(3):
            theirs.fit(X)
            ours.fit(X)
            assert_same_fit(ours, theirs, X)


def test_max_iter_zero_keeps_the_start_as_scikit_learns():
    X = blobs(6)
    theirs, ours = fit_both(X, n_components=3, max_iter=0, random_state=0, n_init=2)
    for name in FITTED:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-10)
    assert ours.n_iter_ == theirs.n_iter_ == 0 and ours.lower_bound_ == -np.inf
    assert ours.lower_bounds_ == [] and not ours.converged_


@pytest.mark.parametrize("ctype", TYPES)
def test_samples_are_scikit_learns(ctype):
    X = blobs(7)
    theirs, ours = fit_both(X, n_components=3, covariance_type=ctype, random_state=2)
    xs, ys = ours.sample(500)
    xt, yt = theirs.sample(500)
    assert np.array_equal(ys, yt)
    np.testing.assert_allclose(xs, xt, rtol=1e-6, atol=1e-6)


def test_verbose_output_is_scikit_learns():
    X = blobs(8)
    kw = dict(n_components=3, random_state=0, verbose=1, verbose_interval=1, n_init=2)
    out = []
    for cls in (SkGM, GaussianMixture):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            cls(**kw).fit(X)
        out.append(buf.getvalue())
    assert out[0] == out[1]


@pytest.mark.slow
def test_bic_chooses_the_number_of_components_as_scikit_learn_does():
    X = blobs(9, n=900, p=2, k=3)
    bics = []
    for cls in (SkGM, GaussianMixture):
        bics.append([cls(n_components=k, random_state=0).fit(X).bic(X) for k in range(1, 6)])
    np.testing.assert_allclose(bics[1], bics[0], rtol=1e-9)
    assert int(np.argmin(bics[1])) == int(np.argmin(bics[0]))


def test_float32_data_fit_close_to_scikit_learns():
    X = blobs(10).astype(np.float32)
    theirs, ours = fit_both(X, n_components=3, random_state=0)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_one_point_starts_far_from_the_origin_fit_as_scikit_learns(init_params):
    """Integer data at scale 1e6: a one-point start's covariance is reg_covar (to the 10 eps
    scikit-learn adds to each count; sums about the data's mean lost it to round-off of order
    1e-2, and the fit was refused)."""
    X = np.round(blobs(11, n=300) * 2) * 1e6
    kw = dict(n_components=3, init_params=init_params, reg_covar=1e-3, random_state=716)
    start = GaussianMixture(max_iter=0, **kw).fit(X)
    np.testing.assert_allclose(start.covariances_, np.array([1e-3 * np.eye(3)] * 3),
                               rtol=1e-10, atol=1e-13)
    theirs, ours = fit_both(X, max_iter=3, **kw)
    for name in ("weights_", "means_", "covariances_"):
        want = getattr(theirs, name)
        np.testing.assert_allclose(getattr(ours, name), want, rtol=1e-8,
                                   atol=1e-8 * np.abs(want).max(), err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_


def test_diag_with_many_features_equals_scikit_learns(monkeypatch):
    """Diagonal precisions' BLAS path (the squares expanded about the means' centroid, two
    products per block of rows): the same fit as scikit-learn's, at a size whose two chunks end
    inside a block. float64 takes the path only from 64 components, where the fit against
    scikit-learn's is not a stable comparison, so the path is asked for at K = 4 (its
    arithmetic does not depend on K)."""
    from fastcavi.kernels import core
    from fastcavi.models import family_fit

    n, p = 2101, family_fit.DIAG_BLAS_MIN_FEATURES + 1
    assert not family_fit.diag_uses_blas(p, 4, np.float64)
    monkeypatch.setattr(family_fit, "DIAG_BLAS_MIN_COMPONENTS_FLOAT64", 1)
    assert family_fit.diag_uses_blas(p, 4, np.float64)
    n_chunks = core.n_chunks_for(n, 4 * (2 * p + 1) + 2)
    chunk = -(-n // n_chunks)
    assert n_chunks == 2 and chunk % core.gram_block_rows(4) and n % chunk
    X = blobs(8, n=n, p=p, k=4)
    theirs, ours = fit_both(X, n_components=4, covariance_type="diag", random_state=2,
                            max_iter=20, tol=1e-6)
    assert_same_fit(ours, theirs, X)


def test_tied_blas_path_equals_scikit_learns():
    """The tied BLAS path (the rows' scatter about the means' centroid in float64): the same
    fit as scikit-learn's, at a size whose chunks end inside a block, from the fewest features
    that take it."""
    from fastcavi.kernels import core
    from fastcavi.models import family_full_fit

    n, p, k = 2101, family_full_fit.TIED_BLAS_MIN_FEATURES["float64"], 4
    assert family_full_fit.tied_uses_blas(p, k, np.float64)
    assert not family_full_fit.tied_uses_blas(p - 1, k, np.float64)
    n_chunks = core.n_chunks_for(n, k * (p + 1) + p * p + 2)
    chunk = -(-n // n_chunks)
    assert n_chunks > 1 and chunk % core.gram_block_rows(k) and n % chunk
    X = blobs(8, n=n, p=p, k=k)
    theirs, ours = fit_both(X, n_components=k, covariance_type="tied", random_state=2,
                            max_iter=20, tol=1e-6)
    assert_same_fit(ours, theirs, X)
