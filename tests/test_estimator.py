"""GaussianMixtureCAVI: scikit-learn's mixture invariants and the estimator's contract."""

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import fastcavi
from fastcavi import GaussianMixtureCAVI, reference

from .conftest import random_problem


def blobs(rng, n=3000, p=2, K=3, spread=12.0):
    centres = rng.normal(0, spread, (K, p))
    labels = rng.integers(K, size=n)
    return centres[labels] + rng.normal(size=(n, p)), labels


def test_fit_predict_equals_fit_then_predict(rng):
    X, _ = blobs(rng)
    a = GaussianMixtureCAVI(3, random_state=0).fit(X).predict(X)
    b = GaussianMixtureCAVI(3, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(a, b)


def test_recovers_clusters(rng):
    X, labels = blobs(rng, n=5000, K=4, spread=15)
    pred = GaussianMixtureCAVI(4, n_init=3, random_state=0).fit_predict(X)
    assert adjusted_rand_score(labels, pred) > 0.99


def test_translation(rng):
    X, _ = blobs(rng)
    shift = np.array([1e4, -250.0])
    kw = dict(n_components=3, prior_var=100.0, likelihood_var=1.3, random_state=0,
              means_init=X[:3])
    a = GaussianMixtureCAVI(prior_mean=1.0, **kw).fit(X)
    b = GaussianMixtureCAVI(prior_mean=1.0 + shift, **dict(kw, means_init=X[:3] + shift)).fit(
        X + shift)
    np.testing.assert_allclose(b.means_ - shift, a.means_, atol=1e-8)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(b.predict_proba(X + shift), a.predict_proba(X), atol=1e-9)


@pytest.mark.parametrize("init_params", ["kmeans++", "random_from_data", "random"])
def test_bound_is_monotone(rng, init_params):
    X, _ = blobs(rng, K=5)
    gm = GaussianMixtureCAVI(5, init_params=init_params, tol=0, max_iter=40,
                             random_state=1).fit(X)
    d = np.diff(gm.lower_bounds_)
    assert np.all(d >= -1e-9 * np.abs(gm.lower_bounds_[1:]))


def test_tol_zero_runs_exactly_max_iter_without_warning(rng):
    X, _ = blobs(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixtureCAVI(3, tol=0, max_iter=7, random_state=0).fit(X)
    assert gm.n_iter_ == 7 and gm.lower_bounds_.shape == (7,)
    assert gm.lower_bound_ == gm.lower_bounds_[-1]


def test_not_converged_warns_once_naming_best_run(rng):
    X, _ = blobs(rng, K=4)
    with pytest.warns(ConvergenceWarning, match=r"Best run \(run \d of 3\)") as rec:
        gm = GaussianMixtureCAVI(4, n_init=3, max_iter=2, tol=1e-12, random_state=0).fit(X)
    assert len([r for r in rec if r.category is ConvergenceWarning]) == 1
    assert not gm.converged_


def runs_of(gm, X, sample_weight=None):
    """Fit, recording the ELBO trace of every run (a run starts at sweep 0)."""
    runs = []

    def record(it, bound):
        if it == 0:
            runs.append([])
        runs[-1].append(bound)

    gm._fit(X, sample_weight=sample_weight, callback=record)
    return runs


def test_n_init_keeps_best(rng):
    """The kept run is the one with the highest final ELBO, and here that is not the first."""
    X, _ = blobs(rng, K=6, spread=5)
    gm = GaussianMixtureCAVI(6, n_init=5, random_state=3)
    runs = runs_of(gm, X)
    finals = [r[-1] for r in runs]
    best = int(np.argmax(finals))
    assert len(runs) == 5 and best != 0 and finals[best] > finals[0]
    assert gm.lower_bound_ == finals[best]
    np.testing.assert_array_equal(gm.lower_bounds_, runs[best])
    assert gm.n_iter_ == len(runs[best])
    # The kept means are that run's: refitting from them moves the ELBO by less than tol.
    again = GaussianMixtureCAVI(6, means_init=gm.means_, mean_vars_init=gm.mean_vars_,
                                prior_mean=gm.prior_mean_, prior_var=gm.prior_var_,
                                likelihood_var=gm.likelihood_var_, tol=0, max_iter=1).fit(X)
    assert abs(again.lower_bound_ - gm.lower_bound_) <= gm.tol * X.shape[0]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_n_iter_follows_the_tol_rule(rng, weighted):
    """A run stops at the first sweep whose ELBO change is at most tol x (total weight), and
    not before: recomputed from lower_bounds_. The weights sum to about N/10, so a rule that
    used N (or tol alone) would stop at another sweep."""
    X, _ = blobs(rng, n=4000, K=5, spread=4)
    w = rng.uniform(0, 0.2, X.shape[0]) if weighted else None
    total = X.shape[0] if w is None else w.sum()
    tol = 1e-3
    gm = GaussianMixtureCAVI(5, tol=tol, max_iter=500, random_state=0)
    runs = runs_of(gm, X, w)
    changes = np.abs(np.diff(gm.lower_bounds_))
    stop = int(np.argmax(changes <= tol * total))
    assert changes[stop] <= tol * total and np.all(changes[:stop] > tol * total)
    assert gm.converged_ and gm.n_iter_ == stop + 2 == len(runs[0])
    # The rule matters here: sweeps with tol < |change| <= tol * total (or with
    # tol * total < |change| <= tol * N) exist before the stop under the wrong rules.
    wrong = tol if w is None else tol * X.shape[0]
    assert int(np.argmax(changes <= wrong)) != stop or not np.any(changes <= wrong)


def test_explicit_start_reproduces_reference(rng):
    """With every value given, the estimator is the seed model's CAVI exactly."""
    X, m0, v0, hyper = random_problem(rng, n_samples=50, n_features=3, n_components=4)
    gm = GaussianMixtureCAVI(4, means_init=m0, mean_vars_init=v0, tol=0, max_iter=6,
                             **hyper).fit(X)
    ref = reference.cavi(X, m0, v0, n_iter=6, **hyper)
    np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, ref.means, rtol=1e-10)
    np.testing.assert_allclose(gm.mean_vars_, ref.mean_vars, rtol=1e-10)
    np.testing.assert_allclose(
        gm.predict_proba(X),
        reference.responsibilities(X, ref.means, ref.mean_vars,
                                   likelihood_var=hyper["likelihood_var"]),
        rtol=1e-9, atol=1e-13)


def test_bit_identical_across_thread_counts(rng):
    X, _ = blobs(rng, n=30_000, K=5)  # several chunks
    fits = [GaussianMixtureCAVI(5, random_state=0, tol=0, max_iter=10, n_threads=t).fit(X)
            for t in (1, -1)]  # one thread, and all Numba has
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)


