"""The pure-Python reference (fastcavi.reference) against facts that need no code of ours.

The oracles in tests/oracles.py are written again from docs/model.md: a vectorised CAVI,
the exact log evidence (closed form for K = 1, enumeration of all K^N assignments for tiny N),
a Monte Carlo ELBO and a sampler from the generative model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from fastcavi import reference
from tests import oracles

RTOL = 1e-10


def _away_from_one(rng, lo, hi):
    """A variance exp(+-U(lo, hi)): never close to 1, so a swapped or dropped variance shows."""
    return float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(lo, hi)))


def _problem(seed, p, k, n=None, weighted=False):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(max(k, 5), 30)) if n is None else n
    hyper = dict(
        prior_mean=rng.normal(scale=2.0, size=p),
        prior_var=_away_from_one(rng, 0.4, 2.0),
        likelihood_var=_away_from_one(rng, 0.4, 1.5),
    )
    X, _, _ = oracles.sample_model(rng, n, p, k, **hyper)
    means0 = X[rng.choice(n, size=k, replace=False)] + rng.normal(scale=0.3, size=(k, p))
    vars0 = rng.uniform(0.05, 2.0, size=k)
    w = None
    if weighted:
        w = rng.uniform(0.0, 3.0, size=n)
        w[rng.random(n) < 0.2] = 0.0
    return X, means0, vars0, hyper, w


def _terms_reference(X, resp, means, mean_vars, hyper, w):
    n, p = X.shape
    k = means.shape[0]
    return {
        "T1": reference.elbo_prior_means(means, mean_vars, prior_mean=hyper["prior_mean"],
                                         prior_var=hyper["prior_var"]),
        "T2": reference.elbo_prior_assignments(n, k, w),
        "T3": reference.elbo_likelihood(X, resp, means, mean_vars,
                                        likelihood_var=hyper["likelihood_var"], sample_weight=w),
        "T4": reference.elbo_entropy_means(mean_vars, p),
        "T5": reference.elbo_entropy_assignments(resp, w),
    }


def _assert_terms_match(X, resp, means, mean_vars, hyper, w):
    got = _terms_reference(X, resp, means, mean_vars, hyper, w)
    want = oracles.elbo_terms(X, resp, means, mean_vars, sample_weight=w, **hyper)
    for name in oracles.TERM_NAMES:
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=0, err_msg=name)
    total = reference.elbo(X, resp, means, mean_vars, sample_weight=w, **hyper)
    np.testing.assert_allclose(total, math.fsum(want.values()), rtol=RTOL, atol=0)


# ------------------------------------------------------------------------------------------
# the oracles themselves
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_oracle_k1_closed_form_matches_dense_gaussian(seed):
    rng = np.random.default_rng(seed)
    p, n = 3, 6
    alpha, sig2, lam2 = rng.normal(size=p), 2.7, 0.45
    X, _, _ = oracles.sample_model(rng, n, p, 1, alpha, sig2, lam2)
    np.testing.assert_allclose(oracles.log_evidence_k1(X, alpha, sig2, lam2),
                               oracles.log_evidence_k1_scipy(X, alpha, sig2, lam2), rtol=1e-12)


def test_oracle_enumeration_small_cases():
    rng = np.random.default_rng(7)
    p, alpha, sig2, lam2 = 2, np.array([0.5, -1.0]), 3.0, 0.4
    X, _, _ = oracles.sample_model(rng, 4, p, 2, alpha, sig2, lam2)
    k1 = oracles.log_evidence_k1
    # K = 1: a single assignment.
    np.testing.assert_allclose(oracles.log_evidence_enumerate(X, 1, alpha, sig2, lam2),
                               k1(X, alpha, sig2, lam2), rtol=1e-13)
    # N = 1: every component has the same prior, so K does not matter.
    np.testing.assert_allclose(oracles.log_evidence_enumerate(X[:1], 3, alpha, sig2, lam2),
                               k1(X[:1], alpha, sig2, lam2), rtol=1e-13)
    # N = 2: same component with probability 1/K, else independent.
    K = 3
    same = k1(X[:2], alpha, sig2, lam2)
    apart = k1(X[:1], alpha, sig2, lam2) + k1(X[1:2], alpha, sig2, lam2)
    want = np.logaddexp(same - math.log(K), apart + math.log1p(-1.0 / K))
    np.testing.assert_allclose(oracles.log_evidence_enumerate(X[:2], K, alpha, sig2, lam2),
                               want, rtol=1e-13)


def test_oracle_expanded_t3_matches_direct_t3():
    X, means, mean_vars, hyper, w = _problem(3, p=3, k=4, weighted=True)
    resp = np.random.default_rng(0).dirichlet(np.ones(4), size=X.shape[0])
    direct = oracles.elbo_terms(X, resp, means, mean_vars, sample_weight=w, **hyper)
    expanded = oracles.elbo_terms(X, resp, means, mean_vars, sample_weight=w,
                                  t3_form="expanded", **hyper)
    np.testing.assert_allclose(expanded["T3"], direct["T3"], rtol=1e-11)


# ------------------------------------------------------------------------------------------
# reference == independent vectorised implementation
# ------------------------------------------------------------------------------------------

SHAPES = [(1, 1), (1, 3), (2, 2), (2, 6), (3, 4), (4, 1), (5, 5), (5, 6), (3, 2), (4, 3)]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(("p", "k"), SHAPES)
def test_reference_matches_vectorised_oracle_per_sweep(p, k, weighted):
    X, means, mean_vars, hyper, w = _problem(100 * p + k, p, k, weighted=weighted)
    n_iter = 6
    scale = 1.0 + np.abs(X).max()
    m_o, s2_o = means, mean_vars
    m_r, s2_r = means, mean_vars
    bounds = []
    for _ in range(n_iter):
        m_o, s2_o, resp_o, lb_o = oracles.one_sweep(X, m_o, s2_o, sample_weight=w, **hyper)
        res = reference.cavi(X, m_r, s2_r, n_iter=1, sample_weight=w, **hyper)
        m_r, s2_r = res.means, res.mean_vars
        np.testing.assert_allclose(res.resp, resp_o, rtol=RTOL, atol=1e-14)
        np.testing.assert_allclose(m_r, m_o, rtol=RTOL, atol=RTOL * scale)
        np.testing.assert_allclose(s2_r, s2_o, rtol=RTOL, atol=0)
        np.testing.assert_allclose(res.lower_bounds[0], lb_o, rtol=RTOL, atol=0)
        _assert_terms_match(X, res.resp, m_r, s2_r, hyper, w)
        bounds.append(res.lower_bounds[0])

    # One call of n_iter sweeps is the chain of n_iter single sweeps, and equals the oracle.
    full = reference.cavi(X, means, mean_vars, n_iter=n_iter, sample_weight=w, **hyper)
    np.testing.assert_allclose(full.lower_bounds, bounds, rtol=1e-13, atol=0)
    om, os2, oresp, olb = oracles.vectorised_cavi(X, means, mean_vars, n_iter=n_iter,
                                                  sample_weight=w, **hyper)
    np.testing.assert_allclose(full.means, om, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(full.mean_vars, os2, rtol=RTOL, atol=0)
    np.testing.assert_allclose(full.resp, oresp, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(full.lower_bounds, olb, rtol=RTOL, atol=0)
    assert full.means.shape == (k, p)
    assert full.mean_vars.shape == (k,)
    assert full.resp.shape == (X.shape[0], k)
    assert full.lower_bounds.shape == (n_iter,)


@pytest.mark.parametrize(("p", "k"), SHAPES[:6])
def test_reference_stages_match_oracle_at_arbitrary_q(p, k):
    """Each stage and each ELBO term at a q that CAVI would never produce."""
    X, means, mean_vars, hyper, w = _problem(7 + p * k, p, k, weighted=True)
    rng = np.random.default_rng(p * 10 + k)
    resp = rng.dirichlet(np.full(k, 0.7), size=X.shape[0])
    got = reference.responsibilities(X, means, mean_vars, likelihood_var=hyper["likelihood_var"])
    want = np.exp(oracles.log_resp(X, means, mean_vars, hyper["likelihood_var"]))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-14)
    m, s2 = reference.update_means(X, resp, sample_weight=w, **hyper)
    m_o, s2_o = oracles.update_q_mu(X, resp, sample_weight=w, **hyper)
    np.testing.assert_allclose(m, m_o, rtol=RTOL, atol=RTOL * (1.0 + np.abs(X).max()))
    np.testing.assert_allclose(s2, s2_o, rtol=RTOL, atol=0)
    _assert_terms_match(X, resp, means, mean_vars, hyper, w)
    _assert_terms_match(X, resp, means, mean_vars, hyper, None)


def test_scalar_prior_mean_equals_constant_vector():
    X, means, mean_vars, hyper, _ = _problem(5, p=3, k=2)
    hyper_s = dict(hyper, prior_mean=-0.7)
    hyper_v = dict(hyper, prior_mean=np.full(3, -0.7))
    a = reference.cavi(X, means, mean_vars, n_iter=4, **hyper_s)
    b = reference.cavi(X, means, mean_vars, n_iter=4, **hyper_v)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.lower_bounds, b.lower_bounds)
    om, _, _, olb = oracles.vectorised_cavi(X, means, mean_vars, n_iter=4, **hyper_s)
    np.testing.assert_allclose(a.means, om, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(a.lower_bounds, olb, rtol=RTOL)


# ------------------------------------------------------------------------------------------
# ELBO against the exact log evidence
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("p", [1, 3])
def test_k1_elbo_equals_closed_form_log_evidence(seed, p):
    """For K = 1, phi = 1 and one sweep gives the exact posterior: ELBO = log p(x)."""
    rng = np.random.default_rng(seed)
    alpha = rng.normal(size=p)
    sig2, lam2 = _away_from_one(rng, 0.5, 2.0), _away_from_one(rng, 0.5, 1.5)
    X, _, _ = oracles.sample_model(rng, 25, p, 1, alpha, sig2, lam2)
    res = reference.cavi(X, rng.normal(size=(1, p)), 0.3, prior_mean=alpha, prior_var=sig2,
                         likelihood_var=lam2, n_iter=3)
    log_z = oracles.log_evidence_k1(X, alpha, sig2, lam2)
    np.testing.assert_allclose(res.lower_bounds, log_z, rtol=RTOL, atol=0)
    np.testing.assert_allclose(log_z, oracles.log_evidence_k1_scipy(X, alpha, sig2, lam2),
                               rtol=1e-11)


TINY = [(seed, n, k) for seed, (n, k) in enumerate(
    [(2, 2), (3, 2), (4, 3), (5, 2), (5, 3), (6, 2), (6, 3), (7, 2), (7, 3), (7, 1), (4, 1)])]


@pytest.mark.parametrize(("seed", "n", "k"), TINY)
def test_tiny_n_elbo_never_exceeds_exact_log_evidence(seed, n, k):
    rng = np.random.default_rng(1000 + seed)
    p = int(rng.integers(1, 4))
    alpha = rng.normal(size=p)
    sig2, lam2 = _away_from_one(rng, 0.3, 2.0), _away_from_one(rng, 0.3, 1.2)
    X, _, _ = oracles.sample_model(rng, n, p, k, alpha, sig2, lam2)
    hyper = dict(prior_mean=alpha, prior_var=sig2, likelihood_var=lam2)
    log_z = oracles.log_evidence_enumerate(X, k, **hyper)
    tol = 1e-10 * abs(log_z)

    res = reference.cavi(X, X[:k] + rng.normal(size=(k, p)), rng.uniform(0.1, 1.0, size=k),
                         n_iter=12, **hyper)
    assert np.all(res.lower_bounds <= log_z + tol), (res.lower_bounds, log_z)
    if k == 1:
        np.testing.assert_allclose(res.lower_bounds, log_z, rtol=RTOL)

    # ELBO <= log p(x) holds at every q, not only along CAVI.
    for _ in range(5):
        resp = rng.dirichlet(np.ones(k), size=n)
        means = alpha + rng.normal(scale=math.sqrt(sig2), size=(k, p))
        mean_vars = rng.uniform(0.01, 3.0, size=k)
        assert reference.elbo(X, resp, means, mean_vars, **hyper) <= log_z + tol


# ------------------------------------------------------------------------------------------
# Monte Carlo ELBO
# ------------------------------------------------------------------------------------------


def _mc_problem():
    rng = np.random.default_rng(2024)
    n, p, k = 12, 2, 3
    hyper = dict(prior_mean=np.array([1.0, -2.0]), prior_var=4.0, likelihood_var=0.6)
    X, _, _ = oracles.sample_model(rng, n, p, k, **hyper)
    return rng, X, hyper


@pytest.mark.slow
@pytest.mark.parametrize("fitted", [False, True], ids=["arbitrary_q", "fitted_q"])
def test_monte_carlo_elbo_matches_closed_form(fitted):
    rng, X, hyper = _mc_problem()
    n, p = X.shape
    k = 3
    if fitted:
        res = reference.cavi(X, X[:k], 1.0, n_iter=20, **hyper)
        means, mean_vars, resp = res.means, res.mean_vars, res.resp
        np.testing.assert_allclose(
            reference.elbo(X, resp, means, mean_vars, **hyper), res.lower_bounds[-1], rtol=1e-14)
    else:
        means = rng.normal(scale=2.0, size=(k, p))
        mean_vars = rng.uniform(0.2, 1.5, size=k)
        resp = rng.dirichlet(np.ones(k), size=n)
    closed = reference.elbo(X, resp, means, mean_vars, **hyper)
    mc, se = oracles.mc_elbo(X, means, mean_vars, resp, n_draws=200_000,
                             rng=np.random.default_rng(99), **hyper)
    assert abs(mc - closed) <= 4.0 * se, (mc, se, closed)
    # The check has power: half a nat (far less than any single term) would be caught.
    assert 4.0 * se < 0.5, se


# ------------------------------------------------------------------------------------------
# monotonicity (property-based)
# ------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    p=st.integers(1, 4),
    k=st.integers(1, 5),
    log_sig2=st.floats(-3.0, 5.0),
    log_lam2=st.floats(-3.0, 3.0),
    scalar_alpha=st.booleans(),
    weighted=st.booleans(),
)
def test_elbo_never_decreases(seed, n, p, k, log_sig2, log_lam2, scalar_alpha, weighted):
    rng = np.random.default_rng(seed)
    sig2, lam2 = math.exp(log_sig2), math.exp(log_lam2)
    alpha = float(rng.normal(scale=3.0)) if scalar_alpha else rng.normal(scale=3.0, size=p)
    if rng.random() < 0.5:
        X, _, _ = oracles.sample_model(rng, n, p, k, alpha, sig2, lam2)
    else:  # data not from the model at all
        X = rng.standard_t(3, size=(n, p)) * rng.uniform(0.1, 10.0)
    w = rng.integers(0, 4, size=n).astype(float) if weighted else None
    means0 = rng.normal(scale=rng.uniform(0.1, 5.0), size=(k, p)) + np.mean(X, axis=0)
    res = reference.cavi(X, means0, rng.uniform(0.01, 5.0, size=k), prior_mean=alpha,
                         prior_var=sig2, likelihood_var=lam2, n_iter=20, sample_weight=w)
    lb = res.lower_bounds
    assert np.all(np.isfinite(lb))
    assert np.all(np.diff(lb) >= -1e-9 * np.abs(lb[1:])), lb


# ------------------------------------------------------------------------------------------
# translation equivariance
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_translation_equivariance(seed):
    rng = np.random.default_rng(500 + seed)
    p, k = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    X, means0, vars0, hyper, w = _problem(500 + seed, p, k, weighted=bool(seed % 2))
    shift = rng.normal(scale=20.0, size=p)
    base = reference.cavi(X, means0, vars0, n_iter=8, sample_weight=w, **hyper)
    moved = reference.cavi(X + shift, means0 + shift, vars0, n_iter=8, sample_weight=w,
                           **dict(hyper, prior_mean=hyper["prior_mean"] + shift))
    np.testing.assert_allclose(moved.means, base.means + shift, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(moved.mean_vars, base.mean_vars, rtol=1e-9)
    np.testing.assert_allclose(moved.resp, base.resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(moved.lower_bounds, base.lower_bounds, rtol=1e-9)


# ------------------------------------------------------------------------------------------
# recovery of well-separated clusters
# ------------------------------------------------------------------------------------------


def test_recovers_well_separated_clusters():
    rng = np.random.default_rng(11)
    n, p, k = 300, 2, 3
    hyper = dict(prior_mean=np.array([3.0, -1.0]), prior_var=100.0, likelihood_var=1.0)
    X, labels, true_means = oracles.sample_model(rng, n, p, k, **hyper)
    gaps = [np.linalg.norm(true_means[a] - true_means[b])
            for a in range(k) for b in range(a + 1, k)]
    assert min(gaps) > 8.0  # the seed gives well-separated clusters
    init = np.array([X[np.flatnonzero(labels == j)[0]] for j in range(k)])
    res = reference.cavi(X, init, 1.0, n_iter=15, **hyper)
    assert adjusted_rand_score(labels, res.resp.argmax(axis=1)) >= 0.99
    # Each m_k is within a few posterior sd of the cluster's sample mean, and s2_k ~ lam2/N_k.
    for j in range(k):
        members = labels == j
        assert np.linalg.norm(res.means[j] - X[members].mean(axis=0)) < 0.05
        np.testing.assert_allclose(res.mean_vars[j], 1.0 / (1.0 / 100.0 + members.sum()),
                                   rtol=0.02)


# ------------------------------------------------------------------------------------------
# sample_weight
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_integer_weights_equal_repeated_rows(seed):
    rng = np.random.default_rng(800 + seed)
    p, k = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    X, means0, vars0, hyper, _ = _problem(800 + seed, p, k, n=15)
    w = rng.integers(0, 4, size=X.shape[0])
    w[0] = 0
    w[1] = 3
    rep = np.repeat(np.arange(X.shape[0]), w)
    weighted = reference.cavi(X, means0, vars0, n_iter=6, sample_weight=w, **hyper)
    repeated = reference.cavi(X[rep], means0, vars0, n_iter=6, **hyper)
    np.testing.assert_allclose(weighted.means, repeated.means, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(weighted.mean_vars, repeated.mean_vars, rtol=1e-11)
    np.testing.assert_allclose(weighted.resp[rep], repeated.resp, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(weighted.lower_bounds, repeated.lower_bounds, rtol=1e-11)


@pytest.mark.parametrize("seed", range(2))
def test_zero_weight_equals_dropping_the_row(seed):
    rng = np.random.default_rng(900 + seed)
    X, means0, vars0, hyper, _ = _problem(900 + seed, p=2, k=3, n=20)
    w = np.ones(X.shape[0])
    w[rng.choice(X.shape[0], size=5, replace=False)] = 0.0
    keep = w > 0
    weighted = reference.cavi(X, means0, vars0, n_iter=6, sample_weight=w, **hyper)
    dropped = reference.cavi(X[keep], means0, vars0, n_iter=6, **hyper)
    np.testing.assert_allclose(weighted.means, dropped.means, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(weighted.mean_vars, dropped.mean_vars, rtol=1e-12)
    np.testing.assert_allclose(weighted.resp[keep], dropped.resp, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(weighted.lower_bounds, dropped.lower_bounds, rtol=1e-12)
    # Unit weights are no weights at all.
    ones = reference.cavi(X, means0, vars0, n_iter=3, sample_weight=np.ones(len(X)), **hyper)
    none = reference.cavi(X, means0, vars0, n_iter=3, **hyper)
    np.testing.assert_array_equal(ones.lower_bounds, none.lower_bounds)
    np.testing.assert_array_equal(ones.means, none.means)
