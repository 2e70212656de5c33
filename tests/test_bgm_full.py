"""What only matrix precisions (fastcavi.BayesianGaussianMixture's full and tied) have: 'full'
is scikit-learn's model exactly (every fitted attribute, the Cholesky factors of the precisions
included), tied's degrees of freedom count every point once, and a Psi that is not positive
definite is a clear error. Every covariance type's common tests (the reference and the oracle
at sizes that cross each kernel's chunks, tiles and 4 x 4 blocks, the estimator, the facts of
the model) are in test_bgm.py; the small problem below stays here because tests/test_nojit.py
runs it without the JIT."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from fastcavi import BayesianGaussianMixture
from fastcavi.kernels import core as _core
from fastcavi.models import family_full_fit
from fastcavi.models.family_fit import cavi as fast_cavi
from fastcavi.models.family_full_fit import tied_uses_blas
from fastcavi.models.names import MATRIX_TYPES
from fastcavi.reference import family as F

from .bgm_problems import (
    CASES,
    PRIORS,
    TOL32,
    TYPES,
    assert_result,
    correlated_blobs,
    hyper_for,
    oracle_result,
    problem,
)


def force_tied_path(monkeypatch, blas):
    """Send every tied pass to the BLAS path (``blas``) or to the direct kernel, whatever the
    shape: each is tested where the other would be taken."""
    for table in (family_full_fit.TIED_BLAS_MIN_FEATURES,
                  family_full_fit.TIED_BLAS_MIN_COMPONENTS):
        for name in list(table):
            monkeypatch.setitem(table, name, 0 if blas else 1 << 30)


@pytest.mark.parametrize("p", [3, 9])
@pytest.mark.parametrize(("ctype", "tied_path"), [
    (c, None) for c in TYPES if c != "tied"] + [("tied", "direct"), ("tied", "blas")])
def test_small_problem_matches_the_reference(ctype, tied_path, p, monkeypatch):
    """One tile, one chunk: small enough to run the kernel bodies as plain Python too
    (tests/test_nojit.py), the matrix kernels' 4 x 4 blocks included (p = 9); every type, so
    that the per-variance kernels run there as well, and tied by both its paths."""
    if tied_path is not None:
        force_tied_path(monkeypatch, tied_path == "blas")
    X, resp, hyper, w = problem(11, 60, p, 3, ctype, "dirichlet_process", True)
    prior = F.Prior(**hyper)
    assert_result(fast_cavi(X, resp, prior, 2, sample_weight=w),
                  F.cavi(X, resp, prior, 2, sample_weight=w), 1e-10, 1e-11)


def _sk_and_ours(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianGaussianMixture(**kw).fit(X), SkBGM(**kw).fit(X)


@pytest.mark.slow
@pytest.mark.parametrize("wtype", PRIORS)
@pytest.mark.parametrize(("init_params", "reg_covar"), [("random", 0.0), ("kmeans", 1e-6)])
def test_full_equals_scikit_learn(wtype, init_params, reg_covar):
    """From the same integer random_state: every fitted attribute after 1, 10 and 100
    iterations, and the same n_iter_ at the default tol (scikit-learn's lower_bound_ is our
    exact ELBO less a constant)."""
    X = correlated_blobs(np.random.default_rng(20), 400, 3, 3)
    kw = dict(n_components=4, covariance_type="full", weight_concentration_prior_type=wtype,
              init_params=init_params, reg_covar=reg_covar, random_state=5)
    for n_iter in (1, 10, 100):
        ours, theirs = _sk_and_ours(X, max_iter=n_iter, tol=0.0, **kw)
        assert ours.n_iter_ == theirs.n_iter_ == n_iter
        for name in ("means_", "covariances_", "precisions_", "precisions_cholesky_", "weights_",
                     "degrees_of_freedom_", "mean_precision_", "covariance_prior_"):
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-8,
                                       atol=1e-12, err_msg=f"{name} after {n_iter}")
        for a, b in zip(np.atleast_2d(ours.weight_concentration_),
                        np.atleast_2d(theirs.weight_concentration_)):
            np.testing.assert_allclose(a, b, rtol=1e-8)
        if reg_covar == 0.0:
            diff = np.asarray(ours.lower_bounds_) - np.asarray(theirs.lower_bounds_)
            assert np.ptp(diff) < 1e-9 * np.abs(ours.lower_bounds_).max()
    ours, theirs = _sk_and_ours(X, **kw)
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8)
    ours.random_state = theirs.random_state = 3
    for a, b in zip(ours.sample(500), theirs.sample(500)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_tied_counts_every_point_once_in_its_degrees_of_freedom():
    """tied: nu = n0 + sum_k N_k, the exact update (scikit-learn's is n0 + N / K)."""
    X = correlated_blobs(np.random.default_rng(21), 500, 3, 3)
    w = np.random.default_rng(0).uniform(0, 2, len(X))
    gm = BayesianGaussianMixture(n_components=3, covariance_type="tied", random_state=0,
                                 degrees_of_freedom_prior=4.5).fit(X, sample_weight=w)
    assert np.ndim(gm.degrees_of_freedom_) == 0
    np.testing.assert_allclose(gm.degrees_of_freedom_, 4.5 + w.sum(), rtol=1e-13)
    assert gm.covariances_.shape == gm.precisions_.shape == gm.precisions_cholesky_.shape \
        == (3, 3)
    np.testing.assert_allclose(gm.precisions_ @ gm.covariances_, np.eye(3), atol=1e-10)


def test_tied_takes_the_blas_path_where_it_was_measured_faster():
    """float64 from 8 features or 8 components; float32 from 12 features or 16 components
    (family_full_fit's comment has the measurements)."""
    for p, k, f32, f64 in [(2, 7, False, False), (7, 2, False, False), (2, 8, False, True),
                           (8, 2, False, True), (11, 15, False, True), (12, 2, True, True),
                           (2, 16, True, True), (128, 1, True, True)]:
        assert tied_uses_blas(p, k, np.float32) == f32, (p, k)
        assert tied_uses_blas(p, k, np.float64) == f64, (p, k)


def _tied_blas_problem(n, p, k, dtype, weighted, spread):
    """Correlated clusters ``spread`` apart, far from the origin, the start's responsibilities
    near the clusters' labels (so that the means are as far apart as the clusters from the
    first pass), weights with zeros."""
    rng = np.random.default_rng(n + p + k)
    centres = rng.normal(scale=spread, size=(k, p)) + rng.normal(0, 8 * spread, p)
    mix = rng.normal(scale=0.5, size=(p, p)) + np.eye(p)
    labels = rng.integers(k, size=n)
    X = (centres[labels] + rng.normal(size=(n, p)) @ mix.T).astype(dtype)
    resp = 0.02 * rng.dirichlet(np.ones(k), size=n)
    resp[np.arange(n), labels] += 0.98
    hyper = hyper_for(rng, p, "tied", "dirichlet_process")
    hyper["mean_prior"] = hyper["mean_prior"] + X.astype(np.float64).mean(axis=0)
    w = None
    if weighted:
        w = rng.uniform(0, 3, n)
        w[rng.random(n) < 0.1] = 0.0
    return X, resp, hyper, w


@pytest.mark.parametrize("dtype, p, k, spread", [
    (np.float64, 5, 16, 3.0),
    (np.float64, 20, 300, 3.0),
    pytest.param(np.float32, 17, 3, 3.0, id="float32-features"),
    pytest.param(np.float32, 3, 16, 30.0, id="float32-separated")],
    ids=["float64", "float64-many-components", None, None])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_tied_blas_path_matches_the_oracle(weighted, dtype, p, k, spread):
    """The tied BLAS path: the oracle's fit at a size whose chunks hold several blocks and end
    inside one, on data far from the origin; above 256 components on shorter blocks. float64
    expands the pooled scatter about the means' centroid (its terms cancel by the squared ratio
    of the clusters' spread to their width, ~1e-16 of it here); float32 keeps the residuals,
    whose terms do not cancel: on clusters 30 widths apart its Psi stays within 1e-7 of its
    scale of the oracle's (expanded as float64 is, it was 2.6e-5 off)."""
    n = 3001 if k < 100 else 5003
    assert tied_uses_blas(p, k, dtype)
    n_chunks = _core.n_chunks_for(n, k * (p + 1) + p * p + 2 + (k * k if dtype == np.float32
                                                                  else 0))
    chunk = -(-n // n_chunks)
    block = _core.gram_block_rows(k)
    assert n_chunks > 1 and chunk > block
    assert chunk % block != 0 and n % chunk != 0
    if k > 256:
        assert block < _core.GRAM_BLOCK_ROWS
    X, resp, hyper, w = _tied_blas_problem(n, p, k, dtype, weighted, spread)
    want = oracle_result(X, resp, hyper, 3, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:  # float32 products sum 512 rows in float32 (the direct kernel sums each point's
        # products in float64): largest measured errors 2.9e-7 on Psi, 2.8e-7 on the bounds,
        # 1.5e-8 on the means, 1.1e-6 on r; about 3x those allowed
        assert_result(got, want, rtol=1e-6, resp_atol=1.5e-5, bounds_rtol=1e-6,
                      means_rtol=TOL32[True]["means_rtol"])


@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c == "padded-blocks" else
                                                 pytest.mark.slow) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_direct_tied_kernel_matches_the_oracle_across_boundaries(case, dtype, monkeypatch):
    """The direct tied kernel at every case of test_bgm's oracle grid, where the BLAS path
    would now take most of them (weighted, the process prior)."""
    force_tied_path(monkeypatch, False)
    n, p, k = CASES[case]
    X, resp, hyper, w = problem(2, n, p, k, "tied", "dirichlet_process", True, dtype)
    want = oracle_result(X, resp, hyper, 3, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:
        assert_result(got, want, **TOL32[True])


@pytest.mark.parametrize("dtype, p, k", [(np.float64, 3, 16), (np.float32, 16, 3)])
def test_tied_blas_path_is_bit_identical_across_thread_counts(dtype, p, k):
    X = correlated_blobs(np.random.default_rng(8), 30_011, p, k).astype(dtype)
    assert tied_uses_blas(p, k, dtype)
    fits = [BayesianGaussianMixture(n_components=k, covariance_type="tied", random_state=0,
                                    tol=0, max_iter=4, n_threads=t).fit(X) for t in (1, -1)]
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)


@pytest.mark.slow
@pytest.mark.parametrize("ctype", MATRIX_TYPES)
def test_a_psi_that_is_not_positive_definite_is_a_clear_error(ctype):
    """Exactly collinear features, a negligible covariance_prior and reg_covar=0: a clear
    ValueError naming the component and reg_covar, never a NaN fit."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 1)) * 1e3 + 5e3
    X = np.hstack([a, 3 * a, rng.normal(size=(500, 1))])
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, reg_covar=0.0,
                                 covariance_prior=1e-30 * np.eye(3), random_state=0)
    what = "the shared Psi" if ctype == "tied" else "Psi_k of component [0-9]"
    with pytest.raises(ValueError, match=f"{what} .* not positive definite.*larger reg_covar"):
        gm.fit(X)
    assert not hasattr(gm, "means_")
    BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=0,
                            covariance_prior=1e-30 * np.eye(3), max_iter=3, tol=0).fit(X)


@pytest.mark.parametrize("p", [1, 2, 4, 9])
@pytest.mark.parametrize("order", ["C", "F"])
def test_the_batched_linear_algebra_is_scipys(p, order):
    """The per-iteration helpers give scipy's numbers: each factor's inverse is
    ``solve_triangular(L, I, lower=True)`` bit for bit (C- or Fortran-ordered factors), and
    log Gamma_p is ``multigammaln`` to round-off (the same terms; their sum's order may differ
    from p = 8 on)."""
    from scipy.linalg import solve_triangular
    from scipy.special import multigammaln as scipy_multigammaln

    from fastcavi.models.family_full import lower_inverses, multigammaln

    rng = np.random.default_rng(p)
    a = rng.normal(size=(5, p, p))
    chol = np.linalg.cholesky(a @ np.swapaxes(a, 1, 2) + p * np.eye(p))
    factors = [np.asarray(c, order=order) for c in chol]
    stacked = np.array(factors, order=order) if order == "C" else np.asfortranarray(chol)
    got = lower_inverses(stacked)
    for g, c in enumerate(factors):
        np.testing.assert_array_equal(got[g], solve_triangular(c, np.eye(p), lower=True))
    a_values = (p - 1) / 2 + rng.uniform(0.01, 50.0, size=7)
    np.testing.assert_allclose(multigammaln(a_values, p),
                               [scipy_multigammaln(v, p) for v in a_values], rtol=1e-14)
