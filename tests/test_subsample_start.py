"""algorithm='subsample_start' (accelerated passes started from accelerated passes converged
on nested subsamples): the levels follow the documented rule; the fast path is the plain
reference (fastcavi.reference.accelerated.subsample_start_cavi) iteration by iteration; the
bound over all the data never falls and ends at a fixed point of batch CAVI (and of batch EM);
it needs fewer passes over all the data than batch and accelerated passes where the path from
the start is long; every engine, weights and float32 give the fit in memory.

The levels start at 65,536 rows, at most an eighth of the data; the tests shrink them (the
module's constants) to a quarter of a few thousand rows, so that, as 65,536 rows do in
practice, the first level has the rows to resolve the clusters."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastcavi import BayesianGaussianMixture, GaussianMixture, GaussianMixtureCAVI
from fastcavi.inference import algorithms as A
from fastcavi.models.family_fit import cavi as fast_cavi
from fastcavi.reference import family as F
from fastcavi.reference.accelerated import subsample_start_cavi

from .bgm_problems import GRID, WEIGHTED, assert_result, problem
from .test_accelerated import overlapping, passes_and_bounds, passes_to_reach, reaches


def shrink_levels(monkeypatch, rows, growth):
    monkeypatch.setattr(A, "SUBSAMPLE_ROWS", rows)
    monkeypatch.setattr(A, "SUBSAMPLE_GROWTH", growth)


@pytest.fixture
def small_levels(monkeypatch):
    """A level of 1,500 rows from 6,000 rows of data on (and of 6,000 from 24,000 on)."""
    shrink_levels(monkeypatch, 1500, 4)


def fit(est_class, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est_class(**kw).fit(X)


@pytest.mark.parametrize(("n", "p", "itemsize", "want"), [
    (10**7, 2, 8, [65536, 524288]),   # 4,194,304 x 8 > 1e7: two levels
    (2**25, 2, 8, [65536, 524288, 4194304]),
    (2**25, 16, 8, [65536, 524288]),   # 4,194,304 rows of 16 float64: 512 MiB > 64 MiB
    (2**25, 16, 4, [65536, 524288]),   # 524,288 rows of 16 float32: 32 MiB
    (524288, 2, 8, [65536]),
    (524287, 2, 8, []),                # fewer than 8 x 65,536 rows: no level
    (10**7, 256, 8, [32768]),          # 32,768 rows of 256 float64 are 64 MiB
    (10**7, 2**22, 8, [2]),            # one row is 32 MiB: two of them
])
def test_the_levels_follow_the_documented_rule(n, p, itemsize, want):
    assert A.subsample_levels(n, p, itemsize) == want


@GRID
@WEIGHTED
def test_the_fast_path_is_the_reference_every_iteration(ctype, wtype, weighted, monkeypatch):
    shrink_levels(monkeypatch, 60, 4)
    X, resp, hyper, w = problem(7, 1200, 3, 4, ctype, wtype, weighted)
    levels = A.subsample_levels(int(np.count_nonzero(w > 0)) if weighted else len(X), 3, 8)
    assert levels == [60, 240]  # two levels: the second holds the first's rows
    prior = F.Prior(**hyper)
    want = subsample_start_cavi(X, resp, prior, 12, sample_weight=w, levels=levels)
    got = fast_cavi(X, resp, prior, 12, sample_weight=w, algorithm="subsample_start")
    # (an extrapolation of length |a| multiplies round-off by up to a^2, as for 'accelerated')
    assert_result(got, want, 1e-7, 1.0, bounds_rtol=1e-10, name="subsample_start")
    # the start moved: the first bound is above the plain accelerated fit's first
    plain = fast_cavi(X, resp, prior, 12, sample_weight=w, algorithm="accelerated")
    assert got.lower_bounds[0] > plain.lower_bounds[0]
    assert np.all(np.diff(want.lower_bounds) >= -1e-12 * np.abs(want.lower_bounds[1:]))


def moderate(n, p=2, k=10, seed=0):
    """Ten clusters whose neighbours overlap moderately (as python -m fastcavi.bench.algorithms
    draws them): from a start at random rows, coordinate ascent spends hundreds of passes on
    the path to the fit."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, p))
    z = rng.integers(k, size=n)
    return centres[z] + rng.normal(size=(n, p)) * (0.5 + z[:, None] / k)


@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["full", "diag"])
def test_fewer_passes_than_batch_and_accelerated(ctype, monkeypatch):
    """Passes over all the data (counted, not timed; a subsample's pass counts its share of
    the rows) until within 1e-6 per point of the best bound: fewer than accelerated passes
    need, and at most a third of batch's. One level of an eighth of the rows, as 65,536 rows
    are at most."""
    import fastcavi.estimators.bayesian_mixture as bm

    shrink_levels(monkeypatch, 5000, 8)
    X = moderate(40_000)
    n = len(X)
    runs = passes_and_bounds(monkeypatch, bm, X, BayesianGaussianMixture,
                             ("batch", "accelerated", "subsample_start"), n_components=10,
                             covariance_type=ctype, init_params="random_from_data",
                             tol=1e-10 * n, max_iter=4000, random_state=0)
    passes = passes_to_reach(runs, 1e-6 * n)
    assert reaches(runs, "subsample_start", 1e-6 * n)
    assert passes["subsample_start"] < passes["accelerated"], passes
    assert passes["subsample_start"] <= passes["batch"] / 3, passes


