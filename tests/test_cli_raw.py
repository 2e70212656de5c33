"""The default fit on raw real data (scikit-learn's bundled iris and wine as pandas writes
them): the warning about features on different scales comes before the fit, at a threshold
that catches wine and penguins-like scales but not iris; integer columns that look like years
or identifiers are named; --standardize works for --model bgm too, and the model it saves
predicts the raw data. In this process (cli.main)."""

import numpy as np
import pytest

import fastcavi
from fastcavi import BayesianGaussianMixture
from fastcavi.cli import command as cli

from .test_cli import assert_clean_error, call

pd = pytest.importorskip("pandas")


def frame(name):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(as_frame=True).data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """iris.csv, wine.csv; penguins.csv: wine's alcohol, magnesium and proline (standard
    deviations 0.81, 14 and 314: a ratio of 388, as penguins' bill depth in mm and body mass
    in g, 406) with a year column (2007 to 2009) and a specimen number, as penguins come."""
    d = tmp_path_factory.mktemp("raw")
    frame("iris").to_csv(d / "iris.csv")
    frame("wine").to_csv(d / "wine.csv")
    df = frame("wine")[["alcohol", "magnesium", "proline"]]
    n = len(df)
    df.assign(year=2007 + np.arange(n) % 3, specimen=np.arange(1, n + 1)).to_csv(
        d / "penguins.csv")
    return d


def fit_and_see_stderr_at_fit(files, capsys, monkeypatch, name, *extra):
    """Run fit; return (status, stdout, stderr printed before the fit started, all stderr)."""
    seen = {}
    original = cli.fit_with_progress

    def spy(*args, **kwargs):
        out, err = capsys.readouterr()
        seen["out"], seen["err"] = out, err
        return original(*args, **kwargs)

    monkeypatch.setattr(cli, "fit_with_progress", spy)
    status, out, err = call(["fit", files / name, "-k", 3, "--random-state", 0, "-q", "-o",
                             files / "m.npz", *extra], capsys)
    return status, seen.get("out", "") + out, seen.get("err"), seen.get("err", "") + err


@pytest.mark.parametrize("name, extra, warns", [
    ("wine.csv", (), True),  # standard deviations from 0.124 to 314: a ratio of 2530
    ("penguins.csv", ("--columns", "alcohol,magnesium,proline"), True),  # 388
    ("iris.csv", (), False),  # 4.05
])
def test_scale_warning_before_the_fit(files, capsys, monkeypatch, name, extra, warns):
    status, _, before_fit, _ = fit_and_see_stderr_at_fit(files, capsys, monkeypatch, name,
                                                         *extra)
    assert status == 0
    assert ("scales differ" in before_fit) == warns, before_fit
    if warns:
        assert "--standardize" in before_fit


def test_no_scale_warning_with_standardize(files, capsys, monkeypatch):
    for model in ("cavi", "bgm"):
        status, _, _, err = fit_and_see_stderr_at_fit(files, capsys, monkeypatch, "wine.csv",
                                                      "--standardize", "--model", model)
        assert status == 0 and "scales differ" not in err, err


def test_year_and_identifier_columns_are_named(files, capsys, monkeypatch):
    status, _, before_fit, _ = fit_and_see_stderr_at_fit(files, capsys, monkeypatch,
                                                         "penguins.csv", "--standardize")
    assert status == 0
    assert "'year'" in before_fit and "year" in before_fit
    assert "'specimen'" in before_fit and "identifier" in before_fit
    assert "--columns" in before_fit
    # wine's integer measurements (magnesium, proline) are not named
    status, _, before_fit, _ = fit_and_see_stderr_at_fit(files, capsys, monkeypatch,
                                                         "wine.csv", "--standardize")
    assert status == 0 and before_fit == "", before_fit


