"""``default_prior='mclust'``: the prior R's mclust uses by default (Fraley & Raftery 2007,
``mclust::defaultPrior``: shrinkage 0.01, d + 2 degrees of freedom, scale var(data) / G^(2/d)),
against that definition computed here with NumPy, against scikit-learn's own fit given the same
values, and against the fact it is there for: with it, a fit with moves finds the number of
clusters of a mixture of many clusters in two dimensions, where scikit-learn's prior makes the
bound itself prefer fewer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

import fastcavi
from fastcavi import BayesianGaussianMixture, MixtureSelection

from .test_cli import assert_clean_error, call

TYPES = ("full", "tied", "diag", "spherical")


def _mclust(X, n_clusters, covariance_type, counts=None):
    """mclust's default prior for G = n_clusters, in scikit-learn's parameters, with integer
    ``counts`` as repeated rows."""
    p = X.shape[1]
    cov = np.atleast_2d(np.cov(X, rowvar=False, fweights=counts)) / n_clusters ** (2.0 / p)
    psi0 = {"full": cov, "tied": cov, "diag": np.diag(cov),
            "spherical": np.mean(np.diag(cov))}[covariance_type]
    return dict(mean_precision_prior=0.01, degrees_of_freedom_prior=p + 2.0,
                covariance_prior=psi0, weight_concentration_prior=1.0 / n_clusters,
                mean_prior=np.average(X, axis=0, weights=counts))


def _fit(X, sample_weight=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BayesianGaussianMixture(random_state=0, max_iter=5, **kw).fit(
            X, sample_weight=sample_weight)


def _correlated(seed, n=300, p=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + rng.normal(size=p) * 5


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize(("kw", "clusters"), [
    (dict(n_components=4), 4),                                  # G = n_components
    (dict(n_components=4, max_components=7), 7),                # one prior for several K
    (dict(n_components=3, moves=True), 20),                     # the cap: max(2 K, 20)
    (dict(n_components=3, moves=True, max_components=9), 9),
])
def test_the_prior_is_mclusts_for_g_clusters(kw, clusters, covariance_type, weighted):
    X = _correlated(1)
    counts = np.random.default_rng(2).integers(1, 4, len(X)) if weighted else None
    est = _fit(X, counts, covariance_type=covariance_type, default_prior="mclust", **kw)
    want = _mclust(X, clusters, covariance_type, counts)
    assert est.mean_precision_prior_ == want["mean_precision_prior"]
    assert est.degrees_of_freedom_prior_ == want["degrees_of_freedom_prior"]
    assert est.weight_concentration_prior_ == pytest.approx(want["weight_concentration_prior"],
                                                            rel=1e-15)
    np.testing.assert_allclose(est.covariance_prior_, want["covariance_prior"], rtol=1e-12)
    np.testing.assert_allclose(est.mean_prior_, want["mean_prior"], rtol=1e-12, atol=1e-12)


def test_the_default_is_scikit_learns_and_given_values_win():
    X = _correlated(3)
    plain = _fit(X, n_components=3)
    theirs = SkBGM(n_components=3, random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X)
    assert plain.default_prior == "scikit-learn"
    for name in ("mean_precision_prior_", "degrees_of_freedom_prior_",
                 "weight_concentration_prior_", "covariance_prior_"):
        np.testing.assert_allclose(getattr(plain, name), getattr(theirs, name), rtol=1e-12)
    # max_components without moves changes nothing under scikit-learn's defaults
    np.testing.assert_array_equal(_fit(X, n_components=3, max_components=9).means_,
                                  plain.means_)
    given = dict(mean_precision_prior=0.5, degrees_of_freedom_prior=7.0,
                 weight_concentration_prior=2.0, covariance_prior=np.eye(3) * 3.0)
    est = _fit(X, n_components=3, default_prior="mclust", **given)
    for name, value in given.items():
        np.testing.assert_array_equal(getattr(est, name + "_"), value)


@pytest.mark.parametrize("wtype", ["dirichlet_process", "dirichlet_distribution"])
def test_full_is_scikit_learns_fit_given_the_same_prior(wtype):
    """scikit-learn's BayesianGaussianMixture, given mclust's values computed here, fits what
    ``default_prior='mclust'`` fits (the 'full' model is scikit-learn's, update for update)."""
    X = _correlated(4, n=400)
    kw = dict(n_components=5, covariance_type="full", weight_concentration_prior_type=wtype,
              random_state=3, max_iter=30, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(default_prior="mclust", **kw).fit(X)
        theirs = SkBGM(**_mclust(X, 5, "full"), **kw).fit(X)
    for name in ("means_", "covariances_", "weights_", "degrees_of_freedom_",
                 "mean_precision_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-8,
                                   atol=1e-12, err_msg=name)


def test_a_bad_value_is_a_clear_error():
    with pytest.raises(ValueError, match="'default_prior' parameter of "
                                         "BayesianGaussianMixture must be a str among"):
        BayesianGaussianMixture(default_prior="R").fit(_correlated(5))
    with pytest.raises(ValueError, match="'default_prior' parameter of MixtureSelection"):
        MixtureSelection([1, 2], default_prior="sklearn").fit(_correlated(5))


@pytest.mark.slow
def test_many_clusters_in_two_dimensions():
    """18 clusters in two dimensions (the benchmark's mixture, 3,600 points). Under
    scikit-learn's prior the bound itself prefers fewer: the fit with moves ends below 18
    components with a higher bound than a fit of 18 started from the true labels. Under
    mclust's prior for G = 36, the fit with moves finds 18 from 1 and from 36 components,
    and its bound is at least that of the fit started from the truth."""
    from fastcavi.bench.moves import fit_fastcavi, make_mixture, synthetic_problems

    k = 18
    seed = next(s for kk, p, s in synthetic_problems() if (kk, p) == (k, 2))
    X, labels, _ = make_mixture(k, 2, seed)

    def from_truth(**kw):
        truth = BayesianGaussianMixture(
            n_components=k, random_state=seed, max_iter=1000, tol=1e-5 * len(X), **kw)
        truth._shared_start = {k: labels}  # the 'kmeans' start, with the true labels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return truth.fit(X)

    sk = fit_fastcavi(X, 2 * k, seed, moves=True, max_components=2 * k, prior="scikit-learn")
    sk_truth = from_truth(weight_concentration_prior=1 / (2 * k))
    assert sk.n_components_ < k and sk.lower_bound_ > sk_truth.lower_bound_
    truth = from_truth(default_prior="mclust", max_components=2 * k)
    for k0 in (1, 2 * k):
        gm = fit_fastcavi(X, k0, seed, moves=True, max_components=2 * k, prior="mclust")
        assert gm.n_components_ == k, (k0, gm.n_components_)
        assert gm.lower_bound_ > truth.lower_bound_ - 1.0, (k0, gm.lower_bound_,
                                                            truth.lower_bound_)


def test_selection_fits_every_k_under_one_prior():
    """The grid's fits share mclust's prior for G = its largest K; with 'scikit-learn' each
    fit is BayesianGaussianMixture's default fit."""
    rng = np.random.default_rng(6)
    X = np.vstack([rng.normal(size=(150, 2)) + c for c in ([0, 0], [7, 0], [0, 7])])
    kw = dict(random_state=0, max_iter=200, algorithm="accelerated")  # the grid's default
    for default_prior, fitted in (("mclust", dict(default_prior="mclust", max_components=4)),
                                  ("scikit-learn", {})):
        sel = MixtureSelection([2, 4], ["diag"], default_prior=default_prior, **kw).fit(X)
        for i, k in enumerate((2, 4)):
            alone = BayesianGaussianMixture(
                n_components=k, covariance_type="diag",
                weight_concentration_prior_type="dirichlet_distribution", **fitted, **kw).fit(X)
            assert sel.results_["lower_bound"][i] == alone.lower_bound_


def test_selection_under_both_priors_lets_the_bound_choose():
    """``default_prior=('scikit-learn', 'mclust')``: every fit under each prior (each row the
    standalone fit under its prior), the best the highest criterion over both, named in
    best_params_; the table shows the prior."""
    rng = np.random.default_rng(8)
    X = np.vstack([rng.normal(size=(60, 2)) * 0.3 + c for c in
                   rng.uniform(-10, 10, size=(8, 2))])
    kw = dict(random_state=0, max_iter=300, algorithm="batch")
    sel = MixtureSelection([4, 8], ["full"], default_prior=("scikit-learn", "mclust"),
                           **kw).fit(X)
    r = sel.results_
    assert list(r["default_prior"]) == ["scikit-learn"] * 2 + ["mclust"] * 2
    for i, (prior, k) in enumerate([("scikit-learn", 4), ("scikit-learn", 8), ("mclust", 4),
                                    ("mclust", 8)]):
        extra = dict(max_components=8) if prior == "mclust" else {}
        alone = BayesianGaussianMixture(
            n_components=k, weight_concentration_prior_type="dirichlet_distribution",
            default_prior=prior, **extra, **kw).fit(X)
        assert r["lower_bound"][i] == alone.lower_bound_
    best = int(np.argmax(r["criterion"]))
    assert sel.best_index_ == best
    assert sel.best_params_ == {"n_components": int(r["n_components"][best]),
                                "covariance_type": "full",
                                "default_prior": str(r["default_prior"][best])}
    assert sel.best_estimator_.default_prior == sel.best_params_["default_prior"]
    # 8 small clusters: scikit-learn's prior prefers 4 components, mclust's finds the 8, with
    # a bound hundreds of nats higher, so the bound chooses mclust's prior and K = 8
    assert r["criterion"][0] > r["criterion"][1]
    assert sel.best_params_["n_components"] == 8
    assert sel.best_params_["default_prior"] == "mclust"
    assert r["criterion"][3] > r["criterion"][0] + 100
    assert " prior " in sel.table().splitlines()[0]
    assert all(line.split()[1] in ("scikit-learn", "mclust")
               for line in sel.table().splitlines()[1:])


def test_the_command_line_takes_it(tmp_path, capsys):
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(size=(200, 2)) + c for c in ([0, 0], [6, 0], [0, 6])])
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="a,b", comments="")
    status, out, err = call(["fit", tmp_path / "x.csv", "--model", "bgm", "-k", "3",
                             "--default-prior", "mclust", "--random-state", "0", "-q",
                             "-o", tmp_path / "m.npz"], capsys)
    assert status == 0, err
    saved = fastcavi.load(tmp_path / "m.npz")
    assert saved.default_prior == "mclust" and saved.mean_precision_prior_ == 0.01
    np.testing.assert_allclose(saved.covariance_prior_, _mclust(X, 3, "full")[
        "covariance_prior"], rtol=1e-12)
    status, out, err = call(["select", tmp_path / "x.csv", "-k", "1-4", "--covariance-types",
                             "diag", "-q", "-o", tmp_path / "s.npz"], capsys)
    assert status == 0, err
    best = fastcavi.load(tmp_path / "s.npz")
    assert best.default_prior == "mclust" and best.max_components == 4
    before = sorted(p.name for p in tmp_path.iterdir())
    status, _, err = call(["fit", tmp_path / "x.csv", "-k", "2", "--default-prior", "mclust",
                           "-o", tmp_path / "never.npz"], capsys)
    assert_clean_error((status, err), "--default-prior is an option of --model bgm, not of "
                                      "--model cavi", tmp_path, before)
    status, out, err = call(["select", tmp_path / "x.csv", "-k", "2,3", "--covariance-types",
                             "diag", "--default-prior", "scikit-learn,mclust", "-q",
                             "-o", tmp_path / "b.npz"], capsys)
    assert status == 0, err
    assert sum(" scikit-learn " in line for line in out.splitlines()) == 2
    assert "best bgm: covariance_type = diag, default_prior = " in out
    status, _, err = call(["select", tmp_path / "x.csv", "--default-prior", "R"], capsys)
    assert status == 2 and "--default-prior takes distinct names among" in err


def test_the_plot_draws_a_line_per_prior():
    """Under both priors each covariance type has a line per prior (scikit-learn's dotted);
    under one prior the lines are as before, whatever the other models."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(size=(100, 2)) + c for c in ([0, 0], [6, 0])])
    kw = dict(random_state=0, models=("bgm", "gm", "moves"))
    both = MixtureSelection([1, 2], ["diag"], default_prior=("mclust", "scikit-learn"),
                            **kw).fit(X)
    lines = {line.get_label(): line.get_linestyle() for line in both.plot().lines}
    assert lines == {"diag, mclust": "-", "diag, scikit-learn": ":", "diag (-BIC/2)": "--",
                     "diag (moves), mclust": "None", "diag (moves), scikit-learn": "None",
                     "best": "None"}
    one = MixtureSelection([1, 2], ["diag"], default_prior="scikit-learn", **kw).fit(X)
    lines = {line.get_label(): line.get_linestyle() for line in one.plot().lines}
    assert lines == {"diag": "-", "diag (-BIC/2)": "--", "diag (moves)": "None",
                     "best": "None"}
