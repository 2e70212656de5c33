"""``--model gm`` on the command line: fit and predict on real data (scikit-learn's bundled
iris and wine, written as CSV files) give what fastcavi.GaussianMixture gives in Python with
the same options, and so what scikit-learn's GaussianMixture gives; the prior options are
one-line errors; columns are matched by name; --standardize and --drop-incomplete as for the
other models; the demo. In this process (cli.main)."""

import math
import os
import re

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastcavi
from fastcavi import GaussianMixture

from .test_cli import assert_clean_error, call

pd = pytest.importorskip("pandas")

TYPES = ("full", "tied", "diag", "spherical")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """(directory, iris frame, wine frame): iris.csv, wine.csv with a header line, and
    iris-shuffled.csv, iris's columns in another order."""
    from sklearn.datasets import load_iris, load_wine

    d = tmp_path_factory.mktemp("gm")
    iris = load_iris(as_frame=True).data
    wine = load_wine(as_frame=True).data[["alcohol", "magnesium", "hue", "proline"]]
    iris.to_csv(d / "iris.csv", index=False)
    wine.to_csv(d / "wine.csv", index=False)
    iris[list(reversed(iris.columns))].to_csv(d / "iris-shuffled.csv", index=False)
    return d, iris, wine


def fit(argv, capsys):
    status, out, err = call(["fit", *argv], capsys)
    assert status == 0, err
    return out, err


def _by_means(est):
    """The components in the order of their means (lexicographic)."""
    return np.lexsort(est.means_.T[::-1])


def _components(est, name, order):
    value = getattr(est, name)
    return value if est.covariance_type == "tied" and name != "weights_" and name != "means_" \
        else value[order]


def printed(out, key):
    return re.search(rf"^{re.escape(key)}:\s+(.*)$", out, re.M).group(1)


@pytest.mark.parametrize("ctype", TYPES)
def test_fit_predict_round_trip_equals_python_and_scikit_learn(real, tmp_path, capsys, ctype):
    d, iris, _ = real
    X = iris.to_numpy()
    out, err = fit([d / "iris.csv", "--model", "gm", "-k", 3, "--covariance-type", ctype,
                    "--n-init", 2, "--random-state", 0, "--reg-covar", "1e-5",
                    "--max-iter", 300, "-o", tmp_path / "m.npz", "--labels",
                    tmp_path / "l.npy", "--proba", tmp_path / "p.npy"], capsys)
    kw = dict(n_components=3, covariance_type=ctype, n_init=2, random_state=0,
              reg_covar=1e-5, max_iter=300)
    est = GaussianMixture(**kw).fit(X)
    sk = SkGaussianMixture(**kw).fit(X)
    model = fastcavi.load(tmp_path / "m.npz")
    assert type(model) is GaussianMixture
    assert model.tol == 1e-3 == SkGaussianMixture().tol  # scikit-learn's tol, as it is
    assert list(model.feature_names_in_) == list(iris.columns)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(model, name), getattr(est, name), err_msg=name)
    # scikit-learn's fit, its components perhaps in another order: both starts can end at
    # the same optimum (tied: mean log-likelihoods equal to 1e-15), and which is kept is
    # then decided by rounding
    ours, theirs = _by_means(model), _by_means(sk)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(_components(model, name, ours), _components(sk, name, theirs),
                                   rtol=1e-6, atol=1e-9, err_msg=name)
    assert model.n_iter_ == est.n_iter_
    labels = est.predict(X)
    relabel = np.empty(3, dtype=np.int64)
    relabel[theirs] = ours  # scikit-learn's component theirs[j] is ours[j]
    np.testing.assert_array_equal(relabel[sk.predict(X)], labels)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy")[:, ours],
                               sk.predict_proba(X)[:, theirs], atol=1e-8)
    # what it printed: the log-likelihood of the fitted data, BIC and AIC (scikit-learn's)
    assert printed(out, "model") == ("GaussianMixture (maximum likelihood, EM), "
                                     f"covariance_type = {ctype}")
    assert printed(out, "iterations") == (
        f"{est.n_iter_} (best of 2 run(s)); converged: yes (tol = 0.001 per point, of the "
        "mean log-likelihood)")
    total, mean = map(float, re.fullmatch(r"(\S+) \((\S+) per point\) of the fitted model on "
                                          r"these data", printed(out, "log-likelihood")).groups())
    assert math.isclose(total, sk.score(X) * len(X), rel_tol=1e-9)
    assert math.isclose(mean, sk.score(X), abs_tol=1e-6)
    assert total == float(f"{est.score(X) * len(X):.10g}")
    bic, aic = map(float, re.match(r"(\S+), (\S+) \(lower is better; (\d+) free",
                                   printed(out, "BIC, AIC")).groups()[:2])
    assert math.isclose(bic, sk.bic(X), rel_tol=1e-9)
    assert math.isclose(aic, sk.aic(X), rel_tol=1e-9)
    assert re.search(r"^time:\s+\S+ \S+ per iteration", out, re.M)
    assert "components by weight" in out
    assert "run 2/2: " in err and "iterations, final log-likelihood" in err
    # predict on the saved model: labels and responsibilities aligned to the rows
    status, out, err = call(["predict", tmp_path / "m.npz", d / "iris.csv", "-o",
                             tmp_path / "pred.csv"], capsys)
    assert status == 0, err
    assert "150 points, K = 3: wrote labels (150,)" in out
    pred = pd.read_csv(tmp_path / "pred.csv", index_col="row")
    np.testing.assert_array_equal(pred["label"].to_numpy(), labels)
    status, _, err = call(["predict", tmp_path / "m.npz", d / "iris.csv", "--proba", "-o",
                           tmp_path / "proba.npy"], capsys)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), est.predict_proba(X))


