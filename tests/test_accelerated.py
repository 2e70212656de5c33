"""algorithm='accelerated' (batch passes with SQUAREM's step, safeguarded): the fast path is
the plain reference (fastcavi.reference.accelerated) iteration by iteration; the bound never
falls; it ends at a fixed point of batch CAVI (and of batch EM); it needs fewer passes than
batch where coordinate ascent is slow; every engine gives the same fit; moves run on it.
The tests of the bound, the fixed point and the engines also run algorithm='subsample_start'
(accelerated passes after a start on subsamples; its own tests: test_subsample_start.py),
its levels shrunk to a quarter of the rows (:func:`levels_for`)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastcavi import BayesianGaussianMixture, GaussianMixture, GaussianMixtureCAVI
from fastcavi._registry import ENGINES
from fastcavi.models.family_fit import cavi as fast_cavi
from fastcavi.reference import family as F
from fastcavi.reference.accelerated import accelerated_cavi

from .bgm_problems import GRID, WEIGHTED, assert_result, problem


def overlapping(seed=1, n=20_000, k=6):
    """Clusters that overlap: batch coordinate ascent creeps here (the slow mode)."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-4, 4, (k, 2))
    labels = rng.choice(k, n, p=rng.dirichlet(np.full(k, 2.0)))
    return means[labels] + rng.normal(size=(n, 2)) @ np.diag([1.0, 0.6])


ALGORITHMS = pytest.mark.parametrize("algorithm", ["accelerated", "subsample_start"])


