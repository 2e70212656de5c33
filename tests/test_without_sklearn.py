"""The command line fits and predicts the known-variance model without importing scikit-learn
(its import is most of a command's start). What stands in for scikit-learn on that path is
held to scikit-learn itself: the k-means++ seeding, ``check_random_state``, the check of a
plain float array, ``get_params``; and the command line's scikit-learn-free model to the
public estimator."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, clone
from sklearn.cluster import kmeans_plusplus
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state as sklearn_check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fastcavi import BayesianGaussianMixture, GaussianMixture, GaussianMixtureCAVI
from fastcavi._validation import as_kernel_array, check_random_state, validate_X
from fastcavi.data.defaults import kmeans_plusplus_indices
from fastcavi.estimators.known_variance import KnownVarianceMixture

# -- k-means++ -----------------------------------------------------------------------------------

@st.composite
def seeding_problems(draw):
    """X with repeated rows and ties (few distinct values), K up to n, weights or none
    (zeros allowed, as scikit-learn allows them)."""
    n = draw(st.integers(1, 40))
    p = draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(-4, 4, allow_nan=False, width=64), min_size=1,
                           max_size=6))
    flat = draw(st.lists(st.sampled_from(values), min_size=n * p, max_size=n * p))
    X = np.array(flat, dtype=np.float64).reshape(n, p)
    k = draw(st.integers(1, n))
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n,
                                   max_size=n)))
        if w.sum() == 0:
            w[draw(st.integers(0, n - 1))] = 2.0
    return X, k, w, draw(st.integers(0, 2**31 - 1))


def _same_seeds(X, k, w, seed):
    ours_rng, theirs_rng = np.random.RandomState(seed), np.random.RandomState(seed)
    ours = kmeans_plusplus_indices(X, k, ours_rng, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's cumsum check
        theirs = kmeans_plusplus(X, k, random_state=theirs_rng, sample_weight=w)[1]
    np.testing.assert_array_equal(ours, theirs)
    # The same draws were taken from the random state: the next one is the same.
    assert ours_rng.uniform() == theirs_rng.uniform()


@settings(max_examples=150, deadline=None)
@given(seeding_problems())
def test_kmeans_plusplus_picks_scikit_learns_rows(problem):
    _same_seeds(*problem)


@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_plusplus_picks_scikit_learns_rows_on_larger_data(weighted):
    """Thousands of rows (scikit-learn's products then run in BLAS blocks), K = 37."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5003, 7)) + rng.integers(0, 5, size=(5003, 1))
    w = rng.uniform(0, 2, size=5003) if weighted else None
    for seed in range(3):
        _same_seeds(X, 37, w, seed)


# -- check_random_state --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1, np.int64(11), np.uint8(3)])
def test_check_random_state_seeds_as_scikit_learn(seed):
    ours, theirs = check_random_state(seed), sklearn_check_random_state(seed)
    assert type(ours) is np.random.RandomState
    np.testing.assert_array_equal(ours.uniform(size=5), theirs.uniform(size=5))


def test_check_random_state_passes_through_as_scikit_learn():
    state = np.random.RandomState(0)
    assert check_random_state(state) is state is sklearn_check_random_state(state)
    assert check_random_state(None) is sklearn_check_random_state(None)
    assert check_random_state(np.random) is sklearn_check_random_state(np.random)


@pytest.mark.parametrize("bad", ["0", 1.5, np.random.default_rng(0), [1, 2]])
def test_check_random_state_refuses_as_scikit_learn(bad):
    with pytest.raises(ValueError) as theirs:
        sklearn_check_random_state(bad)
    with pytest.raises(ValueError, match=None) as ours:
        check_random_state(bad)
    assert str(ours.value) == str(theirs.value)


# -- the check of X --------------------------------------------------------------------------

class _Est(BaseEstimator):
    pass


@st.composite
def arrays_and_states(draw, memmap_dir):
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, ">f8"]))
    n, p = draw(st.integers(0, 5)), draw(st.integers(0, 4))
    X = np.arange(n * p, dtype=np.float64).reshape(n, p) / 3.0
    X = X.astype(dtype)
    if draw(st.booleans()) and X.size and X.dtype.kind == "f":
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    if draw(st.booleans()):
        X = np.asfortranarray(X)
    if draw(st.booleans()) and p > 1:
        X = X[:, ::2]
    if draw(st.booleans()) and X.flags.c_contiguous and X.dtype.kind == "f":
        path = memmap_dir / f"x{draw(st.integers(0, 2**40))}.npy"
        np.save(path, X)
        X = np.load(path, mmap_mode="r")
    state = draw(st.sampled_from(["new", "fitted", "fitted with names", "other width"]))
    return X, state, draw(st.booleans()), draw(st.integers(1, 3))


class _Bare:
    """A model without scikit-learn's base classes (as the command line's)."""

    _MODEL_NAME = "_Est"


def _estimator(state, cls=_Est):
    est = cls()
    if state != "new":
        est.n_features_in_ = 9 if state == "other width" else 2
    if state == "fitted with names":
        est.feature_names_in_ = np.array(["a", "b"], dtype=object)
    return est


def _outcome(check, est, X, reset, min_samples):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = check(est, X, reset, min_samples)
        except (ValueError, TypeError) as exc:
            out = (type(exc), str(exc))
    return out, vars(est), [str(w.message) for w in caught]


