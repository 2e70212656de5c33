"""fastcavi.BayesianGaussianMixture (diag and spherical, both weight priors; full and tied are
in test_bgm_full.py) and its fast path:
against the pure-Python reference iteration by iteration, against the independent vectorised
oracle at sizes that cross every chunk, tile and BLAS block, against scikit-learn's starting
points, and against facts of the model (exact evidence at K = 1, a bound that never falls,
translation, weights as repeated rows)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from fastcavi import BayesianGaussianMixture
from fastcavi._registry import ENGINES, FAMILY_IMPLEMENTATIONS
from fastcavi.kernels import core as _core
from fastcavi.kernels import fixed as _kernels
from fastcavi.models import fixed as _cavi
from fastcavi.reference import family as F

from . import oracles_family as O

TYPES = ("spherical", "diag")
PRIORS = ("dirichlet_process", "dirichlet_distribution")
GRID = pytest.mark.parametrize(("ctype", "wtype"), [(c, w) for c in TYPES for w in PRIORS])
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])


def hyper_for(rng, p, ctype, wtype):
    """Hyperparameters away from every default and from 1."""
    psi0 = np.exp(rng.uniform(-1.0, 1.0, size=p))
    return dict(covariance_type=ctype, weight_concentration_prior_type=wtype,
                weight_concentration_prior=float(np.exp(rng.uniform(-1.5, 1.0))),
                mean_precision_prior=float(np.exp(rng.uniform(-1.0, 1.0))),
                mean_prior=rng.normal(scale=2.0, size=p), degrees_of_freedom_prior=
                float(rng.uniform(0.6, 4.0)) + p,
                covariance_prior=psi0 if ctype == "diag" else float(psi0.mean()),
                reg_covar=0.0)


def blobs(rng, n, p, k, spread=3.0):
    centres = rng.normal(scale=spread, size=(k, p))
    scales = np.exp(rng.uniform(-0.7, 0.7, size=(k, p)))
    labels = rng.integers(k, size=n)
    return centres[labels] + rng.normal(size=(n, p)) * scales[labels] + rng.normal(0, 8, p)


def problem(seed, n, p, k, ctype, wtype, weighted, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = blobs(rng, n, p, k).astype(dtype)
    hyper = hyper_for(rng, p, ctype, wtype)
    hyper["mean_prior"] = hyper["mean_prior"] + X.astype(np.float64).mean(axis=0)
    resp = rng.dirichlet(np.full(k, 0.7), size=n)
    w = None
    if weighted:
        w = rng.uniform(0, 3, n)
        w[rng.random(n) < 0.1] = 0.0
    return X, resp, hyper, w


def assert_result(got, want, rtol, resp_atol, name="", bounds_rtol=None, means_rtol=None):
    """Every parameter of q, the last responsibilities and the ELBO trace; the means on the
    means' scale."""
    np.testing.assert_allclose(got.lower_bounds, want.lower_bounds,
                               rtol=bounds_rtol or rtol, err_msg=name + " lower_bounds")
    q, r = got.params, want.params
    np.testing.assert_allclose(q.means, r.means, rtol=0,
                               atol=(means_rtol or rtol) * np.abs(r.means).max(), err_msg=name)
    for field in ("mean_precision", "degrees_of_freedom", "psi"):
        np.testing.assert_allclose(getattr(q, field), getattr(r, field), rtol=rtol,
                                   err_msg=f"{name} {field}")
    for a, b in zip(np.atleast_2d(q.weight_concentration), np.atleast_2d(r.weight_concentration)):
        np.testing.assert_allclose(a, b, rtol=rtol, err_msg=name + " weight_concentration")
    np.testing.assert_allclose(got.resp, want.resp, rtol=0, atol=resp_atol, err_msg=name)


