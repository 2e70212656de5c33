"""Models on disk (fastcavi.estimators.io): round trips, the file format, refusals, atomic
writes. The refusals and the writes are checked for every estimator's files."""

import json
import os

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import fastcavi
from fastcavi import BayesianGaussianMixture, GaussianMixture, GaussianMixtureCAVI
from fastcavi.estimators import io as _io

CLASSES = (GaussianMixtureCAVI, BayesianGaussianMixture, GaussianMixture)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 8, (3, 2))
    return centres[rng.integers(3, size=600)] + rng.normal(size=(600, 2))


@pytest.fixture(scope="module")
def fitted(data):
    return GaussianMixtureCAVI(3, n_init=2, random_state=0).fit(data)


@pytest.fixture(scope="module", params=[c.__name__ for c in CLASSES])
def each_fitted(request, data):
    """A fitted model of each class (all three read and write the same file format)."""
    cls = {c.__name__: c for c in CLASSES}[request.param]
    return cls(n_components=3, random_state=0).fit(data)


def _same_predictions(a, b, X):
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def test_round_trip_predicts_exactly(tmp_path, data, fitted):
    path = tmp_path / "model.npz"
    fitted.save(path)
    loaded = fastcavi.load(path)
    assert isinstance(loaded, GaussianMixtureCAVI)
    _same_predictions(fitted, loaded, data)
    _same_predictions(fitted, loaded, data.astype(np.float32))
    for name in ("means_", "mean_vars_", "lower_bounds_", "prior_mean_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(fitted, name))
    for name in ("lower_bound_", "n_iter_", "converged_", "prior_var_", "likelihood_var_",
                 "n_features_in_"):
        assert getattr(loaded, name) == getattr(fitted, name)
        assert type(getattr(loaded, name)) is type(getattr(fitted, name))
    assert loaded.get_params() == fitted.get_params()


def test_array_params_round_trip_and_refit(tmp_path, data):
    m0 = data[:3] + 0.5
    est = GaussianMixtureCAVI(3, prior_mean=[0.5, -1.0], prior_var=40.0, likelihood_var=1.2,
                              means_init=m0, mean_vars_init=[0.1, 0.2, 0.3], tol=0,
                              max_iter=4, random_state=np.random.RandomState(0)).fit(data)
    path = tmp_path / "m.npz"
    _io.save_model(est, path)
    loaded = fastcavi.load(path)
    _same_predictions(est, loaded, data)
    params = loaded.get_params()
    np.testing.assert_array_equal(params["means_init"], m0)
    np.testing.assert_array_equal(params["prior_mean"], [0.5, -1.0])
    np.testing.assert_array_equal(params["mean_vars_init"], [0.1, 0.2, 0.3])
    assert params["random_state"] is None  # a RandomState instance is not stored
    assert params["tol"] == 0 and params["max_iter"] == 4
    # the stored parameters are valid: refitting the loaded model gives the same fit
    refit = loaded.fit(data)
    np.testing.assert_array_equal(refit.means_, est.means_)


def test_file_format(tmp_path, fitted):
    path = tmp_path / "model.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["format_version"]) == 2 == _io.FORMAT_VERSION
        assert str(z["model"]) == "GaussianMixtureCAVI"
        params = json.loads(str(z["params"]))
        assert params["n_components"] == 3 and params["n_init"] == 2
        assert z["means_"].shape == (3, 2) and z["means_"].dtype == np.float64
        assert {"mean_vars_", "lower_bounds_", "lower_bound_", "n_iter_", "converged_",
                "prior_mean_", "prior_var_", "likelihood_var_", "n_features_in_"} <= set(z.files)


def test_writes_exactly_the_name_given(tmp_path, each_fitted):
    each_fitted.save(tmp_path / "model")  # np.savez would have written model.npz
    assert os.listdir(tmp_path) == ["model"]
    loaded = fastcavi.load(tmp_path / "model")
    assert type(loaded) is type(each_fitted) and loaded.n_components == 3


def test_unknown_format_version_is_refused(tmp_path, each_fitted):
    path = tmp_path / "model.npz"
    each_fitted.save(path)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["format_version"] = np.int64(3)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="format_version 3 is not supported"):
        fastcavi.load(tmp_path / "future.npz")


