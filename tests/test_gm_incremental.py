"""GaussianMixture(algorithm='incremental'): Neal & Hinton's incremental EM. The fast path is
the plain-loop reference visit by visit; no visit decreases the free energy (recorded after
every visit); the free energy is at most the log-likelihood (computed with SciPy's densities)
and equal to it at the fixed point, which is batch EM's; the fit depends on neither threads
nor engine."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from fastcavi import GaussianMixture
from fastcavi._registry import ENGINES
from fastcavi.data import sources as _sources
from fastcavi.reference import em as R

from .test_incremental import elbos_per_visit

# As tests/test_incremental.py: blocks of 1,999 rows (a multiple of no kernel chunk or tile);
# 6,007 rows leave a short last block.
BLOCK_ROWS = 1999
N, P, K = 6007, 2, 3
TYPES = ["full", "tied", "diag", "spherical"]
# tol=0 runs max_iter passes, which scikit-learn's GaussianMixture reports as not converged
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", BLOCK_ROWS)


def separated(seed, n=N, weighted=True):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]]) + rng.normal(0, 1, (K, P))
    scales = rng.uniform(0.5, 1.5, (K, P))
    z = rng.integers(K, size=n)
    X = centres[z] + rng.normal(size=(n, P)) * scales[z]
    w = rng.uniform(0, 2, n)
    w[::11] = 0.0
    return X, (w if weighted else None), centres


def with_visits(est, X, w=None):
    """Fit, recording the free energy per unit weight after every visit of the later passes."""
    return np.array(elbos_per_visit(est, X, w))


def mean_loglik(X, w, weights, means, covariances, ctype):
    """The weighted mean of log sum_k pi_k N(x | mu_k, Sigma_k), with SciPy's densities."""
    p = X.shape[1]
    covs = {"full": lambda k: covariances[k], "tied": lambda k: covariances,
            "diag": lambda k: np.diag(covariances[k]),
            "spherical": lambda k: covariances[k] * np.eye(p)}[ctype]
    logs = np.column_stack([np.log(weights[k]) + multivariate_normal(means[k], covs(k)).logpdf(X)
                            for k in range(len(weights))])
    ll = logsumexp(logs, axis=1)
    w = np.ones(len(X)) if w is None else w
    return float(np.sum(w * ll) / np.sum(w))


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("weighted", [True, False])
def test_the_fast_path_is_the_reference_visit_by_visit(ctype, weighted, monkeypatch):
    """Three passes over 25 rows in blocks of 7 (the last one short): parameters after every
    pass and the free energy after every visit equal the plain-loop reference's."""
    monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", 7)
    X, w, _ = separated(0, n=25, weighted=weighted)
    m0 = X[[0, 1, 2]]
    start = GaussianMixture(K, covariance_type=ctype, means_init=m0, max_iter=0,
                            random_state=0).fit(X, sample_weight=w)
    est = GaussianMixture(K, covariance_type=ctype, means_init=m0, random_state=0, tol=0,
                          max_iter=3, algorithm="incremental")
    visits = with_visits(est, X, w)
    params, ref_visits, ref_passes = R.incremental_em(
        X, (start.weights_, start.means_, start.covariances_), ctype, est.reg_covar, 3, 7, w)
    np.testing.assert_allclose(visits, ref_visits, rtol=1e-10)
    np.testing.assert_allclose(est.lower_bounds_, ref_passes, rtol=1e-10)
    for got, want in zip((est.weights_, est.means_, est.covariances_), params):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("ctype", TYPES)