def oracle_result(X, resp, hyper, n_iter, w):
    q, r, bounds, _ = O.vectorised_cavi(np.asarray(X, dtype=np.float64), resp, hyper, n_iter,
                                        sample_weight=w)
    return F.FamilyResult(F.Params(hyper["covariance_type"],
                                   hyper["weight_concentration_prior_type"],
                                   q["weight_concentration"], q["mean_precision"], q["means"],
                                   q["degrees_of_freedom"], q["psi"]), r, bounds)


# -- the registry's implementations against the reference and the oracle -----------------------

@GRID
@WEIGHTED
def test_every_implementation_matches_the_reference_every_iteration(ctype, wtype, weighted):
    X, resp, hyper, w = problem(1, 40, 3, 4, ctype, wtype, weighted)
    prior = F.Prior(**hyper)
    for n_iter in (1, 2, 4):
        want = F.cavi(X, resp, prior, n_iter, sample_weight=w)
        for name, cavi in FAMILY_IMPLEMENTATIONS.items():
            assert_result(cavi(X, resp, prior, n_iter, sample_weight=w), want, 1e-10, 1e-12,
                          name=f"{name} after {n_iter}")


# (N, p, K): chunks with tiles that do not divide them; small tiles (large K); spherical's
# BLAS path (p >= 16, K >= 8) and diag's tiles at large p; the 64-chunk cap.
CASES = {
    "chunks-tiles": (5003, 3, 5),
    "small-tiles": (5003, 2, 40),
    "large-p": (3001, 20, 10),
    "chunk-cap": (140_009, 2, 3),
}