def test_float32_fitted_in_float32(rng):
    X, _ = blobs(rng)
    kw = dict(n_components=3, random_state=0, means_init=X[:3], tol=0, max_iter=10)
    g32 = GaussianMixtureCAVI(**kw).fit(X.astype(np.float32))
    g64 = GaussianMixtureCAVI(**kw).fit(X.astype(np.float32).astype(np.float64))
    assert g32.predict_proba(X.astype(np.float32)).dtype == np.float32
    # float32 per-point math with float64 sums agrees to ~1e-8 (ELBO) and ~5e-8 (means).
    np.testing.assert_allclose(g32.lower_bounds_, g64.lower_bounds_, rtol=5e-8)
    np.testing.assert_allclose(g32.means_, g64.means_, rtol=0,
                               atol=2e-7 * np.abs(g64.means_).max())


def test_score_samples_is_log_posterior_predictive(rng):
    X, _ = blobs(rng, n=200)
    gm = GaussianMixtureCAVI(3, random_state=0).fit(X)
    K, p = gm.means_.shape
    dens = np.array([multivariate_normal(gm.means_[k], (gm.likelihood_var_ + gm.mean_vars_[k])
                                         * np.eye(p)).logpdf(X) for k in range(K)])
    expected = logsumexp(dens, axis=0) - np.log(K)
    np.testing.assert_allclose(gm.score_samples(X), expected, rtol=1e-10)
    assert gm.score(X) == pytest.approx(expected.mean(), rel=1e-10)