@pytest.mark.parametrize("content", ["npy", "npz", "empty", "text", "inconsistent", "foreign",
                                     "missing"])
def test_not_a_model_is_refused(tmp_path, each_fitted, content):
    path = tmp_path / "bad.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif content == "npz":
        np.savez(path, a=np.zeros(3))
    elif content == "empty":
        path.write_bytes(b"")
    elif content == "text":
        path.write_text("hello")
    else:
        arrays = _io._model_arrays(each_fitted)
        if content == "inconsistent":
            arrays["means_"] = arrays["means_"][:2]
        elif content == "foreign":
            arrays["model"] = np.str_("KMeans")
        else:  # an entry of this class's files left out
            del arrays["means_"]
        np.savez(path, **arrays)
    message = {"inconsistent": "bad.npz: not a valid fastcavi model file",
               "foreign": "bad.npz: holds a 'KMeans', not a fastcavi model",
               "missing": r"bad.npz: not a valid fastcavi model file \(missing 'means_'\)"}
    with pytest.raises(ValueError, match=message.get(content, "bad.npz")) as info:
        fastcavi.load(path)
    assert str(info.value).count("bad.npz") == 1  # one line, the file named once


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastcavi.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("cls", CLASSES)
def test_unfitted_model_is_not_saved(tmp_path, cls):
    with pytest.raises(NotFittedError):
        cls(n_components=2).save(tmp_path / "m.npz")
    with pytest.raises(NotFittedError):
        fastcavi.save(cls(n_components=2), tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


def test_crash_mid_write_leaves_the_old_file(tmp_path, each_fitted, monkeypatch):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old contents")

    def crash(file, **arrays):
        file.write(b"PK half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io.np, "savez", crash)
    with pytest.raises(OSError, match="No space"):
        each_fitted.save(path)
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary is gone


def test_staged_files_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    with pytest.raises(RuntimeError):
        with _io.StagedFiles() as out:
            out.open(a).write(b"A")
            out.open(b).write(b"B")
            raise RuntimeError
    assert os.listdir(tmp_path) == []
    with _io.StagedFiles() as out:
        out.open(a).write(b"A")
        out.open(b).write(b"B")
        assert sorted(os.listdir(tmp_path)) != ["a.bin", "b.bin"]  # not before the commit
    assert a.read_bytes() == b"A" and b.read_bytes() == b"B"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.bin"]
    with pytest.raises(FileNotFoundError, match="No such directory"):
        _io.StagedFiles().open(tmp_path / "missing" / "c.bin")


# -- standardize and format_version 1 ---------------------------------------------------------

def _skewed(data):
    """data's second feature in units 1000 times larger."""
    return data * np.array([1.0, 1000.0])


def test_version_1_files_still_load(tmp_path, data, fitted):
    """A file as fastcavi wrote it before format_version 2 (no standardize parameter, no
    center_/scale_) loads as standardize=False and predicts as before."""
    arrays = _io._model_arrays(fitted)
    params = json.loads(str(arrays["params"]))
    del params["standardize"]
    arrays.update(format_version=np.int64(1), params=np.str_(json.dumps(params)))
    np.savez(tmp_path / "v1.npz", **arrays)
    loaded = fastcavi.load(tmp_path / "v1.npz")
    assert loaded.standardize is False and loaded.center_ is None and loaded.scale_ is None
    _same_predictions(fitted, loaded, data)


def test_standardize_round_trip(tmp_path, data):
    """fastcavi.save / fastcavi.load keep the centre and scale, and the loaded model's predict
    applies them: the same labels as the model that was saved, on raw data."""
    X = _skewed(data)
    est = GaussianMixtureCAVI(3, standardize=True, random_state=0).fit(X)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    np.testing.assert_allclose(est.center_, mean, rtol=1e-12)
    np.testing.assert_allclose(est.scale_, sd, rtol=1e-12)
    # the fit is the plain fit of the standardised data
    plain = GaussianMixtureCAVI(3, random_state=0).fit((X - mean) / sd)
    np.testing.assert_allclose(est.means_, plain.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), plain.predict((X - est.center_) / est.scale_))
    path = tmp_path / "std.npz"
    assert fastcavi.save(est, path) == path
    with np.load(path, allow_pickle=False) as z:
        assert {"center_", "scale_"} <= set(z.files) and int(z["format_version"]) == 2
    loaded = fastcavi.load(path)
    assert loaded.standardize is True
    np.testing.assert_array_equal(loaded.center_, est.center_)
    _same_predictions(est, loaded, X)
    _same_predictions(est, loaded, X.astype(np.float32))


def test_standardize_finds_clusters_a_large_feature_hides(data):
    """Clusters separated in both features; feature 1 in large units with much noise: the
    plain fit follows feature 1's noise, the standardised fit finds the clusters."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(1)
    truth = rng.integers(2, size=400)
    X = np.column_stack([truth * 10 + rng.normal(size=400), rng.normal(0, 1e4, 400)])
    std = GaussianMixtureCAVI(2, standardize=True, random_state=0, n_init=3).fit(X)
    assert adjusted_rand_score(truth, std.predict(X)) > 0.95
    assert std.center_.shape == std.scale_.shape == (2,)


def test_standardize_is_a_bool_and_unset_without_it(data):
    with pytest.raises(TypeError, match="'standardize' parameter"):
        GaussianMixtureCAVI(2, standardize="yes").fit(data)
    est = GaussianMixtureCAVI(2, random_state=0).fit(data)
    assert est.center_ is None and est.scale_ is None


def test_inconsistent_standardize_is_refused(tmp_path, data):
    est = GaussianMixtureCAVI(3, standardize=True, random_state=0).fit(_skewed(data))
    arrays = _io._model_arrays(est)
    del arrays["scale_"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="bad.npz: not a valid fastcavi model file"):
        fastcavi.load(tmp_path / "bad.npz")


# -- outputs onto symbolic links and special files ---------------------------------------------

def _no_temporaries(*directories):
    return [p.name for d in directories for p in d.iterdir() if p.name.endswith(".tmp")] == []


def test_save_through_a_symlink_replaces_its_target(tmp_path, data, fitted):
    """The link stays a link; its target (in another directory) gets the model, atomically
    (the temporary beside the target, so the rename is within one directory)."""
    (tmp_path / "models").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "models" / "real.npz"
    target.write_bytes(b"old contents")
    link = tmp_path / "links" / "model.npz"
    link.symlink_to(target)
    fitted.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    _same_predictions(fastcavi.load(target), fitted, data)
    assert _no_temporaries(tmp_path / "models", tmp_path / "links")
    dangling = tmp_path / "links" / "new.npz"
    dangling.symlink_to(tmp_path / "models" / "new.npz")
    fitted.save(dangling)
    assert dangling.is_symlink() and (tmp_path / "models" / "new.npz").is_file()


def _special_files(tmp_path):
    import stat

    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    made = [(fifo, stat.S_ISFIFO)]
    device = tmp_path / "null.npz"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except (PermissionError, AttributeError):
        pass  # not root, or a container that forbids device nodes: the FIFO case remains
    else:
        made.append((device, stat.S_ISCHR))
    return made


def test_save_refuses_special_files(tmp_path, fitted):
    """A FIFO or a device is never replaced by a regular file (as root, replacing a device
    node destroyed it); directly or through a symbolic link."""
    for path, is_kind in _special_files(tmp_path):
        link = tmp_path / ("link-to-" + path.name)
        link.symlink_to(path)
        for p in (path, link):
            with pytest.raises(OSError, match="not a regular file"):
                fitted.save(p)
        assert is_kind(os.stat(path).st_mode) and link.is_symlink()
    with pytest.raises(IsADirectoryError):
        fitted.save(tmp_path)
    assert _no_temporaries(tmp_path)


@pytest.mark.slow
def test_truncated_file_is_closed_on_the_error_path(tmp_path, each_fitted):
    """A truncated model file: the ValueError, and no ResourceWarning (unclosed file) beside
    it (the command printed it as a warning line next to the error)."""
    import gc
    import warnings

    each_fitted.save(tmp_path / "m.npz")
    content = (tmp_path / "m.npz").read_bytes()
    for size in (200, len(content) // 2, len(content) - 30):
        (tmp_path / "cut.npz").write_bytes(content[:size])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="not a fastcavi model file"):
                fastcavi.load(tmp_path / "cut.npz")
            gc.collect()
        assert [str(w.message) for w in caught] == []


# -- GaussianMixture (maximum-likelihood EM) ---------------------------------------------------

GM_TYPES = ("full", "tied", "diag", "spherical")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ctype", GM_TYPES)
def test_gaussian_mixture_round_trip_predicts_exactly(tmp_path, data, ctype, dtype):
    """A loaded GaussianMixture is the fitted one: every attribute bit for bit and in the
    fit's dtype (float32 attributes for float32 data, as scikit-learn's), the same
    predictions, scores, BIC and AIC, and its column names."""
    import pandas as pd

    X = pd.DataFrame(data.astype(dtype), columns=["bill", "flipper"])
    gm = GaussianMixture(3, covariance_type=ctype, n_init=2, random_state=0,
                         means_init=data[:3]).fit(X)
    path = tmp_path / "gm.npz"
    fastcavi.save(gm, path)
    back = fastcavi.load(path)
    assert type(back) is GaussianMixture
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name), err_msg=name)
        assert getattr(back, name).dtype == getattr(gm, name).dtype == dtype, name
    for name in ("lower_bound_", "n_iter_", "converged_", "n_features_in_", "lower_bounds_"):
        assert getattr(back, name) == getattr(gm, name), name
        assert type(getattr(back, name)) is type(getattr(gm, name)), name
    assert list(back.feature_names_in_) == ["bill", "flipper"]
    for Xp in (X, data, data.astype(np.float32)):
        Xp = Xp if isinstance(Xp, pd.DataFrame) else pd.DataFrame(Xp, columns=X.columns)
        _same_predictions(gm, back, Xp)
        assert back.bic(Xp) == gm.bic(Xp) and back.aic(Xp) == gm.aic(Xp)
        assert back.score(Xp) == gm.score(Xp)
    params = back.get_params()
    np.testing.assert_array_equal(params.pop("means_init"), data[:3])
    want = gm.get_params()
    del want["means_init"]
    assert params == want
    # the stored parameters are valid: the loaded model refits to the same model
    np.testing.assert_array_equal(back.fit(X).means_, gm.means_)


@pytest.mark.parametrize(("entry", "value", "message"), [
    ("covariances_", lambda a: a[..., :1], "covariances_ has shape"),
    ("precisions_cholesky_", lambda a: a[:2], "precisions_cholesky_ has shape"),
    ("weights_", lambda a: -a, "non-positive weights"),
    ("weights_", lambda a: a[None], r"weights_ has shape \(1, 3\)"),
    ("covariances_", lambda a: a * np.nan, "non-finite"),
    ("attributes_dtype", lambda a: np.str_("int8"), "attributes_dtype is 'int8'"),
    ("lower_bounds_", lambda a: a[:-1], "lower_bounds_ has"),
    ("attributes_dtype", None, "missing 'attributes_dtype'"),
])
def test_damaged_gaussian_mixture_file_is_refused(tmp_path, data, entry, value, message):
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(data)
    arrays = _io._model_arrays(gm)
    if value is None:
        del arrays[entry]
    else:
        arrays[entry] = value(arrays[entry])
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="bad.npz: not a valid fastcavi model file .*"
                                         + message) as info:
        fastcavi.load(tmp_path / "bad.npz")
    assert str(info.value).count("bad.npz") == 1