@pytest.mark.parametrize("case", CASES)
def test_cases_cross_every_boundary(case):
    n, p, k = CASES[case]
    n_chunks = _core.n_chunks_for(n)
    chunk = -(-n // n_chunks)
    assert n_chunks > 1 and n % chunk != 0
    assert chunk % _core.tile_rows(k) != 0 and chunk > _core.tile_rows(k)
    if case == "large-p":
        assert _cavi.uses_blas(p, k) and chunk % _kernels._GRAM_BLOCK_ROWS != 0


# What float32 per-point math (float64 sums) achieves against the float64 oracle on the same
# rounded numbers after 3 iterations, worst over these cases (measured): ELBO 1.4e-7, means
# 1.6e-6 of their scale, the other parameters 1.3e-5 (diag's Psi at p = 20), phi 6.7e-6. The
# differences of the first E-step grow through the iterations; tolerances sit a few times above.
TOL32 = dict(rtol=4e-5, resp_atol=2e-5, bounds_rtol=5e-7, means_rtol=5e-6)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
@WEIGHTED
@GRID
def test_fast_matches_the_oracle_across_boundaries(ctype, wtype, weighted, case, dtype):
    n, p, k = CASES[case]
    X, resp, hyper, w = problem(2, n, p, k, ctype, wtype, weighted, dtype)
    want = oracle_result(X, resp, hyper, 3, w)
    got = FAMILY_IMPLEMENTATIONS["fast"](X, resp, F.Prior(**hyper), 3, sample_weight=w)
    if dtype == np.float64:
        assert_result(got, want, 1e-10, 1e-11)
    else:
        assert got.resp.dtype == np.float32
        assert_result(got, want, **TOL32)


# -- the estimator: engines, scikit-learn's starts, the contract -------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
@WEIGHTED
@GRID
def test_estimator_fits_and_predicts_like_the_oracle(engine, ctype, wtype, weighted, tmp_path,
                                                     request):
    if engine == "dask":
        request.getfixturevalue("dask_client")
    n, p, k = CASES["chunks-tiles"]
    X, _, hyper, w = problem(3, n, p, k, ctype, wtype, weighted)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    gm = BayesianGaussianMixture(
        n_components=k, covariance_type=ctype, weight_concentration_prior_type=wtype,
        weight_concentration_prior=hyper["weight_concentration_prior"],
        mean_precision_prior=hyper["mean_precision_prior"], mean_prior=hyper["mean_prior"],
        degrees_of_freedom_prior=hyper["degrees_of_freedom_prior"],
        covariance_prior=hyper["covariance_prior"], reg_covar=0.0, init_params="random",
        random_state=7, max_iter=3, tol=0).fit(Xe, sample_weight=we)
    r0 = np.random.RandomState(7).uniform(size=(n, k))
    r0 /= r0.sum(axis=1, keepdims=True)
    want = oracle_result(X, r0, hyper, 3, w)
    np.testing.assert_allclose(gm.lower_bounds_, want.lower_bounds, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, want.params.means, rtol=1e-10)
    q = dict(weight_concentration=gm.weight_concentration_, mean_precision=gm.mean_precision_,
             means=gm.means_, degrees_of_freedom=gm.degrees_of_freedom_,
             psi=gm.covariances_ * (gm.degrees_of_freedom_[:, None] if ctype == "diag"
                                    else gm.degrees_of_freedom_))
    np.testing.assert_allclose(q["psi"], want.params.psi, rtol=1e-10)
    proba = np.exp(O.log_resp(X, q, hyper))
    np.testing.assert_allclose(gm.predict_proba(Xe), proba, rtol=0, atol=1e-11)
    np.testing.assert_allclose(gm.score_samples(Xe), O.log_predictive(X, q, hyper), rtol=1e-10)
    top2 = np.sort(proba, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-9
    np.testing.assert_array_equal(gm.predict(Xe)[clear], proba.argmax(axis=1)[clear])
    np.testing.assert_allclose(gm.weights_, O.expected_weights(q, hyper), rtol=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("ctype", TYPES)
def test_starts_where_scikit_learn_starts(init_params, ctype):
    """The same integer random_state gives scikit-learn's starting responsibilities: after the
    start alone (max_iter=0) q(pi) and q(mu) agree (scikit-learn adds 10 eps to N_k)."""
    rng = np.random.default_rng(4)
    X = blobs(rng, 600, 3, 4)
    kw = dict(n_components=4, covariance_type=ctype, init_params=init_params, random_state=11,
              max_iter=0)
    ours = BayesianGaussianMixture(**kw).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkBGM(**kw).fit(X)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.mean_precision_, theirs.mean_precision_, rtol=1e-12)
    for a, b in zip(ours.weight_concentration_, theirs.weight_concentration_):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(ours.mean_prior_, theirs.mean_prior_, rtol=1e-12)
    np.testing.assert_allclose(ours.covariance_prior_, theirs.covariance_prior_, rtol=1e-12)
    assert ours.degrees_of_freedom_prior_ == theirs.degrees_of_freedom_prior_
    assert ours.n_iter_ == 0 and ours.lower_bounds_ == []


@GRID
def test_one_component_reaches_the_exact_evidence(ctype, wtype):
    """K = 1: the family holds the exact posterior, so the converged ELBO is log p(X) in closed
    form (the process prior adds log B(1 + N, g0) / B(1, g0) for its one stick)."""
    rng = np.random.default_rng(5)
    X = blobs(rng, 300, 3, 1)
    hyper = hyper_for(rng, 3, ctype, wtype)
    gm = BayesianGaussianMixture(
        n_components=1, covariance_type=ctype, weight_concentration_prior_type=wtype,
        weight_concentration_prior=hyper["weight_concentration_prior"],
        mean_precision_prior=hyper["mean_precision_prior"], mean_prior=hyper["mean_prior"],
        degrees_of_freedom_prior=hyper["degrees_of_freedom_prior"],
        covariance_prior=hyper["covariance_prior"], reg_covar=0.0, tol=1e-12,
        max_iter=200).fit(X)
    evidence = O.log_evidence_k1(X, hyper)
    if wtype == "dirichlet_process":
        from scipy.special import betaln

        g0 = hyper["weight_concentration_prior"]
        evidence += betaln(1 + len(X), g0) - betaln(1, g0)
    assert gm.converged_
    np.testing.assert_allclose(gm.lower_bound_, evidence, rtol=1e-10)


@GRID
@WEIGHTED
def test_bound_never_decreases_and_is_translation_invariant(ctype, wtype, weighted):
    n, p, k = 3001, 2, 6
    X, _, hyper, w = problem(6, n, p, k, ctype, wtype, weighted)
    shift = np.array([1e6, -3e5])
    kw = dict(n_components=k, covariance_type=ctype, weight_concentration_prior_type=wtype,
              init_params="random", random_state=0, tol=0, max_iter=30,
              covariance_prior=hyper["covariance_prior"])
    a = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    d = np.diff(a.lower_bounds_)
    assert np.all(d >= -1e-9 * np.abs(np.asarray(a.lower_bounds_[1:])))
    b = BayesianGaussianMixture(**kw).fit(X + shift, sample_weight=w)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-8)
    np.testing.assert_allclose(b.means_ - shift, a.means_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.predict_proba(X + shift), a.predict_proba(X), atol=1e-6)


@GRID
def test_integer_weights_are_repeated_rows_and_zero_weights_dropped_rows(ctype, wtype):
    """With the default prior too: its moments are weighted as frequencies."""
    rng = np.random.default_rng(8)
    X = blobs(rng, 2500, 3, 3)
    w = rng.integers(0, 4, len(X))
    kw = dict(n_components=3, covariance_type=ctype, weight_concentration_prior_type=wtype,
              tol=0, max_iter=8, init_params="random", random_state=0)
    r0 = np.random.RandomState(0).uniform(size=(len(X), 3))
    r0 /= r0.sum(axis=1, keepdims=True)
    weighted = FAMILY_IMPLEMENTATIONS["fast"]
    prior = F.default_prior(np.repeat(X, w, axis=0), ctype, wtype, 3)
    a = weighted(X, r0, prior, 8, sample_weight=w.astype(float))
    b = weighted(np.repeat(X, w, axis=0), np.repeat(r0, w, axis=0), prior, 8)
    assert_result(a, F.FamilyResult(b.params, a.resp, b.lower_bounds), 1e-10, 1.0)
    est = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    np.testing.assert_allclose(est.mean_prior_, prior.mean_prior, rtol=1e-12)
    np.testing.assert_allclose(est.covariance_prior_, prior.covariance_prior, rtol=1e-10)


def test_bit_identical_across_thread_counts():
    X = blobs(np.random.default_rng(9), 30_000, 3, 5)
    fits = [BayesianGaussianMixture(n_components=5, covariance_type="diag", random_state=0,
                                    tol=0, max_iter=5, n_threads=t).fit(X) for t in (1, -1)]
    np.testing.assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)


