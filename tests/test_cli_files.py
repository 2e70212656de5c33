"""Files as they come: an infinity (named by line and column), a directory, numbers with a
decimal comma, a model path that is not .npz, the unnamed index column asked for by number,
a header that names two columns alike, gzip-compressed text. One error line each, nothing
written. In this process (cli.main)."""

import gzip
import os

import numpy as np
import pytest

import fastcavi

from .test_cli import assert_clean_error, call

pd = pytest.importorskip("pandas")


@pytest.fixture
def iris(tmp_path):
    from sklearn.datasets import load_iris

    df = load_iris(as_frame=True).data
    df.to_csv(tmp_path / "iris.csv")
    return tmp_path, df


def fit_error(directory, capsys, data, pattern, *extra):
    before = sorted(p.name for p in directory.iterdir())
    status, _, err = call(["fit", data, "-k", 3, "-q", "-o", directory / "m.npz", *extra],
                          capsys)
    assert_clean_error((status, err), pattern, directory, before)


@pytest.mark.parametrize("value", ["inf", "-inf", "1e999"])
def test_infinity_is_named_by_line_and_column(iris, capsys, value):
    d, df = iris
    df = df.astype(object)
    df.iloc[6, 2] = value
    df.to_csv(d / "inf.csv")
    fit_error(d, capsys, d / "inf.csv",
              r"inf\.csv: line 8, column 'petal length \(cm\)': '.*' is not a finite number")


def test_a_directory(iris, capsys):
    d, _ = iris
    (d / "sub.csv").mkdir()
    fit_error(d, capsys, d / "sub.csv", r"sub\.csv: is a directory")
    (d / "plain").mkdir()
    fit_error(d, capsys, d / "plain", r"plain: is a directory")


def test_decimal_comma_is_recognised_in_the_error(iris, capsys):
    d, df = iris
    df.to_csv(d / "comma.csv", sep=";", decimal=",")
    fit_error(d, capsys, d / "comma.csv", r"no numeric columns.*decimal comma.*'5,1'")


def test_decimal_comma_column_left_out_is_said(iris, capsys):
    """A file where one column alone has decimal commas (quoted): the others are used and a
    warning says which column looks like numbers with a decimal comma."""
    d, df = iris
    df.assign(**{"sepal length (cm)": df["sepal length (cm)"].map(
        lambda v: f"{v}".replace(".", ","))}).to_csv(d / "mixed.csv")
    status, _, err = call(["fit", d / "mixed.csv", "-k", 3, "-q", "-o", d / "m.npz"], capsys)
    assert status == 0
    assert "'sepal length (cm)'" in err and "decimal comma" in err


def test_model_output_must_be_npz(iris, capsys):
    d, _ = iris
    fit_error(d, capsys, d / "iris.csv", r"m\.txt: unknown file extension '\.txt' for -o "
                                         r"\(expected \.npz\)", "-o", d / "m.txt")


def test_columns_zero_is_the_unnamed_index(iris, capsys):
    d, _ = iris
    fit_error(d, capsys, d / "iris.csv", r"column 0 .*row index.*from 1", "--columns", "0,1")


def test_duplicate_header_names(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(30, 3))
    np.savetxt(tmp_path / "dup.csv", X, delimiter=",", header="a,b,a", comments="")
    fit_error(tmp_path, capsys, tmp_path / "dup.csv", r"'a' names two columns \(0 and 2\)")
    # picking the other columns is fine
    status, _, err = call(["fit", tmp_path / "dup.csv", "-k", 2, "-q", "--columns", "1",
                           "-o", tmp_path / "m.npz"], capsys)
    assert status == 0, err


@pytest.mark.parametrize("name", ["iris.csv.gz", "iris.tsv.gz"])
def test_gzip_text(iris, capsys, name):
    d, df = iris
    df.to_csv(d / name, sep="\t" if ".tsv" in name else ",")
    with gzip.open(d / name, "rb") as f:
        assert f.read(1)  # pandas compressed it
    status, out, err = call(["fit", d / "iris.csv", "-k", 3, "-q", "--random-state", 0, "-o",
                             d / "plain.npz"], capsys)
    assert status == 0, err
    status, out, err = call(["fit", d / name, "-k", 3, "-q", "--random-state", 0, "-o",
                             d / "gz.npz", "--labels", d / "l.csv"], capsys)
    assert status == 0, err
    np.testing.assert_array_equal(fastcavi.load(d / "gz.npz").means_,
                                  fastcavi.load(d / "plain.npz").means_)
    status, _, err = call(["predict", d / "gz.npz", d / name, "-o", d / "p.npy"], capsys)
    assert status == 0, err


def test_info_clear_cache_removes_the_kernel_caches(tmp_path, capsys, monkeypatch):
    """fastcavi info --clear-cache removes fastcavi's folder in the user cache (every version
    and installation) and this installation's folders in NUMBA_CACHE_DIR (one per state of
    its kernel sources), and nothing else."""
    from fastcavi.kernels.cachedir import kernel_cache_dirs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    dirs = kernel_cache_dirs()
    other = tmp_path / "user" / "fastcavi" / "0.0.1" / "old"
    keep = tmp_path / "numba" / "someone_else"
    # this installation's kernels built from other sources (a folder per state of the sources)
    stale = dirs[0].rsplit("_", 1)[0] + "_0123456789abcdef"
    for d in [*map(str, dirs), other, keep, stale]:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "k.nbi"), "w") as f:
            f.write("x")
    status, out, err = call(["info", "--clear-cache"], capsys)
    assert status == 0, err
    assert not (tmp_path / "user" / "fastcavi").exists()
    assert not os.path.exists(dirs[0]) and not os.path.exists(stale)
    assert (keep / "k.nbi").exists()
    assert "removed" in out and str(tmp_path / "user" / "fastcavi") in out
    status, out, _ = call(["info", "--clear-cache"], capsys)
    assert status == 0 and "nothing to remove" in out
