"""Where swapping scikit-learn's BayesianGaussianMixture for fastcavi's once failed: data whose
covariance is singular (the default prior), warm starts, real data with constant features."""

import warnings

import numpy as np
import pytest
from scipy.special import betaln
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from fastcavi import BayesianGaussianMixture

from . import oracles_family as O

TYPES = ("full", "tied", "diag", "spherical")


def _degenerate(case, rng):
    """Data whose covariance is singular: a constant feature, fewer points than features,
    collinear features, every point the same."""
    if case == "constant-feature":
        X = rng.normal(size=(80, 3)) * [1.0, 5.0, 1.0]
        X[:, 1] = 7.0
    elif case == "fewer-points-than-features":
        X = rng.normal(size=(4, 6)) * 3.0 + 1.0
    elif case == "collinear":
        X = rng.normal(size=(80, 2))
        X = np.column_stack([X, X[:, 0] - 2.0 * X[:, 1]])
    else:
        X = np.full((30, 2), 3.5)
    return X


def _proper(X, ctype):
    """The prior the docs promise, computed independently: the data's covariance (scikit-learn's
    default) plus 1e-6 x each feature's variance on the diagonal, a feature without spread
    taking the mean variance of the others (1 if none has spread)."""
    var = np.var(X, axis=0, ddof=1)
    scale = np.where(var > 0, var, var[var > 0].mean() if np.any(var > 0) else 1.0)
    if ctype in ("full", "tied"):
        return np.atleast_2d(np.cov(X.T)) + np.diag(1e-6 * scale)
    fixed = np.where(var > 0, var, 1e-6 * scale)
    return fixed if ctype == "diag" else (var.mean() if var.mean() > 0 else 1e-6)


CASES = ("constant-feature", "fewer-points-than-features", "collinear", "identical-points")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ctype", TYPES)
def test_a_singular_default_prior_is_made_proper_with_one_warning(ctype, case):
    """scikit-learn fits these; so does fastcavi, with the nearest proper prior (stored as
    covariance_prior_) and one warning that says what was done. A prior that is already proper
    (per-feature variances without a zero) is kept as it is, silently."""
    X = _degenerate(case, np.random.default_rng(3))
    singular = {"full": CASES, "tied": CASES, "diag": ("constant-feature", "identical-points"),
                "spherical": ("identical-points",)}[ctype]
    singular = case in singular
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = BayesianGaussianMixture(n_components=2, covariance_type=ctype, random_state=0,
                                     max_iter=20).fit(X)
    ours = [w for w in caught if "covariance_prior" in str(w.message)]
    assert len(ours) == (1 if singular else 0), [str(w.message) for w in caught]
    if singular:
        assert "singular" in str(ours[0].message) and "1e-06" in str(ours[0].message)
    np.testing.assert_allclose(gm.covariance_prior_, _proper(X, ctype), rtol=1e-12,
                               atol=1e-15)
    assert np.isfinite(gm.lower_bound_)
    np.testing.assert_allclose(gm.predict_proba(X).sum(axis=1), 1.0)
    assert np.all(np.isfinite(gm.score_samples(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SkBGM(n_components=2, covariance_type=ctype, random_state=0, max_iter=20).fit(X)


@pytest.mark.parametrize("wtype", ("dirichlet_distribution", "dirichlet_process"))
@pytest.mark.parametrize("ctype", TYPES)
def test_the_elbo_is_exact_for_the_prior_used(ctype, wtype):
    """K = 1 on data with a constant feature (spherical: identical points): the converged ELBO
    is the closed-form log evidence under covariance_prior_, the proper prior that replaced
    the singular one."""
    X = _degenerate("identical-points" if ctype == "spherical" else "constant-feature",
                    np.random.default_rng(4))
    with pytest.warns(UserWarning, match="singular"):
        gm = BayesianGaussianMixture(n_components=1, covariance_type=ctype, tol=1e-12,
                                     max_iter=200, reg_covar=0.0,
                                     weight_concentration_prior_type=wtype).fit(X)
    hyper = dict(covariance_type=ctype, mean_precision_prior=gm.mean_precision_prior_,
                 mean_prior=gm.mean_prior_, degrees_of_freedom_prior=gm.degrees_of_freedom_prior_,
                 covariance_prior=gm.covariance_prior_)
    evidence = O.log_evidence_k1(X, hyper)
    if wtype == "dirichlet_process":
        g0 = gm.weight_concentration_prior_
        evidence += betaln(1 + len(X), g0) - betaln(1, g0)
    assert gm.converged_
    np.testing.assert_allclose(gm.lower_bound_, evidence, rtol=1e-10)


@pytest.mark.parametrize("ctype", TYPES)
def test_a_singular_prior_the_user_gives_is_an_error(ctype):
    X = _degenerate("collinear", np.random.default_rng(5))
    prior = {"full": np.ones((3, 3)), "tied": np.ones((3, 3)), "diag": np.array([1.0, 0, 1]),
             "spherical": 0.0}[ctype]
    with pytest.raises(ValueError, match="covariance_prior"):
        BayesianGaussianMixture(covariance_type=ctype, covariance_prior=prior).fit(X)


def test_sample_weight_summing_to_one_or_less_needs_a_prior():
    """The default prior divides by sum(w) - 1; below that it is undefined: a clear error."""
    X = np.random.default_rng(6).normal(size=(20, 2))
    with pytest.raises(ValueError, match="total weight above 1"):
        BayesianGaussianMixture(covariance_type="diag").fit(X, sample_weight=np.full(20, 0.04))
    BayesianGaussianMixture(covariance_type="diag", covariance_prior=[1.0, 1.0]).fit(
        X, sample_weight=np.full(20, 0.04))


@pytest.mark.slow
@pytest.mark.parametrize("wtype", ("dirichlet_distribution", "dirichlet_process"))
def test_warm_start_continues_like_scikit_learn(wtype):
    """Each fit of a warm start continues from the last one, and its first change of the
    bound is measured from the stored lower_bound_: the same n_iter_, converged_ and
    parameters as scikit-learn's at every step ('full' is scikit-learn's model)."""
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(c, 1.0, size=(150, 2)) for c in ((0, 0), (6, 0), (0, 6))])
    kw = dict(n_components=4, weight_concentration_prior_type=wtype, warm_start=True,
              max_iter=4, tol=1e-2, random_state=1, reg_covar=0.0)
    ours, theirs = BayesianGaussianMixture(**kw), SkBGM(**kw)
    steps = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(40):
            ours.fit(X)
            theirs.fit(X)
            steps.append(ours.n_iter_)
            assert (ours.n_iter_, ours.converged_) == (theirs.n_iter_, theirs.converged_)
            np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-8)
            np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-8)
            if ours.converged_:
                break
    assert ours.converged_ and len(steps) > 1 and max(steps) == 4