@pytest.mark.slow
def test_n_init_keeps_the_best_run_and_tol_is_strict_on_the_total():
    X = blobs(np.random.default_rng(10), 4000, 2, 6, spread=2.0)
    gm = BayesianGaussianMixture(n_components=6, covariance_type="diag", n_init=4,
                                 init_params="random_from_data", random_state=3, tol=1e-2,
                                 max_iter=500)
    gm.fit(X)
    changes = np.abs(np.diff(gm.lower_bounds_))
    assert gm.converged_ and changes[-1] < 1e-2 and np.all(changes[:-1] >= 1e-2)
    runs = []
    rng = np.random.RandomState(3)  # the same four starts, one fit each, from one stream
    for _ in range(4):
        one = BayesianGaussianMixture(n_components=6, covariance_type="diag",
                                      init_params="random_from_data", random_state=rng,
                                      tol=1e-2, max_iter=500).fit(X)
        runs.append(one.lower_bound_)
    finals = np.array(runs)
    assert gm.lower_bound_ == finals.max() and finals.argmax() != 0


@pytest.mark.parametrize(("params", "error", "message"), [
    (dict(n_components=0), ValueError, "'n_components' parameter"),
    (dict(covariance_type="Diag"), ValueError, "'covariance_type' parameter"),
    (dict(init_params="kmeans+"), ValueError, "'init_params' parameter"),
    (dict(weight_concentration_prior_type="dp"), ValueError, "weight_concentration_prior_type"),
    (dict(weight_concentration_prior=-1.0), ValueError, "weight_concentration_prior"),
    (dict(tol=-1.0), ValueError, "'tol' parameter"),
    (dict(degrees_of_freedom_prior=0.5), ValueError, "should be greater than 1"),
    (dict(covariance_prior=np.ones(3)), ValueError, "should have the shape of \\(2,\\)"),
    (dict(covariance_prior=np.array([1.0, -1.0])), ValueError, "should be positive"),
    (dict(mean_prior=np.zeros(3)), ValueError, "should have the shape of \\(2,\\)"),
])
def test_bad_parameters_are_clear_errors(params, error, message):
    X = blobs(np.random.default_rng(0), 50, 2, 2)
    kw = dict(n_components=2, covariance_type="diag")
    with pytest.raises(error, match=message):
        BayesianGaussianMixture(**{**kw, **params}).fit(X)


