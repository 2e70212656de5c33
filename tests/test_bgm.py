"""fastcavi.BayesianGaussianMixture and its fast path, for every covariance type (spherical, diag,
full, tied; fastcavi.models.names.COVARIANCE_TYPES) and both weight priors: against the
pure-Python reference iteration by iteration, against the independent vectorised oracle at
sizes that cross every chunk, tile and block boundary of each type's kernel, against
scikit-learn's starting points, and against facts of the model (exact evidence at K = 1, a
bound that never falls, translation, weights as repeated rows, a predictive density that
integrates to 1). What only matrix precisions (full, tied) have is in test_bgm_full.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.special import betaln
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import fastcavi
from fastcavi import BayesianGaussianMixture
from fastcavi._registry import ENGINES, FAMILY_IMPLEMENTATIONS
from fastcavi.kernels import core as _core
from fastcavi.models import fixed as _cavi
from fastcavi.models.covariance import COVARIANCES
from fastcavi.reference import family as F

from . import oracles_family as O
from .bgm_problems import (
    CASES,
    GRID,
    PRIORS,
    TOL32,
    TYPE,
    TYPES,
    WEIGHTED,
    as_matrices,
    assert_result,
    blobs,
    data,
    estimator,
    hyper_for,
    oracle_result,
    problem,
    q_of,
)

fast_cavi = FAMILY_IMPLEMENTATIONS["fast"]
INITS = ["kmeans", "k-means++", "random", "random_from_data"]


# -- the fast path against the reference, every type (the cheap ones first) --------------------

@GRID
@WEIGHTED
def test_every_implementation_matches_the_reference_every_iteration(ctype, wtype, weighted):
    X, resp, hyper, w = problem(1, 40, 3, 4, ctype, wtype, weighted)
    prior = F.Prior(**hyper)
    for n_iter in (1, 2, 4):
        want = F.cavi(X, resp, prior, n_iter, sample_weight=w)
        for name, cavi in FAMILY_IMPLEMENTATIONS.items():
            assert_result(cavi(X, resp, prior, n_iter, sample_weight=w), want, 1e-10, 1e-12,
                          name=f"{name} after {n_iter}")


@pytest.mark.parametrize("case", CASES)
def test_cases_cross_every_boundary(case):
    """Each case crosses what its comment in bgm_problems.CASES says, for every kernel: the
    fixed-variance kernel's tiles and BLAS blocks (spherical), diag's tiles, the matrix
    kernels' tiles and 4 x 4 blocks (full, tied)."""
    n, p, k = CASES[case]
    n_chunks = _core.n_chunks_for(n, 0)
    # the largest partial sums (full's) leave every kernel's chunks as they are here
    assert _core.n_chunks_for(n, k * (p * p + p + 1) + 2) == n_chunks
    chunk = -(-n // n_chunks)
    assert n_chunks > 1 and n % chunk != 0
    for tile in (_core.tile_rows(k), _core.matrix_tile_rows(k, p)):
        assert chunk > tile and chunk % tile != 0
    if case == "large-p":
        assert _cavi.uses_blas(p, k) and chunk % _core.gram_block_rows(k) != 0
        assert p >= _core._BLOCKED_MIN_FEATURES
    if case == "padded-blocks":
        assert p >= _core._BLOCKED_MIN_FEATURES and p % 4 != 0 and k % 2 == 1 and k > 4
    if case == "chunk-cap":
        assert n_chunks == _core._MAX_CHUNKS


@GRID
def test_reg_covar_is_added_as_the_reference_adds_it(ctype, wtype):
    """reg_covar * I added to C_k / N_k (scikit-learn's convention), every iteration."""
    X, resp, hyper, w = problem(16, 60, 3, 3, ctype, wtype, True)
    prior = F.Prior(**dict(hyper, reg_covar=0.05))
    for n_iter in (1, 3):
        want = F.cavi(X, resp, prior, n_iter, sample_weight=w)
        got = fast_cavi(X, resp, prior, n_iter, sample_weight=w)
        assert_result(got, want, 1e-10, 1e-12, name=f"after {n_iter}")
    without = F.cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    assert not np.allclose(without.params.psi, want.params.psi, rtol=1e-3)


@TYPE
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


# -- the estimator: scikit-learn's starts, facts of the model, threads -------------------------

@pytest.mark.parametrize("init_params", INITS)
@TYPE
def test_starts_where_scikit_learn_starts(init_params, ctype):
    """The same integer random_state gives scikit-learn's starting responsibilities: after the
    start alone (max_iter=0) q(pi) and q(mu) agree (scikit-learn adds 10 eps to N_k)."""
    rng = np.random.default_rng(4)
    X = blobs(rng, 600, 3, 4)
    kw = dict(n_components=4, covariance_type=ctype, init_params=init_params, random_state=11,
              max_iter=0)
    ours = BayesianGaussianMixture(**kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkBGM(**kw).fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.mean_precision_, theirs.mean_precision_, rtol=1e-12)
    for a, b in zip(ours.weight_concentration_, theirs.weight_concentration_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(ours.mean_prior_, theirs.mean_prior_, rtol=1e-12)
    np.testing.assert_allclose(ours.covariance_prior_, theirs.covariance_prior_, rtol=1e-12)
    assert ours.degrees_of_freedom_prior_ == theirs.degrees_of_freedom_prior_
    assert ours.n_iter_ == 0 and ours.lower_bounds_ == []


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
@TYPE
def test_start_is_the_m_step_of_its_weighted_labels(ctype, init_params):
    """Starts that assign points to components (with sample_weight): the KMeans labels, or one
    row per component (as scikit-learn draws them from the same random_state), as one-hot
    responsibilities, then the reference's M-step on the weighted statistics."""
    rng = np.random.default_rng(40)
    X = data(rng, 600, 3, 3, ctype)
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


@GRID
def test_one_component_reaches_the_exact_evidence(ctype, wtype):
    """K = 1: the family holds the exact posterior (Normal-Gamma or Normal-Wishart conjugacy),
    so the converged ELBO is log p(X) in closed form (the process prior adds
    log B(1 + N, g0) / B(1, g0) for its one stick)."""
    rng = np.random.default_rng(5)
    X = data(rng, 300, 3, 1, ctype)
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
    n, p, k = 3001, 2, 6
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
    """With the default prior too: its moments (variances or covariance matrix) are weighted as
    frequencies."""
    rng = np.random.default_rng(8)
    X = data(rng, 2500, 3, 3, ctype)
    w = rng.integers(0, 4, len(X))
    r0 = np.random.RandomState(0).uniform(size=(len(X), 3))
    r0 /= r0.sum(axis=1, keepdims=True)
    prior = F.default_prior(np.repeat(X, w, axis=0), ctype, wtype, 3)
    a = fast_cavi(X, r0, prior, 8, sample_weight=w.astype(float))
    b = fast_cavi(np.repeat(X, w, axis=0), np.repeat(r0, w, axis=0), prior, 8)
    assert_result(a, F.FamilyResult(b.params, a.resp, b.lower_bounds), 1e-10, 1.0)
    est = BayesianGaussianMixture(n_components=3, covariance_type=ctype,
                                  weight_concentration_prior_type=wtype, tol=0, max_iter=8,
                                  init_params="random", random_state=0).fit(X, sample_weight=w)
    np.testing.assert_allclose(est.mean_prior_, prior.mean_prior, rtol=1e-12)
    np.testing.assert_allclose(est.covariance_prior_, prior.covariance_prior, rtol=1e-10)


@TYPE
def test_bit_identical_across_thread_counts(ctype):
    X = data(np.random.default_rng(9), 30_011, 4, 5, ctype)
    fits = [BayesianGaussianMixture(n_components=5, covariance_type=ctype, random_state=0,
                                    tol=0, max_iter=5, n_threads=t).fit(X) for t in (1, -1)]
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    np.testing.assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# -- the contract: errors, predict, sample, files, warm starts ---------------------------------

@TYPE
@pytest.mark.parametrize(("params", "message"), [
    (dict(n_components=0), "'n_components' parameter"),
    (dict(covariance_type="Diag"), "'covariance_type' parameter"),
    (dict(init_params="kmeans+"), "'init_params' parameter"),
    (dict(weight_concentration_prior_type="dp"), "weight_concentration_prior_type"),
    (dict(weight_concentration_prior=-1.0), "weight_concentration_prior"),
    (dict(tol=-1.0), "'tol' parameter"),
    (dict(degrees_of_freedom_prior=0.5), "should be greater than 1"),
    (dict(degrees_of_freedom_prior=1.0), "should be greater than 1"),
    (dict(mean_prior=np.zeros(3)), "should have the shape of \\(2,\\)"),
])
def test_bad_parameters_are_clear_errors(ctype, params, message):
    X = blobs(np.random.default_rng(0), 50, 2, 2)
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(**{"n_components": 2, "covariance_type": ctype, **params}).fit(X)


BAD_COVARIANCE_PRIORS = {
    "spherical": [(np.ones(2), "should be a positive float"), (-1.0, "should be positive"),
                  (np.nan, "finite")],
    "diag": [(np.ones(3), r"should have the shape of \(2,\)"),
             (np.array([1.0, -1.0]), "should be positive"),
             (np.array([1.0, np.inf]), "finite")],
    "full": [(np.eye(3), r"should have the shape of \(2, 2\)"),
             (np.ones(2), r"should have the shape of \(2, 2\)"),
             (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
             (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive-definite"),
             (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
             (np.array([[1.0, 1.0], [1.0, 1.0]]), "positive-definite")],
}
BAD_COVARIANCE_PRIORS["tied"] = BAD_COVARIANCE_PRIORS["full"]


@pytest.mark.parametrize(("ctype", "prior", "message"), [
    (c, prior, message) for c in BAD_COVARIANCE_PRIORS for prior, message in
    BAD_COVARIANCE_PRIORS[c]])
def test_bad_covariance_priors_are_clear_errors(ctype, prior, message):
    """A covariance_prior the user gives is checked and never changed (a singular one too)."""
    X = blobs(np.random.default_rng(0), 50, 1, 2)
    X = np.hstack([X, X ** 2])
    before = np.copy(prior)
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(n_components=2, covariance_type=ctype,
                                covariance_prior=prior).fit(X)
    np.testing.assert_array_equal(prior, before)


@TYPE
def test_predict_uses_the_fitted_model_and_sample_draws_from_it(ctype):
    X = data(np.random.default_rng(12), 1500, 2, 2, ctype, spread=8.0)
    gm = BayesianGaussianMixture(n_components=2, covariance_type=ctype, random_state=0).fit(X)
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))
    gm.set_params(n_components=5)
    assert gm.predict_proba(X).shape == (1500, 2)
    Xs, ys = gm.sample(40_000)
    assert Xs.shape == (40_000, 2) and ys.dtype == np.int64
    np.testing.assert_allclose(np.bincount(ys, minlength=2) / 40_000, gm.weights_, atol=0.015)
    covs = as_matrices(ctype, gm.covariances_, 2, 2)
    for k in range(2):
        np.testing.assert_allclose(np.cov(Xs[ys == k].T), covs[k], rtol=0.1,
                                   atol=0.1 * np.abs(covs[k]).max())
    with pytest.raises(ValueError, match="features"):
        gm.predict(X[:, :1])


@GRID
def test_model_files_round_trip_bit_for_bit_and_damaged_ones_are_refused(ctype, wtype, tmp_path):
    X = data(np.random.default_rng(14), 3000, 3, 3, ctype)
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype,
                                 weight_concentration_prior_type=wtype, random_state=0,
                                 mean_prior=np.zeros(3)).fit(X)
    fastcavi.save(gm, tmp_path / "m.npz")
    back = fastcavi.load(tmp_path / "m.npz")
    assert type(back) is BayesianGaussianMixture and back.get_params().keys() == \
        gm.get_params().keys()
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


@TYPE
def test_warm_start_continues_from_the_last_fit(ctype, capsys):
    X = data(np.random.default_rng(17), 2000, 2, 4, ctype)
    kw = dict(n_components=4, covariance_type=ctype, random_state=0, tol=0, max_iter=5)
    gm = BayesianGaussianMixture(warm_start=True, verbose=2, verbose_interval=1, **kw).fit(X)
    first = list(gm.lower_bounds_)
    gm.fit(X)
    straight = BayesianGaussianMixture(**dict(kw, max_iter=10)).fit(X)
    np.testing.assert_allclose(first + list(gm.lower_bounds_), straight.lower_bounds_,
                               rtol=1e-12)
    out = capsys.readouterr().out
    assert out.count("Initialization 0") == 2 and "Iteration 5\t lower bound" in out


# -- slow: every boundary, every engine, restarts, Dask ----------------------------------------

@pytest.mark.slow
@TYPE
def test_n_init_keeps_the_best_run_and_tol_is_strict_on_the_total(ctype):
    X = data(np.random.default_rng(10), 4000, 2, 6, ctype, spread=2.0)
    kw = dict(n_components=6, covariance_type=ctype, init_params="random_from_data",
              tol=1e-2, max_iter=500)
    gm = BayesianGaussianMixture(n_init=4, random_state=3, **kw).fit(X)
    changes = np.abs(np.diff(gm.lower_bounds_))
    assert gm.converged_ and changes[-1] < 1e-2 and np.all(changes[:-1] >= 1e-2)
    rng = np.random.RandomState(3)  # the same four starts, one fit each, from one stream
    finals = np.array([BayesianGaussianMixture(random_state=rng, **kw).fit(X).lower_bound_
                       for _ in range(4)])
    assert finals.argmax() != 0, "the first start is the best: the test would prove nothing"
    assert gm.lower_bound_ == finals.max()


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
@WEIGHTED
@GRID
def test_estimator_fits_and_predicts_like_the_oracle(engine, ctype, wtype, weighted, tmp_path,
                                                     request):
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
    # the oracle's predictive: scipy.stats' Student-t, component by component
    np.testing.assert_allclose(gm.score_samples(Xe), O.log_predictive(X, q, hyper), rtol=1e-10)
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-9
    np.testing.assert_array_equal(gm.predict(Xe)[clear], proba.argmax(axis=1)[clear])
    np.testing.assert_allclose(gm.weights_, O.expected_weights(q, hyper), rtol=1e-12)


@pytest.mark.slow
@TYPE
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


@pytest.mark.slow
@GRID
@WEIGHTED
def test_fast_matches_the_reference_every_iteration_across_chunks(ctype, wtype, weighted):
    """Iteration by iteration (the ELBO after each), and the final q and r, at rtol 1e-10, at
    a size with several chunks and tiles."""
    n, p, k = CASES["chunks-tiles"]
    X, resp, hyper, w = problem(1, n, p, k, ctype, wtype, weighted)
    prior = F.Prior(**hyper)
    assert_result(fast_cavi(X, resp, prior, 3, sample_weight=w),
                  F.cavi(X, resp, prior, 3, sample_weight=w), 1e-10, 1e-11)


def _oracle_grid():
    """Every type at every case, float64 and float32, weighted and not; the weight prior (which
    no kernel sees) alternates over the cases, so each type meets both."""
    for t, ctype in enumerate(TYPES):
        for i, case in enumerate(CASES):
            wtype = PRIORS[(t + i) % 2]
            for weighted in (False, True):
                for dtype in (np.float64, np.float32):
                    yield pytest.param(ctype, wtype, weighted, case, dtype, id="-".join(
                        (ctype, wtype, "weighted" if weighted else "unweighted", case,
                         np.dtype(dtype).name)))


@pytest.mark.slow
@pytest.mark.parametrize(("ctype", "wtype", "weighted", "case", "dtype"), list(_oracle_grid()))
def test_fast_matches_the_oracle_across_boundaries(ctype, wtype, weighted, case, dtype):
    n, p, k = CASES[case]
    X, resp, hyper, w = problem(2, n, p, k, ctype, wtype, weighted, dtype)
    want = oracle_result(X, resp, hyper, 3, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:
        assert got.resp.dtype == np.float32
        assert_result(got, want, **TOL32[COVARIANCES[ctype].matrix])


def test_diag_takes_the_blas_path_where_it_was_measured_faster():
    """float32 from 16 features and 8 components (and from 32 features at any K); float64 only
    from 32 features and 64 components (family_fit's comment has the measurements)."""
    from fastcavi.models.family_fit import diag_uses_blas

    for p, k, f32, f64 in [(15, 64, False, False), (16, 7, False, False), (16, 8, True, False),
                           (31, 4, False, False), (32, 2, True, False), (32, 63, True, False),
                           (32, 64, True, True), (31, 300, True, False), (128, 64, True, True)]:
        assert diag_uses_blas(p, k, np.float32) == f32, (p, k)
        assert diag_uses_blas(p, k, np.float64) == f64, (p, k)


@pytest.mark.parametrize("dtype, p, k", [
    (np.float64, 33, 64),
    pytest.param(np.float32, 33, 6, marks=pytest.mark.slow),
    pytest.param(np.float32, 16, 8, marks=pytest.mark.slow)],
    ids=["float64", "float32", "float32-p16"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_diag_blas_path_matches_the_oracle(weighted, dtype, p, k):
    """Diagonal precisions' BLAS path (expanded squares about the means' centroid, two products
    per block of rows), where each dtype starts to take it: the oracle's fit, at a size whose
    chunks hold several blocks and end inside one, on data far from the origin."""
    from fastcavi.models.family_fit import diag_uses_blas

    n = 3001
    assert diag_uses_blas(p, k, dtype)
    n_chunks = _core.n_chunks_for(n, k * (2 * p + 1) + 2)
    chunk = -(-n // n_chunks)
    block = _core.gram_block_rows(k)
    assert n_chunks > 1 and chunk > block
    assert chunk % block != 0 and n % chunk != 0
    X, resp, hyper, w = problem(4, n, p, k, "diag", "dirichlet_process", weighted, dtype)
    assert np.abs(X.mean(axis=0)).max() > 5 * X.std(axis=0).min()  # far from the origin
    want = oracle_result(X, resp, hyper, 3, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:  # float32 logits from expanded squares, summed by float32 BLAS: largest measured
        # errors 4.2e-5 on r, 7.6e-5 on psi (weighted), 4e-7 on the bounds, 2.4e-6 on the
        # means (AMD EPYC, OpenBLAS 0.3.31); about 2.5x those allowed
        assert_result(got, want, rtol=2e-4, resp_atol=1e-4, bounds_rtol=1e-6, means_rtol=6e-6)


@pytest.mark.parametrize("ctype, p", [("spherical", 16), ("diag", 33)])
def test_blas_path_with_many_components_matches_the_oracle(ctype, p):
    """Above 256 components the BLAS blocks are shorter than GRAM_BLOCK_ROWS: the oracle's
    fit where the chunks hold several of them and end inside one (weighted)."""
    n, k = 5003, 300
    block = _core.gram_block_rows(k)
    n_chunks = _core.n_chunks_for(n, k * (2 * p + 1) + 2)
    chunk = -(-n // n_chunks)
    assert block < _core.GRAM_BLOCK_ROWS and n_chunks > 1 and chunk > 2 * block
    assert chunk % block != 0 and n % chunk != 0
    assert _core.n_chunks_for(n, k * (p + 2) + 2) == n_chunks  # spherical's chunks too
    X, resp, hyper, w = problem(5, n, p, k, ctype, "dirichlet_process", True)
    want = oracle_result(X, resp, hyper, 2, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 2, sample_weight=w)
    assert_result(got, want, 1e-10, 1e-11)


@pytest.mark.slow
def test_chunks_capped_by_their_partial_sums_match_the_oracle():
    """Where each chunk's partial sums are large (full precisions at p = 64, K = 32: 1 MiB a
    chunk), the rows are cut into fewer chunks (kernels.core's budget): a weighted fit at such
    a shape, whose chunks end inside a tile, against the oracle."""
    n, p, k = 40_009, 64, 32
    n_chunks = _core.n_chunks_for(n, k * (p * p + p + 1) + 2)
    chunk = -(-n // n_chunks)
    assert n_chunks < _core.n_chunks_for(n, 0)  # the budget binds
    assert n % chunk and chunk % _core.matrix_tile_rows(k, p)
    X, resp, hyper, w = problem(5, n, p, k, "full", "dirichlet_process", True)
    want = oracle_result(X, resp, hyper, 1, w)
    got = fast_cavi(X, resp, F.Prior(**hyper), 1, sample_weight=w)
    assert_result(got, want, 1e-10, 1e-11)


@pytest.mark.slow
@TYPE
@pytest.mark.parametrize("p", [1, 2])
def test_posterior_predictive_integrates_to_one(ctype, p):
    X = data(np.random.default_rng(30 + p), 200, p, 2, ctype, spread=2.0)
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


# diag with every start, as before the types were one set; each other type with one start
# (the per-type part of a start is its M-step, the same for every start but 'random').
@pytest.mark.slow
@pytest.mark.parametrize(("ctype", "init_params"), [("diag", i) for i in INITS] + [
    ("full", "kmeans"), ("tied", "random_from_data"), ("spherical", "k-means++")])
def test_dask_fit_is_the_in_memory_fit(ctype, init_params, dask_client, monkeypatch):
    """Every start on a Dask array (on the cluster, and streamed without a client) gives the
    in-memory fit: the same rows and draws, and the statistics summed in block order."""
    import dask
    import dask.array as da

    from fastcavi.data import dask as _dask

    rng = np.random.default_rng(13)
    X = data(rng, 5003, 3, 4, ctype)
    w = rng.uniform(0, 2, len(X))
    w[::10] = 0.0
    kw = dict(n_components=4, covariance_type=ctype, init_params=init_params,
              random_state=3, max_iter=500)
    mem = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    Xd, wd = da.from_array(X, chunks=(1999, 2)), da.from_array(w, chunks=1500)
    fits = [BayesianGaussianMixture(**kw).fit(Xd, sample_weight=wd)]
    monkeypatch.setattr(_dask, "current_client", lambda: None)
    with dask.config.set(scheduler="threads"):
        fits.append(BayesianGaussianMixture(**kw).fit(Xd, sample_weight=wd))
    for got in fits:
        assert got.n_iter_ == mem.n_iter_ and got.n_features_in_ == 3
        np.testing.assert_allclose(got.lower_bounds_, mem.lower_bounds_, rtol=1e-12)
        np.testing.assert_allclose(got.means_, mem.means_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.covariances_, mem.covariances_, rtol=1e-10)
        labels = got.predict(Xd)
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(labels.compute(), mem.predict(X))
    # Cluster and stream sum in the same block order; the workers' kernels come from the
    # on-disk cache, which can differ from a fresh compile in the last bit.
    np.testing.assert_allclose(fits[0].lower_bounds_, fits[1].lower_bounds_, rtol=1e-14)


@pytest.mark.slow
@TYPE
def test_dask_predict_is_lazy_and_checked(ctype, dask_client):
    import dask.array as da

    X = data(np.random.default_rng(14), 3000, 2, 3, ctype).astype(np.float32)
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype, random_state=0).fit(X)
    Xd = da.from_array(X, chunks=700)
    proba = gm.predict_proba(Xd)
    assert proba.dtype == np.float32 and proba.shape == (3000, 3)
    np.testing.assert_array_equal(proba.compute(), gm.predict_proba(X))
    np.testing.assert_array_equal(gm.score_samples(Xd).compute(), gm.score_samples(X))
    assert gm.score(Xd) == pytest.approx(gm.score(X), rel=1e-12)
    with pytest.raises(ValueError, match="1 features, but BayesianGaussianMixture is "
                                         "expecting 2"):
        gm.predict(Xd[:, :1])
    bad = X.copy()
    bad[2000, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=3).set_params(covariance_type=ctype).fit(
            da.from_array(bad, chunks=700))
