"""``--model bgm`` on the command line: fit and predict give what BayesianGaussianMixture
gives with the same options, the options of the other model are one-line errors, the demo
prints the learned and true weights and variances, and the progress bar and the compile
notice know the family's kernels. In this process (cli.main), on small data."""

import io
import os
import re

import numpy as np
import pytest

import fastcavi
from fastcavi import BayesianGaussianMixture
from fastcavi.cli.args import BGM_DEFAULT_COVARIANCE
from fastcavi.cli.progress import Progress

from .test_cli import assert_clean_error, blobs, call

# Every --model bgm option, and the estimator's parameters they stand for (p = 2).
OPTIONS = {
    "diag": (["--covariance-type", "diag", "--weight-prior", "dirichlet_distribution",
              "--weight-concentration", "0.5", "--mean-precision-prior", "0.8",
              "--degrees-of-freedom-prior", "3", "--covariance-prior", "2,3",
              "--reg-covar", "1e-5", "--prior-mean", "1,-1", "--init-params", "k-means++"],
             dict(covariance_type="diag", weight_concentration_prior_type="dirichlet_distribution",
                  weight_concentration_prior=0.5, mean_precision_prior=0.8,
                  degrees_of_freedom_prior=3.0, covariance_prior=np.array([2.0, 3.0]),
                  reg_covar=1e-5, mean_prior=np.array([1.0, -1.0]), init_params="k-means++")),
    "spherical": (["--covariance-type", "spherical", "--covariance-prior", "2",
                   "--prior-mean", "0.5", "--init-params", "kmeans"],
                  dict(covariance_type="spherical", covariance_prior=2.0,
                       mean_prior=np.array([0.5, 0.5]), init_params="kmeans")),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("bgm")
    X, _ = blobs(n=600)
    np.save(d / "data.npy", X)
    return d, X


def in_dir(directory, argv, capsys):
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        return call(argv, capsys)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("kind", sorted(OPTIONS))
def test_fit_and_predict_equal_the_estimator(data, tmp_path, capsys, kind):
    directory, X = data
    argv, params = OPTIONS[kind]
    status, out, err = call(["fit", directory / "data.npy", "--model", "bgm", "-k", 4,
                             "--n-init", 2, "--max-iter", 200, "--tol", "1e-5",
                             "--random-state", 0, "-o", tmp_path / "m.npz",
                             "--labels", tmp_path / "l.npy", "--proba", tmp_path / "p.npy",
                             *argv], capsys)
    assert status == 0, err
    est = BayesianGaussianMixture(n_components=4, n_init=2, max_iter=200, tol=1e-5 * 600,
                                  random_state=0, **params).fit(X)  # --tol is per point
    model = fastcavi.load(tmp_path / "m.npz")
    assert isinstance(model, BayesianGaussianMixture)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(model, name), getattr(est, name), rtol=0,
                                   atol=1e-12, err_msg=name)
    assert model.get_params()["covariance_type"] == kind
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), est.predict(X))
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), est.predict_proba(X), atol=1e-12)
    # what it printed
    assert f"BayesianGaussianMixture, covariance_type = {kind}" in out
    assert re.search(rf"components:\s+K = 4, {np.sum(est.weights_ > 0.01)} with weight > 1%",
                     out)
    assert re.search(rf"iterations:\s+{est.n_iter_} \(best of 2 run\(s\)\); converged: yes "
                     r"\(tol = 1e-05 per point, 0.006 in total\)", out)
    assert re.search(r"final ELBO:\s+-[\d.]+", out) and "per iteration" in out
    table = out[out.index("components by weight"):].splitlines()
    heaviest = int(np.argmax(est.weights_))
    assert table[2].split()[:2] == [str(heaviest), f"{est.weights_[heaviest]:.4f}"]
    # the progress on stderr counts iterations, tol per point
    assert "run 2/2: " in err and " iterations, final ELBO" in err and "(tol 1e-05)" in err
    # predict on the saved model
    status, out, err = call(["predict", tmp_path / "m.npz", directory / "data.npy", "-o",
                             tmp_path / "pred.npy"], capsys)
    assert status == 0, err
    assert "600 points, K = 4: wrote labels (600,)" in out
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), est.predict(X))
    status, _, err = call(["predict", tmp_path / "m.npz", directory / "data.npy", "--proba",
                           "-o", tmp_path / "proba.csv"], capsys)
    assert status == 0, err
    np.testing.assert_allclose(np.loadtxt(tmp_path / "proba.csv", delimiter=",",
                                          skiprows=1)[:, 1:],
                               est.predict_proba(X), rtol=5e-6, atol=1e-300)


