"""Missing values on the command line: a real data set (scikit-learn's bundled wine) with
empty fields where pandas writes NaN, and a text column with "NA"s, as penguins comes. The
default is an error that names --drop-incomplete; with it, fit and predict skip incomplete
rows, say how many, and write labels and probabilities with a header and one row per input
row (empty where a row was dropped), so that they join back to the file. In this process."""

import numpy as np
import pytest

import fastcavi

from .test_cli import assert_clean_error, call

pd = pytest.importorskip("pandas")

HOLES = {3: "alcohol", 10: "magnesium", 11: "alcohol", 57: "proline", 120: "hue"}


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """(directory, the frame with its holes): wine.csv with NaN at HOLES (written as empty
    fields) and a text column 'kind' that is "NA" in some rows; complete.csv its complete
    rows; first.csv with a hole in the first data row."""
    from sklearn.datasets import load_wine

    d = tmp_path_factory.mktemp("missing")
    df = load_wine(as_frame=True).data[["alcohol", "magnesium", "hue", "proline"]].copy()
    for row, column in HOLES.items():
        df.loc[row, column] = np.nan
    df["kind"] = np.where(np.arange(len(df)) % 7 == 0, None, "red")
    df.to_csv(d / "wine.csv")  # NaN as an empty field, None as an empty field too
    df.assign(kind=df["kind"].fillna("NA")).to_csv(d / "wine-na.csv", na_rep="NA")
    df.dropna(subset=["alcohol", "magnesium", "hue", "proline"]).to_csv(d / "complete.csv")
    first = df.copy()
    first.loc[0, "hue"] = np.nan
    first.to_csv(d / "first.csv")
    return d, df


def incomplete(df):
    return df[["alcohol", "magnesium", "hue", "proline"]].isna().any(axis=1).to_numpy()


@pytest.mark.parametrize("name, pattern", [
    ("wine.csv", r"line 5, column 'alcohol': an empty field.*--drop-incomplete"),
    ("wine-na.csv", r"line 5, column 'alcohol': 'NA' is not a number.*--drop-incomplete")])
def test_default_is_an_error_naming_the_option(wine, capsys, name, pattern):
    d, _ = wine
    before = sorted(p.name for p in d.iterdir())
    status, _, err = call(["fit", d / name, "-k", 3, "-o", d / "m.npz"], capsys)
    assert_clean_error((status, err), pattern, d, before)


@pytest.mark.parametrize("name", ["wine.csv", "wine-na.csv"])
def test_fit_drops_incomplete_rows(wine, capsys, name):
    """The model equals the one fitted on the complete rows alone, the command says how many
    rows it dropped, and --labels/--proba have a header and one row per row of the file."""
    d, df = wine
    common = ["-k", 3, "--standardize", "--random-state", 0, "-q"]
    status, _, err = call(["fit", d / "complete.csv", *common, "-o", d / "ref.npz",
                           "--labels", d / "ref.csv"], capsys)
    assert status == 0, err
    status, out, err = call(["fit", d / name, *common, "--drop-incomplete", "-o", d / "m.npz",
                             "--labels", d / "l.csv", "--proba", d / "p.csv"], capsys)
    assert status == 0, err
    assert "dropped 5 of 178 rows with missing values" in out
    assert "N = 173 points" in out
    np.testing.assert_array_equal(fastcavi.load(d / "m.npz").means_,
                                  fastcavi.load(d / "ref.npz").means_)
    labels = pd.read_csv(d / "l.csv", index_col="row")
    assert list(labels.columns) == ["label"] and len(labels) == len(df)
    np.testing.assert_array_equal(labels.index, np.arange(len(df)))
    holes = incomplete(df)
    assert labels["label"][holes].isna().all()
    reference = pd.read_csv(d / "ref.csv")["label"].to_numpy()
    np.testing.assert_array_equal(labels["label"][~holes].to_numpy(), reference)
    proba = pd.read_csv(d / "p.csv", index_col="row")
    assert list(proba.columns) == ["proba_0", "proba_1", "proba_2"] and len(proba) == len(df)
    assert proba[holes].isna().all().all()
    np.testing.assert_allclose(proba[~holes].sum(axis=1), 1.0, atol=1e-5)
    # they join back to the file by row
    joined = pd.read_csv(d / name, index_col=0).join(labels)
    assert joined["label"].isna().sum() == len(HOLES)