@pytest.mark.slow
@pytest.mark.parametrize("ctype", TYPES)
def test_digits_fit_where_a_pixel_is_constant(ctype):
    """Real data: digits has pixels that are always 0, and more in a training split. Every
    covariance type fits (as scikit-learn's does), with the warning, and scores held-out
    digits finitely; the held-out score of the fitted mixture beats one Gaussian's."""
    X, _ = load_digits(return_X_y=True)
    train, test = X[:1200], X[1200:]
    assert np.any(np.ptp(train, axis=0) == 0)
    scores = {}
    for k in (1, 10):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with pytest.warns(UserWarning, match="singular") if ctype != "spherical" else \
                    warnings.catch_warnings():
                gm = BayesianGaussianMixture(n_components=k, covariance_type=ctype,
                                             random_state=0, max_iter=30).fit(train)
        s = gm.score_samples(test)
        assert np.all(np.isfinite(s))
        scores[k] = s.mean()
    assert scores[10] > scores[1]


@pytest.mark.parametrize("init_params", ("kmeans", "random"))
def test_max_iter_zero_keeps_the_last_start_as_scikit_learn(init_params):
    """max_iter=0 runs no iteration, so no start has a bound: scikit-learn keeps the last
    of its n_init starts (and lower_bound_ is -inf, n_iter_ 0, no warning)."""
    X = np.random.default_rng(8).normal(size=(300, 2))
    kw = dict(n_components=3, max_iter=0, n_init=3, init_params=init_params, random_state=2)
    ours, theirs = BayesianGaussianMixture(**kw).fit(X), SkBGM(**kw).fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-10)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-10)
    assert (ours.n_iter_, ours.converged_, ours.lower_bound_) == (0, False, -np.inf)
