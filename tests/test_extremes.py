"""Numerical extremes: the ELBO stays finite, the bound never decreases beyond rounding, and the
results stay right, at scales from 1e-150 to 1e150, far from the origin, for duplicate and
identical points, tiny problems, many components, extreme hyperparameters and components that
lose all their points; and where the data cannot be represented, a clear error instead of NaN.

Scale: the model is scale-equivariant. With x, alpha, m scaled by s and sigma2, lambda2, s2 by
s**2, phi is unchanged and the ELBO shifts by -W p log s. For s a power of two every scaling
is exact, so means and responsibilities must agree bit for bit.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastcavi
from fastcavi import GaussianMixtureCAVI, reference

from .oracles import vectorised_cavi


def blobs(seed, n=400, p=2, K=3, spread=6.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, (K, p))
    return centres[rng.integers(K, size=n)] + rng.normal(size=(n, p))


def assert_monotone(bounds, rtol=1e-12):
    bounds = np.asarray(bounds)
    assert np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -rtol * np.max(np.abs(bounds)))


SCALES = [2.0 ** -500, 1e-150, 2.0 ** 500, 1e150]


@pytest.mark.parametrize("s", SCALES, ids=["2^-500", "1e-150", "2^500", "1e150"])
def test_scale_equivariance_functional(s):
    X = blobs(0, p=3, K=4)
    m0 = X[:4] + 0.1
    v0 = np.array([0.5, 1.0, 2.0, 4.0])
    kw = dict(prior_mean=0.5, prior_var=30.0, likelihood_var=1.2, n_iter=12)
    base = fastcavi.cavi(X, m0, v0, **kw)
    scaled = fastcavi.cavi(X * s, m0 * s, v0 * s * s, prior_mean=0.5 * s, prior_var=30.0 * s * s,
                           likelihood_var=1.2 * s * s, n_iter=12)
    assert_monotone(scaled.lower_bounds)
    shift = X.size * math.log(s)  # W p log s
    tolerance = 1e-12 * (abs(shift) + np.max(np.abs(base.lower_bounds)))
    np.testing.assert_allclose(scaled.lower_bounds + shift, base.lower_bounds, rtol=0,
                               atol=tolerance)
    exact = math.frexp(s)[0] == 0.5
    rtol = 0 if exact else 1e-12
    np.testing.assert_allclose(scaled.means / s, base.means, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(scaled.mean_vars / (s * s), base.mean_vars, rtol=rtol)
    np.testing.assert_allclose(scaled.resp, base.resp, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("s", SCALES, ids=["2^-500", "1e-150", "2^500", "1e150"])
@pytest.mark.parametrize("init_params", ["kmeans++", "random", "random_from_data"])
def test_scale_equivariance_estimator_defaults(s, init_params):
    """With every default data-driven, the whole fit scales, initialisation included."""
    X = blobs(1, K=3)
    kw = dict(n_components=3, init_params=init_params, random_state=0)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(X * s)
    assert_monotone(b.lower_bounds_)
    assert b.n_iter_ == a.n_iter_
    shift = X.size * math.log(s)
    assert abs(b.lower_bound_ + shift - a.lower_bound_) <= 1e-12 * (abs(shift)
                                                                    + abs(a.lower_bound_))
    np.testing.assert_allclose(b.means_ / s, a.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.prior_var_ / (s * s), a.prior_var_, rtol=1e-12)
    np.testing.assert_allclose(b.likelihood_var_ / (s * s), a.likelihood_var_, rtol=1e-12)
    np.testing.assert_array_equal(b.predict(X * s), a.predict(X))
    np.testing.assert_allclose(b.predict_proba(X * s), a.predict_proba(X), atol=1e-12)
    np.testing.assert_allclose(b.score_samples(X * s) + X.shape[1] * math.log(s),
                               a.score_samples(X), rtol=1e-12, atol=1e-12 * abs(math.log(s)))


@pytest.mark.parametrize("s", [2.0 ** -60, 1e-15, 1e15, 2.0 ** 50])
def test_scale_equivariance_float32(s):
    """float32 data are fitted in float32: squared distances limit the scale to about
    1e-19 .. 1e18 (outside it: the clear error of test_unrepresentable_scale_...)."""
    X = blobs(2, K=3).astype(np.float32)
    kw = dict(n_components=3, random_state=0)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit((X * np.float64(s)).astype(np.float32))
    assert_monotone(b.lower_bounds_, rtol=1e-7)
    np.testing.assert_allclose(b.means_ / s, a.means_, rtol=1e-5, atol=1e-5)
    shift = X.size * math.log(s)
    assert abs(b.lower_bound_ + shift - a.lower_bound_) <= 1e-6 * (abs(shift) + abs(a.lower_bound_))


@pytest.mark.parametrize("X, dtype", [
    (blobs(3) * 1e153, np.float64),       # sums of squared distances overflow float64
    (blobs(3) * 1e170, np.float64),       # the variances themselves overflow
    (blobs(3) * 1e-170, np.float64),      # ... or underflow
    (blobs(3) * 1e-309, np.float64),      # a subnormal spread (no finite reciprocal)
    (blobs(3) * 1e20, np.float32),        # squared distances overflow float32
    (blobs(3) * 1e-25, np.float32),       # ... or underflow
], ids=["f64-1e153", "f64-1e170", "f64-1e-170", "f64-1e-309", "f32-1e20", "f32-1e-25"])
def test_unrepresentable_scale_is_a_clear_error(X, dtype):
    with pytest.raises(ValueError, match="Rescale X"):
        GaussianMixtureCAVI(n_components=3, random_state=0).fit(X.astype(dtype))


_FMAX = float(np.finfo(np.float64).max)  # 1.797...e308


@pytest.mark.parametrize("X", [
    np.random.default_rng(0).uniform(-1, 1, (60, 2)) * 1e308,   # differences overflow
    np.random.default_rng(1).uniform(0.5, 1, (60, 2)) * _FMAX,  # sums overflow
    np.full((60, 2), _FMAX),                                    # no spread, the maximum
    np.r_[np.zeros((59, 2)), [[2.0 ** 1023, 0.0]]],             # spread at the top power of 2
], ids=["pm1e308", "near-max", "all-max", "spread-2**1023"])
@pytest.mark.parametrize("kw", [
    {}, dict(prior_mean=0.0, prior_var=1.0), dict(prior_mean=0.0, likelihood_var=1.0),
    dict(prior_mean=0.0, prior_var=1.0, likelihood_var=1.0, init_params="random"),
    dict(prior_var=1.0, likelihood_var=1.0, init_params="random_from_data"),
], ids=["defaults", "lam2-default", "sig2-default", "random", "random-from-data"])
def test_values_near_the_float64_maximum_are_a_clear_error(X, kw):
    """Finite data near 1e308: the "Rescale X" ValueError (never an OverflowError, a
    RuntimeWarning -- errors here -- or a silently wrong fit); X unchanged."""
    before = X.copy()
    if np.all(X == X[0]) and kw.get("init_params") == "random_from_data":
        # every point the same and starting at it: no arithmetic overflows, the fit is exact
        gm = GaussianMixtureCAVI(n_components=2, random_state=0, **kw).fit(X)
        assert np.all(gm.means_ == X[0]) and np.isfinite(gm.lower_bound_)
    else:
        with pytest.raises(ValueError, match="Rescale X"):
            GaussianMixtureCAVI(n_components=2, random_state=0, **kw).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("offset", [1e8, -1e8, np.array([1e8, -3e7])])
@pytest.mark.parametrize("init_params", ["kmeans++", "random", "random_from_data"])
def test_far_from_origin_estimator_defaults(offset, init_params):
    """Translation equivariance with every default data-driven (k-means++ seeding included)."""
    X = blobs(4, n=2000, K=4)
    kw = dict(n_components=4, init_params=init_params, random_state=0, tol=1e-8)
    a = GaussianMixtureCAVI(**kw).fit(X)
    b = GaussianMixtureCAVI(**kw).fit(X + offset)
    assert_monotone(b.lower_bounds_)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-9)
    np.testing.assert_allclose(b.means_ - offset, a.means_, atol=1e-6)
    np.testing.assert_allclose(b.likelihood_var_, a.likelihood_var_, rtol=1e-9)
    np.testing.assert_allclose(b.prior_var_, a.prior_var_, rtol=1e-9)
    np.testing.assert_allclose(b.predict_proba(X + offset), a.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("init_params", ["kmeans++", "random", "random_from_data"])
def test_all_points_identical(K, init_params):
    point = np.array([3.7, -1e-3])
    X = np.tile(point, (50, 1))
    gm = GaussianMixtureCAVI(K, init_params=init_params, random_state=0).fit(X)
    assert_monotone(gm.lower_bounds_)
    # No spread at all: the documented fallbacks, exactly (not the rounding noise of a mean).
    assert gm.prior_var_ == 1.0 and gm.likelihood_var_ == 1.0
    np.testing.assert_array_equal(gm.prior_mean_, point)
    np.testing.assert_allclose(gm.means_, np.tile(point, (K, 1)), rtol=1e-14)
    np.testing.assert_allclose(gm.predict_proba(X), 1.0 / K, rtol=1e-14)
    assert np.all(np.isfinite(gm.score_samples(X)))
    # and the fast path agrees with the reference sweep by sweep
    kw = dict(prior_mean=0.0, prior_var=2.0, likelihood_var=0.5, n_iter=4)
    m0 = np.tile(point, (K, 1)) + np.arange(K)[:, None]
    fast, ref = fastcavi.cavi(X[:10], m0, 1.0, **kw), reference.cavi(X[:10], m0, 1.0, **kw)
    np.testing.assert_allclose(fast.lower_bounds, ref.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(fast.means, ref.means, rtol=1e-10)


def test_duplicates_equal_integer_weights():
    rng = np.random.default_rng(5)
    distinct = rng.normal(size=(6, 2)) * 4
    counts = np.array([1, 20, 3, 7, 1, 12])
    kw = dict(n_components=4, means_init=distinct[:4] + 0.3, prior_mean=0.0, prior_var=20.0,
              likelihood_var=0.8, tol=0, max_iter=15)
    dup = GaussianMixtureCAVI(**kw).fit(np.repeat(distinct, counts, axis=0))
    weighted = GaussianMixtureCAVI(**kw).fit(distinct, sample_weight=counts)
    assert_monotone(dup.lower_bounds_)
    np.testing.assert_allclose(dup.lower_bounds_, weighted.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(dup.means_, weighted.means_, rtol=1e-12, atol=1e-12)


def test_more_components_than_distinct_points():
    X = np.repeat(np.random.default_rng(6).normal(size=(3, 2)), 20, axis=0)
    for init_params in ("kmeans++", "random", "random_from_data"):
        gm = GaussianMixtureCAVI(5, init_params=init_params, random_state=0).fit(X)
        assert_monotone(gm.lower_bounds_)
        assert np.all(np.isfinite(gm.means_))


@pytest.mark.parametrize("N, p, K", [(1, 1, 1), (1, 3, 1), (2, 1, 2), (7, 1, 1), (3, 2, 3)])
def test_tiny_problems(N, p, K):
    X = np.random.default_rng(N * 10 + p).normal(size=(N, p))
    for init_params in ("kmeans++", "random", "random_from_data"):
        gm = GaussianMixtureCAVI(K, init_params=init_params, random_state=0, tol=0,
                                 max_iter=5).fit(X)
        assert_monotone(gm.lower_bounds_)
        assert gm.predict(X).shape == (N,) and np.all(np.isfinite(gm.score_samples(X)))
    kw = dict(prior_mean=0.3, prior_var=4.0, likelihood_var=0.7, n_iter=5)
    m0 = X[:K] + 0.25
    fast, ref = fastcavi.cavi(X, m0, 0.5, **kw), reference.cavi(X, m0, 0.5, **kw)
    np.testing.assert_allclose(fast.lower_bounds, ref.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(fast.means, ref.means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.resp, ref.resp, atol=1e-13)


def test_one_component_reaches_the_exact_evidence():
    """K = 1: q contains the exact posterior, so the ELBO converges to log p(x)."""
    from .oracles import log_evidence_k1

    X = np.random.default_rng(8).normal(2.0, 1.5, size=(30, 2))
    kw = dict(prior_mean=0.5, prior_var=9.0, likelihood_var=2.25)
    res = fastcavi.cavi(X, X[:1], 1.0, n_iter=3, **kw)
    assert_monotone(res.lower_bounds)
    np.testing.assert_allclose(res.lower_bounds[-1], log_evidence_k1(X, **kw), rtol=1e-12)


@pytest.mark.slow
def test_a_thousand_components():
    X = blobs(9, n=2000, K=20, spread=10.0)
    gm = GaussianMixtureCAVI(1000, random_state=0, tol=0, max_iter=10).fit(X)
    assert_monotone(gm.lower_bounds_)
    proba = gm.predict_proba(X)
    assert proba.shape == (2000, 1000)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # the fast path against an independent vectorised CAVI, from the same start
    kw = dict(prior_mean=0.0, prior_var=100.0, likelihood_var=gm.likelihood_var_)
    m0 = X[np.random.default_rng(1).choice(2000, 1000, replace=False)]
    fast = fastcavi.cavi(X, m0, 0.1, n_iter=3, **kw)
    means, mean_vars, resp, bounds = vectorised_cavi(X, m0, 0.1, n_iter=3, **kw)
    np.testing.assert_allclose(fast.lower_bounds, bounds, rtol=1e-10)
    np.testing.assert_allclose(fast.means, means, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fast.resp, resp, atol=1e-9)


@pytest.mark.parametrize("ratio", [1e-12, 1e-100, 1e-250])
def test_likelihood_var_tiny_gives_hard_assignments(ratio):
    """lambda2 << spread: phi is one-hot on the nearest mean and each m_k is the mean of its
    points (the k-means limit), with a finite, monotone bound."""
    X = blobs(10, n=300, K=3)
    gm = GaussianMixtureCAVI(3, likelihood_var=ratio, random_state=0, tol=0, max_iter=8).fit(X)
    assert_monotone(gm.lower_bounds_)
    proba = gm.predict_proba(X)
    assert set(np.unique(proba)) <= {0.0, 1.0}
    nearest = np.argmin(((X[:, None, :] - gm.means_[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(gm.predict(X), nearest)
    # the last sweep's phi came from the means before it; one more sweep from the fitted q
    res = fastcavi.cavi(X, gm.means_, gm.mean_vars_, prior_mean=gm.prior_mean_,
                        prior_var=gm.prior_var_, likelihood_var=ratio, n_iter=1)
    labels = res.resp.argmax(axis=1)
    for k in np.unique(labels):
        np.testing.assert_allclose(res.means[k], X[labels == k].mean(axis=0), rtol=1e-10)


@pytest.mark.parametrize("ratio", [1e12, 1e100, 1e250])
def test_likelihood_var_huge_gives_uniform_responsibilities(ratio):
    X = blobs(11, n=300, K=3)
    gm = GaussianMixtureCAVI(3, likelihood_var=ratio, random_state=0, tol=0, max_iter=5).fit(X)
    assert_monotone(gm.lower_bounds_)
    np.testing.assert_allclose(gm.predict_proba(X), 1.0 / 3.0, rtol=1e-9)
    # the data carry almost no information: q(mu) is the prior, up to N_k / lambda2
    np.testing.assert_allclose(gm.means_, np.tile(gm.prior_mean_, (3, 1)), rtol=1e-9, atol=1e-9)
    expected = 1.0 / (1.0 / gm.prior_var_ + (len(X) / 3.0) / ratio)
    np.testing.assert_allclose(gm.mean_vars_, expected, rtol=1e-12)


@pytest.mark.parametrize("prior_var", [1e-200, 1e-8, 1e8, 1e200])
def test_extreme_prior_var(prior_var):
    X = blobs(12, n=300, K=3)
    gm = GaussianMixtureCAVI(3, prior_var=prior_var, random_state=0, tol=0, max_iter=8).fit(X)
    assert_monotone(gm.lower_bounds_)
    assert np.all(np.isfinite(gm.means_)) and np.all(gm.mean_vars_ > 0)
    if prior_var < 1e-100:  # the prior pins every mean at alpha
        np.testing.assert_allclose(gm.means_, np.tile(gm.prior_mean_, (3, 1)), rtol=1e-12)


def test_components_that_lose_all_their_points():
    """A component far from every point gets phi == 0 exactly: N_k = 0, so q(mu_k) falls back
    to the prior (s2 = sigma2, m = alpha), and the fast path still matches the reference."""
    X = blobs(13, n=60, K=2)
    m0 = np.r_[X[:2], [[1e4, -1e4]], [[-3e4, 0.0]]]
    kw = dict(prior_mean=np.array([0.5, -0.5]), prior_var=25.0, likelihood_var=1.0, n_iter=6)
    fast, ref = fastcavi.cavi(X, m0, 1.0, **kw), reference.cavi(X, m0, 1.0, **kw)
    assert_monotone(fast.lower_bounds)
    np.testing.assert_allclose(fast.lower_bounds, ref.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(fast.means, ref.means, rtol=1e-10, atol=1e-10)
    first = fastcavi.cavi(X, m0, 1.0, **dict(kw, n_iter=1))
    np.testing.assert_array_equal(first.resp[:, 2:], 0.0)
    np.testing.assert_allclose(first.means[2:], np.tile(kw["prior_mean"], (2, 1)), rtol=1e-12)
    np.testing.assert_allclose(first.mean_vars[2:], kw["prior_var"], rtol=1e-15)


# -- property-based: the fast path against the reference over shapes, scales, hyperparameters ----

@st.composite
def problems(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    n = draw(st.integers(1, 25))
    wide = draw(st.booleans())  # p >= 16 and K >= 8: the large-p (BLAS) path
    p = draw(st.integers(16, 18)) if wide else draw(st.integers(1, 4))
    k = draw(st.integers(8, 9)) if wide else draw(st.integers(1, 5))
    log_scale = draw(st.floats(-140, 140))
    rel_offset = draw(st.sampled_from([0.0, 1.0, -10.0]))
    log_lam = draw(st.floats(-2, 3))
    log_sig = draw(st.floats(-3, 6))
    weighted = draw(st.booleans())
    n_iter = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    s = 10.0 ** log_scale
    X = (rng.normal(0, 3, (k, p))[rng.integers(k, size=n)] + rng.normal(size=(n, p))
         + rel_offset * 5.0) * s
    m0 = (rng.normal(0, 3, (k, p)) + rel_offset * 5.0) * s
    hyper = dict(prior_mean=rng.normal(rel_offset * 5.0, 2.0, p) * s,
                 prior_var=10.0 ** log_sig * s * s, likelihood_var=10.0 ** log_lam * s * s)
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    return X, m0, rng.uniform(0.1, 2.0, k) * s * s, hyper, w, n_iter, s


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(problems())
def test_fast_path_matches_reference(problem):
    X, m0, v0, hyper, w, n_iter, s = problem
    ref = reference.cavi(X, m0, v0, n_iter=n_iter, sample_weight=w, **hyper)
    fast = fastcavi.cavi(X, m0, v0, n_iter=n_iter, sample_weight=w, **hyper)
    assert_monotone(fast.lower_bounds, rtol=1e-11)
    # The ELBO's rounding is relative to the size of its terms, not of their (small) sum.
    size = sum(abs(t) for t in (
        reference.elbo_prior_means(ref.means, ref.mean_vars, prior_mean=hyper["prior_mean"],
                                   prior_var=hyper["prior_var"]),
        reference.elbo_prior_assignments(len(X), len(m0), w),
        reference.elbo_likelihood(X, ref.resp, ref.means, ref.mean_vars,
                                  likelihood_var=hyper["likelihood_var"], sample_weight=w),
        reference.elbo_entropy_means(ref.mean_vars, X.shape[1]),
        reference.elbo_entropy_assignments(ref.resp, w)))
    np.testing.assert_allclose(fast.lower_bounds, ref.lower_bounds, rtol=1e-9, atol=1e-9 * size)
    np.testing.assert_allclose(fast.means, ref.means, rtol=1e-8, atol=1e-8 * 50 * s)
    np.testing.assert_allclose(fast.mean_vars, ref.mean_vars, rtol=1e-9)
    np.testing.assert_allclose(fast.resp, ref.resp, atol=1e-8)
