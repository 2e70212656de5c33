"""Column names travel with the model: real data files (scikit-learn's bundled iris and wine,
written by pandas' ``to_csv``) fitted on the command line and predicted with their columns in
another order, with extra columns, or with one missing; and models saved from Python after
fitting a DataFrame. In this process (cli.main)."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import fastcavi
from fastcavi import BayesianGaussianMixture, GaussianMixtureCAVI

from .test_cli import assert_clean_error, call

pd = pytest.importorskip("pandas")


def frame(name):
    """A bundled scikit-learn data set as a DataFrame (features only) and its true classes."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.data, bunch.target.to_numpy()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """iris and wine as pandas writes them (an unnamed index column, a header), each also with
    its columns reversed and a text column added, and as a bare .npy."""
    d = tmp_path_factory.mktemp("columns")
    for name in ("iris", "wine"):
        df, _ = frame(name)
        df.to_csv(d / f"{name}.csv")
        df[df.columns[::-1]].assign(note="x").to_csv(d / f"{name}-reversed.csv")
        df.drop(columns=df.columns[1]).to_csv(d / f"{name}-missing.csv")
        np.save(d / f"{name}.npy", df.to_numpy())
    return d


def fit(files, capsys, name, *extra):
    model = files / f"{name}-{'-'.join(map(str, extra)) or 'default'}.npz"
    status, out, err = call(["fit", files / f"{name}.csv", "-k", 3, "--random-state", 0, "-q",
                             "-o", model, *extra], capsys)
    assert status == 0, err
    return model


def predict(files, capsys, model, data, *extra, out="labels.npy"):
    status, stdout, err = call(["predict", model, files / data, "-o", files / out, *extra],
                               capsys)
    assert status == 0, err
    return np.load(files / out), stdout, err


@pytest.mark.parametrize("name, extra", [("iris", ()), ("wine", ("--standardize",)),
                                         ("wine", ("--model", "bgm"))])
def test_predict_picks_columns_by_name(files, capsys, name, extra):
    """The same rows with the columns reversed and a text column added: the same labels."""
    model = fit(files, capsys, name, *extra)
    df, _ = frame(name)
    np.testing.assert_array_equal(fastcavi.load(model).feature_names_in_, df.columns)
    in_order, _, _ = predict(files, capsys, model, f"{name}.csv")
    reversed_, _, _ = predict(files, capsys, model, f"{name}-reversed.csv", out="rev.npy")
    assert adjusted_rand_score(in_order, reversed_) == 1.0
    np.testing.assert_array_equal(in_order, reversed_)


def test_missing_column_is_a_one_line_error(files, capsys):
    model = fit(files, capsys, "iris")
    before = sorted(p.name for p in files.iterdir())
    status, _, err = call(["predict", model, files / "iris-missing.csv", "-o",
                           files / "x.npy"], capsys)
    assert_clean_error((status, err), r"iris-missing\.csv: no column named 'sepal width "
                                      r"\(cm\)'.*the model", files, before)


def test_columns_on_predict_are_matched_by_name(files, capsys):
    """--columns on predict may list the model's columns in any order; one the model does not
    know is an error."""
    model = fit(files, capsys, "iris")
    df, _ = frame("iris")
    in_order, _, _ = predict(files, capsys, model, "iris.csv")
    picked, _, _ = predict(files, capsys, model, "iris-reversed.csv", "--columns",
                           ",".join(df.columns[::-1]), out="picked.npy")
    np.testing.assert_array_equal(in_order, picked)
    status, _, err = call(["predict", model, files / "iris-reversed.csv", "--columns",
                           ",".join(df.columns[:3]), "-o", files / "y.npy"], capsys)
    assert status == 2 and "sepal length" in err and "petal width" in err


def test_files_without_names_keep_position(files, capsys):
    """A .npy has no names: its columns are taken in the model's order, and the command says
    so; labels equal those of the named file."""
    model = fit(files, capsys, "iris")
    in_order, _, _ = predict(files, capsys, model, "iris.csv")
    by_position, _, err = predict(files, capsys, model, "iris.npy", out="pos.npy")
    np.testing.assert_array_equal(in_order, by_position)
    assert "has no column names" in err and "sepal length (cm)" in err
    assert "does not have valid feature names" not in err


def test_model_without_names_keeps_position(files, capsys):
    """A model fitted on a .npy has no names; predict on a named file is by position."""
    model = files / "npy-model.npz"
    status, _, err = call(["fit", files / "iris.npy", "-k", 3, "--random-state", 0, "-q", "-o",
                           model], capsys)
    assert status == 0, err
    assert not hasattr(fastcavi.load(model), "feature_names_in_")
    labels, _, err = predict(files, capsys, model, "iris.csv")
    assert err == ""
    X, _ = frame("iris")
    np.testing.assert_array_equal(labels, fastcavi.load(model).predict(X.to_numpy()))


def test_default_fit_ari(files, capsys):
    """The command line's defaults on iris find the species (a fact about iris: three
    classes, two of which overlap)."""
    model = fit(files, capsys, "iris")
    labels, _, _ = predict(files, capsys, model, "iris.csv")
    _, truth = frame("iris")
    assert adjusted_rand_score(truth, labels) > 0.6


# -- from Python -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [GaussianMixtureCAVI, BayesianGaussianMixture])
def test_saved_model_checks_feature_names_as_the_original(tmp_path, cls):
    df, _ = frame("iris")
    est = cls(n_components=3, random_state=0).fit(df)
    path = tmp_path / "m.npz"
    est.save(path)
    loaded = fastcavi.load(path)
    np.testing.assert_array_equal(loaded.feature_names_in_, df.columns)
    np.testing.assert_array_equal(loaded.predict(df), est.predict(df))
    reordered = df[df.columns[::-1]]
    for model in (est, loaded):
        with pytest.raises(ValueError, match="Feature names must be in the same order"):
            model.predict(reordered)
