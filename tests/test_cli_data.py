"""Real data through the command line: text files as people write them (quoted fields, ';',
tabs, a header, an index column, text columns), --columns, --standardize, the scale warning,
errors with the file's own line numbers, and where plots go. In this process (cli.main) except
where a fresh interpreter matters."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastcavi
from fastcavi import GaussianMixtureCAVI
from fastcavi.cli.data import CLIError, load_table
from fastcavi.cli.plot import marker_style

from .test_cli import PNG_MAGIC, assert_clean_error, blobs, call


def points(n=150, seed=3):
    X, labels = blobs(n=n, p=2, K=3, seed=seed)
    return np.round(X, 6), labels


def write_frame_csv(path, X, sep=",", index=True, header=True, quote_names=False):
    """A file as pandas' DataFrame.to_csv writes it: an unnamed index column, a header, and a
    text column whose values hold the separator and quotes."""
    lines = []
    if header:
        names = ["x", "y", "note"]
        if quote_names:
            names = [f'"{n}"' for n in names]
        lines.append(sep.join(([""] if index else []) + names))
    for i, (a, b) in enumerate(X):
        note = f'"point {i}{sep} said ""hi"""'
        lines.append(sep.join(([str(i)] if index else []) + [repr(float(a)), repr(float(b)), note]))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def expected_means():
    X, _ = points()
    return GaussianMixtureCAVI(3, random_state=0).fit(X).means_


def fit_means(tmp_path, capsys, source, *extra):
    model = tmp_path / "m.npz"
    status, out, err = call(["fit", source, "-k", 3, "--random-state", 0, "-q", "-o", model,
                             *extra], capsys)
    assert status == 0, err
    return fastcavi.load(model).means_, out, err


# -- reading text files ----------------------------------------------------------------------

@pytest.mark.parametrize("name, sep", [("frame.csv", ","), ("semi.csv", ";"),
                                       ("frame.tsv", "\t"), ("frame.txt", "\t")])
def test_quoted_fields_separators_index_and_text_columns(tmp_path, capsys, expected_means,
                                                         name, sep):
    """The index column and the quoted text column are left out, and said so; the fit is the
    fit of the two numeric columns."""
    X, _ = points()
    write_frame_csv(tmp_path / name, X, sep=sep)
    means, out, err = fit_means(tmp_path, capsys, tmp_path / name)
    np.testing.assert_array_equal(means, expected_means)
    assert "N = 150 points, p = 2 features (float64)" in out
    assert re.search(r"features:\s+x, y", out)
    assert "column 0 (no name in the header: a row index)" in out and "text column 'note'" in out
    assert err == ""


def test_r_style_quoted_header_and_whitespace_txt(tmp_path, capsys, expected_means):
    X, _ = points()
    write_frame_csv(tmp_path / "r.csv", X, quote_names=True)
    means, _, _ = fit_means(tmp_path, capsys, tmp_path / "r.csv")
    np.testing.assert_array_equal(means, expected_means)
    np.savetxt(tmp_path / "w.txt", X, header="x y", comments="")
    means, _, _ = fit_means(tmp_path, capsys, tmp_path / "w.txt")
    np.testing.assert_array_equal(means, expected_means)


def test_read_table_details(tmp_path):
    """A BOM, blank lines, '#' comment lines, spaces after the separator, a quoted number."""
    path = tmp_path / "d.csv"
    path.write_text('\ufeff# made by hand\n\nname, a, b\n"one", 1.5, "2"\n\n"two", 3, 4e1\n',
                    encoding="utf-8")
    table = load_table(path)
    np.testing.assert_array_equal(table.X, [[1.5, 2.0], [3.0, 40.0]])
    assert table.names == ["a", "b"] and table.ignored == ["text column 'name'"]


