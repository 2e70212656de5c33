"""Threads, processes and the kernel cache: fastcavi must neither crash, hang nor change a
result when it runs in a thread pool, a fork or spawn process pool, or with a kernel cache it
cannot write (see fastcavi/_threads.py for the threading layer and its guards).

Everything that could abort or hang a process runs in a subprocess with a timeout, so that a
regression fails the test instead of killing or freezing the test run.
"""

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastcavi
from fastcavi import GaussianMixtureCAVI, _threads

TIMEOUT = 180  # seconds for one subprocess; a hang fails the test

# The fit every subprocess runs (float64, like the warm-up below, so that it loads the kernels
# from the on-disk cache instead of compiling them).
FIT = '''
import numpy as np
import fastcavi
from fastcavi import GaussianMixtureCAVI, _threads


def fit(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6000, 2)) + rng.integers(0, 3, size=(6000, 1)) * 6.0
    est = GaussianMixtureCAVI(3, random_state=seed, tol=0, max_iter=10).fit(X)
    return (est.lower_bounds_.tobytes() + est.means_.tobytes() + est.predict(X).tobytes()
            + est.predict_proba(X[:100]).tobytes()).hex()
'''


def fit_here(seed):
    namespace = {}
    exec(compile(FIT, "<fit>", "exec"), namespace)
    return namespace["fit"](seed)


@pytest.fixture(scope="module", autouse=True)
def warm_cache():
    """Compile (or load) the float64 kernels the subprocesses use, in this process, so that the
    on-disk cache is written before any subprocess needs it."""
    fit_here(0)


def run_script(tmp_path, body, env=None, args=(), python_flags=(), check=True):
    """Run FIT + body as a script (a file: spawn workers must import the main module), in this
    environment (its NUMBA_CACHE_DIR included) less NUMBA_THREADING_LAYER, plus ``env``."""
    script = tmp_path / "script.py"
    script.write_text(FIT + textwrap.dedent(body))
    full_env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, *python_flags, str(script), *args], env=full_env,
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout if check else proc


def _tbb_expected():
    """tbb is a dependency on x86-64 Linux: there fastcavi must end up on Numba's tbb layer
    (unless the user chose a layer)."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return False
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return sys.platform == "linux"


# -- threads ----------------------------------------------------------------------------------

def _job(spec):
    seed, dtype, n_threads, n_features, n_components = spec
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    X = (centres[rng.integers(n_components, size=12_000)]
         + rng.normal(size=(12_000, n_features))).astype(dtype)
    est = GaussianMixtureCAVI(n_components, random_state=seed, n_threads=n_threads, tol=0,
                              max_iter=8).fit(X)
    cav = fastcavi.cavi(X[:3000], est.means_, est.mean_vars_, prior_mean=est.prior_mean_,
                        prior_var=est.prior_var_, likelihood_var=est.likelihood_var_, n_iter=2,
                        n_threads=n_threads)
    return [est.lower_bounds_, est.means_, est.predict(X), est.predict_proba(X[:500]),
            est.score_samples(X[:500]), cav.lower_bounds, cav.resp]


JOBS = [(0, np.float64, None, 2, 4), (1, np.float32, 1, 3, 3), (2, np.float64, 2, 2, 5),
        (3, np.float32, None, 1, 2), (4, np.float64, 1, 20, 8), (5, np.float64, None, 2, 30)]


@pytest.mark.slow
def test_threads_fit_concurrently_with_identical_results():
    """Four Python threads fitting at once (kernels, the large-p BLAS path, the functional API,
    mixed n_threads and dtypes): no crash, and every result bit-identical to a serial fit."""
    from threadpoolctl import threadpool_info

    serial = [_job(spec) for spec in JOBS]
    blas_threads = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(_job, JOBS * 3))
    for i, got in enumerate(concurrent):
        for a, b in zip(got, serial[i % len(JOBS)]):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    # the large-p path limits BLAS to one thread while it runs, and restores it afterwards
    assert [(i["filepath"], i["num_threads"]) for i in threadpool_info()] == blas_threads
    if _tbb_expected():
        assert _threads.threading_layer() == "tbb", "libtbb was not preloaded"


@pytest.mark.slow
def test_workqueue_layer_serialises_concurrent_fits(tmp_path):
    """On 'workqueue' (which aborts the process on concurrent use) the guard's lock makes
    concurrent fits safe, with results identical to serial fits."""
    out = run_script(tmp_path, '''
        from concurrent.futures import ThreadPoolExecutor

        serial = [fit(s) for s in range(4)]
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(fit, list(range(4)) * 3)) == serial * 3
        print(_threads.threading_layer(), "OK")
    ''', env={"NUMBA_THREADING_LAYER": "workqueue"})
    assert out.split() == ["workqueue", "OK"]


# -- processes --------------------------------------------------------------------------------

POOLS = '''
    import multiprocessing
    import sys

    if __name__ == "__main__":
        parent = [fit(s) for s in (0, 1, 2)]  # parallel kernels have run in the parent
        for method in sys.argv[1:]:
            with multiprocessing.get_context(method).Pool(2) as pool:
                try:
                    same = pool.map(fit, (0, 1, 2)) == parent
                    print(method, "same" if same else "DIFFERENT")
                except RuntimeError as exc:
                    print(method, "refused:", exc)
        print("layer", _threads.threading_layer())
'''


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_and_spawn_pools_default_layer(tmp_path):
    """Workers forked after the parent ran parallel kernels, and spawned workers, fit exactly as
    the parent does."""
    lines = run_script(tmp_path, POOLS, args=("fork", "spawn")).splitlines()
    assert lines[:2] == ["fork same", "spawn same"], lines
    if _tbb_expected():
        assert lines[2] == "layer tbb"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GNU OpenMP is Linux's")
def test_gnu_openmp_fork_is_refused_clearly_and_spawn_works(tmp_path):
    """On GNU OpenMP a forked worker would be terminated by Numba (and the pool would hang):
    fastcavi raises a RuntimeError there instead, naming the fix; spawn works."""
    lines = run_script(tmp_path, POOLS, env={"NUMBA_THREADING_LAYER": "omp"},
                       args=("fork", "spawn")).splitlines()
    assert lines[0].startswith("fork refused: fastcavi cannot run in this process: it was "
                               "forked"), lines
    assert "'spawn'" in lines[0] and "tbb" in lines[0]
    assert lines[1:] == ["spawn same", "layer omp"], lines


# -- the kernel cache -------------------------------------------------------------------------

CACHE_CHECK = '''
    print(fit(0) == fit(0), "OK")
'''


@pytest.mark.slow
def test_cache_dir_that_cannot_be_created(tmp_path):
    """NUMBA_CACHE_DIR under a regular file cannot be created, even by root: Numba falls back
    to another cache location, silently, so the fit works under -W error."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = run_script(tmp_path, CACHE_CHECK, env={"NUMBA_CACHE_DIR": str(blocker / "cache")},
                     python_flags=("-W", "error"))
    assert out.split() == ["True", "OK"]


