"""Bad input: every mistake gets a clear ValueError/TypeError (scikit-learn's wording where
scikit-learn has one), the caller's arrays are never modified, and a failed fit leaves a
previously fitted model exactly as it was.

Boolean X is accepted and fitted as float64, as scikit-learn's check_array does with
dtype=[float64, float32]; arrays of strings are refused (check_array would parse "1.5").
Data frames are tested with pandas itself (in the ``test`` extra: a real frame is what users
pass, and it exercises feature_names_in_), plus a minimal ``__array__`` object for array-likes
that are not frames.
"""

import copy

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import fastcavi
from fastcavi import GaussianMixtureCAVI

KW = dict(n_components=2, random_state=0, max_iter=30, tol=1e-6)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return np.r_[rng.normal(-4, 1, (40, 2)), rng.normal(4, 1, (40, 2))]


@pytest.fixture(scope="module")
def fitted(data):
    return GaussianMixtureCAVI(**KW).fit(data)


def fitted_state(est):
    """Deep copies of every fitted attribute (trailing underscore)."""
    return {k: copy.deepcopy(v) for k, v in vars(est).items() if k.endswith("_")}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            assert a[k].tobytes() == b[k].tobytes(), k
        else:
            assert type(a[k]) is type(b[k]) and a[k] == b[k], k


def bits(a):
    return (a.dtype, a.shape, a.strides, np.ascontiguousarray(a).tobytes())


# -- X: non-finite values, shapes, dtypes --------------------------------------------------------

@pytest.mark.parametrize("value, message", [(np.nan, "Input X contains NaN"),
                                            (np.inf, "Input X contains infinity"),
                                            (-np.inf, "Input X contains infinity")])