def test_columns_by_name_and_index(tmp_path, capsys, expected_means):
    X, _ = points()
    write_frame_csv(tmp_path / "f.csv", X)
    for spec in ("x,y", "1,2", "x,2"):
        means, out, _ = fit_means(tmp_path, capsys, tmp_path / "f.csv", "--columns", spec)
        np.testing.assert_array_equal(means, expected_means)
        assert "ignored" not in out
    # a column order that swaps the features gives the swapped fit
    means, _, _ = fit_means(tmp_path, capsys, tmp_path / "f.csv", "--columns", "y,x")
    np.testing.assert_allclose(np.sort(means[:, ::-1], axis=0), np.sort(expected_means, axis=0))
    # the index column, asked for by number, is refused (the data columns count from 1)
    with pytest.raises(CLIError, match="column 0 has no name in the header: it is a row index"):
        load_table(tmp_path / "f.csv", columns=[0, 1])
    # .npy by index
    np.save(tmp_path / "three.npy", np.column_stack([X, X[:, 0] ** 2]))
    means, _, _ = fit_means(tmp_path, capsys, tmp_path / "three.npy", "--columns", "0,1")
    np.testing.assert_array_equal(means, expected_means)


@pytest.mark.parametrize("spec, pattern", [
    ("note", r"f\.csv: column 'note' is not numeric \(line 2: 'point 0, said \"hi\"'\)"),
    ("3", r"column 'note' is not numeric"),
    ("x,z", r"f\.csv: no column named 'z' \(its columns are '', 'x', 'y', 'note'\)"),
    ("7", r"f\.csv: column 7 is out of range \(it has 4 columns, numbered 0 to 3\)"),
    ("x,x", r"--columns names column 'x' twice"),
])
def test_bad_columns(tmp_path, capsys, spec, pattern):
    X, _ = points()
    write_frame_csv(tmp_path / "f.csv", X)
    before = sorted(os.listdir(tmp_path))
    status, _, err = call(["fit", tmp_path / "f.csv", "-k", 2, "--columns", spec, "-o",
                           tmp_path / "m.npz"], capsys)
    assert_clean_error((status, err), pattern, tmp_path, before)


def test_columns_by_name_need_a_header(tmp_path, capsys):
    X, _ = points()
    np.save(tmp_path / "d.npy", X)
    np.savetxt(tmp_path / "d.csv", X, delimiter=",")
    before = sorted(os.listdir(tmp_path))
    for source, pattern in (("d.npy", r"--columns by name \('x'\) needs a text file"),
                            ("d.csv", r"no column named 'x' \(it has no header line")):
        status, _, err = call(["fit", tmp_path / source, "-k", 2, "--columns", "x", "-o",
                               tmp_path / "m.npz"], capsys)
        assert_clean_error((status, err), pattern, tmp_path, before)


@pytest.mark.parametrize("content, pattern", [
    # line numbers count every line of the file from 1, the header included
    ("x,y\n1,2\n3,4\n5,abc\n", r"b\.csv: cannot read the numbers: line 4, column 'y': 'abc' is "
                               r"not a number"),
    ("x,y\n1,2\n\n3,\n", r"line 4, column 'y': an empty field"),
    ("# comment\nx,y\n1,2\n3\n", r"line 4 has 1 field, expected 2"),
    ('x,y\n1,"multi\nline"\n3,4\n5,6,7\n', r"line 5 has 3 fields, expected 2"),
    ("x,y\n", r"b\.csv: no data \(only a header line\)"),
    # an unquoted separator in a text field would shift the numbers: caught, not read
    ("name,x,y\nann,1,2\n\"bo, b\",3,4\nSmith, 3,5,6\n", r"line 4 has 4 fields, expected 3"),
    ("name\nbob\n", r"b\.csv: no numeric columns"),
])
def test_errors_name_the_file_line(tmp_path, capsys, content, pattern):
    (tmp_path / "b.csv").write_text(content)
    before = sorted(os.listdir(tmp_path))
    status, _, err = call(["fit", tmp_path / "b.csv", "-k", 1, "-o", tmp_path / "m.npz"], capsys)
    assert_clean_error((status, err), pattern, tmp_path, before)


def test_unnamed_counting_column_without_header_warns(tmp_path, capsys):
    X, _ = points()
    np.savetxt(tmp_path / "n.csv", np.column_stack([np.arange(150), X]), delimiter=",")
    _, _, err = fit_means(tmp_path, capsys, tmp_path / "n.csv")
    assert "fastcavi: warning:" in err and "'column 0' (a different whole number in every " \
        "row: a row index or an identifier?)" in err and "--columns" in err
    assert err.count("warning") == 1