def test_read_only_cache_dir(tmp_path):
    cache = tmp_path / "read-only"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        (cache / "probe").write_text("")
    except PermissionError:
        pass
    else:
        pytest.skip("running as root: chmod 0o555 does not stop writes (the case of a cache dir "
                    "that cannot be written is covered by test_cache_dir_that_cannot_be_created)")
    out = run_script(tmp_path, CACHE_CHECK, env={"NUMBA_CACHE_DIR": str(cache)},
                     python_flags=("-W", "error"))
    assert out.split() == ["True", "OK"]


@pytest.mark.slow
def test_missing_cache_dir_is_created_and_filled(tmp_path):
    """A cache dir that does not exist yet: created, the kernels compiled into it (the one
    fresh compile of this module, ~20 s), and the result is the same as with a warm cache."""
    cache = tmp_path / "does" / "not" / "exist"
    out = run_script(tmp_path, '''
        print(fit(0))
    ''', env={"NUMBA_CACHE_DIR": str(cache)}, python_flags=("-W", "error"))
    assert cache.is_dir() and any(f.suffix == ".nbi" for f in cache.rglob("*"))
    assert out.strip() == fit_here(0)


@pytest.mark.slow
def test_no_writable_cache_location_at_all(tmp_path):
    """Site-packages read-only and no writable home (a web server's user, a read-only
    container): simulated by making every cache location Numba tries unwritable. The kernels
    are then compiled in memory (fastcavi.kernels.jit.cached_njit falls back to cache=False)."""
    proc = run_script(tmp_path, CACHE_CHECK, python_flags=("-c", _DENY_CACHE_THEN_RUN),
                      check=False)
    if "cannot cache function" in proc.stdout + proc.stderr:
        raise RuntimeError(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "OK"]


# ``python -c _DENY_CACHE_THEN_RUN script.py``: no cache directory is writable, then run it.
_DENY_CACHE_THEN_RUN = """
import runpy, sys
import numba.core.caching as caching

def deny(self):
    raise PermissionError(13, "Permission denied (simulated: no writable cache location)")

caching._CacheLocator.ensure_cache_path = deny
runpy.run_path(sys.argv[1], run_name="__main__")
"""