def test_predict_drops_incomplete_rows(wine, capsys):
    d, df = wine
    status, _, err = call(["fit", d / "complete.csv", "-k", 3, "--standardize",
                           "--random-state", 0, "-q", "-o", d / "p.npz"], capsys)
    assert status == 0, err
    before = sorted(p.name for p in d.iterdir())
    status, _, err = call(["predict", d / "p.npz", d / "wine.csv", "-o", d / "x.csv"], capsys)
    assert_clean_error((status, err), r"an empty field.*--drop-incomplete", d, before)
    status, out, err = call(["predict", d / "p.npz", d / "wine.csv", "--drop-incomplete",
                             "-o", d / "pl.csv"], capsys)
    assert status == 0, err
    assert "dropped 5 of 178 rows with missing values" in out
    labels = pd.read_csv(d / "pl.csv", index_col="row")["label"]
    holes = incomplete(df)
    assert len(labels) == len(df) and labels[holes].isna().all()
    complete = df[~holes][["alcohol", "magnesium", "hue", "proline"]]
    np.testing.assert_array_equal(labels[~holes].to_numpy(),
                                  fastcavi.load(d / "p.npz").predict(complete))
    # .npy: -1 for a dropped row's label, NaN for its probabilities
    status, _, err = call(["predict", d / "p.npz", d / "wine.csv", "--drop-incomplete",
                           "-o", d / "pl.npy"], capsys)
    assert status == 0, err
    npy = np.load(d / "pl.npy")
    assert npy.dtype == np.int64 and (npy[holes] == -1).all()
    np.testing.assert_array_equal(npy[~holes], labels[~holes].to_numpy())
    status, _, err = call(["predict", d / "p.npz", d / "wine.csv", "--drop-incomplete",
                           "--proba", "-o", d / "pp.npy"], capsys)
    assert status == 0, err
    phi = np.load(d / "pp.npy")
    assert phi.shape == (178, 3) and np.isnan(phi[holes]).all()
    assert not np.isnan(phi[~holes]).any()


def test_a_hole_in_the_first_row_keeps_the_column_numeric(wine, capsys):
    """A column is numeric by its values, not by its first row: 'hue' is missing in the
    first data row and is still used (not left out as text)."""
    d, _ = wine
    status, out, err = call(["fit", d / "first.csv", "-k", 3, "--random-state", 0, "-q",
                             "--drop-incomplete", "-o", d / "f.npz"], capsys)
    assert status == 0, err
    assert "dropped 6 of 178 rows" in out
    np.testing.assert_array_equal(fastcavi.load(d / "f.npz").feature_names_in_,
                                  ["alcohol", "magnesium", "hue", "proline"])


def test_nan_in_npy(tmp_path, capsys):
    from sklearn.datasets import load_iris

    X = load_iris().data.copy()
    X[[4, 9], [0, 2]] = np.nan
    np.save(tmp_path / "x.npy", X)
    status, _, err = call(["fit", tmp_path / "x.npy", "-k", 3, "-q", "-o", tmp_path / "m.npz"],
                          capsys)
    assert status == 2 and "NaN" in err and "--drop-incomplete" in err
    status, out, err = call(["fit", tmp_path / "x.npy", "-k", 3, "-q", "--random-state", 0,
                             "--drop-incomplete", "-o", tmp_path / "m.npz", "--labels",
                             tmp_path / "l.npy"], capsys)
    assert status == 0, err
    assert "dropped 2 of 150 rows" in out
    labels = np.load(tmp_path / "l.npy")
    assert labels.shape == (150,) and list(np.flatnonzero(labels == -1)) == [4, 9]