def test_columns_are_matched_by_name(real, tmp_path, capsys):
    """A model fitted on iris.csv predicts a file with the same columns in another order:
    taken by name, the same labels; a file with a column missing is an error naming it."""
    d, iris, _ = real
    fit([d / "iris.csv", "--model", "gm", "-k", 3, "--random-state", 1, "-q", "-o",
         tmp_path / "m.npz"], capsys)
    want = GaussianMixture(3, random_state=1).fit(iris.to_numpy()).predict(iris.to_numpy())
    for name in ("iris.csv", "iris-shuffled.csv"):
        status, _, err = call(["predict", tmp_path / "m.npz", d / name, "-o",
                               tmp_path / f"{name}.npy"], capsys)
        assert status == 0, err
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), want)
    iris.drop(columns="petal width (cm)").to_csv(tmp_path / "three.csv", index=False)
    before = sorted(os.listdir(tmp_path))
    status, _, err = call(["predict", tmp_path / "m.npz", tmp_path / "three.csv", "-o",
                           tmp_path / "x.npy"], capsys)
    assert_clean_error((status, err), r"petal width \(cm\)", tmp_path, before)


def test_defaults_are_scikit_learns(real, tmp_path, capsys):
    """Only --model gm and -k: full covariances, kmeans starts, tol 1e-3, reg_covar 1e-6,
    one start, 100 iterations (scikit-learn's); --init-params kmeans++ is k-means++."""
    d, iris, _ = real
    out, _ = fit([d / "iris.csv", "--model", "gm", "-k", 2, "--random-state", 3, "-q",
                  "-o", tmp_path / "m.npz"], capsys)
    model = fastcavi.load(tmp_path / "m.npz")
    defaults = SkGaussianMixture().get_params()
    for name in ("covariance_type", "init_params", "tol", "reg_covar", "n_init", "max_iter"):
        assert model.get_params()[name] == defaults[name], name
    fit([d / "iris.csv", "--model", "gm", "-k", 2, "--random-state", 3, "-q",
         "--init-params", "kmeans++", "-o", tmp_path / "pp.npz"], capsys)
    assert fastcavi.load(tmp_path / "pp.npz").init_params == "k-means++"


