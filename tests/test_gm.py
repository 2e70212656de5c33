"""fastcavi.GaussianMixture (maximum-likelihood EM) and its fast path: against the pure-Python
reference (fastcavi.reference.em) iteration by iteration at sizes that cross every chunk and
tile boundary of the kernels, and against facts of EM (a likelihood that never falls, integer
weights as repeated rows, zero weights as dropped rows, translation), with clear errors for
degenerate data and bad starting values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastcavi.estimators.gaussian_mixture import GaussianMixture
from fastcavi.models.em import em as fast_em
from fastcavi.reference import em as R

from .bgm_problems import CASES, correlated_blobs

TYPES = ("full", "tied", "diag", "spherical")


def problem(seed, n, p, k, weighted, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = correlated_blobs(rng, n, p, k).astype(dtype)
    resp = rng.dirichlet(np.full(k, 0.7), size=n)
    w = None
    if weighted:
        w = rng.uniform(0, 3, n)
        w[rng.random(n) < 0.1] = 0.0
    return X, resp, w


def assert_same(got, want, rtol, resp_atol):
    np.testing.assert_allclose(got.bounds, want.bounds, rtol=rtol, err_msg="bounds")
    np.testing.assert_allclose(got.weights, want.weights, rtol=rtol, err_msg="weights")
    np.testing.assert_allclose(got.means, want.means, rtol=0,
                               atol=rtol * np.abs(want.means).max(), err_msg="means")
    cov_g, cov_w = np.asarray(got.covariances), np.asarray(want.covariances)
    scale = np.abs(cov_w).max()
    np.testing.assert_allclose(cov_g, cov_w, rtol=0, atol=rtol * scale, err_msg="covariances")
    np.testing.assert_allclose(got.resp, want.resp, rtol=0, atol=resp_atol, err_msg="resp")


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ctype", TYPES)
def test_small_problem_matches_the_reference(ctype, weighted):
    """One tile, one chunk; every iteration's bound, the parameters and the last r."""
    X, resp, w = problem(3, 60, 3, 3, weighted)
    want = R.em(X, resp, ctype, 1e-6, 4, sample_weight=w)
    got = fast_em(X, resp, ctype, 1e-6, 4, sample_weight=w)
    assert_same(got, want, 1e-11, 1e-11)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", ["chunks-tiles", "small-tiles", "padded-blocks"])
@pytest.mark.parametrize("ctype", TYPES)
def test_fast_matches_the_reference_across_boundaries(ctype, case, weighted, dtype):
    """At sizes that cross the kernels' chunks and tiles (tests/bgm_problems.py CASES),
    2 iterations; float32 data are fitted with float32 logits and float64 sums."""
    if dtype == np.float32 and case != "chunks-tiles":
        pytest.skip("float32 runs the same kernels: one case is enough")
    n, p, k = CASES[case]
    X, resp, w = problem(1, n, p, k, weighted, dtype)
    want = R.em(X, resp, ctype, 1e-6, 2, sample_weight=w)
    got = fast_em(X, resp, ctype, 1e-6, 2, sample_weight=w)
    if dtype == np.float64:
        assert_same(got, want, 1e-10, 1e-10)
    else:
        assert_same(got, want, 2e-4, 2e-3)


def test_float32_data_fit_with_float64_parameters():
    X, resp, _ = problem(4, 200, 2, 3, False, np.float32)
    got = fast_em(X, resp, "full", 1e-6, 2)
    assert got.means.dtype == np.float64 and got.resp.dtype == np.float32


# -- facts of EM -------------------------------------------------------------------------------

def _explicit_start(X, k, ctype, rng):
    """weights_init, means_init and precisions_init (no random start at all)."""
    p = X.shape[1]
    means = X[rng.choice(X.shape[0], k, replace=False)].astype(np.float64)
    var = X.astype(np.float64).var(axis=0)
    prec = {"full": np.array([np.diag(1.0 / var)] * k), "tied": np.diag(1.0 / var),
            "diag": np.tile(1.0 / var, (k, 1)), "spherical": np.full(k, 1.0 / var.mean())}
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means,
                precisions_init=prec[ctype]), p


@pytest.mark.parametrize("ctype", TYPES)
def test_the_likelihood_never_falls(ctype):
    rng = np.random.default_rng(5)
    X = correlated_blobs(rng, 500, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(3, covariance_type=ctype, tol=0.0, max_iter=30,
                             random_state=0).fit(X)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-12 * abs(gm.lower_bounds_[-1]))
    # the stored bound is the mean log-likelihood at the parameters the last step began from
    np.testing.assert_allclose(gm.score(X), gm.lower_bound_, rtol=1e-6)


