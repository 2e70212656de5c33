"""Ctrl-C (SIGINT): the command exits 130 with one line, no traceback and no file left behind,
wherever the signal lands (start-up, the first compile, the sweeps, the writes); the API raises
a plain KeyboardInterrupt and keeps the old model (see fastcavi/_interrupt.py).

Every case runs in a subprocess: a regression can segfault or hang the process.
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

# every test here runs and interrupts fastcavi in fresh processes, several times over
pytestmark = pytest.mark.slow

TIMEOUT = 240
INTERRUPTED = "fastcavi: error: interrupted\n"


def _startup_seconds():
    """How long this interpreter takes to start (site and .pth files included): a SIGINT before
    that kills Python itself, before any code of fastcavi runs (nothing fastcavi can catch)."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return max(times)


@pytest.fixture(scope="module")
def startup():
    return _startup_seconds()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("interrupt")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200_000, 2)) + rng.integers(0, 3, size=(200_000, 1)) * 5.0
    np.save(d / "x.npy", X)
    return d


def _interrupt(args, cwd, delay, env=None):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "fastcavi", *args], cwd=cwd, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def _handler_line():
    """The line of ``fastcavi/__main__.py`` that installs the command's SIGINT handler."""
    import fastcavi

    path = os.path.join(os.path.dirname(fastcavi.__file__), "__main__.py")
    with open(path) as f:
        return next(i for i, line in enumerate(f, 1) if "# HANDLER INSTALLED" in line)


def _before_python_ran_fastcavi(rc, err):
    """The signal came before fastcavi's first statement that can catch it: while the
    interpreter itself was starting (site, .pth files), while ``python -m`` imported the package
    (``fastcavi/__init__.py``, which installs nothing: a library leaves SIGINT alone), or on
    the lines of ``__main__.py`` up to the handler. Python dies of it with its default handler;
    any fastcavi frame deeper than that is a failure."""
    if rc != -signal.SIGINT:
        return False
    if err == "":
        return True
    frames = re.findall(r'File "([^"]+)", line (\d+)', err)
    ours = [(f, int(n)) for f, n in frames if f"{os.sep}fastcavi{os.sep}" in f]
    return err.rstrip().endswith("KeyboardInterrupt") and all(
        f.endswith("__init__.py") or (f.endswith("__main__.py") and n <= _handler_line())
        for f, n in ours)


def _check_outcome(rc, err, cwd, outputs):
    left = sorted(p.name for p in cwd.iterdir() if p.name.endswith(".tmp"))
    assert left == [], f"temporary files left behind: {left}"
    if rc == 0:  # the command had finished before the signal: every output complete
        assert err == "" or "interrupted" not in err
        assert all((cwd / o).stat().st_size > 0 for o in outputs)
        return "finished"
    assert rc == 130, f"exit {rc}\n{err}"
    assert err == INTERRUPTED, err
    assert not any((cwd / o).exists() for o in outputs), outputs
    return "interrupted"


OFFSETS = (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2, 1.8, 2.6)


def test_fit_interrupted_at_any_time(data, startup):
    """From start-up (imports) through the kernels' first call, the sweeps and the writes."""
    outputs = ("m.npz", "labels.npy")
    outcomes = []
    for offset in OFFSETS:
        for o in outputs:
            (data / o).unlink(missing_ok=True)
        rc, _, err = _interrupt(["fit", "x.npy", "-k", "3", "-o", "m.npz", "--labels",
                                 "labels.npy", "--n-init", "3", "--max-iter", "200", "--tol", "0",
                                 "-q", "--random-state", "0"], data, startup + offset)
        if _before_python_ran_fastcavi(rc, err):
            continue
        outcomes.append(_check_outcome(rc, err, data, outputs))
    assert "interrupted" in outcomes


def test_demo_interrupted_during_the_first_compile(tmp_path, startup):
    """A cold kernel cache: the signal lands while Numba compiles (the first kernel call)."""
    outputs = ("demo.npz",)
    outcomes = []
    for i, offset in enumerate((1.0, 3.0, 6.0)):
        env = {"NUMBA_CACHE_DIR": str(tmp_path / f"cold-{i}")}
        rc, _, err = _interrupt(["demo", "-n", "20000", "-q", "--no-plot", "-o", "demo.npz"],
                                tmp_path, startup + offset, env)
        if _before_python_ran_fastcavi(rc, err):
            continue
        outcomes.append(_check_outcome(rc, err, tmp_path, outputs))
        (tmp_path / "demo.npz").unlink(missing_ok=True)
        cache_tmp = [p for p in (tmp_path / f"cold-{i}").rglob("*") if ".tmp" in p.name]
        assert len(cache_tmp) <= 1  # at most Numba's own write in flight
    assert "interrupted" in outcomes  # a fast machine may finish before the last offset


