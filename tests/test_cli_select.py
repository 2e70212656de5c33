"""``fastcavi select``: the table, the best model file (the same fit as MixtureSelection's),
the plot, and clear errors that leave nothing behind."""

import os

import numpy as np
import pytest

from fastcavi import MixtureSelection, load

from .test_cli import assert_clean_error, call


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("select")
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(150, 2)) * s + c
                   for s, c in ((0.5, [0, 0]), (1.0, [6, 0]), (2.0, [0, 9]))])
    np.savetxt(d / "x.csv", X, delimiter=",", header="width,height", comments="")
    return d, X


def test_the_table_and_the_best_model(data, tmp_path, capsys):
    directory, X = data
    model, plot = tmp_path / "best.npz", tmp_path / "sel.png"
    status, out, err = call(["select", directory / "x.csv", "-k", "1-4", "--covariance-types",
                             "diag,spherical", "-o", model, "--plot", plot], capsys)
    assert status == 0, err
    sel = MixtureSelection(range(1, 5), ["diag", "spherical"], max_iter=200,
                           tol=1e-5 * len(X), random_state=0).fit(X)
    rows = [line for line in out.splitlines() if line.strip().startswith(("diag", "sphe"))]
    assert len(rows) == 8
    for line, bound in zip(rows, sel.results_["lower_bound"]):
        assert f"{bound:.6g}" in line
    assert "<- best" in rows[sel.best_index_]
    best = load(model)
    assert best.covariance_type == sel.best_params_["covariance_type"]
    assert best.n_components == sel.best_params_["n_components"]
    np.testing.assert_allclose(best.means_, sel.best_estimator_.means_, rtol=1e-12)
    assert best.feature_names_in_.tolist() == ["width", "height"]
    assert plot.stat().st_size > 0
    assert err.count("K=") == 8  # a progress line per fit, on stderr


def test_the_algorithm_of_every_fit(data, tmp_path, capsys):
    """--algorithm reaches every fit: the table of --algorithm batch is MixtureSelection's with
    algorithm='batch', and the default's is its accelerated one (fewer iterations in all)."""
    directory, X = data
    tables = {}
    for algorithm in ("batch", None):
        argv = [] if algorithm is None else ["--algorithm", algorithm]
        status, out, err = call(["select", directory / "x.csv", "-k", "2-5",
                                 "--covariance-types", "full", "-q", "-o",
                                 tmp_path / "m.npz", *argv], capsys)
        assert status == 0, err
        tables[algorithm] = [line for line in out.splitlines() if line.strip().startswith("full")]
        assert out.splitlines()[0].endswith(f"; {algorithm or 'accelerated'} fits")
    for algorithm in ("batch", "accelerated"):
        sel = MixtureSelection(range(2, 6), ["full"], max_iter=200, tol=1e-5 * len(X),
                               random_state=0, algorithm=algorithm).fit(X)
        lines = tables["batch" if algorithm == "batch" else None]
        for line, bound, n_iter in zip(lines, sel.results_["lower_bound"],
                                       sel.results_["n_iter"]):
            assert f"{bound:.6g}" in line and str(n_iter) in line.split()
        if algorithm == "batch":
            batch_iterations = sel.results_["n_iter"].sum()
    assert sel.results_["n_iter"].sum() < batch_iterations


def test_standardized_best_model_is_in_the_data_units(data, tmp_path, capsys):
    directory, X = data
    model = tmp_path / "best.npz"
    status, out, err = call(["select", directory / "x.csv", "-k", "3", "--covariance-types",
                             "diag", "--standardize", "-o", model, "-q"], capsys)
    assert status == 0, err
    best = load(model)
    # the three true centres, in the data's units
    found = best.means_[np.argsort(best.means_[:, 0] + best.means_[:, 1])]
    np.testing.assert_allclose(found, [[0, 0], [6, 0], [0, 9]], atol=0.4)


@pytest.mark.parametrize(("argv", "pattern"), [
    (["-k", "0-3"], "distinct K >= 1"),
    (["-k", "3,3"], "distinct K >= 1"),
    (["-k", "a"], "expected K"),
    (["--covariance-types", "full,round"], "expected distinct names"),
    (["--algorithm", "fast"], "invalid choice: 'fast'"),
])
def test_bad_option_values_are_usage_errors(data, tmp_path, capsys, monkeypatch, argv, pattern):
    directory, _ = data
    monkeypatch.chdir(tmp_path)
    status, _, err = call(["select", directory / "x.csv", *argv], capsys)
    assert status == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("fastcavi select: error: argument ")
    assert pattern in err and os.listdir(tmp_path) == []


