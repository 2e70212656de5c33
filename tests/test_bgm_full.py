"""fastcavi.BayesianGaussianMixture with full and tied precisions, and their fast path:
against the pure-Python reference and the independent vectorised oracle at sizes that cross
every chunk and tile boundary of the kernels, against scikit-learn's own fits ('full' is
scikit-learn's model exactly), and against facts of the model (exact evidence at K = 1, a bound
that never falls, translation, weights as repeated rows, a predictive density that integrates
to 1)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import fastcavi
from fastcavi import BayesianGaussianMixture
from fastcavi.kernels import core as _core
from fastcavi.models.family_fit import cavi as fast_cavi
from fastcavi.reference import family as F

from . import oracles_family as O
from .test_bgm import blobs

TYPES = ("full", "tied")
PRIORS = ("dirichlet_process", "dirichlet_distribution")
GRID = pytest.mark.parametrize(("ctype", "wtype"), [(c, w) for c in TYPES for w in PRIORS])
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])


def hyper_for(rng, p, ctype, wtype):
    """Hyperparameters away from every default and from 1, with a correlated Psi0."""
    a = rng.normal(size=(p, p))
    psi0 = a @ a.T / p + np.diag(np.exp(rng.uniform(-1.0, 1.0, size=p)))
    return dict(covariance_type=ctype, weight_concentration_prior_type=wtype,
                weight_concentration_prior=float(np.exp(rng.uniform(-1.5, 1.0))),
                mean_precision_prior=float(np.exp(rng.uniform(-1.0, 1.0))),
                mean_prior=rng.normal(scale=2.0, size=p),
                degrees_of_freedom_prior=float(rng.uniform(0.6, 4.0)) + p - 1,
                covariance_prior=psi0, reg_covar=0.0)


def correlated_blobs(rng, n, p, k, spread=3.0):
    """Clusters with correlated features, away from the origin."""
    centres = rng.normal(scale=spread, size=(k, p))
    mix = rng.normal(scale=0.5, size=(k, p, p)) + np.eye(p)
    labels = rng.integers(k, size=n)
    noise = np.einsum("nij,nj->ni", mix[labels], rng.normal(size=(n, p)))
    return centres[labels] + noise + rng.normal(0, 8, p)


def problem(seed, n, p, k, ctype, wtype, weighted, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = correlated_blobs(rng, n, p, k).astype(dtype)
    hyper = hyper_for(rng, p, ctype, wtype)
    hyper["mean_prior"] = hyper["mean_prior"] + X.astype(np.float64).mean(axis=0)
    resp = rng.dirichlet(np.full(k, 0.7), size=n)
    w = None
    if weighted:
        w = rng.uniform(0, 3, n)
        w[rng.random(n) < 0.1] = 0.0
    return X, resp, hyper, w


def oracle_result(X, resp, hyper, n_iter, w):
    q, r, bounds, _ = O.vectorised_cavi(np.asarray(X, dtype=np.float64), resp, hyper, n_iter,
                                        sample_weight=w)
    return F.FamilyResult(F.Params(hyper["covariance_type"],
                                   hyper["weight_concentration_prior_type"],
                                   q["weight_concentration"], q["mean_precision"], q["means"],
                                   q["degrees_of_freedom"], q["psi"]), r, bounds)


def assert_result(got, want, rtol, resp_atol, bounds_rtol=None, means_rtol=None, name=""):
    """Every parameter of q, the last responsibilities and the ELBO trace; the means on the
    means' scale and each Psi_k on its own scale (off-diagonal entries may be near 0)."""
    np.testing.assert_allclose(got.lower_bounds, want.lower_bounds,
                               rtol=bounds_rtol or rtol, err_msg=name + " lower_bounds")
    q, r = got.params, want.params
    np.testing.assert_allclose(q.means, r.means, rtol=0,
                               atol=(means_rtol or rtol) * np.abs(r.means).max(), err_msg=name)
    for field in ("mean_precision", "degrees_of_freedom"):
        np.testing.assert_allclose(getattr(q, field), getattr(r, field), rtol=rtol,
                                   err_msg=f"{name} {field}")
    psi_q, psi_r = np.asarray(q.psi), np.asarray(r.psi)
    scale = np.abs(psi_r).max(axis=(-2, -1), keepdims=True)
    err = np.max(np.abs(psi_q - psi_r) / scale)
    assert err <= rtol, f"{name} psi differs by {err:.2e} of its scale (rtol {rtol:g})"
    for a, b in zip(np.atleast_2d(q.weight_concentration), np.atleast_2d(r.weight_concentration)):
        np.testing.assert_allclose(a, b, rtol=rtol, err_msg=name + " weight_concentration")
    np.testing.assert_allclose(got.resp, want.resp, rtol=0, atol=resp_atol, err_msg=name)