# Python raises KeyboardInterrupt on SIGINT only when it starts with SIGINT at its default; a
# shell's background job (``pytest ... &``) starts with SIGINT ignored, and so would every
# script below. Each script therefore first puts back what an interactive Python has.
_DEFAULT_SIGINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def _run_script(tmp_path, body, env=None):
    script = tmp_path / "script.py"
    script.write_text(_DEFAULT_SIGINT + textwrap.dedent(body))
    proc = subprocess.run([sys.executable, "-W", "error", str(script)], capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=tmp_path,
                          env=dict(os.environ, **(env or {})))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_api_interrupt_inside_the_first_compile(tmp_path):
    """The signal lands inside Numba's compiler (deterministically: sent from compile_extra):
    the caller gets a KeyboardInterrupt after the call, and the kernel works afterwards."""
    out = _run_script(tmp_path, '''
        import os, signal
        import numpy as np
        from fastcavi import responsibilities
        import numba.core.compiler as compiler

        original = compiler.compile_extra
        sent = []

        def compile_extra(*args, **kwargs):
            if not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)
            return original(*args, **kwargs)

        compiler.compile_extra = compile_extra
        X = np.array([[0.0], [1.0], [3.0]])
        means, mean_vars = np.array([[0.0], [3.0]]), np.array([0.5, 0.5])
        try:
            responsibilities(X, means, mean_vars, likelihood_var=1.0)
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
        phi = responsibilities(X, means, mean_vars, likelihood_var=1.0)
        # phi_ik is proportional to exp(-(x - m_k)^2 / 2 - s2_k / 2): equal s2 cancel.
        logits = -0.5 * (X - means.T) ** 2
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
        print(bool(np.allclose(phi, expected, rtol=1e-12, atol=0)))
    ''', env={"NUMBA_CACHE_DIR": str(tmp_path / "cold")})
    assert out.split() == ["KeyboardInterrupt", "True"]


def test_api_interrupted_fit_keeps_the_old_model(tmp_path):
    """SIGINT at many moments of a refit: each time either the fit finished or a plain
    KeyboardInterrupt came out and the fitted model is the old one; later fits are unchanged."""
    out = _run_script(tmp_path, '''
        import os, signal, threading, time
        import numpy as np
        from fastcavi import GaussianMixtureCAVI

        rng = np.random.default_rng(0)
        X = rng.normal(size=(100_000, 2)) + rng.integers(0, 3, size=(100_000, 1)) * 5.0
        old = GaussianMixtureCAVI(2, random_state=0, max_iter=5, tol=0).fit(X[:1000])
        saved = {k: np.copy(v) for k, v in vars(old).items() if k.endswith("_")}
        new = GaussianMixtureCAVI(3, random_state=1, max_iter=30, tol=0).fit(X)
        t0 = time.perf_counter()
        GaussianMixtureCAVI(3, random_state=1, max_iter=30, tol=0).fit(X)
        span = time.perf_counter() - t0
        outcomes = set()
        for i in range(24):
            timer = threading.Timer(span * (i + 1) / 20, os.kill, (os.getpid(), signal.SIGINT))
            finished = False
            try:
                timer.start()
                old.set_params(n_components=3, random_state=1, max_iter=30, tol=0).fit(X)
                finished = True
                outcomes.add("finished")
                timer.join()
                time.sleep(0.01)  # the signal arrives here, not in the next fit
            except KeyboardInterrupt:
                if not finished:
                    outcomes.add("interrupted")
                    for k, v in saved.items():
                        assert np.array_equal(getattr(old, k), v), k
            old = GaussianMixtureCAVI(2, random_state=0, max_iter=5, tol=0).fit(X[:1000])
        again = GaussianMixtureCAVI(3, random_state=1, max_iter=30, tol=0).fit(X)
        assert np.array_equal(again.means_, new.means_)
        assert np.array_equal(again.lower_bounds_, new.lower_bounds_)
        print(sorted(outcomes))
    ''')
    assert "interrupted" in out
