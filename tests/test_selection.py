"""MixtureSelection: the grid, the criterion (the exact ELBO plus log K! under the finite
Dirichlet prior) against the exact log evidence by enumeration, and the models it picks on
data drawn from known mixtures."""

import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastcavi import BayesianGaussianMixture, MixtureSelection
from fastcavi.estimators.selection import label_symmetry

from . import oracles_family as O


def _hyper(ctype, wtype, p):
    return dict(covariance_type=ctype, weight_concentration_prior_type=wtype,
                weight_concentration_prior=1.0, mean_precision_prior=0.05,
                mean_prior=np.zeros(p), degrees_of_freedom_prior=float(p + 1),
                covariance_prior={"full": np.eye(p), "tied": np.eye(p), "diag": np.ones(p),
                                  "spherical": 1.0}[ctype], reg_covar=0.0)


def _selection(hyper, ks, **kw):
    return MixtureSelection(
        ks, [hyper["covariance_type"]],
        weight_concentration_prior_type=hyper["weight_concentration_prior_type"],
        weight_concentration_prior=hyper["weight_concentration_prior"],
        mean_precision_prior=hyper["mean_precision_prior"], mean_prior=hyper["mean_prior"],
        degrees_of_freedom_prior=hyper["degrees_of_freedom_prior"],
        covariance_prior=hyper["covariance_prior"], reg_covar=0.0, tol=1e-10, max_iter=500,
        n_init=3, init_params="random_from_data", random_state=0, **kw)


# Eight points in two tight groups far apart: the posterior over labelings is K! copies of
# one sharp mode, so the mean-field bound plus log K! is the log evidence up to a tiny gap.
TWO_GROUPS = np.array([[-6.0], [-6.3], [-5.8], [-6.1], [6.0], [6.2], [5.9], [6.4]])


@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["full", "spherical", "diag"])
def test_criterion_is_the_log_evidence_by_enumeration(ctype):
    hyper = _hyper(ctype, "dirichlet_distribution", 1)
    sel = _selection(hyper, [1, 2]).fit(TWO_GROUPS)
    evidence = [O.log_evidence_enumerate(TWO_GROUPS, k, hyper) for k in (1, 2)]
    bounds, criterion = sel.results_["lower_bound"], sel.results_["criterion"]
    assert np.all(bounds <= np.array(evidence) + 1e-9)  # a lower bound, every K
    np.testing.assert_allclose(criterion[0], evidence[0], rtol=1e-10)  # K = 1: exact
    assert abs(criterion[1] - evidence[1]) < 1e-3  # log 2! closes the gap ...
    assert evidence[1] - bounds[1] > math.log(2) - 1e-3  # ... that the bound alone leaves
    assert sel.best_params_["n_components"] == int(np.argmax(evidence)) + 1


def test_the_process_prior_adds_nothing():
    X = TWO_GROUPS
    sel = _selection(_hyper("full", "dirichlet_process", 1), [1, 2, 3]).fit(X)
    np.testing.assert_array_equal(sel.results_["criterion"], sel.results_["lower_bound"])
    assert label_symmetry(5, "dirichlet_process") == 0.0
    assert label_symmetry(5, "dirichlet_distribution") == pytest.approx(math.log(120), 1e-15)