@pytest.mark.parametrize("ctype", TYPES)
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(ctype):
    rng = np.random.default_rng(6)
    X = correlated_blobs(rng, 300, 3, 3)
    start, _ = _explicit_start(X, 3, ctype, rng)
    counts = rng.integers(0, 4, size=X.shape[0])
    kw = dict(covariance_type=ctype, tol=0.0, max_iter=8, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = GaussianMixture(3, **kw).fit(X, sample_weight=counts)
        repeated = GaussianMixture(3, **kw).fit(np.repeat(X, counts, axis=0))
        keep = counts > 0
        dropped = GaussianMixture(3, **kw).fit(X[keep], sample_weight=counts[keep])
    for other in (repeated, dropped):
        for name in ("weights_", "means_", "covariances_"):
            np.testing.assert_allclose(getattr(weighted, name), getattr(other, name),
                                       rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(weighted.lower_bounds_, other.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("ctype", TYPES)
def test_translation_moves_the_means_only(ctype):
    rng = np.random.default_rng(7)
    X = correlated_blobs(rng, 400, 2, 3)
    shift = np.array([1e3, -2e3])
    start, _ = _explicit_start(X, 3, ctype, rng)
    kw = dict(covariance_type=ctype, tol=0.0, max_iter=5, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, **kw).fit(X)
        moved = dict(kw, means_init=start["means_init"] + shift)
        b = GaussianMixture(3, **moved).fit(X + shift)
    np.testing.assert_allclose(b.means_ - shift, a.means_, atol=1e-8)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-7)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-9)


# -- degenerate data and bad starts: clear errors ----------------------------------------------

@pytest.mark.parametrize("ctype", TYPES)
def test_a_collapsed_component_is_a_clear_error_naming_it(ctype):
    X = np.vstack([np.zeros((5, 2)), np.random.default_rng(0).normal(size=(20, 2)) + 5])
    means = np.array([[0.0, 0.0], [5.0, 5.0]])
    prec = {"full": np.array([np.eye(2)] * 2), "tied": np.eye(2), "diag": np.ones((2, 2)),
            "spherical": np.ones(2)}[ctype]
    gm = GaussianMixture(2, covariance_type=ctype, reg_covar=0.0, means_init=means,
                         weights_init=[0.5, 0.5], precisions_init=prec)
    if ctype == "tied":  # the shared covariance is fine: the other component has spread
        gm.fit(X)
        return
    with pytest.raises(ValueError, match="ill-defined empirical covariance") as info:
        gm.fit(X)
    assert "component 0" in str(info.value)
    assert not hasattr(gm, "means_")


def test_all_points_equal_is_a_clear_error_for_tied():
    with pytest.raises(ValueError, match="the shared covariance"):
        GaussianMixture(2, covariance_type="tied", reg_covar=0.0,
                        init_params="random").fit(np.ones((10, 3)))


@pytest.mark.parametrize(("name", "value", "message"), [
    ("weights_init", [0.5, 0.6], "should be normalized"),
    ("weights_init", [0.5, 0.3, 0.2], r"'weights' should have the shape of \(2,\)"),
    ("weights_init", [1.5, -0.5], r"should be in the range \[0, 1\]"),
    ("means_init", np.zeros((3, 2)), r"'means' should have the shape of \(2, 2\)"),
    ("precisions_init", np.array([np.eye(2), -np.eye(2)]), "symmetric, positive-definite"),
    ("precisions_init", np.eye(2), r"'full precision' should have the shape"),
])
def test_bad_starting_values_are_scikit_learns_errors(name, value, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **{name: value}).fit(X)




def test_responsibilities_sum_to_one_far_from_every_component():
    """Points equally far (squared distance about 1e14) from two equal components: the
    log-densities are about -5e13, and their differences from log p(x) would carry round-off
    of order 1e-2; the responsibilities are normalised directly instead."""
    X = np.random.default_rng(8).normal(size=(50, 2))
    gm = GaussianMixture(2, covariance_type="spherical", weights_init=[0.5, 0.5],
                         means_init=[[-5.0, 0.0], [5.0, 0.0]], precisions_init=[1.0, 1.0],
                         max_iter=0).fit(X)
    far = np.c_[np.zeros(100), np.linspace(1e7, 2e7, 100)]
    proba = gm.predict_proba(far)
    np.testing.assert_allclose(proba, 0.5, rtol=1e-12)


def test_a_warm_start_on_other_shapes_is_a_clear_error():
    X = np.random.default_rng(9).normal(size=(40, 2))
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="warm_start=True continues the last fit"):
        gm.fit(np.c_[X, X])
    with pytest.raises(ValueError, match="n_components=3"):
        gm.set_params(n_components=3).fit(X)
    assert gm.means_.shape == (2, 2)