def test_predict_uses_the_fitted_model_and_sample_draws_from_it():
    X = blobs(np.random.default_rng(12), 900, 2, 3)
    gm = BayesianGaussianMixture(n_components=3, covariance_type="spherical",
                                 random_state=0).fit(X)
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))
    gm.set_params(n_components=5)
    assert gm.predict_proba(X).shape == (900, 3)
    Xs, ys = gm.sample(30_000)
    assert Xs.shape == (30_000, 2) and ys.dtype == np.int64
    np.testing.assert_allclose(np.bincount(ys, minlength=3) / 30_000, gm.weights_, atol=0.015)
    with pytest.raises(ValueError, match="features"):
        gm.predict(X[:, :1])


@pytest.mark.slow
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_dask_fit_is_the_in_memory_fit(init_params, dask_client, monkeypatch):
    """Every start on a Dask array (on the cluster, and streamed without a client) gives the
    in-memory fit: the same rows and draws, and the statistics summed in block order."""
    import dask
    import dask.array as da

    from fastcavi.data import dask as _dask

    rng = np.random.default_rng(13)
    X = blobs(rng, 5003, 3, 4)
    w = rng.uniform(0, 2, len(X))
    w[::10] = 0.0
    kw = dict(n_components=4, covariance_type="diag", init_params=init_params,
              random_state=3, max_iter=500)
    mem = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
    Xd, wd = da.from_array(X, chunks=(1999, 2)), da.from_array(w, chunks=1500)
    fits = [BayesianGaussianMixture(**kw).fit(Xd, sample_weight=wd)]
    monkeypatch.setattr(_dask, "current_client", lambda: None)
    with dask.config.set(scheduler="threads"):
        fits.append(BayesianGaussianMixture(**kw).fit(Xd, sample_weight=wd))
    for got in fits:
        assert got.n_iter_ == mem.n_iter_ and got.n_features_in_ == 3
        np.testing.assert_allclose(got.lower_bounds_, mem.lower_bounds_, rtol=1e-12)
        np.testing.assert_allclose(got.means_, mem.means_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.covariances_, mem.covariances_, rtol=1e-10)
        labels = got.predict(Xd)
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(labels.compute(), mem.predict(X))
    # Cluster and stream sum in the same block order; the workers' kernels come from the
    # on-disk cache, which can differ from a fresh compile in the last bit.
    np.testing.assert_allclose(fits[0].lower_bounds_, fits[1].lower_bounds_, rtol=1e-14)