@pytest.mark.parametrize("algorithm", [None, "batch", "incremental"])
def test_rows_are_the_fits_of_the_grid(algorithm):
    """Each row is the fit of its K and type on its own, with the grid's algorithm:
    'accelerated' when none is given."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(200, 2)) + c for c in ([0, 0], [8, 0])])
    kw = dict(weight_concentration_prior_type="dirichlet_distribution", random_state=0,
              max_iter=200)
    given = {} if algorithm is None else {"algorithm": algorithm}
    sel = MixtureSelection([1, 3, 2], ["diag", "full"], **kw, **given).fit(X)
    kw["algorithm"] = algorithm or "accelerated"
    r = sel.results_
    assert list(r["covariance_type"]) == ["diag"] * 3 + ["full"] * 3
    assert list(r["n_components"]) == [1, 3, 2] * 2
    for i in range(6):  # one prior for the grid: mclust's for G = the largest K
        est = BayesianGaussianMixture(n_components=int(r["n_components"][i]),
                                      covariance_type=str(r["covariance_type"][i]),
                                      default_prior="mclust", max_components=3, **kw).fit(X)
        assert r["lower_bound"][i] == est.lower_bound_
        assert r["criterion"][i] == est.lower_bound_ + math.lgamma(r["n_components"][i] + 1)
        assert r["n_iter"][i] == est.n_iter_ and r["converged"][i] == est.converged_
        assert r["n_kept"][i] == np.sum(est.weights_ > 0.01)
    best = sel.best_index_
    assert best == int(np.argmax(r["criterion"]))
    assert sel.best_params_ == {"n_components": int(r["n_components"][best]),
                                "covariance_type": str(r["covariance_type"][best])}
    np.testing.assert_array_equal(sel.predict(X), sel.best_estimator_.predict(X))
    np.testing.assert_array_equal(sel.score_samples(X), sel.best_estimator_.score_samples(X))
    assert "<- best" in sel.table().splitlines()[best + 1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # K = 5 empties
@pytest.mark.parametrize("truth", ["spherical", "full"])
def test_picks_the_model_the_data_were_drawn_from(truth):
    """Three clusters: round ones of different sizes, or elongated and rotated differently
    each (neither is a tied model, and the simplest true model is the one drawn)."""
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    parts = []
    for j, c in enumerate(centres):
        z = rng.normal(size=(400, 2)) * (0.5, 1.0, 2.0)[j]
        if truth == "full":
            angle = j * np.pi / 3
            rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            z = z * [2.5, 0.4] @ rot.T
        parts.append(z + c)
    X = np.vstack(parts)
    sel = MixtureSelection(range(1, 6), random_state=0, n_init=2, max_iter=300).fit(X)
    assert sel.best_params_ == {"n_components": 3, "covariance_type": truth}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol = 0
def test_integer_weights_are_repeated_rows():
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(60, 2)) + c for c in ([0, 0], [6, 6])])
    w = rng.integers(0, 3, size=len(X))
    kw = dict(init_params="random_from_data", random_state=0, max_iter=50, tol=0.0)
    a = MixtureSelection([1, 2], ["diag"], **kw).fit(X, sample_weight=w.astype(float))
    b = MixtureSelection([1, 2], ["diag"], **kw).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.results_["lower_bound"][0], b.results_["lower_bound"][0],
                               rtol=1e-10)  # K = 1 does not depend on the start's draws


@pytest.mark.parametrize(("params", "match"), [
    (dict(n_components=[0, 1]), "n_components"),
    (dict(n_components=[2, 2]), "n_components"),
    (dict(n_components=[]), "n_components"),
    (dict(n_components=[1.5]), "n_components"),
    (dict(covariance_types=["full", "round"]), "covariance_types"),
    (dict(covariance_types=[]), "covariance_types"),
    (dict(weight_concentration_prior_type="uniform"), "weight_concentration_prior_type"),
])
def test_bad_grids_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        MixtureSelection(**params).fit(np.zeros((10, 2)) + np.arange(10)[:, None])


def test_unconverged_fits_are_named_in_one_warning():
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 2))
    with pytest.warns(ConvergenceWarning, match=r"fits did not converge \(full K=4"):
        MixtureSelection([4], ["full"], max_iter=1, random_state=0).fit(X)


def test_gaussian_mixture_rows_are_scikit_learns_bic():
    """models=('bgm', 'gm'): the GaussianMixture rows' criterion is -BIC / 2 of
    scikit-learn's GaussianMixture fitted from the same start with the same tolerance (the
    grid's tol per point), and each model has its best."""
    from sklearn.mixture import GaussianMixture as SkGM

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(size=(120, 2)) * s + c
                   for s, c in ((0.5, [0, 0]), (1.0, [6, 0]), (2.0, [0, 9]))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sel = MixtureSelection(range(1, 5), ["full", "spherical"], models=("bgm", "gm"),
                               random_state=0, max_iter=300, algorithm="batch").fit(X)
        r = sel.results_
        gm_rows = np.flatnonzero(r["model"] == "gm")
        assert len(gm_rows) == 8 and list(r["model"][:8]) == ["bgm"] * 8
        for i in gm_rows:
            sk = SkGM(int(r["n_components"][i]), covariance_type=str(r["covariance_type"][i]),
                      random_state=0, max_iter=300, tol=1e-3 / len(X)).fit(X)
            assert r["criterion"][i] == pytest.approx(-sk.bic(X) / 2, rel=1e-9)
            assert r["lower_bound"][i] == pytest.approx(sk.score(X) * len(X), rel=1e-9)
    assert sel.best_index_ == sel.best_by_model_["bgm"]
    best_gm = sel.best_by_model_["gm"]
    assert r["criterion"][best_gm] == r["criterion"][gm_rows].max()
    assert r["n_components"][best_gm] == 3
    assert "<- best BIC" in sel.table().splitlines()[1 + best_gm]
    only_gm = MixtureSelection([3], ["full"], models="gm", random_state=0).fit(X)
    assert type(only_gm.best_estimator_).__name__ == "GaussianMixture"