@pytest.mark.parametrize("kind", ["full", "diag", "tied"])
def test_bgm_standardize_predicts_the_raw_data(files, capsys, kind):
    """The model saved by fit --model bgm --standardize is in the data's units: fastcavi.load
    and predict on the raw file give the labels of the same fit on standardised data."""
    X = frame("wine").to_numpy()
    status, out, err = call(["fit", files / "wine.csv", "-k", 3, "--model", "bgm",
                             "--covariance-type", kind, "--standardize", "--random-state", 0,
                             "-q", "-o", files / "b.npz", "--labels", files / "b.npy"], capsys)
    assert status == 0, err
    assert "standardized" in out
    center, scale = X.mean(axis=0), X.std(axis=0)
    ref = BayesianGaussianMixture(n_components=3, covariance_type=kind, random_state=0,
                                  tol=1e-5 * len(X)).fit((X - center) / scale)
    loaded = fastcavi.load(files / "b.npz")
    np.testing.assert_allclose(loaded.means_, center + scale * ref.means_, rtol=1e-9)
    expected = ref.predict((X - center) / scale)
    np.testing.assert_array_equal(np.load(files / "b.npy"), expected)
    np.testing.assert_array_equal(loaded.predict(pd.DataFrame(X, columns=frame("wine").columns)),
                                  expected)
    np.testing.assert_allclose(loaded.predict_proba(frame("wine")),
                               ref.predict_proba((X - center) / scale), atol=1e-9)
    status, _, err = call(["predict", files / "b.npz", files / "wine.csv", "-o",
                           files / "bp.npy"], capsys)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(files / "bp.npy"), expected)


def test_bgm_standardize_spherical_is_refused(files, capsys):
    before = sorted(p.name for p in files.iterdir())
    status, _, err = call(["fit", files / "wine.csv", "-k", 3, "--model", "bgm",
                           "--covariance-type", "spherical", "--standardize", "-o",
                           files / "s.npz"], capsys)
    assert_clean_error((status, err), r"--standardize.*spherical.*diag", files, before)


# -- long silences -----------------------------------------------------------------------------

def test_many_components_warn_before_the_fit(files, capsys, monkeypatch):
    """-k above the square root of N (iris: 150 points, so K above 12) is said before the fit;
    -k 12 is not."""
    status, _, before_fit, _ = fit_and_see_stderr_at_fit(files, capsys, monkeypatch,
                                                         "iris.csv", "-k", "13")
    assert status == 0 and "-k 13 for 150 points" in before_fit, before_fit
    status, _, before_fit, _ = fit_and_see_stderr_at_fit(files, capsys, monkeypatch,
                                                         "iris.csv", "-k", "12")
    assert status == 0 and before_fit == "", before_fit


@pytest.mark.parametrize("model", ["cavi", "bgm"])
def test_compile_time_is_reported_apart(files, capsys, monkeypatch, model):
    """On a cold kernel cache the kernels are compiled before the fit and the time line says
    how long that took apart from the fit; the fit is the same as without it."""
    from fastcavi.cli import progress as _cli_progress

    status, out, err = call(["fit", files / "iris.csv", "-k", 3, "--model", model, "-q",
                             "--random-state", 0, "-o", files / "warm.npz"], capsys)
    assert status == 0 and "compiling" not in out, err
    monkeypatch.setattr(_cli_progress, "needs_compile", lambda *a: True)
    status, out, err = call(["fit", files / "iris.csv", "-k", 3, "--model", model, "-q",
                             "--random-state", 0, "-o", files / "cold.npz"], capsys)
    assert status == 0, err
    assert "; before it, the kernels compiled in " in out and err == ""
    np.testing.assert_array_equal(fastcavi.load(files / "cold.npz").means_,
                                  fastcavi.load(files / "warm.npz").means_)


def test_a_long_start_is_said(files, capsys, monkeypatch):
    from fastcavi.cli import progress as _cli_progress

    monkeypatch.setattr(_cli_progress, "START_NOTICE_WORK", 100)
    status, _, err = call(["fit", files / "iris.csv", "-k", 3, "--random-state", 0, "-o",
                           files / "m.npz"], capsys)
    assert status == 0
    assert "run 1/1: choosing 3 starting centres (kmeans++) among 150 points" in err
