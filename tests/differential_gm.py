"""Differential testing of ``fastcavi.GaussianMixture`` against scikit-learn's
``GaussianMixture``: hypothesis strategies for every constructor option (valid and not) on the
data of :mod:`tests.differential`, and the judge of one draw.

scikit-learn decides: where it raises, fastcavi raises a ValueError or TypeError; where it
fits, fastcavi fits, and on well-scaled float64 data with the same fit: the same parameters
(1e-8), ``n_iter_`` and ``converged_``. The deliberate differences are listed in
``DELIBERATE`` and in docs/gaussian-mixture.md.

``python -m tests.differential_gm N`` runs N random draws and lists every disagreement.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture as SkGM

from fastcavi.estimators.gaussian_mixture import GaussianMixture

from .differential import COVARIANCE_TYPES, ILL_DEFINED, INIT_PARAMS, Draw, _well_scaled, data

DELIBERATE = {
    # fastcavi computes in float64 (float32 data: float32 logits, float64 sums and
    # parameters), so where scikit-learn's float32 or expanded-square arithmetic loses a
    # component's covariance (its "ill-defined empirical covariance" error), fastcavi may fit;
    # where both fit float32 data, the fits are compared by their facts only.
    "float64-arithmetic",
    # A fit whose likelihood is unbounded (a component collapsing onto one point or a line,
    # held only by reg_covar; a covariance with condition number above 1e6) amplifies
    # round-off from one iteration to the next: both implementations then give a valid fit,
    # but not the same one. fastcavi's bound comes from one-pass sums, whose round-off in the
    # collapsed directions is about eps x condition number x the data's scale, so there it
    # may also stop at another iteration. Compared by its facts.
    "collapsing-components",
    # scikit-learn's tied, diag and spherical covariances, and its diag and spherical
    # log-densities, are formed from uncentred second moments, which lose about
    # eps |x|^2 / variance (fastcavi's sums are centred on the means); after a one-point start
    # ('k-means++', 'random_from_data') every variance is reg_covar, so this is large. Where
    # it exceeds 1e-9, the fits are compared by their facts.
    "uncentred-moments",
    # With max_iter=0 and precisions_init, scikit-learn's fit ends in an AttributeError (its
    # start never sets covariances_); fastcavi sets covariances_ to the inverse of the given
    # precisions.
    "max-iter-0-with-precisions-init",
    # With n_init > 1, two starts that end at bounds equal to round-off (say, both at the
    # same solution) are a tie: which one is kept depends on the last bits of each
    # implementation's sums. Then the kept bounds must agree, not the parameters.
    "ties-between-starts",
}


def _precisions(draw, rng, ctype, k, p):
    choice = draw(st.sampled_from(("none",) * 5 + ("good", "good", "wrong-shape", "bad")))
    if choice == "none":
        return None
    a = rng.normal(size=(k, p, p))
    full = np.einsum("kij,klj->kil", a, a) + p * np.eye(p)
    good = {"full": full, "tied": full[0], "diag": rng.uniform(0.2, 3.0, (k, p)),
            "spherical": rng.uniform(0.2, 3.0, k)}[ctype]
    if choice == "good":
        return good
    if choice == "wrong-shape":
        return np.ones((k + 1,) + good.shape[1:])
    return -good if ctype in ("diag", "spherical") else good - 10 * p * np.eye(p) * 3


@st.composite
def options(draw, X):
    """Every constructor option of GaussianMixture, valid and invalid."""
    n, p = X.shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ctype = draw(st.sampled_from(COVARIANCE_TYPES))
    k = draw(st.integers(1, 8))
    opts = dict(
        n_components=k, covariance_type=ctype, init_params=draw(st.sampled_from(INIT_PARAMS)),
        reg_covar=draw(st.sampled_from((1e-6, 1e-6, 0.0, 1e-3, 0.1))),
        n_init=draw(st.integers(1, 2)),
        max_iter=draw(st.one_of(st.integers(0, 3), st.integers(4, 60))),
        tol=draw(st.sampled_from((1e-3, 1e-3, 0.0, 1e-1, 10.0))),
        warm_start=draw(st.booleans()), random_state=draw(st.integers(0, 1000)))
    weights = draw(st.sampled_from(("none",) * 5 + ("good", "unnormalised", "wrong-shape")))
    if weights != "none":
        w = rng.dirichlet(np.ones(k))
        opts["weights_init"] = {"good": w, "unnormalised": w * 2,
                                "wrong-shape": np.append(w, 0.0)}[weights]
    means = draw(st.sampled_from(("none",) * 5 + ("rows", "wrong-shape")))
    if means != "none":
        rows = np.asarray(X, dtype=np.float64)[rng.integers(n, size=k)]
        opts["means_init"] = rows if means == "rows" else rows[:, :0]
    precisions = _precisions(draw, rng, ctype, k, p)
    if precisions is not None:
        opts["precisions_init"] = precisions
    return opts


@st.composite
def draws(draw):
    X, kind = draw(data())
    return Draw(X, draw(options(X)), kind)


def _run(cls, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = cls(**d.options)
            est.fit(d.X)
            bounds = [list(est.lower_bounds_)]
            if d.options["warm_start"]:
                est.fit(d.X)
                bounds.append(list(est.lower_bounds_))
            return est, None
        except Exception as exc:  # noqa: BLE001 - the judge compares any failure
            return None, exc


def _usable(est, X, d):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = est.predict_proba(X)
        scores = est.score_samples(X)
    assert proba.shape == (X.shape[0], d.options["n_components"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.any(np.isnan(scores)), "score_samples has NaN"


def _ill_conditioned(est, X):
    """Whether the fit is one that neither implementation determines to 1e-8 (see
    DELIBERATE): a covariance whose condition number exceeds 1e6 (a component collapsed onto
    a point, a line or a plane, held by reg_covar), a variance below 1e-4 of the data's, or a
    weight below 1e-6."""
    cov = np.asarray(est.covariances_, dtype=np.float64)
    spread = np.asarray(X, dtype=np.float64).var(axis=0).max()
    if est.covariance_type in ("full", "tied"):
        eig = np.linalg.eigvalsh(cov.reshape((-1,) + cov.shape[-2:]))
        small, cond = eig.min(), (eig.max(axis=-1) / eig.min(axis=-1)).max()
    else:
        small, cond = cov.min(), 1.0
    return bool(small < 1e-4 * spread or cond > 1e6 or np.min(est.weights_) < 1e-6)


def _scikit_learn_rounds(d, theirs):
    """Whether scikit-learn's own round-off exceeds 1e-9 of a variance: its tied, diag and
    spherical updates and its diag and spherical log-densities use uncentred second moments
    (X^T X - n mu mu^T, x^2 - 2 x mu + mu^2), which lose about eps |x|^2 / variance; after a
    one-point start every variance is reg_covar (see DELIBERATE)."""
    x2 = float(np.max(np.asarray(d.X, dtype=np.float64) ** 2))
    eps = np.finfo(np.float64).eps
    one_point = (d.options["init_params"] in ("k-means++", "random_from_data")
                 and "precisions_init" not in d.options)
    small = np.asarray(theirs.covariances_, dtype=np.float64)
    if small.ndim >= 2 and theirs.covariance_type in ("full", "tied"):
        small = np.diagonal(small, axis1=-2, axis2=-1)
    variance = float(np.min(small))
    if one_point and d.options["reg_covar"] > 0:
        variance = min(variance, d.options["reg_covar"])
    if theirs.covariance_type == "full":
        return False  # its full update and log-density are centred on the means
    return eps * x2 / variance > 1e-9


def comparable(d, theirs):
    return (d.X.dtype == np.float64 and _well_scaled(d.X) and theirs is not None
            and not _ill_conditioned(theirs, d.X) and not _scikit_learn_rounds(d, theirs))


def judge(d):
    theirs, their_err = _run(SkGM, d)
    ours, our_err = _run(GaussianMixture, d)
    if their_err is not None and ILL_DEFINED in str(their_err):
        if our_err is None:
            _usable(ours, d.X, d)
            return "fitted where scikit-learn's Cholesky failed"
        assert isinstance(our_err, ValueError), f"fastcavi raised {our_err!r}"
        return "both raised: ill-defined"
    if (isinstance(their_err, AttributeError) and "covariances_" in str(their_err)
            and d.options["max_iter"] == 0 and "precisions_init" in d.options):
        assert our_err is None, f"fastcavi raised {our_err!r}"
        return "fitted where scikit-learn has no covariances_ (max_iter=0)"
    if their_err is not None:
        assert our_err is not None, (
            f"scikit-learn raised {type(their_err).__name__}: {their_err}; fastcavi fitted")
        assert isinstance(our_err, (ValueError, TypeError)), (
            f"scikit-learn raised {their_err!r}; fastcavi raised {our_err!r}")
        return f"both raised: {str(their_err)[:50]}"
    if our_err is not None and ILL_DEFINED in str(our_err) and not comparable(d, theirs):
        return "scikit-learn fitted a degenerate model; fastcavi said which component"
    assert our_err is None, f"scikit-learn fitted; fastcavi raised {our_err!r}"
    _usable(ours, d.X, d)
    if not comparable(d, theirs) or _ill_conditioned(ours, d.X):
        return "fitted"
    def agree(name):  # the comparison asserted below
        want = np.asarray(getattr(theirs, name), dtype=np.float64)
        return np.allclose(getattr(ours, name), want, rtol=1e-8,
                           atol=1e-8 * np.abs(want).max())

    # Two starts whose bounds tie to round-off, with fits that differ by more than the
    # comparison below allows: which one is kept is decided by round-off.
    same = agree("weights_") and agree("means_")
    if (d.options["n_init"] > 1 and not same
            and abs(ours.lower_bound_ - theirs.lower_bound_)
            <= 1e-10 * max(1.0, abs(theirs.lower_bound_))):
        return "a tie between starts"
    for name in ("weights_", "means_", "covariances_"):
        want = np.asarray(getattr(theirs, name), dtype=np.float64)
        np.testing.assert_allclose(getattr(ours, name), want, rtol=1e-8,
                                   atol=1e-8 * np.abs(want).max(), err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_, f"n_iter_ {ours.n_iter_} != {theirs.n_iter_}"
    assert ours.converged_ == theirs.converged_
    return "equal to scikit-learn"


def explore(n_examples):
    """Run ``n_examples`` draws; print every disagreement and a tally
    (:func:`tests.differential.explore`)."""
    from .differential import explore as run

    return run(n_examples, strategy=draws(), judged_by=judge,
               path="differential-gm-failures.pkl")


if __name__ == "__main__":
    import sys

    explore(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
