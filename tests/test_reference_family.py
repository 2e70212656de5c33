"""The family reference (fastcavi.reference.family) against facts that need no code of ours.

Every test runs over the four covariance types and both weight priors. The oracles in
tests/oracles_family.py are written again from shared/model-family.md: a vectorised CAVI, the
exact log evidence (closed form at K = 1, enumeration of all K^N assignments for tiny N), a
Monte Carlo ELBO and a sampler from the model; scikit-learn's BayesianGaussianMixture is the
last witness for ``full``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from fastcavi.reference import family as F
from tests import oracles_family as O

RTOL = 1e-10
TYPES = ("full", "tied", "diag", "spherical")
PRIORS = ("dirichlet_distribution", "dirichlet_process")
GRID = pytest.mark.parametrize(("ctype", "wtype"), [(c, w) for c in TYPES for w in PRIORS])


def _hyper(rng, p, ctype, wtype):
    """Random hyperparameters, none of them near a default or near 1."""
    if ctype in ("full", "tied"):
        a = rng.normal(size=(p, p))
        psi0 = (a @ a.T + p * np.eye(p)) * float(np.exp(rng.uniform(-1.0, 1.0)))
        n0 = p - 1.0 + float(rng.uniform(0.6, 3.0))
    else:
        psi0 = np.exp(rng.uniform(-1.0, 1.0, size=p))
        psi0 = psi0 if ctype == "diag" else float(psi0.mean())
        n0 = float(rng.uniform(0.6, 4.0))
    return dict(
        covariance_type=ctype,
        weight_concentration_prior_type=wtype,
        weight_concentration_prior=float(np.exp(rng.uniform(-1.5, 1.0))),
        mean_precision_prior=float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.2))),
        mean_prior=rng.normal(scale=2.0, size=p),
        degrees_of_freedom_prior=n0,
        covariance_prior=psi0,
        reg_covar=0.0,
    )


def _problem(seed, ctype, wtype, p, k, n=12, weighted=False):
    """(X, resp_init, hyper, sample_weight) with X from the model itself."""
    rng = np.random.default_rng(seed)
    hyper = _hyper(rng, p, ctype, wtype)
    X, _ = O.sample_model(rng, n, k, hyper)
    resp = rng.dirichlet(np.full(k, 0.8), size=n)
    w = None
    if weighted:
        w = rng.uniform(0.0, 3.0, size=n)
        w[rng.random(n) < 0.2] = 0.0
    return X, resp, hyper, w


def _params(q, hyper):
    """An oracle q as the reference's Params."""
    return F.Params(hyper["covariance_type"], hyper["weight_concentration_prior_type"],
                    q["weight_concentration"], q["mean_precision"], q["means"],
                    q["degrees_of_freedom"], q["psi"])