def _ours(est, X, reset, min_samples):
    return validate_X(est, X, reset=reset, ensure_min_samples=min_samples)


def _theirs(est, X, reset, min_samples):
    with np.errstate(over="ignore", invalid="ignore"):
        X = validate_data(est, X, dtype=[np.float64, np.float32], order="C", reset=reset,
                          ensure_all_finite=True, ensure_min_samples=min_samples)
    return as_kernel_array(X)


@pytest.fixture(scope="module")
def memmap_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("memmaps")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_check_of_X_is_scikit_learns(memmap_dir, data):
    """Every array (memory-mapped too), dtype, layout, width and estimator state, for a
    scikit-learn estimator and for a model without its base classes: the same array,
    attributes, errors and warnings as scikit-learn's validate_data (plain arrays skip it)."""
    X, state, reset, min_samples = data.draw(arrays_and_states(memmap_dir))
    theirs = _outcome(_theirs, _estimator(state), X, reset, min_samples)
    for cls in (_Est, _Bare):
        ours = _outcome(_ours, _estimator(state, cls), X, reset, min_samples)
        if isinstance(theirs[0], tuple):
            assert ours[0] == theirs[0]
        else:
            assert ours[0].dtype == theirs[0].dtype and ours[0].flags.c_contiguous
            np.testing.assert_array_equal(ours[0], theirs[0])
        assert ours[1].keys() == theirs[1].keys()
        for name in ours[1]:
            np.testing.assert_array_equal(ours[1][name], theirs[1][name])
        assert ours[2] == theirs[2]


# -- the command line's model ----------------------------------------------------------------

@pytest.mark.parametrize("cls", [GaussianMixtureCAVI, BayesianGaussianMixture, GaussianMixture])
def test_init_arguments_are_get_params(cls):
    """What a model file stores and the command line copies: get_params(deep=False)."""
    est = cls(n_components=3, tol=0.5, random_state=1)
    assert est._init_arguments() == est.get_params(deep=False)
    copy = est._fresh_copy(n_components=2)
    assert type(copy) is cls and not copy.__sklearn_is_fitted__()
    assert copy.get_params() == clone(est).set_params(n_components=2).get_params()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_command_lines_model_fits_as_the_estimator(weighted, dtype):
    """KnownVarianceMixture and GaussianMixtureCAVI: the same fit, bit for bit, over 20,001 rows
    (the seeding's subsample boundary) with restarts."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 1.0, size=(6667, 3)) for c in (-4, 0, 4)])
    X = np.vstack([X, X[:3]]).astype(dtype)
    w = rng.uniform(0.5, 2.0, size=X.shape[0]) if weighted else None
    params = dict(n_components=3, n_init=2, random_state=5, tol=1e-6)
    ours = KnownVarianceMixture(**params).fit(X, sample_weight=w)
    theirs = GaussianMixtureCAVI(**params).fit(X, sample_weight=w)
    for name in ("means_", "mean_vars_", "lower_bounds_", "prior_mean_", "prior_var_",
                 "likelihood_var_", "n_features_in_"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    np.testing.assert_array_equal(ours.predict_proba(X[:100]), theirs.predict_proba(X[:100]))


def test_the_command_lines_model_says_what_scikit_learn_says():
    """Unfitted: scikit-learn's NotFittedError; bad parameters: the public name."""
    for cls in (KnownVarianceMixture, GaussianMixtureCAVI, BayesianGaussianMixture,
                GaussianMixture):
        with pytest.raises(NotFittedError) as ours:
            cls().predict(np.zeros((3, 2)))
        if cls is not KnownVarianceMixture:
            with pytest.raises(NotFittedError) as theirs:
                check_is_fitted(cls())
            assert str(ours.value) == str(theirs.value)
        else:
            assert "This GaussianMixtureCAVI instance is not fitted yet" in str(ours.value)
    with pytest.raises(ValueError, match="parameter of GaussianMixtureCAVI must be"):
        KnownVarianceMixture(tol=-1.0).fit(np.zeros((3, 2)))


_NO_SKLEARN = """
import sys
from fastcavi.cli.command import main
status = main({argv!r})
assert status == 0, status
loaded = sorted(m for m in ("sklearn", "pandas", "scipy.stats") if m in sys.modules)
assert not loaded, loaded
"""


def test_the_command_line_fits_and_predicts_without_scikit_learn(tmp_path):
    """A fit with every output but the plot, then a prediction: scikit-learn, pandas and
    scipy.stats are never imported (a fresh process each)."""
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(6, 1, (60, 2))])
    data = tmp_path / "points.csv"
    np.savetxt(data, X, delimiter=",", header="x,y", comments="")
    fit = ["fit", str(data), "-k", "2", "-q", "--random-state", "0", "-o",
           str(tmp_path / "m.npz"), "--labels", str(tmp_path / "l.csv"), "--proba",
           str(tmp_path / "p.csv")]
    predict = ["predict", str(tmp_path / "m.npz"), str(data), "-o", str(tmp_path / "q.csv")]
    for argv in (fit, predict):
        done = subprocess.run([sys.executable, "-c", _NO_SKLEARN.format(argv=argv)],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "l.csv").read_text() == (tmp_path / "q.csv").read_text()
