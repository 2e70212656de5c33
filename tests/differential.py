"""Differential testing against scikit-learn: hypothesis strategies that draw data and every
constructor option of ``BayesianGaussianMixture``, and the judge that compares one draw.

scikit-learn decides what is right: where it raises, fastcavi must raise a ValueError or
TypeError that says what is wrong; where it fits, fastcavi must fit and give a usable model;
for ``covariance_type='full'`` (scikit-learn's model with scikit-learn's updates) the same
fitted parameters, iteration count and convergence flag, wherever the prior is proper.

Used by ``tests/test_differential.py``; ``python -m tests.differential N`` runs N draws and
prints every disagreement instead of stopping at the first (for exploring).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import fastcavi

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
WEIGHT_PRIORS = ("dirichlet_process", "dirichlet_distribution")

# Differences documented in docs/model-family.md ("Differences from scikit-learn"); the judge
# skips exactly these comparisons, by name.
DELIBERATE = {
    # tied, diag and spherical use the exact CAVI updates, which scikit-learn approximates, so
    # only 'full' is compared parameter by parameter.
    "exact-updates-for-tied-diag-spherical",
    # A singular data-driven covariance_prior is replaced by the nearest proper one (with a
    # warning), so 'full' then fits a slightly different prior from scikit-learn's.
    "proper-default-prior",
    # float32 data are fitted in float32 with float64 sums; scikit-learn's float32 arithmetic
    # differs, so float32 fits are compared by their facts only.
    "float32-sums",
    # scikit-learn stops with "ill-defined empirical covariance" when its Cholesky
    # factorisation of a component's covariance fails (a singleton component with
    # reg_covar=0, or float32 round-off). With a proper prior every Psi_k is positive definite
    # in exact arithmetic, and fastcavi factors it in float64, so it fits (or says which
    # component is degenerate).
    "fits-where-scikit-learn-cholesky-fails",
    # lower_bound_ is the exact ELBO of the fitted q. scikit-learn's is a shorter formula that
    # equals the ELBO up to a constant only for the exact update, i.e. at reg_covar=0: with
    # reg_covar > 0 (which both add to the scatter) the two bounds can differ by more than
    # tol between iterations, so the runs may stop at different iterations.
    "exact-bound-with-reg-covar",
    # A spherical covariance_prior is a float (scikit-learn's documentation says so too).
    # scikit-learn also runs with a vector when its length happens to equal n_components
    # (broadcast as one prior per component) and fails otherwise; fastcavi says it wants a
    # float.
    "spherical-prior-is-a-float",
}
ILL_DEFINED = "ill-defined empirical covariance"


@dataclass
class Draw:
    """One drawn problem: the data and the constructor options (scikit-learn's names)."""

    X: np.ndarray
    options: dict
    kind: str

    def __repr__(self):
        return (f"Draw(kind={self.kind!r}, shape={self.X.shape}, dtype={self.X.dtype}, "
                f"fortran={np.isfortran(self.X)}, options={self.options!r})")


@st.composite
def data(draw):
    """X: 1 to a few thousand rows (mostly few), 1 to 15 features, from blobs, with duplicated
    rows, a constant column, integer values, tiny or huge scales, a large offset, float32,
    Fortran order."""
    n = draw(st.one_of(st.integers(1, 12), st.integers(13, 200), st.integers(201, 3000)))
    p = draw(st.one_of(st.integers(1, 4), st.integers(5, 15)))
    kind = draw(st.sampled_from(("blobs", "duplicates", "constant-column", "integers",
                                 "few-distinct")))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from((1.0, 1.0, 1e-6, 1e6)))
    offset = draw(st.sampled_from((0.0, 0.0, 3.0, 1e4)))
    dtype = draw(st.sampled_from((np.float64, np.float64, np.float32)))
    fortran = draw(st.booleans())
    rng = np.random.default_rng(seed)
    k_true = int(rng.integers(1, 5))
    centres = rng.normal(0.0, 4.0, (k_true, p))
    X = centres[rng.integers(k_true, size=n)] + rng.normal(0.0, 1.0, (n, p))
    if kind == "duplicates":
        X = X[rng.integers(max(1, n // 3), size=n)]
    elif kind == "constant-column":
        X[:, rng.integers(p)] = centres[0, 0]
    elif kind == "integers":
        X = np.round(X * 2.0)
    elif kind == "few-distinct":
        X = X[rng.integers(min(n, 3), size=n)]
    X = (X * scale + offset).astype(dtype)
    if fortran:
        X = np.asfortranarray(X)
    return X, kind


def _prior_value(draw, ctype, p, rng):
    """covariance_prior: None, or a value of the type's shape (sometimes a wrong shape, a
    non-positive or non-symmetric one), for scikit-learn to judge."""
    choice = draw(st.sampled_from(("none",) * 4 + ("good",) * 3
                                  + ("scalar", "vector", "matrix", "bad")))
    if choice == "none":
        return None
    a = rng.normal(size=(p, p))
    good = {"full": a @ a.T + p * np.eye(p), "tied": a @ a.T + p * np.eye(p),
            "diag": rng.uniform(0.1, 3.0, p), "spherical": float(rng.uniform(0.1, 3.0))}[ctype]
    return {"good": good, "scalar": float(rng.uniform(0.1, 3.0)),
            "vector": rng.uniform(0.1, 3.0, p), "matrix": a @ a.T + p * np.eye(p),
            "bad": (-np.abs(good) if np.ndim(good) < 2 else a)}[choice]


@st.composite
def options(draw, n_features):
    """Every constructor option of BayesianGaussianMixture, valid and invalid."""
    p = n_features
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ctype = draw(st.sampled_from(COVARIANCE_TYPES))
    opts = dict(
        n_components=draw(st.integers(1, 8)),
        covariance_type=ctype,
        init_params=draw(st.sampled_from(INIT_PARAMS)),
        weight_concentration_prior_type=draw(st.sampled_from(WEIGHT_PRIORS)),
        weight_concentration_prior=draw(st.sampled_from((None, None, 1e-3, 0.5, 10.0))),
        mean_precision_prior=draw(st.sampled_from((None, None, 1e-2, 1.0, 50.0))),
        mean_prior=draw(st.sampled_from((None, None, None, "vector", "vector",
                                         "wrong-shape"))),
        degrees_of_freedom_prior=draw(st.sampled_from((None,) * 4 + ("p", "p+5", "p-1",
                                                                   "p-0.5"))),
        covariance_prior=_prior_value(draw, ctype, p, rng),
        reg_covar=draw(st.sampled_from((1e-6, 1e-6, 0.0, 1e-3, 0.1))),
        n_init=draw(st.integers(1, 2)),
        max_iter=draw(st.one_of(st.integers(0, 3), st.integers(4, 40))),
        tol=draw(st.sampled_from((1e-3, 1e-3, 0.0, 1e-1, 10.0))),
        warm_start=draw(st.booleans()),
        random_state=draw(st.integers(0, 1000)),
    )
    if opts["mean_prior"] == "vector":
        opts["mean_prior"] = rng.normal(0.0, 2.0, p)
    elif opts["mean_prior"] == "wrong-shape":
        opts["mean_prior"] = rng.normal(0.0, 2.0, p + 1)
    dof = opts["degrees_of_freedom_prior"]
    if isinstance(dof, str):
        opts["degrees_of_freedom_prior"] = float(eval(dof, {"p": p}))
    return opts


@st.composite
def draws(draw):
    X, kind = draw(data())
    return Draw(X, draw(options(X.shape[1])), kind)


# -- the judge ---------------------------------------------------------------------------------

def _fit_twice(est, X, twice):
    """fit (and fit again when warm-starting: the second fit continues the first)."""
    est.fit(X)
    bounds = [list(est.lower_bounds_)]
    if twice:
        est.fit(X)
        bounds.append(list(est.lower_bounds_))
    return est, bounds


def _run(cls, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _fit_twice(cls(**d.options), d.X, d.options["warm_start"]), None
        except Exception as exc:  # noqa: BLE001 - the judge compares any failure
            return (None, None), exc


def _finite_model(est, X, d):
    if d.options["max_iter"] > 0:
        assert np.isfinite(est.lower_bound_), f"lower_bound_ {est.lower_bound_}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = est.predict_proba(X)
        scores = est.score_samples(X)
        labels = est.predict(X)
    assert proba.shape == (X.shape[0], d.options["n_components"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5 if X.dtype == np.float32
                               else 1e-10)
    assert np.all(np.isfinite(scores)), "score_samples not finite"
    assert np.array_equal(labels, np.argmax(proba, axis=1)) or X.dtype == np.float32


def _proper_default(X):
    """Whether the data's covariance (scikit-learn's default covariance_prior) is proper:
    numerically positive definite."""
    if X.shape[0] < 2:
        return False
    cov = np.atleast_2d(np.cov(np.asarray(X, dtype=np.float64).T))
    eig = np.linalg.eigvalsh(cov)
    return bool(eig[0] > 1e-8 * eig[-1] and eig[-1] > 0)


def _well_scaled(X):
    """The data's spread is not lost in its offset (both implementations round the same
    float64 data differently at a relative precision of eps * offset / spread)."""
    X64 = np.asarray(X, dtype=np.float64)
    spread = np.ptp(X64, axis=0).min()
    return spread > 0 and np.abs(X64).max() / spread < 1e3


def comparable(d):
    """Whether the fit must equal scikit-learn's parameter by parameter (see DELIBERATE)."""
    o = d.options
    return (o["covariance_type"] == "full" and d.X.dtype == np.float64
            and (o["covariance_prior"] is not None or _proper_default(d.X))
            and _well_scaled(d.X))


def _close(name, ours, theirs, rtol):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    scale = np.max(np.abs(theirs)) if theirs.size else 0.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, err_msg=name)


def _bounds_apart(d, our_bounds, their_bounds):
    """With reg_covar > 0: whether scikit-learn's bounds minus ours vary over the iterations
    both ran, in either fit of a warm start (then they are not the same bound up to a
    constant; see DELIBERATE)."""
    if d.options["reg_covar"] == 0:
        return False
    for ours, theirs in zip(our_bounds, their_bounds):
        m = min(len(ours), len(theirs))
        diff = np.asarray(theirs[:m]) - np.asarray(ours[:m])
        if m and np.ptp(diff) > 1e-9 * max(1.0, abs(ours[0])):
            return True
    return False


def judge(d):
    """Compare fastcavi with scikit-learn on one draw; raises AssertionError on a
    disagreement."""
    (theirs, their_bounds), their_err = _run(SkBGM, d)
    (ours, our_bounds), our_err = _run(fastcavi.BayesianGaussianMixture, d)
    if their_err is not None and ILL_DEFINED in str(their_err):
        if our_err is None:
            _finite_model(ours, d.X, d)
            return "fitted where scikit-learn's Cholesky failed"
        assert isinstance(our_err, ValueError), f"fastcavi raised {our_err!r}"
        return "both raised"
    if their_err is not None:
        assert our_err is not None, (
            f"scikit-learn raised {type(their_err).__name__}: {their_err}; fastcavi fitted")
        assert isinstance(our_err, (ValueError, TypeError)), (
            f"scikit-learn raised {their_err!r}; fastcavi raised {our_err!r}")
        return f"both raised: {str(their_err)[:60]}"
    prior = d.options["covariance_prior"]
    if d.options["covariance_type"] == "spherical" and np.size(prior) > 1:
        assert isinstance(our_err, ValueError) and "should be a positive float" in str(our_err)
        return "spherical prior refused: a vector"
    assert our_err is None, f"scikit-learn fitted; fastcavi raised {our_err!r}"
    if not (np.all(np.isfinite(theirs.means_)) and np.all(np.isfinite(theirs.covariances_))):
        _finite_model(ours, d.X, d)
        return "scikit-learn's fit is not finite"
    _finite_model(ours, d.X, d)
    if not comparable(d):
        return "fitted"
    if ours.n_iter_ != theirs.n_iter_ and _bounds_apart(d, our_bounds, their_bounds):
        return "stopped elsewhere: reg_covar changes the bounds apart"
    for name in ("weights_", "means_", "covariances_"):
        _close(name, getattr(ours, name), getattr(theirs, name), 1e-8)
    assert ours.n_iter_ == theirs.n_iter_, f"n_iter_ {ours.n_iter_} != {theirs.n_iter_}"
    assert ours.converged_ == theirs.converged_, (
        f"converged_ {ours.converged_} != {theirs.converged_}")
    return "equal to scikit-learn"


def explore(n_examples, seed=0, strategy=None, judged_by=None,
            path="differential-failures.pkl"):
    """Run ``n_examples`` draws (of ``strategy``, judged by ``judged_by``: this module's
    ``draws()`` and :func:`judge` by default); print every disagreement (with its draw) and a
    tally; save the failing draws to ``path``."""
    from collections import Counter

    from hypothesis import HealthCheck, given, settings

    tally, failures = Counter(), []
    strategy = draws() if strategy is None else strategy
    judged_by = judge if judged_by is None else judged_by

    @settings(max_examples=n_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategy)
    def run(d):
        try:
            tally[judged_by(d)] += 1
        except AssertionError as exc:
            tally["DISAGREE"] += 1
            failures.append((d, str(exc).splitlines()[:6]))

    run()
    for d, why in failures:
        print(d)
        print("   ", "\n    ".join(why))
    print(dict(tally))
    if failures:
        import pickle

        with open(path, "wb") as f:
            pickle.dump([(d.X, d.options, d.kind) for d, _ in failures], f)
        print(f"the failing draws are in {path}")
    return failures


def replay(path="differential-failures.pkl"):
    """Judge again the draws that :func:`explore` saved."""
    import pickle

    with open(path, "rb") as f:
        for X, opts, kind in pickle.load(f):
            d = Draw(X, opts, kind)
            try:
                print(judge(d))
            except AssertionError as exc:
                print(d, "\n   ", str(exc).splitlines()[:6])


if __name__ == "__main__":
    import sys

    explore(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