def levels_for(algorithm, monkeypatch, n_rows):
    """For 'subsample_start': one level of a quarter of ``n_rows`` (65,536 rows need 524,288)."""
    if algorithm == "subsample_start":
        from fastcavi.inference import algorithms as A

        monkeypatch.setattr(A, "SUBSAMPLE_ROWS", n_rows // 4)
        monkeypatch.setattr(A, "SUBSAMPLE_GROWTH", 4)


def fit(est_class, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est_class(**kw).fit(X)


@GRID
@WEIGHTED
def test_the_fast_path_is_the_reference_every_iteration(ctype, wtype, weighted):
    X, resp, hyper, w = problem(6, 40, 3, 4, ctype, wtype, weighted)
    prior = F.Prior(**hyper)
    want = accelerated_cavi(X, resp, prior, 25, sample_weight=w)
    got = fast_cavi(X, resp, prior, 25, sample_weight=w, algorithm="accelerated")
    # resp: the fast path's is the E-step before the last iteration's (see its docstring)
    # (an extrapolation of length |a| multiplies round-off by up to a^2: 1e-7, not 1e-10)
    assert_result(got, want, 1e-7, 1.0, bounds_rtol=1e-10, name="accelerated")
    plain = F.cavi(X, resp, prior, 25, sample_weight=w)
    # steps were taken (the two loops part) and none lowered the bound (beyond the round-off
    # of plain iterations at a fixed point)
    assert not np.allclose(want.lower_bounds, plain.lower_bounds, rtol=1e-12, atol=0)
    assert np.all(np.diff(want.lower_bounds) >= -1e-12 * np.abs(want.lower_bounds[1:]))


@ALGORITHMS
@pytest.mark.parametrize("ctype", ["full", "tied", "diag", "spherical"])
def test_the_bound_never_falls_and_stops_where_batch_would(ctype, algorithm, monkeypatch):
    """On data where batch creeps: the bound never falls; the fit stops where a batch
    iteration more would change the bound by less than tol (batch's own stopping rule), and
    at least as high as batch stops from the same start."""
    X = overlapping()
    n = len(X)
    levels_for(algorithm, monkeypatch, n)
    kw = dict(n_components=6, covariance_type=ctype, tol=1e-8 * n, max_iter=3000,
              random_state=0)
    est = fit(BayesianGaussianMixture, X, algorithm=algorithm, **kw)
    bounds = np.asarray(est.lower_bounds_)
    assert est.converged_
    assert np.all(np.diff(bounds) >= -1e-12 * abs(bounds[-1]))
    more = BayesianGaussianMixture(**{**kw, "max_iter": 1, "warm_start": True})
    more.__dict__.update({k: v for k, v in est.__dict__.items() if k.endswith("_")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        more.fit(X)
    assert 0.0 <= more.lower_bound_ - est.lower_bound_ <= kw["tol"]
    batch = fit(BayesianGaussianMixture, X, algorithm="batch", **kw)
    assert est.lower_bound_ >= batch.lower_bound_ - 1e-9 * n


@pytest.mark.parametrize("ctype", [pytest.param("full", marks=pytest.mark.slow), "diag"])
def test_fewer_passes_than_batch_where_coordinate_ascent_is_slow(ctype, monkeypatch):
    """Passes over the data (counted, not timed) until the bound is within 1e-6 per point of
    the best either run reaches: at most half of batch's."""
    import fastcavi.estimators.bayesian_mixture as bm

    X = overlapping()
    n = len(X)
    runs = passes_and_bounds(monkeypatch, bm, X, BayesianGaussianMixture,
                             ("batch", "accelerated"), n_components=6, covariance_type=ctype,
                             tol=1e-10 * n, max_iter=4000, random_state=0)
    passes = passes_to_reach(runs, 1e-6 * n)
    assert reaches(runs, "accelerated", 1e-6 * n)
    assert passes["accelerated"] <= passes["batch"] / 2, passes


def draining(n=2000, share=0.3, seed=0):
    """Three separated clusters in a plane, and a start that gives a fourth component a share
    of the first cluster's points: the two compete for one cluster, and plain passes drain the
    fourth a little each pass (the slow mode of a component on its way out)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(3, size=n)
    X = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])[labels] + rng.normal(size=(n, 2))
    take = (labels == 0) & (rng.uniform(size=n) < share)
    resp = np.zeros((n, 4))
    resp[np.arange(n), np.where(take, 3, labels)] = 1.0
    return X, resp


@pytest.mark.slow
@pytest.mark.parametrize("ctype", ["full", "tied", "diag", "spherical"])
def test_a_component_the_step_carries_past_empty_is_emptied(ctype, monkeypatch):
    """SQUAREM's step along a draining component's path carries its weight below zero; the
    step then makes it empty (its statistics zero) rather than being dropped. The fast path is
    the reference iteration by iteration there, and the reference's passes (counted E-steps)
    reach the best bound within 1e-6 per point in at most half of batch's (without the
    emptying: 0.76-0.83 of batch's for full, diag and spherical; tied's gain, to 0.26, is the
    step's own)."""
    import fastcavi.reference.accelerated as RA

    X, resp = draining()
    n = len(X)
    prior = F.default_prior(X, ctype, n_components=4)
    emptied, passes = [], [0]
    step, log_resp = RA.squarem_step, RA.log_resp

    def counted_step(*args):
        out = step(*args)
        emptied.append(out is not None and bool(np.any(out[0][0] == 0.0)))
        return out

    def counted_resp(*args):
        passes[0] += 1
        return log_resp(*args)

    monkeypatch.setattr(RA, "squarem_step", counted_step)
    monkeypatch.setattr(RA, "log_resp", counted_resp)
    want = RA.accelerated_cavi(X, resp, prior, 30)
    assert any(emptied)
    got = fast_cavi(X, resp, prior, 30, algorithm="accelerated")
    assert_result(got, want, 1e-7, 1.0, bounds_rtol=1e-10, name=ctype)
    bounds = want.lower_bounds
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    batch = F.cavi(X, resp, prior, 100).lower_bounds
    target = max(batch.max(), bounds.max()) - 1e-6 * n
    batch_passes = int(np.argmax(batch >= target)) + 1  # one E-step per iteration
    passes[0] = 0
    short = RA.accelerated_cavi(X, resp, prior, batch_passes // 2)
    assert short.lower_bounds.max() >= target
    assert passes[0] <= batch_passes / 2, (passes[0], batch_passes)


@pytest.mark.parametrize("shape", ["full", "tied", "diag", "scalar"])
def test_the_step_projected_onto_weights_at_least_zero(shape):
    """Three passes in which component 0 drains faster each pass (its weight 40, 25, 12) while
    the others move along straight lines: SQUAREM's step (written out here; its length at the
    bound 4) takes that weight below zero. With emptying, its weight, first moments and (but
    for tied's one pooled scatter) scatter are zero and every other number is the step's;
    without (EM's passes), the step is impossible."""
    from fastcavi.inference.algorithms import _extrapolate, _impossible
    from fastcavi.models.family import FamilyStats

    rng = np.random.default_rng(0)
    k, p = 3, 2
    r_shape = {"full": (k, p, p), "tied": (p, p), "diag": (k, p), "scalar": (k,)}[shape]
    centre = rng.normal(size=(k, p))
    s_start, s_move = rng.normal(size=(k, p)), rng.normal(size=(k, p))
    r_start, r_move = rng.uniform(50, 60, r_shape), rng.uniform(0, 5, r_shape)
    if shape in ("full", "tied"):
        r_start = r_start + np.swapaxes(r_start, -1, -2) + 200 * np.eye(p)
        r_move = r_move + np.swapaxes(r_move, -1, -2)
    history = []
    for t, n0 in enumerate((40.0, 25.0, 12.0)):
        n = np.array([n0, 60.0 + 10 * t, 50.0 + 3 * t])
        history.append((FamilyStats(n, s_start + t * s_move, r_start + t * r_move, 0.0,
                                    n.sum()), centre))
    (s0, _), (s1, _), (s2, _) = history
    fields = ("n_k", "s_k", "r_k")
    dr = {f: getattr(s1, f) - getattr(s0, f) for f in fields}
    dv = {f: getattr(s2, f) - 2 * getattr(s1, f) + getattr(s0, f) for f in fields}
    a = -min(np.sqrt(sum(np.sum(x ** 2) for x in dr.values())
                     / sum(np.sum(x ** 2) for x in dv.values())), 4.0)
    want = {f: getattr(s0, f) - 2 * a * dr[f] + a * a * dv[f] for f in fields}
    assert want["n_k"][0] < 0 < want["n_k"][1:].min()
    plain, _, length = _extrapolate(history, shape, 4.0, emptying=False)
    assert length == pytest.approx(-a, rel=1e-12)
    for f in fields:
        np.testing.assert_allclose(getattr(plain, f), want[f], rtol=1e-12)
    assert _impossible(plain, centre, shape)
    emptied = _extrapolate(history, shape, 4.0)[0]
    for f in fields:
        got = getattr(emptied, f)
        if f == "r_k" and shape == "tied":
            np.testing.assert_allclose(got, want[f], rtol=1e-12)
            continue
        assert np.all(got[0] == 0.0), f
        np.testing.assert_allclose(got[1:], want[f][1:], rtol=1e-12)


def passes_and_bounds(monkeypatch, module, X, est_class, algorithms, **kw):
    """Per algorithm, (passes over all the data so far, bound) after each iteration: the
    rows each map of a source reads over N (a subsample's pass counts its share). ``module``:
    the estimator's module, whose ``make_sweep`` is traced."""
    from fastcavi.data.sources import ArraySource

    count, trace = [0.0], []
    source_map, make_sweep = ArraySource.map, module.make_sweep

    def counted_map(self, *args, **kwargs):
        count[0] += self.n_rows / len(X)
        return source_map(self, *args, **kwargs)

    def traced(*args, **kwargs):
        sweep = make_sweep(*args, **kwargs)

        def one(state):
            state, bound = sweep(state)
            trace.append((count[0], bound))
            return state, bound

        return one

    monkeypatch.setattr(ArraySource, "map", counted_map)
    monkeypatch.setattr(module, "make_sweep", traced)
    runs = {}
    for algorithm in algorithms:
        count[0], trace[:] = 0.0, []
        fit(est_class, X, algorithm=algorithm, **kw)
        runs[algorithm] = np.array(trace)
    return runs


def passes_to_reach(runs, within):
    """Passes until each run is within ``within`` of the best bound any run reaches (a run
    that never gets there counts all its passes and one more)."""
    best = max(float(t[:, 1].max()) for t in runs.values())
    return {a: t[np.argmax(t[:, 1] >= best - within), 0] if t[:, 1].max() >= best - within
            else t[-1, 0] + 1 for a, t in runs.items()}


def reaches(runs, name, within):
    """Whether run ``name`` comes within ``within`` of the best bound any run reaches."""
    best = max(float(t[:, 1].max()) for t in runs.values())
    return runs[name][:, 1].max() >= best - within


@ALGORITHMS
@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "memory"])
def test_every_engine_gives_the_fit_in_memory(engine, algorithm, tmp_path, monkeypatch):
    """(weighted, some weights 0, for the subsample start's draw among positive weights)"""
    X = overlapping(n=3000)
    w = np.random.default_rng(3).uniform(0, 2, len(X))
    w[::7] = 0.0
    levels_for(algorithm, monkeypatch, np.count_nonzero(w))
    kw = dict(n_components=4, covariance_type="full", algorithm=algorithm, max_iter=40,
              tol=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        want = BayesianGaussianMixture(**kw).fit(X, sample_weight=w)
        Xe, we = ENGINES[engine](X, w, str(tmp_path))
        got = BayesianGaussianMixture(**kw).fit(Xe, sample_weight=we)
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(got.means_, want.means_, rtol=0, atol=1e-8)


@ALGORITHMS
def test_the_known_variance_model_and_em_accelerate_too(algorithm, monkeypatch):
    """GaussianMixtureCAVI and GaussianMixture (maximum likelihood: its bound is the
    log-likelihood at the parameters the iteration started from) with the same loop: the
    bound never falls, and it stops at least as high as batch from the same start, in fewer
    passes over all the data."""
    X = overlapping(n=10_000)
    levels_for(algorithm, monkeypatch, len(X))
    for cls, kw in ((GaussianMixtureCAVI, dict(tol=1e-9)), (GaussianMixture, dict(tol=1e-9))):
        kw.update(n_components=6, max_iter=3000, random_state=0)
        fast = fit(cls, X, algorithm=algorithm, **kw)
        batch = fit(cls, X, algorithm="batch", **kw)
        bounds = np.asarray(fast.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), cls.__name__
        assert fast.lower_bound_ >= batch.lower_bound_ - 1e-9 * abs(batch.lower_bound_)
        assert fast.n_iter_ < batch.n_iter_, cls.__name__


@pytest.mark.parametrize("algorithm", [pytest.param("accelerated", marks=pytest.mark.slow),
                                       "subsample_start"])
def test_moves_run_on_accelerated_passes(algorithm, monkeypatch):
    """Moves between accelerated segments: every accepted move raises the bound, and three
    well separated clusters end as three components. (A subsample start: the first segment
    starts on the subsamples, later ones, after a move, are plain accelerated passes.)"""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(2000, 2)) * 0.5 + c for c in ([0, 0], [5, 0], [0, 5])])
    levels_for(algorithm, monkeypatch, len(X))
    est = fit(BayesianGaussianMixture, X, n_components=1, moves=True, max_components=6,
              algorithm=algorithm, random_state=0)
    assert est.n_components_ == 3
    assert all(m.gain > 0 for m in est.moves_ if m.accepted)


def test_an_unknown_algorithm_is_a_clear_error():
    with pytest.raises(ValueError, match="algorithm.*'batch', 'incremental', 'accelerated'"):
        BayesianGaussianMixture(algorithm="squarem").fit(overlapping(n=100))


@pytest.mark.parametrize("model", ["cavi", "bgm", "gm"])
def test_the_command_line_fits_accelerated(model, tmp_path, capsys):
    """fastcavi fit --algorithm accelerated: the model saved is the one Python fits."""
    import fastcavi

    from .test_cli import call

    X = overlapping(n=2000)
    np.save(tmp_path / "x.npy", X)
    status, _, err = call(["fit", tmp_path / "x.npy", "--model", model, "-k", 4, "--algorithm",
                           "accelerated", "--random-state", 0, "-q", "-o", tmp_path / "m.npz"],
                          capsys)
    assert status == 0, err
    got = fastcavi.load(tmp_path / "m.npz")
    assert got.algorithm == "accelerated"
    Est = {"cavi": GaussianMixtureCAVI, "bgm": BayesianGaussianMixture,
           "gm": GaussianMixture}[model]
    want = fit(Est, X, **{k: v for k, v in got.get_params().items()})
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-12)