@pytest.mark.parametrize(("argv", "pattern"), [
    (["-k", "1000"], "more than the number of points"),
    (["--standardize"], "--standardize with spherical"),
    (["-o", "m.txt"], "unknown file extension"),
])
def test_bad_options_are_clear_errors(data, tmp_path, capsys, monkeypatch, argv, pattern):
    directory, _ = data
    monkeypatch.chdir(tmp_path)
    status, _, err = call(["select", directory / "x.csv", *argv], capsys)
    assert_clean_error((status, err), pattern, tmp_path, [])


def test_warns_of_features_on_different_scales_and_names_standardised_bounds(tmp_path, capsys):
    """As fit does: a warning before the fits when one feature's spread dwarfs another's, and
    with --standardize the best line says whose ELBO it is."""
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=300), rng.normal(scale=5000.0, size=300)])
    np.savetxt(tmp_path / "scales.csv", X, delimiter=",", header="mm,g", comments="")
    status, out, err = call(["select", tmp_path / "scales.csv", "-k", "1-2",
                             "--covariance-types", "diag", "-q", "-o", tmp_path / "a.npz"],
                            capsys)
    assert status == 0, err
    warning = [line for line in err.splitlines() if line.startswith("fastcavi: warning:")]
    assert len(warning) == 1 and "--standardize" in warning[0] and "mm" in warning[0]
    assert "standardised" not in out
    status, out, err = call(["select", tmp_path / "scales.csv", "-k", "1-2",
                             "--covariance-types", "diag", "--standardize", "-q", "-o",
                             tmp_path / "b.npz"], capsys)
    assert status == 0, err
    assert "warning" not in err
    assert "ELBO (of the standardised data)" in out


def test_both_models_in_one_table(data, tmp_path, capsys):
    """--models bgm,gm: the GaussianMixture rows with -BIC/2, a best line per model (BIC of
    scikit-learn's GaussianMixture from the same start), the first model's best saved."""
    from sklearn.mixture import GaussianMixture as SkGM

    directory, X = data
    status, out, err = call(["select", directory / "x.csv", "-k", "2-4", "--covariance-types",
                             "diag", "--models", "bgm,gm", "--algorithm", "batch", "-q", "-o",
                             tmp_path / "m.npz"], capsys)
    assert status == 0, err
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["bgm"], ["gm"])]
    assert [r[0] for r in rows] == ["bgm"] * 3 + ["gm"] * 3
    best = [line for line in out.splitlines() if line.startswith("best gm:")]
    assert len(best) == 1 and "K = 3" in best[0]
    sk = SkGM(3, covariance_type="diag", random_state=0, max_iter=200, tol=1e-5).fit(X)
    assert float(best[0].split("BIC")[1]) == pytest.approx(sk.bic(X), rel=1e-8)
    assert type(load(tmp_path / "m.npz")).__name__ == "BayesianGaussianMixture"
    status, _, err = call(["select", directory / "x.csv", "--models", "em"], capsys)
    assert status == 2 and "--models takes distinct names among bgm, gm, moves" in err


def test_moves_rows_beside_the_grid(data, tmp_path, capsys):
    """--models bgm,moves: the grid's rows, then one row per type for the fit with moves
    (started at the largest K), a best line for each, the grid's best saved."""
    directory, X = data
    status, out, err = call(["select", directory / "x.csv", "-k", "1-5", "--covariance-types",
                             "diag", "--models", "bgm,moves", "-q", "-o", tmp_path / "m.npz"],
                            capsys)
    assert status == 0, err
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] in (["bgm"], ["moves"])]
    assert [r[0] for r in rows] == ["bgm"] * 5 + ["moves"]
    best = [line for line in out.splitlines() if line.startswith("best moves:")]
    assert len(best) == 1 and "ELBO" in best[0]
    assert type(load(tmp_path / "m.npz")).__name__ == "BayesianGaussianMixture"