def estimator(k, hyper, **kw):
    return BayesianGaussianMixture(
        n_components=k, covariance_type=hyper["covariance_type"],
        weight_concentration_prior_type=hyper["weight_concentration_prior_type"],
        weight_concentration_prior=hyper["weight_concentration_prior"],
        mean_precision_prior=hyper["mean_precision_prior"], mean_prior=hyper["mean_prior"],
        degrees_of_freedom_prior=hyper["degrees_of_freedom_prior"],
        covariance_prior=hyper["covariance_prior"], reg_covar=hyper["reg_covar"], **kw)


def q_of(gm):
    """The oracle's q from a fitted estimator (Psi = covariances_ * nu)."""
    nu = gm.degrees_of_freedom_
    psi = gm.covariances_ * (nu if np.ndim(nu) == 0 else np.asarray(nu)[:, None, None])
    return dict(weight_concentration=gm.weight_concentration_, mean_precision=gm.mean_precision_,
                means=gm.means_, degrees_of_freedom=nu, psi=psi)


# -- the fast path against the reference and the oracle ----------------------------------------

# (N, p, K): chunks (2048 rows or more each) that the tiles do not divide; small tiles (large K);
# larger p (the kernels' 4 x 4 blocks, padded, and smaller tiles); the 64-chunk cap. N is prime
# or odd in each.
CASES = {
    "chunks-tiles": (5003, 3, 5),
    "small-tiles": (4099, 2, 24),
    "larger-p": (4099, 9, 6),
    "chunk-cap": (140_009, 2, 3),
}


@pytest.mark.parametrize("case", CASES)
def test_cases_cross_every_boundary(case):
    n, p, k = CASES[case]
    n_chunks = _core.n_chunks_for(n)
    chunk = -(-n // n_chunks)
    tile = _core.matrix_tile_rows(k, p)
    assert n_chunks > 1 and n % chunk != 0
    assert chunk > tile and chunk % tile != 0
    if case == "chunk-cap":
        assert n_chunks == _core._MAX_CHUNKS
    if case == "larger-p":  # the 4 x 4 blocks, with padding
        assert p >= _core._BLOCKED_MIN_FEATURES and p % 4 != 0


@pytest.mark.slow
@GRID
@WEIGHTED
def test_fast_matches_the_reference_every_iteration(ctype, wtype, weighted):
    """Iteration by iteration (the ELBO after each), and the final q and r, at rtol 1e-10."""
    n, p, k = CASES["chunks-tiles"]
    X, resp, hyper, w = problem(1, n, p, k, ctype, wtype, weighted)
    prior = F.Prior(**hyper)
    want = F.cavi(X, resp, prior, 3, sample_weight=w)
    got = fast_cavi(X, resp, prior, 3, sample_weight=w)
    assert_result(got, want, 1e-10, 1e-11)


@pytest.mark.parametrize("p", [3, 9])
@pytest.mark.parametrize("ctype", TYPES)
def test_small_problem_matches_the_reference(ctype, p):
    """One tile, one chunk: small enough to run the kernel bodies as plain Python too
    (tests/test_nojit.py), the 4 x 4 blocks included (p = 9)."""
    X, resp, hyper, w = problem(11, 60, p, 3, ctype, "dirichlet_process", True)
    prior = F.Prior(**hyper)
    assert_result(fast_cavi(X, resp, prior, 2, sample_weight=w),
                  F.cavi(X, resp, prior, 2, sample_weight=w), 1e-10, 1e-11)


@pytest.mark.slow
@pytest.mark.parametrize("ctype", TYPES)
def test_float32_sums_are_float64(ctype):
    """sum_k N_k = sum_i w_i (each point's responsibilities sum to 1): with float32 data and
    spread responsibilities to about 1e-10 (measured 1.3e-10) when every sum over points is
    float64; N_k summed over a tile in float32 is off by about 5e-9."""
    rng = np.random.default_rng(50)
    X = rng.normal(size=(20011, 3)).astype(np.float32)
    w = rng.uniform(0.5, 3.0, len(X))
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=0,
                                 max_iter=2, tol=0, init_params="random").fit(X, sample_weight=w)
    n_k = gm.mean_precision_ - gm.mean_precision_prior_
    np.testing.assert_allclose(n_k.sum(), w.sum(), rtol=1.5e-9)