@pytest.mark.slow
def test_dask_predict_is_lazy_and_checked(dask_client):
    import dask.array as da

    X = blobs(np.random.default_rng(14), 3000, 2, 3).astype(np.float32)
    gm = BayesianGaussianMixture(n_components=3, covariance_type="spherical",
                                 random_state=0).fit(X)
    Xd = da.from_array(X, chunks=700)
    proba = gm.predict_proba(Xd)
    assert proba.dtype == np.float32 and proba.shape == (3000, 3)
    np.testing.assert_array_equal(proba.compute(), gm.predict_proba(X))
    np.testing.assert_array_equal(gm.score_samples(Xd).compute(), gm.score_samples(X))
    assert gm.score(Xd) == pytest.approx(gm.score(X), rel=1e-12)
    with pytest.raises(ValueError, match="1 features, but BayesianGaussianMixture is "
                                         "expecting 2"):
        gm.predict(Xd[:, :1])
    bad = X.copy()
    bad[2000, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BayesianGaussianMixture(n_components=3).set_params(covariance_type="diag").fit(
            da.from_array(bad, chunks=700))


@GRID
def test_model_files_round_trip_bit_for_bit(ctype, wtype, tmp_path):
    import fastcavi

    X = blobs(np.random.default_rng(14), 3000, 3, 3)
    gm = BayesianGaussianMixture(n_components=3, covariance_type=ctype,
                                 weight_concentration_prior_type=wtype, random_state=0,
                                 mean_prior=np.zeros(3)).fit(X)
    fastcavi.save(gm, tmp_path / "m.npz")
    back = fastcavi.load(tmp_path / "m.npz")
    assert type(back) is BayesianGaussianMixture and back.get_params().keys() == \
        gm.get_params().keys()
    for name in ("weights_", "means_", "covariances_", "precisions_", "mean_precision_",
                 "degrees_of_freedom_", "lower_bounds_", "mean_prior_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name), err_msg=name)
    for kind in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_array_equal(getattr(back, kind)(X), getattr(gm, kind)(X))
    assert back.lower_bound_ == gm.lower_bound_ and back.n_iter_ == gm.n_iter_


def test_a_damaged_model_file_is_refused(tmp_path):
    import fastcavi

    X = blobs(np.random.default_rng(15), 500, 2, 2)
    gm = BayesianGaussianMixture(n_components=2, covariance_type="diag", random_state=0).fit(X)
    gm.save(tmp_path / "m.npz")
    z = dict(np.load(tmp_path / "m.npz"))
    z["covariances_"] = z["covariances_"][:, :1]
    np.savez(tmp_path / "bad.npz", **z)
    with pytest.raises(ValueError, match="not a valid fastcavi model file"):
        fastcavi.load(tmp_path / "bad.npz")


@GRID
def test_reg_covar_is_added_as_the_reference_adds_it(ctype, wtype):
    """reg_covar * I added to C_k / N_k (scikit-learn's convention), every iteration."""
    X, resp, hyper, w = problem(16, 60, 3, 3, ctype, wtype, True)
    prior = F.Prior(**dict(hyper, reg_covar=0.05))
    for n_iter in (1, 3):
        want = F.cavi(X, resp, prior, n_iter, sample_weight=w)
        got = FAMILY_IMPLEMENTATIONS["fast"](X, resp, prior, n_iter, sample_weight=w)
        assert_result(got, want, 1e-10, 1e-12, name=f"after {n_iter}")
    without = F.cavi(X, resp, F.Prior(**hyper), 3, sample_weight=w)
    assert not np.allclose(without.params.psi, want.params.psi, rtol=1e-3)


def test_warm_start_continues_from_the_last_fit(capsys):
    X = blobs(np.random.default_rng(17), 2000, 2, 4)
    kw = dict(n_components=4, covariance_type="diag", random_state=0, tol=0, max_iter=5)
    gm = BayesianGaussianMixture(warm_start=True, verbose=2, verbose_interval=1, **kw).fit(X)
    first = list(gm.lower_bounds_)
    gm.fit(X)
    straight = BayesianGaussianMixture(**dict(kw, max_iter=10)).fit(X)
    np.testing.assert_allclose(first + list(gm.lower_bounds_), straight.lower_bounds_,
                               rtol=1e-12)
    out = capsys.readouterr().out
    assert out.count("Initialization 0") == 2 and "Iteration 5\t lower bound" in out