def _assert_params(got, want, rtol=RTOL, atol=0.0):
    wc_got, wc_want = got.weight_concentration, want["weight_concentration"]
    if isinstance(wc_want, tuple):
        assert isinstance(wc_got, tuple) and len(wc_got) == 2
        for a, b in zip(wc_got, wc_want):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    else:
        np.testing.assert_allclose(wc_got, wc_want, rtol=rtol, atol=atol)
    scale = 1.0 + np.abs(want["means"]).max()
    np.testing.assert_allclose(got.mean_precision, want["mean_precision"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(got.means, want["means"], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got.degrees_of_freedom, want["degrees_of_freedom"], rtol=rtol,
                               atol=atol)
    assert np.shape(got.psi) == np.shape(want["psi"])
    np.testing.assert_allclose(got.psi, want["psi"], rtol=rtol,
                               atol=rtol * np.abs(want["psi"]).max())


def _assert_terms(X, resp, params, prior, hyper, q, w):
    got = F.elbo_terms(X, resp, params, prior, w)
    want = O.elbo_terms(X, resp, q, hyper, w)
    for name in O.TERM_NAMES:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(F.elbo(X, resp, params, prior, w), O.elbo(X, resp, q, hyper, w),
                               rtol=RTOL)


def _random_q(rng, X, hyper, k, move=1.0):
    """A q that CAVI would never produce: an M-step from random r, then every parameter moved
    (by up to exp(+-move/2) times, the means by N(0, move^2))."""
    q = O.m_step(X, rng.dirichlet(np.ones(k), size=len(X)), hyper)
    jitter = lambda a: np.asarray(a) * np.exp(rng.uniform(-move, move, size=np.shape(a)) / 2)  # noqa: E731
    wc = q["weight_concentration"]
    q["weight_concentration"] = (tuple(jitter(v) for v in wc) if isinstance(wc, tuple)
                                 else jitter(wc))
    q["mean_precision"] = jitter(q["mean_precision"])
    q["means"] = q["means"] + rng.normal(scale=move, size=q["means"].shape)
    nu = q["degrees_of_freedom"]
    q["degrees_of_freedom"] = nu + rng.uniform(0.0, 2.0 * move, np.shape(nu))
    if hyper["covariance_type"] in ("full", "tied"):
        a = rng.normal(scale=0.3 * move, size=q["psi"].shape)
        q["psi"] = q["psi"] + a @ np.swapaxes(a, -1, -2)
    else:
        q["psi"] = jitter(q["psi"])
    return q


# ------------------------------------------------------------------------------------------
# the oracles themselves
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("p", [1, 3])
def test_oracle_k1_closed_form_matches_chain_of_predictives(ctype, p):
    X, _, hyper, _ = _problem(10 + p, ctype, "dirichlet_distribution", p, 1, n=7)
    np.testing.assert_allclose(O.log_evidence_k1(X, hyper), O.log_evidence_chain(X, hyper),
                               rtol=1e-11)


def test_oracle_wishart_logpdf_matches_scipy():
    from scipy import stats
    rng = np.random.default_rng(3)
    for p in (1, 3):
        a = rng.normal(size=(p, p))
        psi, nu = a @ a.T + np.eye(p), p + 0.7
        draws = np.reshape(stats.wishart(df=nu, scale=np.linalg.inv(psi)).rvs(size=5,
                           random_state=rng), (5, p, p))
        want = [stats.wishart(df=nu, scale=np.linalg.inv(psi)).logpdf(d) for d in draws]
        np.testing.assert_allclose(O.wishart_logpdf(draws, psi, nu), want, rtol=1e-12)


@pytest.mark.parametrize("ctype", TYPES)
def test_oracle_enumeration_small_cases(ctype):
    X, _, hyper, _ = _problem(20, ctype, "dirichlet_distribution", 2, 2, n=4)
    k1 = O.log_evidence_k1(X, hyper)
    # K = 1: one assignment, pi = 1.
    np.testing.assert_allclose(O.log_evidence_enumerate(X, 1, hyper), k1, rtol=1e-13)
    # One point: every component has the same prior, whatever K.
    np.testing.assert_allclose(O.log_evidence_enumerate(X[:1], 3, hyper),
                               O.log_evidence_k1(X[:1], hyper), rtol=1e-13)
    # The process with K = 1: p(c) = E[v^N] = B(1 + N, g0) / B(1, g0), below 1.
    dp = dict(hyper, weight_concentration_prior_type="dirichlet_process")
    g0 = hyper["weight_concentration_prior"]
    np.testing.assert_allclose(O.log_evidence_enumerate(X, 1, dp),
                               k1 + special.betaln(1 + len(X), g0) - special.betaln(1, g0),
                               rtol=1e-13)


# ------------------------------------------------------------------------------------------
# reference == independent vectorised implementation, stage by stage and term by term
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@GRID
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("p", "k"), [(1, 2), (3, 3)])
def test_reference_matches_vectorised_oracle_every_iteration(ctype, wtype, weighted, p, k):
    seed = TYPES.index(ctype) * 10 + PRIORS.index(wtype) * 3 + p
    X, resp0, hyper, w = _problem(seed, ctype, wtype, p, k, weighted=weighted)
    prior = F.Prior(**hyper)
    n_iter = 4

    n_k, xbar, scatter = F.statistics(X, resp0, ctype, w)
    on_k, oxbar, oscatter = O.statistics(X, resp0, w)
    np.testing.assert_allclose(n_k, on_k, rtol=RTOL)
    np.testing.assert_allclose(xbar, oxbar, rtol=RTOL, atol=RTOL * np.abs(X).max())
    reduce = {"full": lambda c: c, "tied": lambda c: c.sum(axis=0),
              "diag": lambda c: np.diagonal(c, axis1=1, axis2=2),
              "spherical": lambda c: np.trace(c, axis1=1, axis2=2)}[ctype]
    np.testing.assert_allclose(scatter, reduce(oscatter), rtol=RTOL, atol=1e-12)

    params = F.update((n_k, xbar, scatter), prior)
    q = O.m_step(X, resp0, hyper, w)
    _assert_params(params, q)
    bounds = []
    for _ in range(n_iter):
        np.testing.assert_allclose(F.expected_log_weights(params), O.e_log_pi(q, hyper),
                                   rtol=RTOL)
        np.testing.assert_allclose(F.expected_log_det(params), O.e_log_det(q, hyper), rtol=RTOL,
                                   atol=1e-12)
        np.testing.assert_allclose(F.expected_mahalanobis(X, params), O.e_maha(X, q, hyper),
                                   rtol=RTOL)
        resp, q, lb = O.one_iteration(X, q, hyper, w)
        np.testing.assert_allclose(np.exp(F.log_resp(X, params)), resp, rtol=RTOL, atol=1e-14)
        params = F.update(F.statistics(X, resp, ctype, w), prior)
        _assert_params(params, q)
        _assert_terms(X, resp, params, prior, hyper, q, w)
        np.testing.assert_allclose(F.elbo(X, resp, params, prior, w), lb, rtol=RTOL)
        bounds.append(lb)

    res = F.cavi(X, resp0, prior, n_iter, sample_weight=w)
    np.testing.assert_allclose(res.lower_bounds, bounds, rtol=RTOL)
    _assert_params(res.params, q)
    assert res.resp.shape == (len(X), k)
    assert res.lower_bounds.shape == (n_iter,)


@GRID
def test_stages_match_oracle_at_arbitrary_q(ctype, wtype):
    """Each stage and each ELBO term at a q that CAVI would never produce."""
    X, _, hyper, w = _problem(77, ctype, wtype, 2, 3, weighted=True)
    rng = np.random.default_rng(5)
    q = _random_q(rng, X, hyper, 3)
    params, prior = _params(q, hyper), F.Prior(**hyper)
    resp = rng.dirichlet(np.full(3, 0.5), size=len(X))
    resp[0] = [1.0, 0.0, 0.0]  # 0 log 0 = 0
    np.testing.assert_allclose(F.log_resp(X, params), O.log_resp(X, q, hyper), rtol=RTOL)
    np.testing.assert_allclose(F.expected_weights(params), O.expected_weights(q, hyper),
                               rtol=RTOL)
    np.testing.assert_allclose(F.log_predictive(X, params), O.log_predictive(X, q, hyper),
                               rtol=RTOL)
    _assert_terms(X, resp, params, prior, hyper, q, w)
    _assert_terms(X, resp, params, prior, hyper, q, None)


@GRID
def test_reg_covar_matches_oracle(ctype, wtype):
    """reg_covar * I added to C_k / N_k: N_k reg_covar on each diagonal entry of the scatter
    (its trace gains p N_k reg_covar for spherical, the tied sum N reg_covar)."""
    X, resp0, hyper, w = _problem(50, ctype, wtype, 3, 3, weighted=True)
    hyper = dict(hyper, reg_covar=0.05)
    res = F.cavi(X, resp0, F.Prior(**hyper), 3, sample_weight=w)
    q, resp, bounds, _ = O.vectorised_cavi(X, resp0, hyper, 3, sample_weight=w)
    _assert_params(res.params, q)
    np.testing.assert_allclose(res.resp, resp, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(res.lower_bounds, bounds, rtol=RTOL)
    # and it does move the fit
    plain = F.cavi(X, resp0, F.Prior(**dict(hyper, reg_covar=0.0)), 3, sample_weight=w)
    assert np.max(np.abs(np.asarray(plain.params.psi) - q["psi"])) > 1e-3


def test_one_pass_identities_far_from_the_origin():
    """The accumulators a one-pass kernel keeps, centred on the means that produced r, give
    the reference's C_k and the scatter about the new means without cancellation, 1e6 away
    from the origin."""
    X, resp0, hyper, w = _problem(55, "full", "dirichlet_process", 3, 3, weighted=True)
    prior = F.Prior(**hyper)
    params = F.update(F.statistics(X, resp0, "full", w), prior)
    resp = np.exp(F.log_resp(X, params))
    new = F.update(F.statistics(X, resp, "full", w), prior)
    _, _, c_ref = F.statistics(X, resp, "full", w)
    shift = np.array([1e6, -3e6, 2e6])
    n_k, s_k, r_k = O.centred_accumulators(X + shift, resp, params.means + shift, w)
    c = r_k - np.einsum("ki,kj->kij", s_k, s_k) / n_k[:, None, None]
    np.testing.assert_allclose(c, c_ref, rtol=1e-9, atol=1e-9 * np.abs(c_ref).max())
    d = new.means - params.means
    about_new = (r_k - np.einsum("ki,kj->kij", d, s_k) - np.einsum("ki,kj->kij", s_k, d)
                 + n_k[:, None, None] * np.einsum("ki,kj->kij", d, d))
    diff = X[None] - new.means[:, None, :]
    want = np.einsum("nk,kni,knj->kij", resp * w[:, None], diff, diff)
    np.testing.assert_allclose(about_new, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


@pytest.mark.parametrize("ctype", TYPES)
def test_covariances_and_precisions_conventions(ctype):
    X, resp, hyper, _ = _problem(8, ctype, "dirichlet_process", 2, 3)
    params = F.update(F.statistics(X, resp, ctype), F.Prior(**hyper))
    cov, prec = F.covariances(params), F.precisions(params)
    assert np.shape(cov) == np.shape(params.psi)
    nu = np.asarray(params.degrees_of_freedom)
    if ctype == "full":
        np.testing.assert_allclose(cov, params.psi / nu[:, None, None], rtol=1e-15)
        np.testing.assert_allclose(np.einsum("kij,kjl->kil", cov, prec),
                                   np.broadcast_to(np.eye(2), cov.shape), atol=1e-12)
    elif ctype == "tied":
        np.testing.assert_allclose(cov @ prec, np.eye(2), atol=1e-12)
    else:
        np.testing.assert_allclose(cov * prec, 1.0, rtol=1e-15)


@pytest.mark.parametrize("ctype", TYPES)
def test_empty_component_keeps_its_prior(ctype):
    X, resp, hyper, _ = _problem(9, ctype, "dirichlet_distribution", 2, 3)
    resp[:, 1] = 0.0
    resp /= resp.sum(axis=1, keepdims=True)
    prior = F.Prior(**dict(hyper, reg_covar=1e-3))
    params = F.update(F.statistics(X, resp, ctype), prior)
    np.testing.assert_allclose(params.means[1], hyper["mean_prior"], rtol=1e-15)
    assert params.mean_precision[1] == hyper["mean_precision_prior"]
    if ctype != "tied":
        assert params.degrees_of_freedom[1] == hyper["degrees_of_freedom_prior"]
        np.testing.assert_allclose(params.psi[1], hyper["covariance_prior"], rtol=1e-15)


# ------------------------------------------------------------------------------------------
# ELBO against the exact log evidence
# ------------------------------------------------------------------------------------------


@GRID
@pytest.mark.parametrize("p", [1, 3])
def test_k1_elbo_equals_log_evidence(ctype, wtype, p):
    """With one component the family holds the exact posterior: after one iteration the ELBO
    is log p(X), for the process prior with the factor E[v^N] = B(1 + N, g0) / B(1, g0)."""
    X, _, hyper, _ = _problem(30 + p, ctype, wtype, p, 1, n=25)
    res = F.cavi(X, np.ones((len(X), 1)), F.Prior(**hyper), 3)
    log_z = O.log_evidence_k1(X, hyper)
    if wtype == "dirichlet_process":
        g0 = hyper["weight_concentration_prior"]
        log_z += special.betaln(1 + len(X), g0) - special.betaln(1, g0)
        np.testing.assert_allclose(O.log_evidence_enumerate(X[:5], 1, hyper),
                                   O.log_evidence_k1(X[:5], hyper)
                                   + special.betaln(6, g0) - special.betaln(1, g0), rtol=1e-13)
    np.testing.assert_allclose(res.lower_bounds, log_z, rtol=RTOL)


@GRID
@pytest.mark.parametrize(("n", "k"), [(6, 2), (5, 3)])
def test_tiny_n_elbo_never_exceeds_enumerated_log_evidence(ctype, wtype, n, k):
    X, resp0, hyper, _ = _problem(40 + n * k, ctype, wtype, 2, k, n=n)
    prior = F.Prior(**hyper)
    log_z = O.log_evidence_enumerate(X, k, hyper)
    tol = 1e-10 * abs(log_z)
    res = F.cavi(X, resp0, prior, 15)
    assert np.all(res.lower_bounds <= log_z + tol), (res.lower_bounds, log_z)
    rng = np.random.default_rng(n * k)
    for _ in range(3):
        # non-converged: an M-step from random r, evaluated with other random r ...
        resp = rng.dirichlet(np.ones(k), size=n)
        params = F.update(F.statistics(X, resp, ctype), prior)
        assert F.elbo(X, rng.dirichlet(np.ones(k), size=n), params, prior) <= log_z + tol
        # ... and a q no update would give.
        params = _params(_random_q(rng, X, hyper, k), hyper)
        assert F.elbo(X, resp, params, prior) <= log_z + tol
    # The bound is not slack by construction: the CAVI optimum is within a few nats.
    assert res.lower_bounds[-1] > log_z - 5.0


# ------------------------------------------------------------------------------------------
# Monte Carlo ELBO
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@GRID
@pytest.mark.parametrize("fitted", [False, True], ids=["arbitrary_q", "fitted_q"])
def test_monte_carlo_elbo_matches_closed_form(ctype, wtype, fitted):
    X, resp, hyper, w = _problem(60, ctype, wtype, 2, 3, n=10, weighted=True)
    prior = F.Prior(**hyper)
    rng = np.random.default_rng(61)
    if fitted:
        res = F.cavi(X, resp, prior, 20, sample_weight=w)
        params, resp = res.params, res.resp
        q = O.m_step(X, resp, hyper, w)
    else:
        q = _random_q(rng, X, hyper, 3, move=0.4)  # a larger move needs far more draws
        params = _params(q, hyper)
        resp = 0.5 * resp + 0.5 / 3  # no tiny r_ik: log q(c) would dominate the variance
    closed = F.elbo(X, resp, params, prior, w)
    mc, se = O.mc_elbo(X, resp, q, hyper, n_draws=20_000 if fitted else 50_000,
                       rng=np.random.default_rng(99), sample_weight=w)
    assert abs(mc - closed) <= 4.0 * se, (mc, se, closed)
    assert 4.0 * se < 0.5, se  # power: half a nat would be caught


# ------------------------------------------------------------------------------------------
# monotonicity (property-based)
# ------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, database=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 15), p=st.integers(1, 3),
       k=st.integers(1, 4), ctype=st.sampled_from(TYPES), wtype=st.sampled_from(PRIORS),
       weighted=st.booleans(), from_model=st.booleans())
def test_elbo_never_decreases(seed, n, p, k, ctype, wtype, weighted, from_model):
    rng = np.random.default_rng(seed)
    hyper = _hyper(rng, p, ctype, wtype)
    if from_model:
        X, _ = O.sample_model(rng, n, k, hyper)
    else:  # data not from the model at all
        X = rng.standard_t(3, size=(n, p)) * rng.uniform(0.1, 10.0)
    w = rng.integers(0, 4, size=n).astype(float) if weighted else None
    resp0 = rng.dirichlet(np.full(k, 0.5), size=n)
    lb = F.cavi(X, resp0, F.Prior(**hyper), 12, sample_weight=w).lower_bounds
    assert np.all(np.isfinite(lb))
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), lb


# ------------------------------------------------------------------------------------------
# translation, sample weights
# ------------------------------------------------------------------------------------------


@GRID
def test_translation_equivariance(ctype, wtype):
    X, resp0, hyper, w = _problem(70, ctype, wtype, 2, 3, weighted=True)
    shift = np.random.default_rng(71).normal(scale=30.0, size=2)
    base = F.cavi(X, resp0, F.Prior(**hyper), 6, sample_weight=w)
    moved = F.cavi(X + shift, resp0,
                   F.Prior(**dict(hyper, mean_prior=hyper["mean_prior"] + shift)), 6,
                   sample_weight=w)
    np.testing.assert_allclose(moved.resp, base.resp, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(moved.params.means, base.params.means + shift, rtol=1e-9)
    np.testing.assert_allclose(moved.params.degrees_of_freedom, base.params.degrees_of_freedom,
                               rtol=1e-12)
    np.testing.assert_allclose(moved.params.psi, base.params.psi, rtol=1e-8,
                               atol=1e-10 * np.abs(base.params.psi).max())
    np.testing.assert_allclose(moved.lower_bounds, base.lower_bounds, rtol=1e-9)


@GRID
def test_integer_weights_equal_repeated_rows(ctype, wtype):
    X, resp0, hyper, _ = _problem(80, ctype, wtype, 2, 3)
    w = np.random.default_rng(81).integers(0, 4, size=len(X))
    w[:2] = [0, 3]
    rep = np.repeat(np.arange(len(X)), w)
    prior = F.Prior(**hyper)
    weighted = F.cavi(X, resp0, prior, 5, sample_weight=w)
    repeated = F.cavi(X[rep], resp0[rep], prior, 5)
    _assert_params(weighted.params, vars(repeated.params), rtol=1e-11)
    np.testing.assert_allclose(weighted.resp[rep], repeated.resp, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(weighted.lower_bounds, repeated.lower_bounds, rtol=1e-11)


@GRID
def test_zero_weight_equals_dropped_rows(ctype, wtype):
    X, resp0, hyper, _ = _problem(90, ctype, wtype, 2, 3)
    w = np.ones(len(X))
    w[[1, 4, 7]] = 0.0
    keep = w > 0
    prior = F.Prior(**hyper)
    weighted = F.cavi(X, resp0, prior, 5, sample_weight=w)
    dropped = F.cavi(X[keep], resp0[keep], prior, 5)
    _assert_params(weighted.params, vars(dropped.params), rtol=1e-12)
    np.testing.assert_allclose(weighted.resp[keep], dropped.resp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weighted.lower_bounds, dropped.lower_bounds, rtol=1e-12)
    ones = F.cavi(X, resp0, prior, 3, sample_weight=np.ones(len(X)))
    none = F.cavi(X, resp0, prior, 3)
    np.testing.assert_array_equal(ones.lower_bounds, none.lower_bounds)


# ------------------------------------------------------------------------------------------
# the posterior predictive density
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
@GRID
@pytest.mark.parametrize("p", [1, 2])
def test_posterior_predictive_integrates_to_one(ctype, wtype, p):
    X, resp0, hyper, _ = _problem(100 + p, ctype, wtype, p, 2, n=8)
    params = F.cavi(X, resp0, F.Prior(**hyper), 3).params

    def density(x):
        return np.exp(F.log_predictive(np.reshape(x, (-1, p)), params))

    if p == 1:
        total, _ = integrate.quad(lambda t: density(t)[0], -np.inf, np.inf, epsabs=1e-11,
                                  epsrel=1e-10, limit=200)
    else:
        total = integrate.cubature(density, np.full(p, -np.inf), np.full(p, np.inf),
                                   rtol=1e-6, atol=1e-8).estimate
    np.testing.assert_allclose(total, 1.0, rtol=1e-5)


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("p", [1, 3])
def test_k1_predictive_is_the_ratio_of_evidences(ctype, p):
    """With one component q is the exact posterior, so the predictive density of a new point
    is p(X, x) / p(X), two closed-form evidences."""
    X, _, hyper, _ = _problem(110 + p, ctype, "dirichlet_distribution", p, 1, n=9)
    params = F.cavi(X[:6], np.ones((6, 1)), F.Prior(**hyper), 1).params
    want = [O.log_evidence_k1(np.vstack([X[:6], x]), hyper) - O.log_evidence_k1(X[:6], hyper)
            for x in X[6:]]
    np.testing.assert_allclose(F.log_predictive(X[6:], params), want, rtol=RTOL)


# ------------------------------------------------------------------------------------------
# scikit-learn's BayesianGaussianMixture
# ------------------------------------------------------------------------------------------


def _sklearn_fit(X, k, ctype, wtype, seed, n_iter, **kw):
    """scikit-learn's fit of exactly n_iter iterations from its random responsibilities."""
    bgm = BayesianGaussianMixture(n_components=k, covariance_type=ctype,
                                  weight_concentration_prior_type=wtype, init_params="random",
                                  random_state=seed, max_iter=n_iter, tol=0.0, **kw)
    with pytest.warns(ConvergenceWarning):  # tol = 0 never converges
        bgm.fit(X)
    assert bgm.n_iter_ == n_iter
    return bgm


def _sklearn_resp(seed, n, k):
    """What init_params='random' draws in sklearn/mixture/_base.py _initialize_parameters."""
    resp = np.random.RandomState(seed).uniform(size=(n, k))
    return resp / resp.sum(axis=1)[:, None]


def _data(seed, n=40, p=2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, p))
    return centres[rng.integers(3, size=n)] + rng.normal(size=(n, p)) + 10.0


@pytest.mark.slow
@pytest.mark.parametrize("wtype", PRIORS)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_full_equals_scikit_learn(wtype, reg_covar):
    X, k, seed = _data(1), 3, 7
    prior = F.default_prior(X, "full", wtype, k, reg_covar=reg_covar)
    for n_iter in (1, 10, 30):
        bgm = _sklearn_fit(X, k, "full", wtype, seed, n_iter, reg_covar=reg_covar)
        if n_iter == 1:  # our default prior is scikit-learn's
            np.testing.assert_array_equal(prior.mean_prior, bgm.mean_prior_)
            np.testing.assert_allclose(prior.covariance_prior, bgm.covariance_prior_,
                                       rtol=1e-14)
            assert prior.degrees_of_freedom_prior == bgm.degrees_of_freedom_prior_
            assert prior.weight_concentration_prior == bgm.weight_concentration_prior_
            assert prior.mean_precision_prior == bgm.mean_precision_prior_
        res = F.cavi(X, _sklearn_resp(seed, len(X), k), prior, n_iter)
        par = res.params
        for a, b in zip(np.atleast_2d(par.weight_concentration),
                        np.atleast_2d(bgm.weight_concentration_)):
            np.testing.assert_allclose(a, b, rtol=1e-8)
        np.testing.assert_allclose(par.means, bgm.means_, rtol=1e-8)
        np.testing.assert_allclose(F.covariances(par), bgm.covariances_, rtol=1e-8)
        np.testing.assert_allclose(F.precisions(par), bgm.precisions_, rtol=1e-8)
        np.testing.assert_allclose(par.degrees_of_freedom, bgm.degrees_of_freedom_, rtol=1e-8)
        np.testing.assert_allclose(par.mean_precision, bgm.mean_precision_, rtol=1e-8)
        np.testing.assert_allclose(F.expected_weights(par), bgm.weights_, rtol=1e-8)
        # lower_bound_ is our ELBO less a constant, exactly when the updates are exact CAVI
        diff = res.lower_bounds - np.asarray(bgm.lower_bounds_)
        if reg_covar == 0.0:
            assert np.ptp(diff) < 1e-9 * np.abs(res.lower_bounds).max(), diff
        elif n_iter == 30:
            assert np.ptp(diff) > 1e-7, diff  # reg_covar moves q off the exact update


def _params_from_sklearn(bgm, ctype, wtype):
    nu = bgm.degrees_of_freedom_
    cov = bgm.covariances_
    psi = {"full": lambda: cov * nu[:, None, None], "tied": lambda: cov * nu,
           "diag": lambda: cov * nu[:, None], "spherical": lambda: cov * nu}[ctype]()
    return F.Params(ctype, wtype, bgm.weight_concentration_, bgm.mean_precision_, bgm.means_,
                    nu, psi)


def test_spherical_differs_from_scikit_learn_which_counts_each_point_once():
    """scikit-learn's spherical update sets nu_k = n0 + N_k: each point counted as one
    observation of the precision l_k where it gives p. With K = 1 (r = 1) ours is the exact
    posterior, so its ELBO is the log evidence; scikit-learn's q falls short of it."""
    X, seed = _data(2, n=30, p=3), 3
    prior = F.default_prior(X, "spherical", "dirichlet_distribution", 1, reg_covar=0.0)
    bgm = _sklearn_fit(X, 1, "spherical", "dirichlet_distribution", seed, 2, reg_covar=0.0)
    ours = F.cavi(X, np.ones((len(X), 1)), prior, 2)
    n0, p = prior.degrees_of_freedom_prior, X.shape[1]
    np.testing.assert_allclose(bgm.degrees_of_freedom_, n0 + len(X), rtol=1e-12)
    np.testing.assert_allclose(ours.params.degrees_of_freedom, n0 + p * len(X), rtol=1e-15)
    log_z = O.log_evidence_k1(X, vars(prior))
    np.testing.assert_allclose(ours.lower_bounds[-1], log_z, rtol=RTOL)
    resp = np.ones((len(X), 1))
    theirs = F.elbo(X, resp, _params_from_sklearn(bgm, "spherical", "dirichlet_distribution"),
                    prior)
    assert theirs < log_z - 0.1, (theirs, log_z)  # a gap of 0.43 nats on these data


@pytest.mark.parametrize("wtype", PRIORS)
def test_tied_differs_from_scikit_learn_which_uses_n_over_k(wtype):
    """scikit-learn's tied update sets nu = n0 + N / K; the exact update is n0 + N (one
    precision, seen by all N points). With K = 1 they coincide."""
    X, k, seed = _data(3), 3, 5
    prior = F.default_prior(X, "tied", wtype, k, reg_covar=0.0)
    bgm = _sklearn_fit(X, k, "tied", wtype, seed, 10, reg_covar=0.0)
    ours = F.cavi(X, _sklearn_resp(seed, len(X), k), prior, 10)
    n0 = prior.degrees_of_freedom_prior
    np.testing.assert_allclose(bgm.degrees_of_freedom_, n0 + len(X) / k, rtol=1e-12)
    np.testing.assert_allclose(ours.params.degrees_of_freedom, n0 + len(X), rtol=1e-12)
    prior1 = F.default_prior(X, "tied", wtype, 1, reg_covar=0.0)
    bgm1 = _sklearn_fit(X, 1, "tied", wtype, seed, 2, reg_covar=0.0)
    ours1 = F.cavi(X, np.ones((len(X), 1)), prior1, 2).params
    np.testing.assert_allclose(F.covariances(ours1), bgm1.covariances_, rtol=1e-8)
    np.testing.assert_allclose(ours1.means, bgm1.means_, rtol=1e-8)


@pytest.mark.parametrize("wtype", PRIORS)
def test_diag_differs_from_scikit_learn_only_in_its_expected_log_det(wtype):
    """scikit-learn's diag M-step is ours, but its E-step takes E[log|P_k|] from the Wishart,
    sum_{j=0..p-1} psi((nu_k - j)/2), instead of p psi(nu_k/2). Our stages with that one
    substitution reproduce its fit; ours proper drift away from it."""
    X, k, seed, n_iter = _data(4, p=3), 3, 11, 10
    prior = F.default_prior(X, "diag", wtype, k, reg_covar=0.0)
    bgm = _sklearn_fit(X, k, "diag", wtype, seed, n_iter, reg_covar=0.0)
    p = X.shape[1]
    resp = _sklearn_resp(seed, len(X), k)
    params = F.update(F.statistics(X, resp, "diag"), prior)
    for _ in range(n_iter):
        nu = np.asarray(params.degrees_of_freedom)
        theirs_log_det = (special.digamma((nu[:, None] - np.arange(p)) / 2.0).sum(axis=1)
                          + p * math.log(2.0) - np.log(params.psi).sum(axis=1))
        logits = (F.expected_log_weights(params) + 0.5 * theirs_log_det
                  - 0.5 * p * math.log(2 * math.pi) - 0.5 * F.expected_mahalanobis(X, params))
        resp = np.exp(logits - special.logsumexp(logits, axis=1, keepdims=True))
        params = F.update(F.statistics(X, resp, "diag"), prior)
    np.testing.assert_allclose(params.means, bgm.means_, rtol=1e-8)
    np.testing.assert_allclose(F.covariances(params), bgm.covariances_, rtol=1e-8)
    ours = F.cavi(X, _sklearn_resp(seed, len(X), k), prior, n_iter).params
    assert np.max(np.abs(ours.means - bgm.means_)) > 1e-6 * np.abs(bgm.means_).max()


def test_scikit_learn_score_samples_is_not_a_density_ours_is():
    """scikit-learn's score_samples is the E-step's normaliser; it integrates to less than 1.
    Ours is the posterior predictive, which integrates to 1."""
    X, k, seed = _data(5, n=30, p=1), 2, 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm = BayesianGaussianMixture(n_components=k, init_params="random", random_state=seed,
                                      max_iter=50, reg_covar=0.0).fit(X)
    theirs, _ = integrate.quad(lambda t: float(np.exp(bgm.score_samples([[t]]))[0]), -np.inf,
                               np.inf, limit=200)
    params = _params_from_sklearn(bgm, "full", "dirichlet_process")
    ours, _ = integrate.quad(lambda t: float(np.exp(F.log_predictive([[t]], params))[0]),
                             -np.inf, np.inf, limit=200)
    assert theirs < 0.995, theirs
    np.testing.assert_allclose(ours, 1.0, rtol=1e-7)


# ------------------------------------------------------------------------------------------
# the prior
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", TYPES)
def test_default_prior_matches_scikit_learn(ctype):
    X = _data(6, n=25, p=3)
    prior = F.default_prior(X, ctype, "dirichlet_distribution", 4)
    bgm = _sklearn_fit(X, 4, ctype, "dirichlet_distribution", 0, 1)
    np.testing.assert_allclose(prior.covariance_prior, bgm.covariance_prior_, rtol=1e-13)
    np.testing.assert_allclose(prior.mean_prior, bgm.mean_prior_, rtol=1e-14)
    assert prior.degrees_of_freedom_prior == bgm.degrees_of_freedom_prior_
    assert prior.weight_concentration_prior == bgm.weight_concentration_prior_ == 0.25
    assert prior.mean_precision_prior == bgm.mean_precision_prior_
    assert prior.reg_covar == bgm.reg_covar == 1e-6


@pytest.mark.parametrize(("field", "value"), [
    ("covariance_type", "banana"), ("weight_concentration_prior_type", "dirichlet"),
    ("degrees_of_freedom_prior", 0.9), ("covariance_prior", np.eye(3)),
    ("weight_concentration_prior", 0.0), ("mean_precision_prior", -1.0), ("reg_covar", -1e-6)])
def test_prior_rejects_bad_hyperparameters(field, value):
    hyper = _hyper(np.random.default_rng(0), 2, "full", "dirichlet_process")
    with pytest.raises(ValueError):
        F.Prior(**dict(hyper, **{field: value}))