def test_defaults_documented(rng):
    """None hyperparameters resolve to the data-driven values the docstring promises."""
    X, _ = blobs(rng, n=2000)
    gm = GaussianMixtureCAVI(3, random_state=0).fit(X)
    np.testing.assert_allclose(gm.prior_mean_, X.mean(axis=0), rtol=1e-12)
    assert gm.prior_var_ == pytest.approx(X.var(axis=0).mean(), rel=1e-12)
    assert 0.5 < gm.likelihood_var_ < 5.0  # unit-variance clusters


def test_user_arrays_not_modified(rng):
    X, _ = blobs(rng, n=500)
    X.flags.writeable = False
    m0 = X[:3].copy()
    w = rng.uniform(0.5, 2, 500)
    copies = [a.copy() for a in (X, m0, w)]
    gm = GaussianMixtureCAVI(3, means_init=m0, random_state=0).fit(X, sample_weight=w)
    gm.predict(X), gm.predict_proba(X), gm.score_samples(X)
    for a, c in zip((X, m0, w), copies):
        np.testing.assert_array_equal(a, c)
    assert gm.means_ is not m0


def test_sample_weight_integer_and_zero(rng):
    X, _ = blobs(rng, n=300)
    w = rng.integers(0, 4, 300)
    kw = dict(n_components=3, means_init=X[w > 0][:3], prior_mean=0.0, prior_var=50.0,
              likelihood_var=1.0, tol=0, max_iter=8)
    weighted = GaussianMixtureCAVI(**kw).fit(X, sample_weight=w)
    repeated = GaussianMixtureCAVI(**kw).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-10)


def test_read_only_and_memmap_input_one_compile(rng, tmp_path):
    from fastcavi.kernels import fixed as _kernels
    X, _ = blobs(rng, n=300)
    GaussianMixtureCAVI(3, random_state=0, max_iter=3).fit(X)
    n_sigs = len(_kernels._sweep_statistics.signatures)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = GaussianMixtureCAVI(3, random_state=0, max_iter=3, tol=0).fit(mm)
    b = GaussianMixtureCAVI(3, random_state=0, max_iter=3, tol=0).fit(X)
    assert len(_kernels._sweep_statistics.signatures) == n_sigs
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)


def test_functional_api_validates(rng):
    X, m0, v0, hyper = random_problem(rng, n_samples=20, n_features=2, n_components=2)
    with pytest.raises(ValueError, match="n_iter"):
        fastcavi.cavi(X, m0, v0, n_iter=0, **hyper)
    with pytest.raises(ValueError, match="NaN"):
        fastcavi.cavi(np.where(X > 0, np.nan, X), m0, v0, n_iter=1, **hyper)
    with pytest.raises(ValueError, match="likelihood_var"):
        fastcavi.cavi(X, m0, v0, n_iter=1, **dict(hyper, likelihood_var=-1.0))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_random_init_is_the_update_from_random_responsibilities(weighted):
    """init_params='random': q(mu) from uniform random responsibilities (one draw of N x K from
    the random state, rows normalised, times the weights), then the sweeps; checked against
    the NumPy oracle on N crossing the 65,536-row blocks the start is computed in."""
    from . import oracles

    rng = np.random.default_rng(5)
    X, _ = blobs(rng, n=70_001, K=3)
    w = rng.uniform(0, 3, X.shape[0]) if weighted else None
    hyper = dict(prior_mean=0.5, prior_var=40.0, likelihood_var=1.5)
    gm = GaussianMixtureCAVI(3, init_params="random", random_state=0, tol=0, max_iter=2,
                             **hyper).fit(X, sample_weight=w)
    r = np.random.RandomState(0).uniform(size=(X.shape[0], 3))
    r /= r.sum(axis=1, keepdims=True)
    m0, v0 = oracles.update_q_mu(X, r, hyper["prior_mean"], hyper["prior_var"],
                                 hyper["likelihood_var"], sample_weight=w)
    even = 1.0 / (1.0 / hyper["prior_var"]
                  + (X.shape[0] if w is None else w.sum()) / 3 / hyper["likelihood_var"])
    means, mean_vars, _, bounds = oracles.vectorised_cavi(
        X, m0, np.full(3, even), n_iter=2, sample_weight=w, **hyper)
    np.testing.assert_allclose(gm.lower_bounds_, bounds, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, means, rtol=1e-10)