@pytest.mark.parametrize("where", [(0, 0), (37, 1), (-1, -1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_finite_x(data, value, message, where, dtype):
    X = data.astype(dtype)
    X[where] = value
    with pytest.raises(ValueError, match=message):
        GaussianMixtureCAVI(**KW).fit(X)
    with pytest.raises(ValueError, match=message):
        fastcavi.cavi(X, data[:2], 1.0, prior_mean=0.0, prior_var=10.0, likelihood_var=1.0,
                      n_iter=2)
    with pytest.raises(ValueError, match=message):
        fastcavi.responsibilities(X, data[:2], [1.0, 1.0], likelihood_var=1.0)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_non_finite_x_at_predict(data, fitted, method):
    X = data.copy()
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        getattr(fitted, method)(X)


@pytest.mark.parametrize("X, message", [
    (np.zeros(10), "Expected 2D array, got 1D array instead"),
    (np.zeros((4, 3, 2)), "Found array with dim 3"),
    (np.zeros((0, 2)), r"Found array with 0 sample\(s\)"),
    (np.zeros((5, 0)), r"0 feature\(s\)"),
    (np.array([["1.5", "2"], ["3", "4"]]), "strings or bytes"),
    (np.array([[b"1", b"2"], [b"3", b"4"]]), "strings or bytes"),
    ([["1.5", "2"], ["3", "4"]], "strings or bytes"),
    (np.array([[1.0, "a"], [2.0, 3.0]], dtype=object), "could not convert string to float"),
    (np.array([[1 + 2j, 0], [1, 2]]), "Complex data not supported"),
], ids=["1d", "3d", "no-rows", "no-columns", "str", "bytes", "list-of-str", "object-str",
        "complex"])
def test_bad_x_estimator(X, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixtureCAVI(n_components=1).fit(X)


def test_object_array_with_non_number():
    X = np.array([[1.0, {"a": 1}], [2.0, 3.0]], dtype=object)
    with pytest.raises(TypeError, match="must be a string or a (real )?number"):
        GaussianMixtureCAVI(n_components=1).fit(X)


@pytest.mark.parametrize("X, error, message", [
    (np.zeros(10), ValueError, "2-D"),
    (np.zeros((2, 3, 2)), ValueError, "2-D"),
    (np.zeros((0, 2)), ValueError, "at least one sample"),
    (np.zeros((5, 0)), ValueError, "at least one sample and one feature"),
    (np.array([["1", "2"]]), TypeError, "real numbers"),
    (np.array([[1.0, 2.0]], dtype=object), TypeError, "real numbers"),
    (np.array([[1 + 2j, 0.0]]), ValueError, "Complex data not supported"),
], ids=["1d", "3d", "no-rows", "no-columns", "str", "object", "complex"])
def test_bad_x_functional(X, error, message):
    p = X.shape[-1] if X.ndim == 2 else 2
    with pytest.raises(error, match=message):
        fastcavi.cavi(X, np.zeros((1, max(p, 1))), 1.0, prior_mean=0.0, prior_var=1.0,
                      likelihood_var=1.0, n_iter=1)
    with pytest.raises(error, match=message):
        fastcavi.responsibilities(X, np.zeros((1, max(p, 1))), 1.0, likelihood_var=1.0)


def test_boolean_x_is_fitted_as_float64(data):
    Xb = data > 0
    a = GaussianMixtureCAVI(**KW).fit(Xb)
    b = GaussianMixtureCAVI(**KW).fit(Xb.astype(np.float64))
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.predict_proba(Xb), b.predict_proba(Xb.astype(float)))
    assert a.predict_proba(Xb).dtype == np.float64
    kw = dict(prior_mean=0.0, prior_var=1.0, likelihood_var=0.5, n_iter=3)
    np.testing.assert_array_equal(fastcavi.cavi(Xb, Xb[:2] * 1.0, 1.0, **kw).lower_bounds,
                                  fastcavi.cavi(Xb * 1.0, Xb[:2] * 1.0, 1.0, **kw).lower_bounds)


class ArrayLike:
    """The least a table-like object offers: __array__ and column names (not a pandas frame,
    so scikit-learn records no feature names)."""

    def __init__(self, values):
        self._values = values
        self.columns = [f"c{j}" for j in range(values.shape[1])]

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


@pytest.mark.parametrize("kind", ["list", "tuple", "object-float", "array-like", "int64",
                                  "fortran", "strided"])
def test_array_likes_give_the_same_fit(data, kind):
    X = {"list": lambda: data.tolist(), "tuple": lambda: tuple(map(tuple, data)),
         "object-float": lambda: data.astype(object), "array-like": lambda: ArrayLike(data),
         "int64": lambda: np.round(data).astype(np.int64),
         "fortran": lambda: np.asfortranarray(data),
         "strided": lambda: np.repeat(data, 2, axis=0)[::2]}[kind]()
    expected = np.round(data) if kind == "int64" else data
    a = GaussianMixtureCAVI(**KW).fit(X)
    b = GaussianMixtureCAVI(**KW).fit(expected)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.predict(X), b.predict(expected))


def test_pandas_frame(data):
    import pandas as pd

    df = pd.DataFrame(data, columns=["x", "y"])
    a = GaussianMixtureCAVI(**KW).fit(df)
    b = GaussianMixtureCAVI(**KW).fit(data)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    np.testing.assert_array_equal(a.feature_names_in_, ["x", "y"])
    np.testing.assert_array_equal(a.predict(df), b.predict(data))
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        a.predict(df.rename(columns={"y": "z"}))
    with pytest.raises(ValueError, match="could not convert string to float"):
        GaussianMixtureCAVI(**KW).fit(df.assign(y=["a"] * len(df)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GaussianMixtureCAVI(**KW).fit(df.assign(y=np.nan))


# -- parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("params, error, message", [
    (dict(n_components=0), ValueError,
     r"The 'n_components' parameter of GaussianMixtureCAVI must be an int in the range "
     r"\[1, inf\)\. Got 0 instead\."),
    (dict(n_components=-3), ValueError, r"'n_components' .* Got -3 instead"),
    (dict(n_components=2.5), TypeError, r"'n_components' .* must be an int .* Got 2\.5"),
    (dict(n_components=2.0), TypeError, r"'n_components' .* must be an int"),
    (dict(n_components="2"), TypeError, r"'n_components' .* must be an int"),
    (dict(n_components=True), TypeError, r"'n_components' .* must be an int"),
    (dict(n_init=0), ValueError, r"'n_init' .* must be an int in the range \[1, inf\)"),
    (dict(max_iter=0), ValueError, r"'max_iter' .* must be an int in the range \[1, inf\)"),
    (dict(max_iter=-1), ValueError, r"'max_iter' .* Got -1 instead"),
    (dict(tol=-1e-3), ValueError, r"'tol' .* must be a float in the range \[0\.0, inf\)"),
    (dict(tol=np.nan), ValueError, r"'tol' .* Got nan instead"),
    (dict(tol=np.inf), ValueError, r"'tol' .* Got inf instead"),
    (dict(tol="0.1"), TypeError, r"'tol' .* must be a float"),
    (dict(prior_var=0.0), ValueError,
     r"'prior_var' .* must be None or a float in the range \(0\.0, inf\)\. Got 0\.0"),
    (dict(prior_var=-1.0), ValueError, r"'prior_var' .* Got -1\.0 instead"),
    (dict(prior_var=np.nan), ValueError, r"'prior_var' .* Got nan instead"),
    (dict(prior_var=np.inf), ValueError, r"'prior_var' .* Got inf instead"),
    (dict(prior_var="1"), TypeError, r"'prior_var' .* must be None or a float"),
    (dict(likelihood_var=0), ValueError, r"'likelihood_var' .* must be None or a float"),
    (dict(likelihood_var=-np.inf), ValueError, r"'likelihood_var' .* Got -inf instead"),
    (dict(likelihood_var=np.nan), ValueError, r"'likelihood_var' .* Got nan instead"),
    (dict(likelihood_var=[1.0]), TypeError, r"'likelihood_var' .* must be None or a float"),
    (dict(prior_var=1e-320), ValueError, r"prior_var must be between 2\.23e-308 and"),
    (dict(likelihood_var=1e308), ValueError, r"likelihood_var must be between .* 2\.86e\+307"),
    (dict(prior_mean=[0.0, 1.0, 2.0]), ValueError,
     r"prior_mean must be a scalar or have shape \(2,\) to match the number of features, got "
     r"shape \(3,\)"),
    (dict(prior_mean=np.zeros((2, 2))), ValueError, r"'prior_mean' .* array of shape"),
    (dict(prior_mean=[0.0, np.nan]), ValueError, r"'prior_mean' .* all finite"),
    (dict(prior_mean="a"), TypeError, r"'prior_mean' .* real numbers"),
    (dict(means_init=np.zeros((3, 2))), ValueError,
     r"The parameter 'means_init' should have the shape \(2, 2\), but got \(3, 2\)"),
    (dict(means_init=np.zeros((2, 3))), ValueError, r"'means_init' should have the shape"),
    (dict(means_init=np.zeros(2)), ValueError, r"'means_init' should have the shape"),
    (dict(means_init=[[0.0, 0.0], [np.inf, 0.0]]), ValueError, "means_init must be finite"),
    (dict(means_init=[["a", "b"], ["c", "d"]]), TypeError, "means_init must hold real numbers"),
    (dict(mean_vars_init=[1.0, 2.0, 3.0]), ValueError,
     r"mean_vars_init must be a scalar or have shape \(2,\)"),
    (dict(mean_vars_init=0.0), ValueError, "mean_vars_init must be finite and positive"),
    (dict(mean_vars_init=[1.0, np.nan]), ValueError, "mean_vars_init must be finite and pos"),
    (dict(init_params="k-means"), ValueError, r"'init_params' .* must be a str among"),
    (dict(n_threads=0), ValueError, "n_threads must be -1, None or between 1 and"),
    (dict(n_threads=1.5), TypeError, "n_threads must be None or an int"),
])
def test_bad_parameters(data, params, error, message):
    with pytest.raises(error, match=message):
        GaussianMixtureCAVI(**dict(KW, **params)).fit(data)


def test_more_components_than_points(data):
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got "
                                         "n_components = 5, n_samples = 4"):
        GaussianMixtureCAVI(n_components=5).fit(data[:4])


@pytest.mark.parametrize("sample_weight, message", [
    (np.ones(79), r"sample_weight.shape == \(79,\), expected \(80,\)"),
    (-np.ones(80), "Negative values in sample_weight are not allowed"),
    (np.r_[np.nan, np.ones(79)], "sample_weight must be finite"),
    (np.zeros(80), "sample_weight must not be all zero"),
    (np.r_[1.0, np.zeros(79)], "positive weight to at least n_components = 2 points"),
])
def test_bad_sample_weight(data, sample_weight, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixtureCAVI(**KW).fit(data, sample_weight=sample_weight)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_not_fitted(data, method):
    with pytest.raises(NotFittedError, match="This GaussianMixtureCAVI instance is not fitted "
                                             "yet"):
        getattr(GaussianMixtureCAVI(), method)(data)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_wrong_number_of_features(data, fitted, method):
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixtureCAVI is "
                                         "expecting 2 features as input"):
        getattr(fitted, method)(np.c_[data, data[:, :1]])


def test_predict_proba_uses_the_fitted_k(data, fitted):
    est = clone(fitted).set_params(n_components=2).fit(data)
    expected = est.predict_proba(data)
    est.set_params(n_components=5)  # not refitted: predictions still come from the fitted K
    np.testing.assert_array_equal(est.predict_proba(data), expected)


# -- the functional API ---------------------------------------------------------------------------

HYPER = dict(prior_mean=0.0, prior_var=10.0, likelihood_var=1.0)


@pytest.mark.parametrize("change, error, message", [
    (dict(means_init=np.zeros((2, 3))), ValueError, r"should have the shape \(2, 2\)"),
    (dict(means_init=np.zeros(2)), ValueError,
     r"means_init must be a 2-D array of shape \(n_components, n_features\)"),
    (dict(means_init=0.0), ValueError, "means_init must be a 2-D array"),
    (dict(means_init=np.zeros((0, 2))), ValueError, "n_components >= 1"),
    (dict(means_init=[[0.0, np.nan], [0.0, 0.0]]), ValueError, "means_init must be finite"),
    (dict(mean_vars_init=[1.0, 1.0, 1.0]), ValueError, r"mean_vars_init must be a scalar or"),
    (dict(mean_vars_init=-1.0), ValueError, "mean_vars_init must be finite and positive"),
    (dict(mean_vars_init=1j), TypeError, "mean_vars_init must hold real numbers"),
    (dict(prior_mean=[0.0, 0.0, 0.0]), ValueError, r"prior_mean must be a scalar or have shape"),
    (dict(prior_mean="0"), TypeError, "prior_mean must hold real numbers"),
    (dict(prior_mean=np.inf), ValueError, "prior_mean must be finite"),
    (dict(prior_var=0.0), ValueError, "prior_var must be a finite positive number"),
    (dict(prior_var=np.nan), ValueError, "prior_var must be a finite positive number"),
    (dict(prior_var=1e-310), ValueError, "prior_var must be between"),
    (dict(likelihood_var=-1.0), ValueError, "likelihood_var must be a finite positive number"),
    (dict(likelihood_var=np.inf), ValueError, "likelihood_var must be a finite positive"),
    (dict(likelihood_var="1"), TypeError, "likelihood_var must be a positive real number"),
    (dict(n_iter=0), ValueError, "n_iter must be >= 1, got 0"),
    (dict(n_iter=2.5), TypeError, "n_iter must be an int"),
    (dict(n_iter=True), TypeError, "n_iter must be an int"),
    (dict(sample_weight=-np.ones(80)), ValueError, "Negative values in sample_weight"),
    (dict(n_threads=0), ValueError, "n_threads must be -1, None or between"),
])
def test_bad_cavi_arguments(data, change, error, message):
    kw = dict(dict(means_init=data[:2], mean_vars_init=1.0, n_iter=2, **HYPER), **change)
    with pytest.raises(error, match=message):
        fastcavi.cavi(data, **kw)


@pytest.mark.parametrize("change, error, message", [
    # A means of the wrong width would make the kernel read past the rows of X.
    (dict(means=np.zeros((2, 3))), ValueError, r"'means' should have the shape \(2, 2\)"),
    (dict(means=np.zeros((2, 1))), ValueError, r"'means' should have the shape \(2, 2\)"),
    (dict(means=np.zeros(2)), ValueError, "means must be a 2-D array"),
    (dict(mean_vars=np.ones(3)), ValueError, r"mean_vars must be a scalar or have shape \(2,\)"),
    (dict(mean_vars=0.0), ValueError, "mean_vars must be finite and positive"),
    (dict(likelihood_var=0.0), ValueError, "likelihood_var must be a finite positive number"),
    (dict(likelihood_var=np.nan), ValueError, "likelihood_var must be a finite positive"),
])
def test_bad_responsibilities_arguments(data, change, error, message):
    kw = dict(dict(means=data[:2], mean_vars=[1.0, 1.0], likelihood_var=1.0), **change)
    with pytest.raises(error, match=message):
        fastcavi.responsibilities(data, **kw)


# -- nothing the caller owns is modified --------------------------------------------------------

@pytest.mark.parametrize("layout", ["float64", "float32", "int64", "fortran", "strided",
                                    "read-only", "negative-zero-and-nan-payload"])
def test_inputs_never_modified(data, layout):
    X = {"float64": data.copy(), "float32": data.astype(np.float32),
         "int64": np.round(data).astype(np.int64), "fortran": np.asfortranarray(data),
         "strided": np.repeat(data, 2, axis=0)[::2], "read-only": data.copy(),
         "negative-zero-and-nan-payload": np.where(data > 0, data, -0.0)}[layout]
    if layout == "read-only":
        X.flags.writeable = False
    m0 = X[:2].astype(np.float64)
    v0 = np.array([0.5, 2.0])
    w = np.linspace(0.5, 2.0, X.shape[0])
    owned = [X, m0, v0, w]
    before = [bits(a) for a in owned]
    est = GaussianMixtureCAVI(n_components=2, means_init=m0, mean_vars_init=v0, prior_mean=m0[0],
                              max_iter=5, tol=0).fit(X, sample_weight=w)
    est.predict(X), est.predict_proba(X), est.score_samples(X), est.score(X)
    fastcavi.cavi(X, m0, v0, n_iter=2, sample_weight=w, **HYPER)
    fastcavi.responsibilities(X, m0, v0, likelihood_var=1.0)
    assert est.means_ is not m0 and est.mean_vars_ is not v0
    est.means_ += 1.0  # the fitted attributes do not alias the caller's arrays
    if layout == "negative-zero-and-nan-payload":
        # A failing fit must not touch X either (here: a NaN with a payload, and -0.0).
        bad = X.copy()
        bad.view(np.uint64)[3, 1] = 0x7FF8_0000_DEAD_BEEF
        bad_bits = bits(bad)
        with pytest.raises(ValueError, match="NaN"):
            GaussianMixtureCAVI(n_components=2).fit(bad)
        with pytest.raises(ValueError, match="NaN"):
            fastcavi.cavi(bad, m0, v0, n_iter=1, **HYPER)
        assert bits(bad) == bad_bits
    assert [bits(a) for a in owned] == before


# -- a failed fit leaves the fitted model unchanged -----------------------------------------------

def _x_with_nan(X):
    X = X.copy()
    X[3, 0] = np.nan
    return X


FAILURES = {  # name: (the bad X from the good one, parameters set before the fit, sample_weight)
    "nan": (_x_with_nan, {}, None),
    "strings": (lambda X: X.astype(str), {}, None),
    "three-features": (lambda X: np.c_[X, X[:, 0]], dict(means_init=np.zeros((2, 2))), None),
    "too-few-points": (lambda X: X[:1], {}, None),
    "bad-weight": (lambda X: X, {}, -np.ones(80)),
    "bad-k": (lambda X: X, dict(n_components=0), None),
    "bad-prior-mean": (lambda X: X, dict(prior_mean=[1.0, 2.0, 3.0]), None),
    "bad-likelihood-var": (lambda X: X, dict(likelihood_var=-1.0), None),
    "overflow-during-sweeps": (lambda X: X.astype(np.float64) * 1e153, {}, None),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_failed_fit_keeps_previous_model(data, failure, dtype):
    make_x, params, sample_weight = FAILURES[failure]
    X = data.astype(dtype)
    est = GaussianMixtureCAVI(**KW).fit(X)
    state = fitted_state(est)
    predictions = (est.predict(X), est.predict_proba(X), est.score_samples(X))
    good_params = est.get_params()
    est.set_params(**params)
    with pytest.raises(ValueError):
        est.fit(make_x(X), sample_weight=sample_weight)
    assert_same_state(fitted_state(est), state)
    est.set_params(**good_params)  # set_params is the caller's doing, not fit's
    for got, expected in zip((est.predict(X), est.predict_proba(X), est.score_samples(X)),
                             predictions):
        assert got.tobytes() == expected.tobytes()