@pytest.mark.parametrize("argv, pattern", [
    (["--weight-prior", "dirichlet_process"],
     r"--weight-prior is an option of --model bgm, not of --model gm: --model gm \(maximum "
     r"likelihood\) has no prior"),
    (["--weight-concentration", "1"], r"--weight-concentration is an option of --model bgm"),
    (["--mean-precision-prior", "1"], r"--mean-precision-prior is an option of --model bgm"),
    (["--degrees-of-freedom-prior", "5"], r"--degrees-of-freedom-prior is an option of --model "
                                          r"bgm, not of --model gm"),
    (["--covariance-prior", "1"], r"--covariance-prior is an option of --model bgm, not of "
                                  r"--model gm"),
    (["--prior-mean", "0"], r"--prior-mean is an option of --model cavi and --model bgm, not "
                            r"of --model gm"),
    (["--prior-var", "1"], r"--prior-var is an option of --model cavi, not of --model gm"),
    (["--likelihood-var", "1"], r"--likelihood-var is an option of --model cavi"),
    (["--means-init", "iris.csv"], r"--means-init is an option of --model cavi"),
    (["--mean-vars-init", "1"], r"--mean-vars-init is an option of --model cavi"),
    (["--init-params", "lloyd"], r"--init-params 'lloyd' is not a start of --model gm"),
    (["--covariance-type", "spherical", "--standardize"],
     r"--standardize with --covariance-type spherical"),
])
def test_refused_options(real, capsys, argv, pattern):
    d, _, _ = real
    before = sorted(os.listdir(d))
    status, out, err = call(["fit", d / "iris.csv", "--model", "gm", "-k", 2, "-o",
                             d / "m.npz", *argv], capsys)
    assert_clean_error((status, err), pattern, d, before)
    assert out == ""
    status, _, err = call(["demo", "--model", "gm", "-n", 100, "--no-plot", *argv[:2]], capsys)
    if argv[0] not in ("--prior-mean", "--means-init", "--mean-vars-init", "--init-params",
                       "--covariance-type", "--prior-var"):  # fit's alone, or the demo's own
        assert status == 2 and re.search(pattern, err)


def test_streaming_options_follow_the_estimator(real, tmp_path, capsys):
    """--algorithm incremental and --partial reach GaussianMixture when it takes them, and
    are one-line errors naming --model gm when it does not."""
    d, iris, _ = real
    before = sorted(os.listdir(tmp_path))
    offers = "algorithm" in GaussianMixture().get_params()
    status, _, err = call(["fit", d / "iris.csv", "--model", "gm", "-k", 2, "-q", "--algorithm",
                           "incremental", "-o", tmp_path / "a.npz"], capsys)
    if offers:
        assert status == 0, err
        assert fastcavi.load(tmp_path / "a.npz").algorithm == "incremental"
    else:
        assert_clean_error((status, err), r"--algorithm incremental is not available for "
                                          r"--model gm", tmp_path, before)
    if not hasattr(GaussianMixture(), "partial_fit"):
        status, _, err = call(["fit", d / "iris.csv", "--model", "gm", "-k", 2, "--partial",
                               50, "-o", tmp_path / "p.npz"], capsys)
        assert_clean_error((status, err), r"--partial is not available for --model gm",
                           tmp_path, sorted(os.listdir(tmp_path)))


@pytest.mark.parametrize("ctype", ["full", "diag"])
def test_standardize_fits_the_standardised_data_and_saves_the_data_units(real, tmp_path,
                                                                        capsys, ctype):
    """wine's features are on scales 0.2 to 300: --standardize fits the standardised data
    (the same fit as in Python on (X - mean) / sd), and the saved model, in the data's
    units, gives the same labels on the raw file; its log-likelihood is the data's."""
    d, _, wine = real
    X = wine.to_numpy()
    out, _ = fit([d / "wine.csv", "--model", "gm", "-k", 3, "--covariance-type", ctype,
                  "--standardize", "--random-state", 0, "-q", "-o", tmp_path / "m.npz",
                  "--labels", tmp_path / "l.npy"], capsys)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    Z = (X - mean) / sd
    est = GaussianMixture(3, covariance_type=ctype, random_state=0).fit(Z)
    model = fastcavi.load(tmp_path / "m.npz")
    np.testing.assert_allclose(model.means_, mean + sd * est.means_, rtol=1e-10)
    cov = est.covariances_ * (np.outer(sd, sd) if ctype == "full" else sd ** 2)
    np.testing.assert_allclose(model.covariances_, cov, rtol=1e-10)
    np.testing.assert_allclose(model.weights_, est.weights_, rtol=1e-12)
    labels = est.predict(Z)
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_array_equal(model.predict(wine), labels)  # a frame: names checked
    np.testing.assert_allclose(model.predict_proba(wine), est.predict_proba(Z), atol=1e-9)
    # densities in the data's units: the standardised ones less log prod(sd)
    np.testing.assert_allclose(model.score_samples(wine),
                               est.score_samples(Z) - np.log(sd).sum(), rtol=1e-10)
    assert "standardized:" in out
    total = float(printed(out, "log-likelihood").split()[0])
    assert math.isclose(total, model.score(wine) * len(X), rel_tol=1e-9)