# -- --standardize and the scale warning -----------------------------------------------------

def test_standardize_round_trip_through_the_model_file(tmp_path, capsys):
    """fit --standardize stores the centre and scale; `fastcavi predict` and the Python model
    from fastcavi.load both apply them, and agree with an in-memory standardised fit."""
    X, truth = points(n=300)
    X = X * np.array([1.0, 5000.0])
    np.savetxt(tmp_path / "s.csv", X, delimiter=",", header="a,b", comments="")
    model = tmp_path / "s.npz"
    status, out, err = call(["fit", tmp_path / "s.csv", "-k", 3, "--standardize", "-q",
                             "--random-state", 0, "-o", model, "--labels",
                             tmp_path / "l.npy"], capsys)
    assert status == 0, err
    assert err == ""  # no scale warning with --standardize
    assert re.search(r"standardized:\s+yes", out)
    est = GaussianMixtureCAVI(3, standardize=True, random_state=0).fit(X)
    loaded = fastcavi.load(model)
    assert loaded.standardize
    np.testing.assert_allclose(loaded.center_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(loaded.scale_, X.std(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(loaded.feature_names_in_, ["a", "b"])  # the header's
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame(X, columns=["a", "b"])),
                                  est.predict(X))
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), est.predict(X))
    status, _, err = call(["predict", model, tmp_path / "s.csv", "-o", tmp_path / "p.npy"],
                          capsys)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), est.predict(X))
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, est.predict(X)) > 0.95


def test_scale_warning(tmp_path, capsys):
    X, _ = points()
    np.savetxt(tmp_path / "big.csv", X * np.array([1.0, 2000.0]), delimiter=",",
               header="small,big", comments="")
    np.savetxt(tmp_path / "ok.csv", X * np.array([1.0, 5.0]), delimiter=",",
               header="small,big", comments="")  # iris' ratio is 4: no warning
    _, _, err = fit_means(tmp_path, capsys, tmp_path / "big.csv")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastcavi: warning: ")
    assert "scales differ by a factor of" in err and "'big'" in err and "--standardize" in err
    _, _, err = fit_means(tmp_path, capsys, tmp_path / "ok.csv")
    assert err == ""


# -- plots -----------------------------------------------------------------------------------

def test_marker_size_grows_as_points_get_fewer():
    small, large = marker_style(150), marker_style(20_000)
    assert small[0] >= 20 and small[0] > 5 * large[0] and small[1] > large[1]
    assert [marker_style(n)[0] for n in (10, 150, 1000, 5000, 20_000)] == sorted(
        (marker_style(n)[0] for n in (10, 150, 1000, 5000, 20_000)), reverse=True)