@pytest.mark.parametrize("ctype", TYPES)
def test_float32_hard_assignments_count_exactly(ctype):
    """Clusters 1000 standard deviations apart: every responsibility is exactly 0 or 1 in
    float32, each point adds its weight (rounded to float32, as the kernels hold it) to one
    N_k, and float64 sums give each N_k to round-off (1e-16). A float32 running sum over a tile
    is off by about 1e-7: a test on spread responsibilities (above) can miss it, where the
    float32 rounding of the responsibilities themselves is of the same size."""
    rng = np.random.default_rng(51)
    labels = rng.integers(3, size=20011)
    X = (np.array([[0.0, 0, 0], [1000, 0, 0], [0, 1000, 0]])[labels]
         + rng.normal(size=(20011, 3))).astype(np.float32)
    w = rng.uniform(0.5, 3.0, len(X))
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=0,
                                 max_iter=2, tol=0, weight_concentration_prior=1.0).fit(
        X, sample_weight=w)
    found = gm.predict(X)
    assert np.all(gm.predict_proba(X).max(axis=1) == 1.0)
    expected = np.bincount(found, w.astype(np.float32).astype(np.float64), minlength=3)
    n_k = gm.mean_precision_ - gm.mean_precision_prior_
    np.testing.assert_allclose(n_k, expected, rtol=1e-12)