@pytest.mark.slow
def test_kernels_are_cached_outside_the_package(tmp_path):
    """An installed package's directory is not fastcavi's to write: pip removes only the files
    it recorded, so Numba's files in ``site-packages/fastcavi/__pycache__`` would outlive an
    uninstall (the one ``pip install -e .`` runs first) and the leftover directory would then
    shadow the new install as an empty namespace package. Without NUMBA_CACHE_DIR the kernels
    are cached in the user's cache directory, under fastcavi's version."""
    import shutil

    site = tmp_path / "site-packages"
    shutil.copytree(os.path.dirname(fastcavi.__file__), site / "fastcavi",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-W", "error", "-c",
                           "import fastcavi, fastcavi.kernels.core as k; "
                           "print(k.n_chunks_for(10, 0)); "
                           "print(fastcavi.__file__)"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == str(site / "fastcavi" / "__init__.py")
    in_package = [p.name for p in (site / "fastcavi").rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert in_package == []
    cached = tmp_path / "cache" / "fastcavi" / fastcavi.__version__
    assert any(p.name.startswith("core.n_chunks_for") and p.suffix == ".nbi"
               for p in cached.rglob("*"))


def test_n_threads_above_numba_threads_is_clamped_with_a_warning():
    """More threads than Numba has (NUMBA_NUM_THREADS): a UserWarning and the fit of all of
    them, bit for bit (results never depend on the thread count); 0 stays an error."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 2)) + rng.integers(0, 3, size=(3000, 1)) * 6.0
    have = _threads.max_threads()
    with pytest.warns(UserWarning, match=f"{have + 5} threads requested, but Numba has {have}"):
        est = GaussianMixtureCAVI(3, random_state=0, n_threads=have + 5).fit(X)
    ref = GaussianMixtureCAVI(3, random_state=0).fit(X)
    np.testing.assert_array_equal(est.means_, ref.means_)
    with pytest.warns(UserWarning, match="threads requested"):
        np.testing.assert_array_equal(est.predict_proba(X), ref.predict_proba(X))
    with pytest.warns(UserWarning, match="threads requested"):
        fastcavi.cavi(X, ref.means_, ref.mean_vars_, prior_mean=0.0, prior_var=10.0,
                      likelihood_var=1.0, n_iter=2, n_threads=have + 1)
    with pytest.raises(ValueError, match="n_threads must be -1, None or between 1 and"):
        GaussianMixtureCAVI(3, n_threads=0).fit(X)


@pytest.mark.slow
def test_an_edit_of_a_kernel_source_recompiles_the_kernels_that_call_it(tmp_path):
    """Numba stamps a cached kernel with its own source file only, while the helpers it calls
    from other files are compiled into it. The cache folder's name carries a digest of every
    kernel source, so an edit of core.py alone (here: every tile's total weight counted one
    more) reaches the diagonal kernel on the next run instead of the code cached before it."""
    import shutil

    site = tmp_path / "site-packages"
    shutil.copytree(os.path.dirname(fastcavi.__file__), site / "fastcavi",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(site), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    script = ("import numpy as np; from fastcavi.kernels import diag; "
              "X = np.zeros((10, 2)); m = np.zeros((1, 2)); "
              "print(diag._sweep_statistics_diag(X, np.empty(0), m, m, np.zeros(1))[4])")

    def total_weight():
        proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert proc.returncode == 0, proc.stderr
        return float(proc.stdout)

    assert total_weight() == 10.0  # 10 rows of weight one; compiled and cached
    core = site / "fastcavi" / "kernels" / "core.py"
    text = core.read_text()
    assert text.count("    scalars[1] += total_w\n") == 1
    edited = text.replace("    scalars[1] += total_w\n", "    scalars[1] += total_w + 1.0\n")
    core.write_text(edited)
    assert total_weight() == 11.0  # one tile: one more
    assert len(list((tmp_path / "cache").iterdir())) == 2  # a folder per state of the sources


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tol = 0
def test_a_bgm_fit_holds_blas_to_one_thread_and_gives_it_back():
    """BayesianGaussianMixture sets BLAS to one thread once for the whole fit (its p x p
    algebra at every iteration; a limit per call costs more than the call), and restores it
    when the fit ends, also when it ends by an exception."""
    from threadpoolctl import threadpool_info

    from fastcavi import BayesianGaussianMixture

    def blas():
        return [(i["filepath"], i["num_threads"]) for i in threadpool_info()
                if i["user_api"] == "blas"]

    X = np.random.default_rng(0).normal(size=(300, 3))
    before, seen = blas(), []

    def look(it, bound):
        seen.append([n for _, n in blas()])
        if it == 2:
            raise KeyboardInterrupt

    est = BayesianGaussianMixture(n_components=3, max_iter=5, tol=0.0, random_state=0)
    est._fit(X, callback=lambda it, bound: seen.append([n for _, n in blas()]))
    assert seen and all(n == 1 for s in seen for n in s)
    assert blas() == before
    with pytest.raises(KeyboardInterrupt):
        est._fit(X, callback=look)
    assert blas() == before