def test_fit_plot_beside_the_data_or_the_model(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    data_dir.mkdir()
    run_dir.mkdir()
    X, _ = points()
    write_frame_csv(data_dir / "iris.csv", X)
    monkeypatch.chdir(run_dir)
    status, out, err = call(["fit", data_dir / "iris.csv", "-k", 3, "-q", "--plot"], capsys)
    assert status == 0, err
    assert (data_dir / "iris-clusters.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(os.listdir(run_dir)) == ["model.npz"]
    status, out, err = call(["fit", data_dir / "iris.csv", "-k", 3, "-q", "--plot",
                             "-o", tmp_path / "out" / "m.npz"], capsys)
    assert status == 2 and "No such directory" in err  # -o's folder must exist
    (tmp_path / "out").mkdir()
    status, out, err = call(["fit", data_dir / "iris.csv", "-k", 3, "-q", "--plot",
                             "-o", tmp_path / "out" / "m.npz"], capsys)
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["m.npz", "m.png"]


def test_plot_axes_are_named_after_the_columns(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from fastcavi.cli import plot as _cli_plot

    X, _ = points()
    est = GaussianMixtureCAVI(3, random_state=0).fit(X)
    seen = {}
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        ax = fig.axes[0]
        seen.update(x=ax.get_xlabel(), y=ax.get_ylabel(),
                    size=float(ax.collections[0].get_sizes()[0]))
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    with open(tmp_path / "p.png", "wb") as f:
        _cli_plot.plot(f, "p.png", X, est, [est.lower_bounds_], "t", names=["alcohol", "hue"])
    assert seen["x"] == "alcohol" and seen["y"] == "hue"
    assert seen["size"] == marker_style(150)[0]


def test_plot_shows_the_features_that_separate_the_clusters(tmp_path, monkeypatch):
    """Four features, the clusters apart in the last two only, one of them in large units:
    the plot shows those two, and its axes stay on the data (no equal aspect stretching the
    small feature's axis a thousandfold past it)."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from fastcavi.cli import plot as _cli_plot

    X2, _ = points()
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=len(X2)), rng.normal(size=len(X2)), X2[:, 0],
                         1000 * X2[:, 1]])
    est = GaussianMixtureCAVI(3, standardize=True, random_state=0).fit(X)
    seen = {}
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        ax = fig.axes[0]
        seen.update(x=ax.get_xlabel(), y=ax.get_ylabel(), xlim=ax.get_xlim(),
                    ylim=ax.get_ylim(), title=ax.get_title())
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    names = ["noise a", "noise b", "x", "y (mm)"]
    with open(tmp_path / "p.png", "wb") as f:
        _cli_plot.plot(f, "p.png", X, est, [est.lower_bounds_], "t", names=names)
    assert {seen["x"], seen["y"]} == {"x", "y (mm)"}, seen
    assert "2 of 4 features" in seen["title"]
    for axis, j in (("xlim", names.index(seen["x"])), ("ylim", names.index(seen["y"]))):
        lo, hi = seen[axis]
        span = X[:, j].max() - X[:, j].min()
        assert X[:, j].min() - 0.2 * span <= lo and hi <= X[:, j].max() + 0.2 * span


def test_demo_plot_never_lands_in_the_working_directory(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    status, out, err = call(["demo", "-n", 2000, "-k", 3, "--n-init", 1, "-q"], capsys)
    assert status == 0, err
    assert os.listdir(work) == []
    assert (temp / "fastcavi-demo.png").read_bytes()[:8] == PNG_MAGIC
    assert f"wrote plot: {temp / 'fastcavi-demo.png'}" in out
    assert "ARI: 1 = the true clusters exactly" in out and "highest ELBO is kept" in out
    # the bgm demo has a picture of its own: running both keeps both
    status, out, err = call(["demo", "--model", "bgm", "-n", 2000, "-k", 3, "--n-init", 1,
                             "-q"], capsys)
    assert status == 0, err
    assert f"wrote plot: {temp / 'fastcavi-demo-bgm.png'}" in out
    assert sorted(os.listdir(temp)) == ["fastcavi-demo-bgm.png", "fastcavi-demo.png"]
    status, out, err = call(["demo", "-n", 2000, "-k", 3, "--n-init", 1, "-q", "-o",
                             "m.npz"], capsys)
    assert status == 0, err
    assert sorted(os.listdir(work)) == ["m.npz", "m.png"]


# -- info and fastcavi.save ------------------------------------------------------------------

def test_info_runs_no_fit(tmp_path):
    """`fastcavi info` with an empty kernel cache compiles nothing: the cache stays empty,
    and it says that the first fit will compile."""
    cache = tmp_path / "cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-m", "fastcavi", "info"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"kernel cache:\s+empty: the first fit compiles the kernels", proc.stdout)
    assert not any(cache.rglob("fixed.*.nbi"))  # (import fastcavi compiles its exp/log)
    assert re.search(r"threading layer: (omp|tbb|workqueue)", proc.stdout)


def test_fastcavi_save_is_est_save(tmp_path):
    X, _ = points()
    est = GaussianMixtureCAVI(3, random_state=0).fit(X)
    assert "save" in fastcavi.__all__
    fastcavi.save(est, tmp_path / "a.npz")
    est.save(tmp_path / "b.npz")
    a, b = fastcavi.load(tmp_path / "a.npz"), fastcavi.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.means_, b.means_)
    np.testing.assert_array_equal(a.predict(X), est.predict(X))