def test_free_energy_never_decreases_and_the_fixed_point_is_batch_em(ctype, monkeypatch):
    """With reg_covar=0 every visit (a block's E-step, then the M-step) is a coordinate ascent
    step on F, so F after every visit never decreases (to round-off); F after each pass is at
    most the mean log-likelihood of the parameters reached (SciPy's densities); at
    convergence both equal, and the parameters are batch EM's from the same start."""
    import fastcavi.estimators.gaussian_mixture as module

    X, w, centres = separated(1)
    passes = []
    original = module.em_model

    def recording(*args):
        visit, update = original(*args)

        def update_recorded(stats, centre):
            params, bound = update(stats, centre)
            passes.append((params, bound))
            return params, bound

        return visit, update_recorded

    monkeypatch.setattr(module, "em_model", recording)
    kw = dict(covariance_type=ctype, means_init=centres, reg_covar=0.0, tol=1e-11, random_state=0,
              max_iter=500)
    inc = GaussianMixture(K, algorithm="incremental", **kw)
    visits = with_visits(inc, X, w)
    n_blocks = -(-N // BLOCK_ROWS)
    assert n_blocks == 4 and len(visits) == n_blocks * (inc.n_iter_ - 1)
    steps = np.diff(np.r_[inc.lower_bounds_[0], visits])
    assert np.all(steps >= -1e-12 * abs(visits[-1])), steps.min()
    np.testing.assert_allclose(inc.lower_bounds_[1:], visits[n_blocks - 1::n_blocks])
    # the updates of the first pass come before the first full one
    ends = [passes[n_blocks - 1]] + passes[n_blocks:][n_blocks - 1::n_blocks]
    assert len(ends) == inc.n_iter_
    for params, bound in ends:
        ll = mean_loglik(X, w, params.weights, params.means, params.covariances, ctype)
        assert bound <= ll + 1e-12 * abs(ll)
    assert inc.converged_
    final = mean_loglik(X, w, inc.weights_, inc.means_, inc.covariances_, ctype)
    assert inc.lower_bound_ == pytest.approx(final, rel=1e-10)
    batch = GaussianMixture(K, **kw).fit(X, sample_weight=w)
    assert batch.converged_
    np.testing.assert_allclose(inc.means_, batch.means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(inc.weights_, batch.weights_, rtol=1e-6)
    np.testing.assert_allclose(inc.covariances_, batch.covariances_, rtol=1e-5)
    assert inc.lower_bound_ == pytest.approx(batch.lower_bound_, rel=1e-9)


@pytest.mark.parametrize("ctype", TYPES)
def test_results_do_not_depend_on_threads_and_float32_is_float64s(ctype):
    X, w, centres = separated(2)
    fits = [GaussianMixture(K, covariance_type=ctype, means_init=centres, tol=0, max_iter=4,
                            algorithm="incremental", n_threads=t, random_state=0).fit(
                                X, sample_weight=w)
            for t in (1, 2)]
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    f32 = GaussianMixture(K, covariance_type=ctype, means_init=centres, tol=0, max_iter=4,
                          algorithm="incremental", random_state=0).fit(
                              X.astype(np.float32), sample_weight=w)
    assert f32.means_.dtype == np.float32
    np.testing.assert_allclose(f32.means_, fits[0].means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f32.lower_bounds_, fits[0].lower_bounds_, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_visits_the_same_blocks(engine, tmp_path, request, monkeypatch):
    """Memory-mapped, the blocks are the same row ranges; a Dask array's are its chunks
    (chunked as the in-memory blocks): the fits agree."""
    from fastcavi import _registry

    if engine == "dask":
        request.getfixturevalue("dask_client")
        monkeypatch.setattr(_registry, "_DASK_ROWS", BLOCK_ROWS)
    X, w, centres = separated(3)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    for ctype in TYPES:
        kw = dict(covariance_type=ctype, means_init=centres, tol=0, max_iter=5, random_state=0,
                  algorithm="incremental")
        est = GaussianMixture(K, **kw).fit(Xe, sample_weight=we)
        ref = GaussianMixture(K, **kw).fit(X, sample_weight=w)
        np.testing.assert_allclose(est.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
        np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-10, atol=1e-12)


def test_one_block_gives_batch_em_s_parameters(monkeypatch):
    """With one block each pass is one E-step and one M-step: batch EM's parameters. Its
    bound after pass i, F(r(theta_i), theta_i+1), lies between batch EM's bounds of passes i
    and i+1, the log-likelihoods at theta_i (where F(r(theta_i), theta_i) equals it) and at
    theta_i+1 (which F never exceeds)."""
    monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", 2**18)
    X, w, _ = separated(4)
    for ctype in TYPES:
        kw = dict(covariance_type=ctype, random_state=0, tol=0, max_iter=4,
                  init_params="random")
        inc = GaussianMixture(K, algorithm="incremental", **kw).fit(X, sample_weight=w)
        batch = GaussianMixture(K, **kw).fit(X, sample_weight=w)
        np.testing.assert_array_equal(inc.means_, batch.means_)
        inc_b, batch_b = np.array(inc.lower_bounds_), np.array(batch.lower_bounds_)
        slack = 1e-12 * np.abs(batch_b)
        assert np.all(inc_b >= batch_b - slack)
        assert np.all(inc_b[:-1] <= batch_b[1:] + slack[1:])


def test_algorithm_is_checked():
    with pytest.raises(ValueError, match="'algorithm' parameter"):
        GaussianMixture(2, algorithm="online").fit(np.arange(10.0)[:, None])