@pytest.mark.parametrize("models", ["em", ("bgm", "bgm"), ()])
def test_bad_models_are_a_clear_error(models):
    with pytest.raises(ValueError, match="'models' parameter of MixtureSelection"):
        MixtureSelection([1], models=models).fit(np.zeros((5, 2)) + np.arange(5)[:, None])


def test_every_fit_is_the_one_fitted_alone():
    """The grid shares one k-means start per K among the covariance types and the models:
    each row is still exactly the fit of that K and type on its own, from the same
    random_state (GaussianMixture's -BIC / 2 included, and a fit with moves, which shares no
    start: its births draw from random_state after it)."""
    from fastcavi import GaussianMixture

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(200, 2)) + c for c in ([0, 0], [5, 1], [1, 6])])
    sel = MixtureSelection([2, 3], ["full", "diag"], random_state=7,
                           models=("bgm", "gm", "moves")).fit(X)
    assert sel.algorithm == "accelerated"
    r = sel.results_
    assert list(r["model"]) == ["bgm"] * 4 + ["gm"] * 4 + ["moves"] * 2
    for i in range(10):
        ctype, model = str(r["covariance_type"][i]), str(r["model"][i])
        if model == "gm":
            alone = GaussianMixture(int(r["n_components"][i]), covariance_type=ctype,
                                    random_state=7, tol=1e-3 / len(X),
                                    algorithm="accelerated").fit(X)
            assert -0.5 * alone.bic(X) == pytest.approx(r["criterion"][i], rel=1e-12)
            continue
        k = 3 if model == "moves" else int(r["n_components"][i])
        alone = BayesianGaussianMixture(
            n_components=k, covariance_type=ctype, moves=model == "moves" or None,
            max_components=3, default_prior="mclust",
            weight_concentration_prior_type="dirichlet_distribution", random_state=7,
            algorithm="accelerated").fit(X)
        assert alone.lower_bound_ == r["lower_bound"][i]
        assert alone.n_components_ == r["n_components"][i]
        assert r["criterion"][i] == r["lower_bound"][i] + math.lgamma(alone.n_components_ + 1)
    assert not hasattr(sel.best_estimator_, "_shared_start")
    assert set(sel.best_by_model_) == {"bgm", "gm", "moves"}


def test_moves_rows_find_the_clusters_from_the_largest_k():
    """'moves': one fit per covariance type from the largest K of the grid; on three well
    separated clusters it ends with three components, and its row says so."""
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(size=(300, 2)) * 0.5 + c for c in ([0, 0], [6, 0], [0, 6])])
    sel = MixtureSelection(range(1, 7), ["full", "spherical"], models="moves",
                           random_state=0).fit(X)
    assert list(sel.results_["n_components"]) == [3, 3]
    assert sel.best_estimator_.n_components_ == 3 and sel.best_estimator_.moves is True
    assert "moves" in sel.table().splitlines()[0] or "<- best" in sel.table()


def test_accelerated_rows_reach_the_optimum_batch_fits_reach():
    """The grid's default algorithm has batch CAVI's (and EM's) fixed points: run to a tight
    tolerance, its rows' bounds are those of batch fits, and its GaussianMixture rows'
    log-likelihoods scikit-learn's."""
    from sklearn.mixture import GaussianMixture as SkGM

    rng = np.random.default_rng(9)
    X = np.vstack([rng.normal(size=(150, 2)) * s + c
                   for s, c in ((0.6, [0, 0]), (1.0, [4, 0]), (1.5, [0, 6]))])
    kw = dict(n_components=[2, 3, 4], covariance_types=["full", "spherical"],
              models=("bgm", "gm"), random_state=0, max_iter=5000, tol=1e-9)
    fast = MixtureSelection(**kw).fit(X)
    batch = MixtureSelection(algorithm="batch", **kw).fit(X)
    r, b = fast.results_, batch.results_
    assert np.all(r["converged"]) and np.all(b["converged"])
    assert r["n_iter"].sum() < b["n_iter"].sum()
    np.testing.assert_allclose(r["lower_bound"], b["lower_bound"], rtol=1e-9)
    for i in np.flatnonzero(r["model"] == "gm"):
        sk = SkGM(int(r["n_components"][i]), covariance_type=str(r["covariance_type"][i]),
                  random_state=0, max_iter=5000, tol=1e-12).fit(X)
        assert r["lower_bound"][i] == pytest.approx(sk.score(X) * len(X), rel=1e-9)
    assert fast.best_params_ == batch.best_params_ == {"n_components": 3,  # round clusters
                                                       "covariance_type": "spherical"}
