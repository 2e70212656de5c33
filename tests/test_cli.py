"""The fastcavi command: each command end to end as a subprocess, and the many ways input can
be bad (one line on stderr, exit status 2, no traceback, no file written).

Every subprocess pays the import and the loading of the cached kernels, so there are few of
them (10); the remaining error cases call ``fastcavi.cli.command.main`` in this process, which is
the
same code path.
"""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastcavi
from fastcavi import GaussianMixtureCAVI
from fastcavi.cli import command as cli
from fastcavi.cli.progress import Progress

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastcavi", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def call(argv, capsys):
    """cli.main in this process: (exit status, stdout, stderr); argparse errors included."""
    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_clean_error(proc_or_pair, pattern, directory, before):
    """Exit status 2, exactly one line 'fastcavi: error: ...' matching pattern on stderr, no
    traceback, and the directory unchanged (no output, no leftover temporary)."""
    rc, stderr = proc_or_pair
    assert rc == 2, stderr
    # A run on a cold kernel cache first says that it compiles; that line is not an error.
    lines = [line for line in stderr.strip().splitlines()
             if not line.startswith("compiling kernels, once")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fastcavi: error: "), stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in stderr
    assert sorted(os.listdir(directory)) == before


def blobs(n=900, p=2, K=3, seed=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (K, p))
    labels = rng.integers(K, size=n)
    return centres[labels] + rng.normal(size=(n, p)), labels


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, _ = blobs()
    np.save(d / "data.npy", X)
    np.save(d / "data3.npy", np.column_stack([X, X[:, :1]]))
    bad = X.copy()
    bad[10, 1] = np.nan
    np.save(d / "nan.npy", bad)
    return d


@pytest.fixture(scope="module")
def fitted(workdir):
    """`fastcavi fit` with every output, run once for the module."""
    proc = run("fit", "data.npy", "-k", 3, "-o", "model.npz", "--labels", "labels.npy",
               "--proba", "proba.npy", "--plot", "fit.png", "--random-state", 0, "--n-init", 2,
               "--prior-mean", "0,0", "--prior-var", 100, "--likelihood-var", 1, cwd=workdir)
    return proc


# -- the commands, end to end ----------------------------------------------------------------

@pytest.mark.slow
def test_demo_small(tmp_path):
    proc = run("demo", "-n", 20000, "--seed", 0, "--plot", "demo.png", "-o", "demo.npz",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "N = 20,000 points, p = 2, K = 10" in out
    assert "mu_k ~ N(0, 100 I)" in out and "x_i ~ N(mu_(c_i), 1 I)" in out
    assert re.search(r"time:\s+[\d.]+ (us|ms|s) per sweep", out)
    assert re.search(r"final ELBO:\s+-[\d.]+", out)
    ari = float(re.search(r"ARI:\s+([\d.]+) against the true labels", out).group(1))
    assert ari > 0.9
    # progress on stderr (not a terminal here: plain lines, no carriage returns)
    assert "run 1/3" in proc.stderr and "run 3/3" in proc.stderr and "ELBO" in proc.stderr
    assert "\r" not in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "demo.png").read_bytes()[:8] == PNG_MAGIC
    model = fastcavi.load(tmp_path / "demo.npz")
    assert model.n_components == 10 and model.prior_var_ == 100.0
    assert model.likelihood_var_ == 1.0 and model.n_init == 3
    assert sorted(os.listdir(tmp_path)) == ["demo.npz", "demo.png"]


def test_demo_help(tmp_path):
    proc = run("demo", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for option in ("-n N", "-p P", "-k K", "--seed", "--n-init", "--threads", "--float32",
                   "--plot", "--no-plot", "--output"):
        assert option in proc.stdout
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_fit_writes_model_labels_proba_plot(workdir, fitted):
    assert fitted.returncode == 0, fitted.stderr
    out = fitted.stdout
    assert "N = 900 points, p = 2 features (float64)" in out
    assert re.search(r"components:\s+K = 3", out)
    assert re.search(r"sweeps:\s+\d+ \(best of 2 run\(s\)\); converged: yes", out)
    assert re.search(r"final ELBO:\s+-[\d.]+", out) and "per sweep" in out
    assert "prior_mean = 0, prior_var = 100, likelihood_var = 1" in out
    for name in ("model.npz", "labels.npy", "proba.npy", "fit.png"):
        assert f"{name}" in out
    assert (workdir / "fit.png").read_bytes()[:8] == PNG_MAGIC
    # the same fit in this process gives the same model and outputs
    X = np.load(workdir / "data.npy")
    est = GaussianMixtureCAVI(3, prior_mean=np.zeros(2), prior_var=100.0, likelihood_var=1.0,
                              n_init=2, random_state=0).fit(X)
    model = fastcavi.load(workdir / "model.npz")
    np.testing.assert_array_equal(model.means_, est.means_)
    np.testing.assert_array_equal(np.load(workdir / "labels.npy"), est.predict(X))
    np.testing.assert_array_equal(np.load(workdir / "proba.npy"), est.predict_proba(X))
    _, truth = blobs()
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, np.load(workdir / "labels.npy")) > 0.99


@pytest.mark.slow
def test_predict_labels_and_proba(workdir, fitted, tmp_path):
    assert fitted.returncode == 0, fitted.stderr
    proc = run("predict", workdir / "model.npz", workdir / "data.npy", "-o", "pred.npy",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote labels (900,) to pred.npy" in proc.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"),
                                  np.load(workdir / "labels.npy"))
    proc = run("predict", workdir / "model.npz", workdir / "data.npy", "--proba",
               "-o", "phi.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "phi.csv") as f:
        assert f.readline() == "row,proba_0,proba_1,proba_2\n"
    phi = np.loadtxt(tmp_path / "phi.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(phi[:, 0], np.arange(900))
    np.testing.assert_allclose(phi[:, 1:], np.load(workdir / "proba.npy"), rtol=5e-6)


def test_info(tmp_path):
    proc = run("info", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    import numba
    import sklearn

    for line in (f"fastcavi:        {fastcavi.__version__}", f"numba:           "
                 f"{numba.__version__}", f"numpy:           {np.__version__}",
                 f"scikit-learn:    {sklearn.__version__}"):
        assert line in out
    assert "llvmlite:" in out and "kernel cache:" in out
    layer = re.search(r"threading layer: (\S+)", out).group(1)
    assert layer in ("omp", "tbb", "workqueue")  # chosen: a tiny fit ran first
    assert f"NUMBA_NUM_THREADS = {numba.config.NUMBA_NUM_THREADS}" in out


def test_console_script_and_version(tmp_path):
    script = Path(sys.executable).parent / "fastcavi"
    if not script.exists():
        pytest.skip("the fastcavi console script is not installed next to this Python")
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"fastcavi {fastcavi.__version__}"


@pytest.mark.slow
def test_import_and_help_do_not_import_the_heavy_libraries(tmp_path):
    """``import fastcavi`` and ``fastcavi --help`` import neither Numba nor scikit-learn nor
    pandas (PEP 562 lazy names); the public names still import, and load the kernels' modules
    with fastcavi._threads first."""
    heavy = "[m for m in ('numba', 'sklearn', 'pandas', 'scipy') if m in sys.modules]"
    code = f"""
import sys
import fastcavi
print({heavy})
from fastcavi._entry import main
sys.argv = ['fastcavi', '--help']
try:
    main()
except SystemExit as exc:
    print(exc.code)
print({heavy})
from fastcavi import GaussianMixtureCAVI, cavi, load, responsibilities
import fastcavi._threads
print('numba' in sys.modules, fastcavi._threads.preloaded_tbb is not None or 'tbb')
print(sorted(set(fastcavi.__all__) - set(dir(fastcavi))))
"""
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[]"
    assert lines[-4:-2] == ["0", "[]"]
    assert lines[-2].startswith("True") and lines[-1] == "[]"
    with pytest.raises(AttributeError, match="no_such_name"):
        fastcavi.no_such_name  # noqa: B018


# -- bad input, as subprocesses --------------------------------------------------------------

BAD_INPUT = [
    (["fit", "missing.npy", "-k", "2", "-o", "out.npz"],
     r"missing\.npy: No such file or directory"),
    (["fit", "nan.npy", "-k", "2", "-o", "out.npz", "--labels", "l.npy"],
     r"nan\.npy.*NaN"),
    (["fit", "data.npy", "-k", "901", "-o", "out.npz"],
     r"-k 901 is more than the number of points \(900\)"),
    (["predict", "model.npz", "data3.npy", "-o", "out.npy"],
     r"data3\.npy has 3 features, but the model model\.npz was fitted on 2"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, pattern", BAD_INPUT[1::2])
def test_bad_input_subprocess(workdir, fitted, args, pattern):
    assert fitted.returncode == 0, fitted.stderr
    before = sorted(os.listdir(workdir))
    proc = run(*args, cwd=workdir)
    assert_clean_error((proc.returncode, proc.stderr), pattern, workdir, before)
    assert proc.stdout == ""


@pytest.mark.parametrize("args, pattern", BAD_INPUT[0::2])
def test_bad_input_in_process(workdir, fitted, capsys, args, pattern):
    assert fitted.returncode == 0, fitted.stderr
    before = sorted(os.listdir(workdir))
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        status, out, err = call(args, capsys)
    finally:
        os.chdir(cwd)
    assert_clean_error((status, err), pattern, workdir, before)
    assert out == ""


def test_unknown_option_subprocess(tmp_path):
    proc = run("fit", "data.npy", "-k", 2, "--bogus", cwd=tmp_path)
    assert proc.returncode == 2
    assert "fastcavi: error: unrecognized arguments: --bogus" in proc.stderr
    assert "Traceback" not in proc.stderr and os.listdir(tmp_path) == []


# -- bad input and the data formats, in this process -----------------------------------------

@pytest.mark.parametrize("name, make, pattern", [
    ("one.npy", lambda d, X: np.save(d / "one.npy", X[:, 0]),
     r"one\.npy: expected a 2-D array .* got a 1-D array of shape \(900,\)"),
    ("three.npy", lambda d, X: np.save(d / "three.npy", X[None]),
     r"got a 3-D array of shape \(1, 900, 2\)"),
    ("empty.npy", lambda d, X: np.save(d / "empty.npy", np.empty((0, 2))),
     r"empty\.npy: no data \(shape \(0, 2\)\)"),
    ("empty.csv", lambda d, X: (d / "empty.csv").write_text(""), r"empty\.csv: no data"),
    ("inf.csv", lambda d, X: (d / "inf.csv").write_text("1,2\n3,inf\n"),
     r"inf\.csv: line 2, column 'column 1': 'inf' is not a finite number"),
    ("ragged.csv", lambda d, X: (d / "ragged.csv").write_text("1,2\n3\n"),
     r"ragged\.csv: cannot read the numbers"),
    ("data.json", lambda d, X: (d / "data.json").write_text("[]"),
     r"data\.json: unknown file extension '\.json'"),
    ("fake.npy", lambda d, X: (d / "fake.npy").write_text("not numpy"),
     r"fake\.npy: not a \.npy file"),
    ("strings.npy", lambda d, X: np.save(d / "strings.npy", np.array([["a", "b"]])),
     r"strings\.npy: expected real numbers"),
])
def test_bad_data_files(tmp_path, capsys, name, make, pattern):
    X, _ = blobs()
    make(tmp_path, X)
    before = sorted(os.listdir(tmp_path))
    status, out, err = call(["fit", tmp_path / name, "-k", 2, "-o", tmp_path / "m.npz",
                             "--labels", tmp_path / "l.npy"], capsys)
    assert_clean_error((status, err), pattern, tmp_path, before)


@pytest.mark.parametrize("extra, pattern", [
    (["-k", "0"], r"argument -k/--n-components: must be at least 1"),
    (["-k", "2", "--prior-mean", "1,x"], r"argument --prior-mean: not a number"),
    (["-k", "2", "--prior-var", "-1"], r"argument --prior-var: must be positive"),
    (["-k", "2", "--prior-mean", "1,2,3"], r"prior_mean.*\(2,\)"),
    (["-k", "2", "-o", "nodir/m.npz"], r"nodir: No such directory"),
    (["-k", "2", "--labels", "l.json"], r"l\.json: unknown file extension '\.json' for"),
    (["-k", "2", "--plot", "p.gif"], r"p\.gif: unknown file extension"),
    (["-k", "2", "--key", "A"], r"--key applies to \.npz files only"),
    (["-k", "2", "--means-init", "means.npy"],
     r"means_init.*\(3, 2\)"),
    (["-k", "2", "--labels", "same.npy", "--proba", "same.npy"], r"given twice"),
])
def test_bad_options(tmp_path, capsys, extra, pattern):
    X, _ = blobs()
    np.save(tmp_path / "data.npy", X)
    np.save(tmp_path / "means.npy", X[:3])
    before = sorted(os.listdir(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, out, err = call(["fit", "data.npy", "-o", "m.npz", *extra], capsys)
    finally:
        os.chdir(cwd)
    if "argument" in pattern:  # argparse's own error: usage, then the error line
        assert status == 2 and re.search(pattern, err.strip().splitlines()[-1])
        assert sorted(os.listdir(tmp_path)) == before
    else:
        assert_clean_error((status, err), pattern, tmp_path, before)


def test_predict_bad_model(tmp_path, capsys):
    X, _ = blobs()
    np.save(tmp_path / "data.npy", X)
    np.savez(tmp_path / "other.npz", a=X)
    before = sorted(os.listdir(tmp_path))
    for model, pattern in (("missing.npz", r"missing\.npz: No such file"),
                           ("data.npy", r"not a fastcavi model file"),
                           ("other.npz", r"not a fastcavi model file")):
        status, _, err = call(["predict", tmp_path / model, tmp_path / "data.npy", "-o",
                               tmp_path / "out.npy"], capsys)
        assert_clean_error((status, err), pattern, tmp_path, before)


def test_text_and_npz_formats(tmp_path, capsys):
    """csv with a header (found automatically or skipped by --skip-header), whitespace txt,
    npz by --key; all give the same fit as the array itself."""
    X, _ = blobs(n=300)
    X = np.round(X, 6)
    np.savetxt(tmp_path / "h.csv", X, delimiter=",", header="x0,x1", comments="")
    np.savetxt(tmp_path / "c.csv", X, delimiter=",", header="# a comment\nx0,x1", comments="")
    np.savetxt(tmp_path / "w.txt", X)
    np.savez(tmp_path / "z.npz", other=np.zeros((5, 7)), data=X)
    expected = GaussianMixtureCAVI(2, random_state=0).fit(X).means_
    for source, extra in (("h.csv", []), ("c.csv", []), ("h.csv", ["--skip-header", "1"]),
                          ("w.txt", []), ("z.npz", ["--key", "data"])):
        model = tmp_path / "m.npz"
        status, out, err = call(["fit", tmp_path / source, "-k", 2, "--random-state", 0,
                                 "-q", "-o", model, *extra], capsys)
        assert status == 0, err
        assert "N = 300 points, p = 2 features (float64)" in out
        np.testing.assert_array_equal(fastcavi.load(model).means_, expected)
    status, _, err = call(["fit", tmp_path / "z.npz", "-k", 2, "--key", "nope", "-o", model],
                          capsys)
    assert status == 2 and "no array named 'nope' (it holds other, data)" in err


def test_fit_float32_and_text_outputs(tmp_path, capsys):
    X, _ = blobs(n=400)
    np.save(tmp_path / "d.npy", X)
    status, out, err = call(["fit", tmp_path / "d.npy", "-k", 3, "--float32", "-q",
                             "--random-state", 1, "-o", tmp_path / "m.npz",
                             "--labels", tmp_path / "l.txt"], capsys)
    assert status == 0, err
    assert "(float32)" in out and err == ""
    est = GaussianMixtureCAVI(3, random_state=1).fit(X.astype(np.float32))
    table = np.loadtxt(tmp_path / "l.txt", dtype=np.int64, skiprows=1)  # row label
    np.testing.assert_array_equal(table[:, 0], np.arange(400))
    np.testing.assert_array_equal(table[:, 1], est.predict(X.astype(np.float32)))


def test_demo_in_process_no_plot(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        status, out, err = call(["demo", "-n", 3000, "-k", 3, "-p", 3, "--n-init", 1,
                                 "--no-plot", "--float32"], capsys)
    finally:
        os.chdir(cwd)
    assert status == 0, err
    assert "(float32)" in out and "ARI:" in out
    assert os.listdir(tmp_path) == []  # no plot, no model


def test_no_command_prints_help(capsys):
    status, out, err = call([], capsys)
    assert status == 2 and "usage: fastcavi" in err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_terminal_and_log():
    """On a terminal the bar is redrawn in place with \\r; elsewhere a line every few sweeps,
    the last sweep of every run, and a summary line per run."""
    tty = Progress(_Terminal(), max_iter=10, n_init=2, n_points=100)
    log = Progress(io.StringIO(), max_iter=10, n_init=2, n_points=100, every=5)
    for progress in (tty, log):
        for run_length in (7, 3):
            for it in range(run_length):
                progress(it, -100.0 + it)
        progress.close()
    assert tty.traces == log.traces == [[-100.0 + i for i in range(7)], [-100.0, -99.0, -98.0]]
    text = tty.stream.getvalue()
    # 10 redraws, one per sweep, and a full bar for each run as it ends
    assert text.count("\r[") == 12 and "run 1/2: 7 sweeps" in text and "run 2/2" in text
    lines = log.stream.getvalue().splitlines()
    assert "\r" not in log.stream.getvalue()
    assert [line.split("ELBO")[0].strip() for line in lines if "sweep" in line.split(":")[0]] == [
        "run 1/2  sweep   1", "run 1/2  sweep   5", "run 1/2  sweep   7",
        "run 2/2  sweep   1", "run 2/2  sweep   3"]
    # Two runs of 7 and 3 sweeps: 6 + 2 gaps between consecutive sweeps are timed; the time
    # per sweep is their median, and without any gap, the total over the sweeps run.
    assert len(log.sweep_times) == 8
    log.sweep_times = [0.5, 0.1, 0.2, 0.3, 9.0, 0.2, 0.2, 0.4]
    assert log.time_per_sweep(100.0) == 0.25
    log.sweep_times = []
    assert log.time_per_sweep(5.0) == 0.5


def test_progress_bar_reaches_its_end():
    """The bar counts restarts and, within a run, the ELBO change coming down to tol: it grows
    monotonically and is full when the last run ends, although max_iter is never reached."""
    n, tol = 1000, 1e-4
    progress = Progress(_Terminal(), max_iter=1000, n_init=2, n_points=n, tol=tol)
    fractions = []
    for _ in range(2):
        elbo = -5000.0
        for it in range(12):  # the change per point halves every sweep: 0.5, 0.25, ...
            elbo += n * 0.5 ** it
            progress(it, elbo)
            fractions.append(progress.fraction())
    progress.close()
    assert fractions == sorted(fractions)
    # after run 1: change 0.5 -> 4.9e-4 of the way to 1e-4 on a log scale: 0.81 of a run
    assert fractions[11] == pytest.approx(np.log(1024) / np.log(5000) / 2)
    assert fractions[12] == pytest.approx(0.5, abs=1e-3)  # run 1 done, run 2 at sweep 1
    assert progress.fraction() == 1.0
    text = progress.stream.getvalue()
    assert "[####################] run 2/2: 12 sweeps" in text
    assert "change 9.8e-04/point (tol 0.0001)" in text


def test_a_cached_kernel_is_one_numba_would_load(tmp_path, monkeypatch):
    """An index counts as a cached kernel exactly when Numba's loader would use it: written by
    the installed Numba with the source's stamp (its SHA-256, or (mtime, size) in older Numba),
    however old the file. A new checkout of unchanged sources reuses the index unchanged, so
    an index older than the source is still fresh, and a newer one for other source is not."""
    import hashlib
    import pickle

    import numba

    from fastcavi.cli import progress as _cli_progress
    from fastcavi.kernels.cachedir import KERNEL_DIR

    source = os.path.join(KERNEL_DIR, "fixed.py")
    st = os.stat(source)
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).digest()
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}.nbi"

    def cached_with(stamp, version=numba.__version__, seconds_before_source=0.0,
                    name=f"fixed._sweep_statistics-131.{tag}"):
        for old in tmp_path.iterdir():
            old.unlink()
        path = tmp_path / name
        with open(path, "wb") as f:  # Numba's layout: its version, then (stamp, overloads)
            pickle.dump(version, f, protocol=-1)
            f.write(pickle.dumps((stamp, {("sig", "machine"): "x.1.nbc"}), protocol=-1))
        t = st.st_mtime - seconds_before_source
        os.utime(path, (t, t))
        return _cli_progress.cached_kernels()[0]

    monkeypatch.setattr(_cli_progress, "cache_dirs", lambda: [str(tmp_path)])
    assert cached_with(digest, seconds_before_source=86400) == str(tmp_path)
    assert cached_with(hashlib.sha256(b"older source").digest(), seconds_before_source=-60) is None
    assert cached_with(digest, version="0.50.0") is None
    assert cached_with((st.st_mtime, st.st_size)) == str(tmp_path)
    assert cached_with((st.st_mtime - 1.0, st.st_size)) is None
    assert cached_with(digest, name=f"fixed._predict-156.{tag}") is None  # another kernel
    assert _cli_progress.cached_kernels(None, "fixed")[0] == str(tmp_path)  # any of fixed's
    (tmp_path / f"fixed._predict-156.{tag}").write_bytes(b"not an index")
    assert _cli_progress.cached_kernels(None, "fixed")[0] is None


def test_compile_notice_only_on_a_cold_cache(tmp_path, monkeypatch):
    from fastcavi.cli import progress as _cli_progress

    monkeypatch.setattr(_cli_progress, "cache_dirs", lambda: [str(tmp_path / "none")])
    monkeypatch.setattr(_cli_progress, "_compiled_in_this_process", lambda *args: False)
    stream = io.StringIO()
    _cli_progress.compile_notice(stream)
    assert stream.getvalue().startswith("compiling kernels, once, about ")
    # the kernels of this process's fastcavi are cached (they ran in the tests before)
    GaussianMixtureCAVI(2, random_state=0).fit(blobs(n=50)[0])
    monkeypatch.undo()
    # where Numba itself caches the kernel a fit runs first (its dispatcher knows), looked up
    # by the command without importing Numba: the two must agree
    from fastcavi.kernels import fixed

    numba_dir = fixed._sweep_statistics._cache._cache_path
    assert any(n.endswith(".nbi") for n in os.listdir(numba_dir))
    assert _cli_progress.cached_kernels()[0] == numba_dir
    # and Numba's own index loader finds the kernel there for today's source
    assert fixed._sweep_statistics._cache._cache_file._load_index()
    stream = io.StringIO()
    _cli_progress.compile_notice(stream)
    assert stream.getvalue() == ""


def test_no_compile_notice_once_the_kernels_run_in_this_process(tmp_path, monkeypatch):
    from fastcavi.cli import progress as _cli_progress

    GaussianMixtureCAVI(2, random_state=0).fit(blobs(n=50)[0])
    monkeypatch.setattr(_cli_progress, "cache_dirs", lambda: [str(tmp_path / "none")])
    stream = io.StringIO()
    _cli_progress.compile_notice(stream)
    assert stream.getvalue() == ""


def test_counts_accept_scientific_notation():
    args = cli.build_parser().parse_args(["demo", "-n", "1e6", "-k", "1_0"])
    assert args.n == 1_000_000 and args.k == 10


# -- outputs onto symbolic links and special files ---------------------------------------------

def test_outputs_through_symlinks_replace_their_targets(workdir, tmp_path, capsys):
    """Every output (model, --labels, --proba, --plot; predict's -o) follows a symbolic link:
    the target is replaced, the link stays."""
    out_dir = tmp_path / "real"
    out_dir.mkdir()
    names = {"model.npz": "m.npz", "labels.npy": "l.npy", "proba.csv": "p.csv",
             "plot.png": "f.png", "pred.npy": "pred.npy"}
    for link, target in names.items():
        (out_dir / target).write_bytes(b"old")
        (tmp_path / link).symlink_to(out_dir / target)
    status, _, err = call(["fit", workdir / "data.npy", "-k", 3, "-o", tmp_path / "model.npz",
                           "--labels", tmp_path / "labels.npy", "--proba",
                           tmp_path / "proba.csv", "--plot", tmp_path / "plot.png",
                           "--random-state", 0, "-q"], capsys)
    assert status == 0, err
    status, _, err = call(["predict", tmp_path / "model.npz", workdir / "data.npy", "-o",
                           tmp_path / "pred.npy"], capsys)
    assert status == 0, err
    for link, target in names.items():
        assert (tmp_path / link).is_symlink(), link
        assert (out_dir / target).read_bytes() != b"old", target
    model = fastcavi.load(out_dir / "m.npz")
    X = np.load(workdir / "data.npy")
    np.testing.assert_array_equal(np.load(out_dir / "l.npy"), model.predict(X))
    np.testing.assert_array_equal(np.load(out_dir / "pred.npy"), model.predict(X))
    assert (out_dir / "f.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for d in (tmp_path, out_dir) for p in os.listdir(d) if p.endswith(".tmp")]


@pytest.mark.parametrize("option", ["-o", "--labels", "--proba"])
def test_outputs_onto_a_fifo_are_refused(workdir, tmp_path, capsys, option):
    """A FIFO (or a device) is not replaced by a regular file: a one-line error, exit 2, the
    FIFO intact and no other output written."""
    import stat

    ext = ".npz" if option == "-o" else ".npy"  # a model is an .npz
    os.mkfifo(tmp_path / f"fifo{ext}")
    (tmp_path / f"link{ext}").symlink_to(tmp_path / f"fifo{ext}")
    for name in (f"fifo{ext}", f"link{ext}"):
        before = sorted(os.listdir(tmp_path))
        paths = {"-o": tmp_path / "model.npz", "--labels": tmp_path / "labels.npy",
                 "--proba": tmp_path / "proba.npy", option: tmp_path / name}
        argv = ["fit", workdir / "data.npy", "-k", 3, "-q", "--random-state", 0]
        for opt, path in paths.items():
            argv += [opt, path]
        status, _, err = call(argv, capsys)
        assert_clean_error((status, err), r"fifo\.np[yz].*not a regular file", tmp_path, before)
        assert stat.S_ISFIFO(os.stat(tmp_path / f"fifo{ext}").st_mode)


def test_fit_values_near_the_float64_maximum(tmp_path, capsys):
    """Finite values about 1e308: the estimator's 'Rescale X' error as one line, exit 2."""
    X = np.random.default_rng(0).uniform(-1, 1, (50, 2)) * 1e308
    np.save(tmp_path / "huge.npy", X)
    before = sorted(os.listdir(tmp_path))
    status, _, err = call(["fit", tmp_path / "huge.npy", "-k", 2, "-o", tmp_path / "m.npz",
                           "-q"], capsys)
    assert_clean_error((status, err), r"overflowed float64.*Rescale X", tmp_path, before)


def test_truncated_npz_is_one_error_line(workdir, tmp_path, capsys):
    """A truncated .npz as data, --means-init or model: one error line, no ResourceWarning."""
    import gc

    X, _ = blobs()
    np.savez(tmp_path / "full.npz", X=X)
    content = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(content[:len(content) // 2])
    before = sorted(os.listdir(tmp_path))
    for argv, pattern in (
            (["fit", "cut.npz", "-k", 3], r"cut\.npz: cannot read the archive"),
            (["fit", "full.npz", "-k", 3, "--means-init", "cut.npz"], r"--means-init: .*cut\.npz"),
            (["predict", "cut.npz", "full.npz"], r"cut\.npz: not a fastcavi model file")):
        status, _, err = call([*argv[:1], *[tmp_path / a if str(a).endswith(".npz") else a
                                            for a in argv[1:]]], capsys)
        gc.collect()
        assert_clean_error((status, err), pattern, tmp_path, before)


def test_threads_above_the_cores_are_clamped_with_one_warning(workdir, tmp_path, capsys):
    """--threads larger than the threads Numba has (the cores, by default): clamped, one
    warning line however many kernel calls, and the same results as without --threads."""
    import numba

    have = numba.config.NUMBA_NUM_THREADS
    many = have + 62
    status, _, err = call(["fit", workdir / "data.npy", "-k", 3, "--random-state", 0, "-q",
                           "-o", tmp_path / "a.npz", "--labels", tmp_path / "a.npy",
                           "--threads", many], capsys)
    assert status == 0, err
    assert err.splitlines() == [f"fastcavi: warning: {many} threads requested, but Numba has "
                                f"{have} (NUMBA_NUM_THREADS, by default the CPU cores "
                                f"available): using {have}"]
    status, _, err = call(["fit", workdir / "data.npy", "-k", 3, "--random-state", 0, "-q",
                           "-o", tmp_path / "b.npz", "--labels", tmp_path / "b.npy"], capsys)
    assert status == 0 and err == ""
    np.testing.assert_array_equal(fastcavi.load(tmp_path / "a.npz").means_,
                                  fastcavi.load(tmp_path / "b.npz").means_)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    status, _, err = call(["predict", tmp_path / "a.npz", workdir / "data.npy", "-o",
                           tmp_path / "p.npy", "--threads", many], capsys)
    assert status == 0 and len(err.splitlines()) == 1 and "using" in err