# What float32 per-point math (float64 sums) achieves against the float64 oracle on the same
# rounded numbers after 3 iterations, worst over these cases (measured): ELBO 6e-9, means 2.1e-7
# of their scale, Psi 9e-7 of its scale, b_k and the other parameters 1.2e-6, r 3.3e-6. The
# differences of the first E-step grow through the iterations; tolerances sit a few times above.
TOL32 = dict(rtol=5e-6, resp_atol=1.5e-5, bounds_rtol=3e-8, means_rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "weighted"), [(np.float64, False), (np.float64, True),
                                                (np.float32, True)],
                         ids=["float64", "float64-weighted", "float32-weighted"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ctype", TYPES)
def test_fast_matches_the_oracle_across_boundaries(ctype, case, dtype, weighted):
    n, p, k = CASES[case]
    wtype = PRIORS[list(CASES).index(case) % 2]
    X, resp, hyper, w = problem(2, n, p, k, ctype, wtype, weighted, dtype)
    want = oracle_result(X, resp, hyper, 3, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:
        assert got.resp.dtype == np.float32
        assert_result(got, want, **TOL32)


# -- full is scikit-learn's model: the same fits -----------------------------------------------

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


# -- the estimator against the oracle ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("engine", ["memory", "memmap", "dask"])
@WEIGHTED
@GRID
def test_estimator_fits_and_predicts_like_the_oracle(engine, ctype, wtype, weighted, tmp_path,
                                                     request):
    from fastcavi._registry import ENGINES

    if engine == "dask":
        request.getfixturevalue("dask_client")

    n, p, k = CASES["chunks-tiles"]
    X, _, hyper, w = problem(3, n, p, k, ctype, wtype, weighted)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    gm = estimator(k, hyper, init_params="random", random_state=7, max_iter=3,
                   tol=0).fit(Xe, sample_weight=we)
    r0 = np.random.RandomState(7).uniform(size=(n, k))
    r0 /= r0.sum(axis=1, keepdims=True)
    want = oracle_result(X, r0, hyper, 3, w)
    np.testing.assert_allclose(gm.lower_bounds_, want.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, want.params.means, rtol=1e-10)
    q = q_of(gm)
    np.testing.assert_allclose(q["psi"], want.params.psi, rtol=1e-10)
    proba = np.exp(O.log_resp(X, q, hyper))
    np.testing.assert_allclose(gm.predict_proba(Xe), proba, rtol=0, atol=1e-11)
    # scipy.stats.multivariate_t, component by component
    np.testing.assert_allclose(gm.score_samples(Xe), O.log_predictive(X, q, hyper), rtol=1e-10)
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-9
    np.testing.assert_array_equal(gm.predict(Xe)[clear], proba.argmax(axis=1)[clear])
    np.testing.assert_allclose(gm.weights_, O.expected_weights(q, hyper), rtol=1e-12)


# -- facts of the model ------------------------------------------------------------------------

@GRID
def test_one_component_reaches_the_exact_evidence(ctype, wtype):
    """K = 1: the converged ELBO is log p(X) in closed form (Normal-Wishart conjugacy; the
    process prior adds log B(1 + N, g0) / B(1, g0) for its one stick)."""
    from scipy.special import betaln

    rng = np.random.default_rng(5)
    X = correlated_blobs(rng, 300, 3, 1)
    hyper = hyper_for(rng, 3, ctype, wtype)
    gm = estimator(1, hyper, tol=1e-12, max_iter=200).fit(X)
    evidence = O.log_evidence_k1(X, hyper)
    if wtype == "dirichlet_process":
        g0 = hyper["weight_concentration_prior"]
        evidence += betaln(1 + len(X), g0) - betaln(1, g0)
    assert gm.converged_
    np.testing.assert_allclose(gm.lower_bound_, evidence, rtol=1e-10)


@GRID
@WEIGHTED
def test_bound_never_decreases_and_is_translation_invariant(ctype, wtype, weighted):
    n, p, k = 3001, 2, 5
    X, _, hyper, w = problem(6, n, p, k, ctype, wtype, weighted)
    shift = np.array([1e6, -3e5])
    kw = dict(n_components=k, covariance_type=ctype, weight_concentration_prior_type=wtype,
              init_params="random", random_state=0, tol=0, max_iter=30,
              covariance_prior=hyper["covariance_prior"])
    a = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    d = np.diff(a.lower_bounds_)
    assert np.all(d >= -1e-9 * np.abs(np.asarray(a.lower_bounds_[1:])))
    b = BayesianGaussianMixture(**kw).fit(X + shift, sample_weight=w)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-8)
    np.testing.assert_allclose(b.means_ - shift, a.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.predict_proba(X + shift), a.predict_proba(X), atol=1e-6)


@GRID
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(ctype, wtype):
    """With the default prior too: its moments (the covariance matrix) are weighted as
    frequencies."""
    rng = np.random.default_rng(8)
    X = correlated_blobs(rng, 2500, 3, 3)
    w = rng.integers(0, 4, len(X))
    r0 = np.random.RandomState(0).uniform(size=(len(X), 3))
    r0 /= r0.sum(axis=1, keepdims=True)
    prior = F.default_prior(np.repeat(X, w, axis=0), ctype, wtype, 3)
    a = fast_cavi(X, r0, prior, 8, sample_weight=w.astype(float))
    b = fast_cavi(np.repeat(X, w, axis=0), np.repeat(r0, w, axis=0), prior, 8)
    assert_result(a, F.FamilyResult(b.params, a.resp, b.lower_bounds), 1e-10, 1.0)
    est = BayesianGaussianMixture(n_components=3, covariance_type=ctype,
                                  weight_concentration_prior_type=wtype, tol=0, max_iter=2,
                                  init_params="random", random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(est.mean_prior_, prior.mean_prior, rtol=1e-12)
    np.testing.assert_allclose(est.covariance_prior_, prior.covariance_prior, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("p", [1, 2])
def test_posterior_predictive_integrates_to_one(ctype, p):
    X = correlated_blobs(np.random.default_rng(30 + p), 200, p, 2, spread=2.0)
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=0,
                                 weight_concentration_prior_type="dirichlet_distribution",
                                 mean_precision_prior=0.05, max_iter=20, tol=0).fit(X)

    def density(x):
        return np.exp(gm.score_samples(np.reshape(x, (-1, p))))

    if p == 1:
        total, _ = integrate.quad(lambda t: density(t)[0], -np.inf, np.inf, epsabs=1e-11,
                                  epsrel=1e-10, limit=200)
    else:
        total = integrate.cubature(density, np.full(p, -np.inf), np.full(p, np.inf),
                                   rtol=1e-6, atol=1e-8).estimate
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


# -- errors, threads, files, sampling ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("ctype", TYPES)
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


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize(("prior", "message"), [
    (np.eye(3), r"should have the shape of \(2, 2\)"),
    (np.ones(2), r"should have the shape of \(2, 2\)"),
    (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive-definite"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
    (np.array([[1.0, 1.0], [1.0, 1.0]]), "positive-definite"),
])
def test_bad_covariance_priors_are_clear_errors(ctype, prior, message):
    """A covariance_prior the user gives is checked and never changed (a singular one too)."""
    X = blobs(np.random.default_rng(0), 50, 1, 2)
    X = np.hstack([X, X ** 2])
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(n_components=2, covariance_type=ctype,
                                covariance_prior=prior).fit(X)
    with pytest.raises(ValueError, match="should be greater than 1"):
        BayesianGaussianMixture(n_components=2, covariance_type=ctype,
                                degrees_of_freedom_prior=1.0).fit(X)


@pytest.mark.parametrize("ctype", TYPES)
def test_bit_identical_across_thread_counts(ctype):
    X = correlated_blobs(np.random.default_rng(9), 30_011, 4, 5)
    fits = [BayesianGaussianMixture(n_components=5, covariance_type=ctype, random_state=0,
                                    tol=0, max_iter=4, n_threads=t).fit(X) for t in (1, -1)]
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


@GRID
def test_model_files_round_trip_bit_for_bit(ctype, wtype, tmp_path):
    X = correlated_blobs(np.random.default_rng(14), 3000, 3, 3)
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype,
                                 weight_concentration_prior_type=wtype, random_state=0,
                                 max_iter=20).fit(X)
    fastcavi.save(gm, tmp_path / "m.npz")
    back = fastcavi.load(tmp_path / "m.npz")
    assert type(back) is BayesianGaussianMixture
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
                 "mean_precision_", "degrees_of_freedom_", "lower_bounds_", "mean_prior_",
                 "covariance_prior_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name), err_msg=name)
        assert np.shape(getattr(back, name)) == np.shape(getattr(gm, name)), name
    for kind in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(back, kind)(X), getattr(gm, kind)(X))
    assert back.lower_bound_ == gm.lower_bound_ and back.n_iter_ == gm.n_iter_
    z = dict(np.load(tmp_path / "m.npz"))
    z["covariances_"] = z["covariances_"][..., :2]
    np.savez(tmp_path / "bad.npz", **z)
    with pytest.raises(ValueError, match="not a valid fastcavi model file"):
        fastcavi.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("ctype", TYPES)
def test_sample_draws_from_the_fitted_mixture(ctype):
    X = correlated_blobs(np.random.default_rng(12), 1500, 2, 2, spread=8.0)
    gm = BayesianGaussianMixture(n_components=2, covariance_type=ctype, random_state=0).fit(X)
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))
    Xs, ys = gm.sample(40_000)
    assert Xs.shape == (40_000, 2) and ys.dtype == np.int64
    np.testing.assert_allclose(np.bincount(ys, minlength=2) / 40_000, gm.weights_, atol=0.015)
    covs = gm.covariances_ if ctype == "full" else [gm.covariances_] * 2
    for k in range(2):
        np.testing.assert_allclose(np.cov(Xs[ys == k].T), covs[k], rtol=0.1,
                                   atol=0.1 * np.abs(covs[k]).max())