def test_drop_incomplete(real, tmp_path, capsys):
    """Rows with a missing value are skipped with --drop-incomplete: the model is the fit of
    the complete rows, and the labels have one row per row of the file, empty where one was
    skipped."""
    d, _, wine = real
    holed = wine.copy()
    holes = [4, 30, 77]
    holed.loc[holes, "hue"] = np.nan
    holed.to_csv(tmp_path / "holed.csv", index=False)
    out, _ = fit([tmp_path / "holed.csv", "--model", "gm", "-k", 3, "--covariance-type", "diag",
                  "--drop-incomplete", "--random-state", 0, "-q", "-o", tmp_path / "m.npz",
                  "--labels", tmp_path / "l.csv"], capsys)
    assert "dropped 3 of 178 rows with missing values" in out
    complete = holed.dropna().to_numpy()
    est = GaussianMixture(3, covariance_type="diag", random_state=0).fit(complete)
    np.testing.assert_array_equal(fastcavi.load(tmp_path / "m.npz").means_, est.means_)
    labels = pd.read_csv(tmp_path / "l.csv", index_col="row")["label"]
    assert len(labels) == len(wine) and labels[holes].isna().all()
    np.testing.assert_array_equal(labels.drop(index=holes).to_numpy(), est.predict(complete))
    status, _, err = call(["predict", tmp_path / "m.npz", tmp_path / "holed.csv",
                           "--drop-incomplete", "-o", tmp_path / "p.csv"], capsys)
    assert status == 0, err
    pred = pd.read_csv(tmp_path / "p.csv", index_col="row")["label"]
    assert pred[holes].isna().all()
    np.testing.assert_array_equal(pred.drop(index=holes).to_numpy(), est.predict(complete))


@pytest.mark.slow
def test_float32_and_plot(real, tmp_path, capsys):
    """--float32 fits in float32 (the model's attributes too, as scikit-learn's on float32
    data); --plot draws the log-likelihood trace."""
    pytest.importorskip("matplotlib")
    d, iris, _ = real
    fit([d / "iris.csv", "--model", "gm", "-k", 3, "--float32", "--random-state", 0, "-q",
         "-o", tmp_path / "m.npz", "--plot", tmp_path / "m.png"], capsys)
    model = fastcavi.load(tmp_path / "m.npz")
    est = GaussianMixture(3, random_state=0).fit(iris.to_numpy(np.float32))
    assert model.means_.dtype == np.float32
    np.testing.assert_array_equal(model.means_, est.means_)
    assert (tmp_path / "m.png").stat().st_size > 10_000


def test_demo(tmp_path, capsys):
    """One short demo: clusters of unequal weights and spreads, fitted by EM; the ARI, the
    log-likelihood, BIC and AIC, the true and fitted weights side by side; the model saved."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, out, err = call(["demo", "--model", "gm", "-n", 4000, "-k", 3, "-p", 3,
                                 "--n-init", 1, "--no-plot", "-o", "demo.npz"], capsys)
    finally:
        os.chdir(cwd)
    assert status == 0, err
    assert "fastcavi demo --model gm: N = 4,000 points, p = 3, K = 3, seed = 0" in out
    assert "GaussianMixture (maximum likelihood, EM), covariance_type = full" in out
    assert "tol = 0.001 per point, of the mean log-likelihood" in out
    ari = float(re.search(r"ARI:\s+([\d.]+) against the true labels", out).group(1))
    assert ari > 0.9
    model = fastcavi.load(tmp_path / "demo.npz")
    assert type(model) is GaussianMixture
    bic = float(printed(out, "BIC, AIC").split(",")[0])
    assert bic > 0 and "true clusters by weight" in out
    assert "run 1/1: " in err and "iterations, final log-likelihood" in err
    assert sorted(os.listdir(tmp_path)) == ["demo.npz"]


def test_compile_notice_only_where_gm_compiles(tmp_path, monkeypatch, capsys):
    """On a cold kernel cache, a gm fit announces the compile (it runs the family's kernels)
    and a gm prediction does not (it is NumPy: nothing to compile)."""
    from fastcavi.cli import progress as _cli_progress

    monkeypatch.setattr(_cli_progress, "cache_dirs", lambda: [str(tmp_path / "none")])
    monkeypatch.setattr(_cli_progress, "_compiled_in_this_process", lambda *args: False)
    for ctype in TYPES:
        est = GaussianMixture(2, covariance_type=ctype)
        _cli_progress.notice_for(est, "fit")
        assert capsys.readouterr().err.startswith("compiling kernels, once, about "), ctype
        _cli_progress.notice_for(est, "predict")
        assert capsys.readouterr().err == "", ctype