def test_defaults_are_the_estimators(data, tmp_path, capsys):
    """Only --model bgm: scikit-learn's defaults but the covariance type (the CLI's default)
    and tol: 1e-5 per point, so 1e-5 x N in total (scikit-learn's 1e-3 in total would stop
    large data at --max-iter); kmeans++ is k-means++ for bgm."""
    directory, X = data
    status, out, err = call(["fit", directory / "data.npy", "--model", "bgm", "-k", 3,
                             "--random-state", 1, "-q", "--init-params", "kmeans++",
                             "-o", tmp_path / "m.npz"], capsys)
    assert status == 0, err
    assert err == ""
    model = fastcavi.load(tmp_path / "m.npz")
    est = BayesianGaussianMixture(n_components=3, covariance_type=BGM_DEFAULT_COVARIANCE,
                                  init_params="k-means++", random_state=1, tol=1e-5 * 600).fit(X)
    assert BayesianGaussianMixture().tol == 1e-3  # the Python class keeps scikit-learn's
    assert model.tol == 1e-5 * 600 and model.covariance_type == BGM_DEFAULT_COVARIANCE
    assert "tol = 1e-05 per point, 0.006 in total" in out
    np.testing.assert_allclose(model.means_, est.means_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.weights_, est.weights_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("argv, pattern", [
    (["--model", "bgm", "--prior-var", "1"],
     r"--prior-var is an option of --model cavi, not of --model bgm"),
    (["--model", "bgm", "--likelihood-var", "1"], r"--likelihood-var is an option of --model cavi"),
    (["--model", "bgm", "--means-init", "data.npy"], r"--means-init is an option of --model cavi"),
    (["--model", "bgm", "--mean-vars-init", "1"], r"--mean-vars-init is an option of --model cavi"),
    (["--covariance-type", "diag"], r"--covariance-type is an option of --model bgm and "
                                    r"--model gm, not of --model cavi"),
    (["--weight-prior", "dirichlet_process"], r"--weight-prior is an option of --model bgm"),
    (["--weight-concentration", "1"], r"--weight-concentration is an option of --model bgm"),
    (["--mean-precision-prior", "1"], r"--mean-precision-prior is an option of --model bgm"),
    (["--degrees-of-freedom-prior", "3"], r"--degrees-of-freedom-prior is an option of --model"),
    (["--covariance-prior", "1"], r"--covariance-prior is an option of --model bgm"),
    (["--reg-covar", "0"], r"--reg-covar is an option of --model bgm"),
    (["--init-params", "kmeans"], r"--init-params 'kmeans' is not a start of --model cavi "
                                  r"\(it is a start of --model bgm\): choose from kmeans\+\+"),
    (["--model", "bgm", "--init-params", "lloyd"],
     r"--init-params 'lloyd' is not a start of --model bgm: choose from kmeans, k-means\+\+"),
    (["--model", "bgm", "--covariance-type", "spherical", "--covariance-prior", "1,2"],
     r"--covariance-prior takes one number for --covariance-type spherical"),
    (["--model", "bgm", "--prior-mean", "1,2,3"],
     r"--prior-mean has 3 numbers, but the data have 2 features"),
    (["--model", "bgm", "--degrees-of-freedom-prior", "0.5"],
     r"degrees_of_freedom_prior.*greater than 1"),
])
def test_options_of_the_other_model(data, capsys, argv, pattern):
    directory, _ = data
    before = sorted(os.listdir(directory))
    status, out, err = in_dir(directory, ["fit", "data.npy", "-k", 2, "-o", "m.npz", *argv],
                              capsys)
    assert_clean_error((status, err), pattern, directory, before)
    assert out == ""


@pytest.mark.parametrize("argv, pattern", [
    (["--model", "bgm", "--likelihood-var", "2"], r"--likelihood-var is an option of --model "
                                                  r"cavi, not of --model bgm"),
    (["--reg-covar", "1e-3"], r"--reg-covar is an option of --model bgm and --model gm, not "
                              r"of --model cavi"),
])
def test_demo_options_of_the_other_model(tmp_path, capsys, argv, pattern):
    status, _, err = in_dir(tmp_path, ["demo", "-n", 500, "--no-plot", *argv], capsys)
    assert_clean_error((status, err), pattern, tmp_path, [])


def test_a_covariance_type_the_estimator_refuses(data, capsys, monkeypatch):
    """Which covariance types work is the estimator's to say: its NotImplementedError becomes
    one error line, before the data are read."""
    directory, _ = data

    def refuse(self):
        raise NotImplementedError(f"covariance_type={self.covariance_type!r} is not "
                                  "implemented yet")

    monkeypatch.setattr(BayesianGaussianMixture, "_check_params", refuse)
    before = sorted(os.listdir(directory))
    for command in (["fit", "missing.npy", "-k", 2], ["demo", "-n", 100, "--no-plot"]):
        status, _, err = in_dir(directory, [*command, "--model", "bgm", "--covariance-type",
                                            "tied"], capsys)
        assert_clean_error((status, err), r"--covariance-type tied: covariance_type='tied' is "
                                          r"not implemented yet", directory, before)


def test_demo_prints_true_and_learned_weights_and_variances(tmp_path, capsys):
    status, out, err = in_dir(tmp_path, ["demo", "--model", "bgm", "-n", 4000, "-k", 3, "-p", 3,
                                         "--n-init", 1, "--no-plot", "-o", "demo.npz"], capsys)
    assert status == 0, err
    assert "fastcavi demo --model bgm: N = 4,000 points, p = 3, K = 3, seed = 0" in out
    assert "Dirichlet(2, ..., 2)" in out and "log-uniform in [0.25, 4]" in out
    assert "tol = 1e-05 per point, 0.04 in total" in out
    assert re.search(r"time:\s+[\d.]+ (us|ms|s) per iteration", out)
    ari, best = map(float, re.search(r"ARI:\s+([\d.]+) against the true labels \(most "
                                     r"probable true cluster: ([\d.]+)\)", out).groups())
    assert ari > 0.9 and best > 0.9
    assert re.search(r"components:\s+\d of 3 with weight > 1%", out)
    lines = out[out.index("true clusters by weight"):].splitlines()
    assert "per feature: x[0], x[1], x[2])" in lines[0]
    assert lines[1].split() == ["cluster", "component", "true", "weight", "fitted", "weight",
                                "true", "variance", "fitted", "variance", "mean", "error"]
    model = fastcavi.load(tmp_path / "demo.npz")
    rows = [line.split() for line in lines[2:5]]
    true_w = [float(r[2]) for r in rows]
    assert true_w == sorted(true_w, reverse=True) and abs(sum(true_w) - 1) < 1e-3
    for r in rows:  # fitted weight and variances are the model's, of the component named
        k = int(r[1])
        assert r[3] == f"{model.weights_[k]:.4f}"
        cov = model.covariances_[k]
        variances = np.diag(cov) if cov.ndim == 2 else cov  # full: the diagonal
        assert " ".join(r[7:10]) == ", ".join(f"{v:.3g}" for v in variances)
    assert "run 1/1: " in err and "iterations, final ELBO" in err
    assert sorted(os.listdir(tmp_path)) == ["demo.npz"]


def test_demo_spherical_many_components_is_truncated(tmp_path, capsys):
    status, out, err = in_dir(tmp_path, ["demo", "--model", "bgm", "-n", 3000, "-k", 22,
                                         "--covariance-type", "spherical", "--n-init", 1,
                                         "--no-plot", "-q"], capsys)
    assert status == 0, err
    lines = out[out.index("true clusters by weight"):].splitlines()
    assert "variance: one per component" in lines[0]
    assert lines[22] == "  ... and 2 more clusters, the lightest"


def test_fit_table_truncated_and_summarised(tmp_path, capsys):
    """More than 20 components: the 20 heaviest, then one line; more than 4 features: each
    component's variances as a mean and range."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "d.npy", rng.normal(size=(400, 6)) * np.arange(1, 7))
    status, out, err = call(["fit", tmp_path / "d.npy", "--model", "bgm", "-k", 24, "-q",
                             "--random-state", 0, "--max-iter", 5, "-o", tmp_path / "m.npz"],
                            capsys)
    assert status == 0
    table = out[out.index("components by weight"):].splitlines()
    assert "the mean over the 6 features (smallest to largest)" in table[0]
    assert re.fullmatch(r"\s+\d+\s+[\d.]+\s+[\d.e+-]+ \([\d.e+-]+ to [\d.e+-]+\)", table[2])
    assert re.fullmatch(r"  \.\.\. and 4 more, each of weight \S+ or less \(\S+ together\)",
                        table[22])


def test_help_names_the_default_covariance_type(capsys):
    status, out, _ = call(["fit", "--help"], capsys)
    assert status == 0
    text = " ".join(out.split())
    assert f"(default: {BGM_DEFAULT_COVARIANCE}" in text
    assert "--model {cavi,bgm,gm}" in text and "per point, for every model" in text
    assert ("is not implemented in fastcavi yet" in text) == (BGM_DEFAULT_COVARIANCE != "full")


def test_progress_with_a_total_tol():
    progress = Progress(io.StringIO(), max_iter=10, n_init=1, n_points=100, tol=5.0,
                        tol_per_point=False, unit="iteration", every=1)
    for it, elbo in enumerate((-1000.0, -900.0, -880.0, -878.0)):
        progress(it, elbo)
    progress.close()
    text = progress.stream.getvalue()
    assert "run 1/1  iteration   2  ELBO -900" in text
    assert "change 1.0e+02 (tol 5)" in text and "/iteration" in text
    assert "run 1/1: 4 iterations, final ELBO -878" in text
    # the change 2 (in total) is below tol 5: the run is at its end
    assert progress.run_fraction(progress.traces[0]) == 0.99


def test_compile_notice_knows_the_family_kernels(data, tmp_path, monkeypatch):
    from fastcavi.cli import progress as _cli_progress

    directory, X = data
    est = BayesianGaussianMixture(n_components=2, covariance_type="diag")
    assert _cli_progress.kernel_of(est, "fit") == ("diag", "_sweep_statistics_diag")
    assert _cli_progress.kernel_of(est, "predict") == ("diag", "_predict_diag")
    est.fit(X)  # runs (compiles or loads) the diag kernels in this process
    stream = io.StringIO()
    module, kernel = _cli_progress.kernel_of(est, "fit")
    _cli_progress.compile_notice(stream, kernel, module=module)
    assert stream.getvalue() == ""
    # a cold cache, nothing compiled in this process: the notice, also for a covariance type
    # whose kernel this module does not know
    monkeypatch.setattr(_cli_progress, "cache_dirs", lambda: [str(tmp_path / "none")])
    monkeypatch.setattr(_cli_progress, "_compiled_in_this_process", lambda *args: False)
    assert _cli_progress.kernel_of(BayesianGaussianMixture(covariance_type="tied"), "fit") == (
        "tied", "_sweep_statistics_tied")
    for kernel, module in (("_sweep_statistics_diag", "diag"), (None, "fixed")):
        stream = io.StringIO()
        _cli_progress.compile_notice(stream, kernel, module=module)
        assert stream.getvalue().startswith("compiling kernels, once, about ")


@pytest.mark.parametrize("model", ["cavi", "bgm"])
def test_partial_streams_the_file_through_partial_fit(data, tmp_path, capsys, model):
    """--partial ROWS: one pass of partial_fit over the file in order, total_samples = N;
    --algorithm reaches the estimator."""
    directory, X = data
    status, out, err = call(["fit", directory / "data.npy", "--model", model, "-k", 3,
                             "--partial", 170, "--random-state", 0, "-q",
                             "-o", tmp_path / "s.npz"], capsys)
    assert status == 0, err
    assert "stream:" in out and "4 batches of at most 170 rows" in out
    Est = BayesianGaussianMixture if model == "bgm" else fastcavi.GaussianMixtureCAVI
    kw = dict(covariance_type=BGM_DEFAULT_COVARIANCE) if model == "bgm" else {}
    want = Est(n_components=3, random_state=0, total_samples=float(len(X)), **kw)
    for start in range(0, len(X), 170):
        want.partial_fit(X[start:start + 170])
    got = fastcavi.load(tmp_path / "s.npz")
    np.testing.assert_allclose(got.means_, want.means_, rtol=1e-12)
    status, out, err = call(["fit", directory / "data.npy", "--model", model, "-k", 3,
                             "--algorithm", "incremental", "--random-state", 0, "-q",
                             "-o", tmp_path / "i.npz"], capsys)
    assert status == 0, err
    assert fastcavi.load(tmp_path / "i.npz").algorithm == "incremental"
    before = sorted(os.listdir(tmp_path))
    status, _, err = call(["fit", directory / "data.npy", "--model", model, "-k", 3,
                           "--partial", 100, "--n-init", 2, "-o", tmp_path / "x.npz"],
                          capsys)
    assert_clean_error((status, err), "no restarts", tmp_path, before)