def _start_responsibilities(init_params, X, w):
    """The one-hot responsibilities scikit-learn's start draws from RandomState(4) (3
    components): KMeans labels, or the rows k-means++ / a random choice picks, one each."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    state = np.random.RandomState(4)
    if init_params == "kmeans":
        return X, np.eye(3)[KMeans(n_clusters=3, n_init=1, random_state=state).fit(
            X, sample_weight=w).labels_], w
    if init_params == "k-means++":
        rows = kmeans_plusplus(X, 3, random_state=state, sample_weight=w)[1]
    else:
        rows = state.choice(len(X), size=3, replace=False)
    return X[rows], np.eye(3), w[rows]


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
@pytest.mark.parametrize("ctype", TYPES)
def test_start_is_the_m_step_of_its_weighted_labels(ctype, init_params):
    """Starts that assign points to components (with sample_weight): the KMeans labels, or one
    row per component (as scikit-learn draws them from the same random_state), as one-hot
    responsibilities, then the reference's M-step on the weighted statistics."""
    rng = np.random.default_rng(40)
    X = correlated_blobs(rng, 600, 3, 3)
    w = rng.uniform(0, 3, len(X))
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=4,
                                 max_iter=0, init_params=init_params).fit(X, sample_weight=w)
    rows, resp, weights = _start_responsibilities(init_params, X, w)
    prior = F.Prior(ctype, "dirichlet_process", gm.weight_concentration_prior_,
                    gm.mean_precision_prior_, gm.mean_prior_, gm.degrees_of_freedom_prior_,
                    gm.covariance_prior_, gm.reg_covar)
    want = F.update(F.statistics(rows, resp, ctype, weights), prior)
    np.testing.assert_allclose(gm.means_, want.means, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_, F.covariances(want), rtol=1e-10)
    np.testing.assert_allclose(gm.degrees_of_freedom_, want.degrees_of_freedom, rtol=1e-13)