@pytest.mark.slow
@pytest.mark.parametrize("cls", [BayesianGaussianMixture, GaussianMixtureCAVI, GaussianMixture])
def test_each_level_stops_by_the_documented_rule(cls, monkeypatch):
    """A level stops at the first cycle whose mean change of the bound (scaled to the data)
    is below 1e-8 per unit of the data's weight (GaussianMixture reports its bound per unit
    of weight already, the variational estimators in total), or after SUBSAMPLE_SWEEPS
    passes."""
    shrink_levels(monkeypatch, 1000, 4)  # levels of 1,000 and 4,000 rows
    levels, iterate = [], A.iterate

    def spy(*args, **kwargs):
        out = iterate(*args, **kwargs)
        levels.append(np.asarray(out.bounds))
        return out

    monkeypatch.setattr(A, "iterate", spy)  # (the estimators' own loop is not this name)
    X = overlapping()
    fit(cls, X, n_components=6, algorithm="subsample_start", max_iter=5, random_state=0)
    assert len(levels) == 2
    for bounds in levels:
        unit = 1.0 if cls is GaussianMixture else len(X)
        change = np.abs(bounds[3:] - bounds[:-3]) / 3 / unit
        if len(bounds) == A.SUBSAMPLE_SWEEPS:
            assert np.all(change[:-1] >= 1e-8)
        else:
            assert change[-1] < 1e-8 and np.all(change[:-1] >= 1e-8), change


def test_zero_weight_rows_are_never_drawn(small_levels, monkeypatch):
    """The levels draw among the rows of positive weight only: as many as the largest level,
    each once."""
    from fastcavi.data.sources import ArraySource

    X = overlapping(n=16_000)
    w = np.ones(len(X))
    w[::2] = 0.0
    taken, take = [], ArraySource.take
    monkeypatch.setattr(ArraySource, "take",
                        lambda self, rows: taken.append(np.asarray(rows)) or take(self, rows))
    BayesianGaussianMixture(n_components=4, covariance_type="diag", init_params="random",
                            algorithm="subsample_start", max_iter=3, tol=0.0,
                            random_state=0).fit(X, sample_weight=w)
    assert A.subsample_levels(8000, 2, 8) == [1500]
    (rows,) = [r for r in taken if len(r) == 1500]  # (the start takes rows of its own)
    assert len(np.unique(rows)) == 1500 and np.all(w[rows] > 0)


@pytest.mark.slow
def test_float32_fits_agree_with_float64(small_levels):
    X = overlapping(n=8000)
    kw = dict(n_components=4, covariance_type="full", algorithm="subsample_start",
              tol=1e-9 * len(X), max_iter=2000, random_state=0)
    f64 = fit(BayesianGaussianMixture, X, **kw)
    f32 = fit(BayesianGaussianMixture, X.astype(np.float32), **kw)
    assert abs(f32.lower_bound_ - f64.lower_bound_) <= 1e-5 * len(X)
    np.testing.assert_allclose(np.sort(f32.weights_), np.sort(f64.weights_), atol=1e-3)


def test_small_data_get_plain_accelerated_passes():
    """Under 8 x 65,536 rows there is no level: the fit is the accelerated one, bit for bit."""
    X = overlapping(n=3000)
    kw = dict(n_components=4, covariance_type="tied", max_iter=30, tol=0.0, random_state=0)
    a = fit(BayesianGaussianMixture, X, algorithm="subsample_start", **kw)
    b = fit(BayesianGaussianMixture, X, algorithm="accelerated", **kw)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)


@pytest.mark.parametrize("cls", [BayesianGaussianMixture, GaussianMixture])
def test_a_warm_start_gets_plain_accelerated_passes(cls, small_levels, monkeypatch):
    """A warm start continues from a fit: the levels would only move it away to the
    subsample's optimum. Its passes are the accelerated ones from the same state, bit for
    bit."""
    X = overlapping(n=8000)
    kw = dict(n_components=4, max_iter=15, tol=0.0, random_state=0, warm_start=True)
    first = fit(cls, X, algorithm="subsample_start", **kw)
    calls, start = [], A.subsample_start
    monkeypatch.setattr(A, "subsample_start", lambda *a, **k: calls.append(1) or start(*a, **k))
    a = cls(algorithm="subsample_start", **kw)
    b = cls(algorithm="accelerated", **kw)
    for est in (a, b):
        est.__dict__.update({k: v for k, v in first.__dict__.items() if k.endswith("_")})
        est._params_, est._kept = first._params_, first._kept
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
    assert not calls
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)


@pytest.mark.parametrize("model", ["cavi", "bgm", "gm"])
def test_the_command_line_offers_it(model, tmp_path, capsys):
    import fastcavi

    from .test_cli import call

    X = overlapping(n=2000)
    np.save(tmp_path / "x.npy", X)
    status, _, err = call(["fit", tmp_path / "x.npy", "--model", model, "-k", 4, "--algorithm",
                           "subsample_start", "--random-state", 0, "-q", "-o",
                           tmp_path / "m.npz"], capsys)
    assert status == 0, err
    assert fastcavi.load(tmp_path / "m.npz").algorithm == "subsample_start"
