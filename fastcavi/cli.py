"""The ``fastcavi`` command (also ``python -m fastcavi``).

Subcommands:

* ``demo``: draw data from the seed's generative model, fit it, and show what happened.
* ``fit DATA -k K``: fit a model to a ``.npy`` / ``.npz`` / ``.csv`` / ``.txt`` file, write it.
* ``predict MODEL DATA``: labels (or responsibilities) of DATA under a saved model.
* ``info``: versions, Numba threading and the kernel cache.

Bad input (missing or unreadable files, wrong shapes, NaN/inf, bad options, K out of range,
unknown extensions, a model with a different number of features) is reported as one line on
stderr, ``fastcavi: error: ...``, with exit status 2 and no output file written: every output is
staged in a temporary file beside its target and renamed into place only once everything
succeeded (see :class:`fastcavi._io.StagedFiles`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

PROG = "fastcavi"
DATA_SUFFIXES = (".npy", ".npz", ".csv", ".txt")
ARRAY_OUT_SUFFIXES = (".npy", ".csv", ".txt")
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
PLOT_POINTS = 20_000  # points drawn in a scatter plot (a uniform subsample)

# The demo's generative model (the seed's): alpha = 0, sigma2 = 100, lambda2 = 1. With means
# spread 10 units per coordinate and unit noise, the 10 clusters are mostly separated; where two
# happen to be close, even the true means cannot tell their points apart, which is why the demo
# also reports the ARI of "nearest true mean".
DEMO_PRIOR_MEAN = 0.0
DEMO_PRIOR_VAR = 100.0
DEMO_LIKELIHOOD_VAR = 1.0


class CLIError(Exception):
    """Bad input, reported as one line on stderr with exit status 2."""


# -- small helpers ---------------------------------------------------------------------------

def _one_line(text):
    return " ".join(str(text).split())


def _error_text(exc):
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename is not None:
            return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
        return exc.strerror
    text = str(exc)
    if isinstance(exc, KeyError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def _eprint(*args, **kwargs):
    print(*args, file=sys.stderr, **kwargs)


def _count(text):
    """A positive integer; also accepts 1e6 and 1_000_000."""
    try:
        value = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not (math.isfinite(f) and f == int(f)):
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        value = int(f)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value != -1 and value < 1:
        raise argparse.ArgumentTypeError(f"must be -1 (all) or at least 1, got {text!r}")
    return value


def _real(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def _positive(text):
    value = _real(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _non_negative(text):
    value = _real(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _vector(text):
    """A scalar, or a comma-separated vector of finite numbers."""
    parts = [p.strip() for p in text.split(",")]
    values = [_real(p) for p in parts]
    return values[0] if len(values) == 1 else np.array(values)


def _suffix(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def _check_suffix(path, allowed, what):
    if _suffix(path) not in allowed:
        raise CLIError(f"{path}: unknown file extension {_suffix(path)!r} for {what} "
                       f"(expected {', '.join(allowed)})")


def _fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


# -- reading data ----------------------------------------------------------------------------

def _has_magic(path, magic):
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def _header_rows(path, delimiter):
    """Lines to skip so that a non-numeric first line (a header) is skipped: 0 or the line's
    index + 1 (blank lines and '#' comments before it count, as in np.loadtxt's skiprows)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for index, line in enumerate(f):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            fields = content.split(delimiter) if delimiter else content.split()
            try:
                for field in fields:
                    float(field)
            except ValueError:
                return index + 1
            return 0
    return 0


def load_data(path, *, key=None, skip_header=None):
    """The 2-D array in ``path``: ``.npy`` memory-mapped (never copied), ``.npz`` (its first
    array, or ``key``), ``.csv`` (comma-separated) or ``.txt`` (whitespace-separated) read with
    np.loadtxt, skipping a non-numeric header line (or ``skip_header`` lines when given).

    Raises CLIError for an unknown extension, a file of the wrong kind, a shape that is not
    (n_samples >= 1, n_features >= 1), non-real data, NaN or infinity.
    """
    suffix = _suffix(path)
    if suffix not in DATA_SUFFIXES:
        raise CLIError(f"{path}: unknown file extension {suffix!r} for data "
                       f"(expected {', '.join(DATA_SUFFIXES)})")
    if key is not None and suffix != ".npz":
        raise CLIError(f"--key applies to .npz files only, not to {path}")
    if skip_header is not None and suffix not in (".csv", ".txt"):
        raise CLIError(f"--skip-header applies to .csv and .txt files only, not to {path}")
    if suffix == ".npy":
        if not _has_magic(path, b"\x93NUMPY"):
            raise CLIError(f"{path}: not a .npy file")
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError) as exc:
            raise CLIError(f"{path}: cannot read the array: {_one_line(exc)}") from None
    elif suffix == ".npz":
        if not _has_magic(path, b"PK"):
            raise CLIError(f"{path}: not a .npz file")
        try:  # our own file object: closed on every error path (no ResourceWarning)
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                if not z.files:
                    raise CLIError(f"{path}: holds no arrays")
                name = z.files[0] if key is None else key
                if name not in z.files:
                    raise CLIError(f"{path}: no array named {key!r} "
                                   f"(it holds {', '.join(z.files)})")
                X = z[name]
        except (CLIError, FileNotFoundError, PermissionError):
            raise
        except (ValueError, EOFError, OSError) as exc:
            raise CLIError(f"{path}: cannot read the array: {_one_line(exc)}") from None
        except Exception as exc:  # zipfile.BadZipFile and friends
            raise CLIError(f"{path}: cannot read the archive: {_one_line(exc)}") from None
    else:
        delimiter = "," if suffix == ".csv" else None
        skip = _header_rows(path, delimiter) if skip_header is None else skip_header
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty file is reported below
                X = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2,
                               dtype=np.float64)
        except ValueError as exc:
            raise CLIError(f"{path}: cannot read the numbers: {_one_line(exc)}") from None
    return check_data(X, path)


def check_data(X, path):
    """X if it is a non-empty 2-D array of finite real numbers, else CLIError naming path."""
    from ._fit import check_finite

    if X.dtype.kind not in "biuf" or X.dtype == np.float16:
        raise CLIError(f"{path}: expected real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array of shape (n_samples, n_features), "
                       f"got a {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise CLIError(f"{path}: no data (shape {X.shape})")
    try:
        check_finite(X, name=path)
    except ValueError as exc:
        raise CLIError(_one_line(exc)) from None
    return X


# -- writing ---------------------------------------------------------------------------------

def _write_array(f, path, array):
    suffix = _suffix(path)
    if suffix == ".npy":
        np.save(f, array)
    else:
        delimiter = "," if suffix == ".csv" else " "
        fmt = "%d" if array.dtype.kind in "iu" else (
            "%.9g" if array.dtype == np.float32 else "%.17g")
        np.savetxt(f, array, fmt=fmt, delimiter=delimiter)


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError("plotting needs matplotlib: pip install 'fastcavi[plot]'") from None


def _have_matplotlib():
    try:
        _require_matplotlib()
    except CLIError:
        return False
    return True


def _plot(f, path, X, est, traces, title, true_means=None, seed=0):
    """Scatter of (a subsample of) X coloured by predicted label, the fitted means, and the
    ELBO trace of every run; written to the open file f in the format of path's extension."""
    from matplotlib.figure import Figure

    n, p = X.shape
    rng = np.random.default_rng(seed)
    idx = np.arange(n) if n <= PLOT_POINTS else np.sort(
        rng.choice(n, PLOT_POINTS, replace=False))
    pts = np.asarray(X[idx], dtype=np.float64)
    labels = est.predict(pts)
    means = est.means_
    if p >= 2:
        xs, ys, mys = pts[:, 0], pts[:, 1], means[:, 1]
        tys = None if true_means is None else true_means[:, 1]
        ylabel = "x[1]"
    else:
        xs, ys = pts[:, 0], rng.uniform(-1, 1, len(idx))
        mys = np.zeros(len(means))
        tys = None if true_means is None else np.zeros(len(true_means))
        ylabel = "jitter (p = 1)"

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
    cmap = "tab10" if est.n_components <= 10 else "tab20"
    ax.scatter(xs, ys, c=labels % 20, cmap=cmap, vmin=0, vmax=9 if cmap == "tab10" else 19,
               s=3, alpha=0.5, linewidths=0, rasterized=True)
    ax.scatter(means[:, 0], mys, marker="X", s=90, c="black", edgecolors="white",
               label="fitted means m_k")
    if true_means is not None:
        ax.scatter(true_means[:, 0], tys, marker="+", s=300, c="red", linewidths=1.5,
                   label="true means mu_k")
    ax.set_xlabel("x[0]")
    ax.set_ylabel(ylabel)
    if p >= 2:
        ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"{title}: {len(idx):,} of {n:,} points")

    best = int(np.argmax([t[-1] for t in traces])) if traces else -1
    for r, trace in enumerate(traces):
        sweeps = np.arange(1, len(trace) + 1)
        is_best = r == best
        ax2.plot(sweeps, np.asarray(trace) / n, marker="o", ms=3, lw=2 if is_best else 1,
                 alpha=1 if is_best else 0.5,
                 label=f"run {r + 1}" + (" (best)" if is_best else ""))
    ax2.set_xlabel("sweep")
    ax2.set_ylabel("ELBO per point")
    ax2.set_title("ELBO after every sweep")
    ax2.grid(alpha=0.3)
    if traces:
        ax2.legend(loc="lower right", fontsize="small")
    fig.savefig(f, format=_suffix(path)[1:], dpi=110)


# -- progress --------------------------------------------------------------------------------

class Progress:
    """The callback ``cb(sweep_index, elbo)`` for ``GaussianMixtureCAVI._fit``: draws a bar with
    the ELBO on a terminal (redrawn with \\r), or prints a line every ``every`` sweeps when the
    stream is not a terminal; records every run's ELBO trace and the time between sweeps."""

    def __init__(self, stream, max_iter, n_init, n_points, quiet=False, every=5):
        self.stream = stream
        self.max_iter = max_iter
        self.n_init = n_init
        self.n_points = n_points
        self.quiet = quiet
        self.every = every
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.traces = []
        self.sweep_times = []
        self._last_time = None
        self._shown = -1
        self._width = 0

    def __call__(self, it, elbo):
        now = time.perf_counter()
        if it == 0:
            self._end_run()
            self.traces.append([])
        elif self._last_time is not None:
            self.sweep_times.append(now - self._last_time)
        self._last_time = now
        self.traces[-1].append(float(elbo))
        if self.quiet:
            return
        if self.tty:
            self._draw(it, elbo)
        elif it == 0 or (it + 1) % self.every == 0:
            self._line(it, elbo)

    def _status(self, it, elbo):
        per = f"  {_fmt_time(self.sweep_times[-1])}/sweep" if it > 0 else ""
        return (f"run {len(self.traces)}/{self.n_init}  sweep {it + 1:>3}  "
                f"ELBO {elbo:.10g} ({elbo / self.n_points:.6f} per point){per}")

    def _draw(self, it, elbo):
        width = 20
        filled = min(width, round(width * (it + 1) / self.max_iter))
        text = f"\r[{'#' * filled}{'.' * (width - filled)}] {self._status(it, elbo)}"
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write(text + " " * pad)
        self.stream.flush()
        self._shown = it

    def _line(self, it, elbo):
        self.stream.write(self._status(it, elbo) + "\n")
        self.stream.flush()
        self._shown = it

    def _end_run(self):
        if not self.traces or self.quiet:
            return
        trace = self.traces[-1]
        if self.tty:
            self.stream.write(f"\r{' ' * self._width}\r")
            self._width = 0
        elif self._shown != len(trace) - 1:
            self._line(len(trace) - 1, trace[-1])
        self.stream.write(f"run {len(self.traces)}/{self.n_init}: {len(trace)} sweeps, "
                          f"final ELBO {trace[-1]:.10g}\n")
        self.stream.flush()

    def close(self):
        self._end_run()
        self._shown = -1

    def time_per_sweep(self, total_seconds):
        """Median time between consecutive sweeps, or the total over the sweeps run."""
        if self.sweep_times:
            return float(np.median(self.sweep_times))
        sweeps = sum(len(t) for t in self.traces)
        return total_seconds / max(1, sweeps)


def _fit_with_progress(est, X, quiet):
    progress = Progress(sys.stderr, est.max_iter, est.n_init, X.shape[0], quiet=quiet)
    start = time.perf_counter()
    try:
        est._fit(X, callback=progress)
    finally:
        progress.close()
    return progress, time.perf_counter() - start


def _summary(rows):
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")


# -- fastcavi demo ---------------------------------------------------------------------------

def _nearest(X, centres, block=65_536):
    out = np.empty(X.shape[0], dtype=np.int64)
    c2 = (centres ** 2).sum(axis=1)
    for s in range(0, X.shape[0], block):
        xb = np.asarray(X[s:s + block], dtype=np.float64)
        out[s:s + block] = np.argmin(c2 - 2.0 * xb @ centres.T, axis=1)
    return out


def cmd_demo(args):
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score

    from ._estimator import GaussianMixtureCAVI

    n, p, k = args.n, args.p, args.k
    if k > n:
        raise CLIError(f"-k {k} is more than the number of points (-n {n})")
    plot_path = None if args.no_plot else args.plot
    if plot_path is not None:
        _check_suffix(plot_path, PLOT_SUFFIXES, "--plot")
        if not _have_matplotlib():
            if args.plot_given:
                _require_matplotlib()
            print("matplotlib is not installed: no plot (pip install 'fastcavi[plot]')")
            plot_path = None

    with _staged() as out:
        plot_file = None if plot_path is None else out.open(plot_path)
        model_file = None if args.output is None else out.open(args.output)

        alpha, sigma2, lambda2 = DEMO_PRIOR_MEAN, args.prior_var, args.likelihood_var
        print(f"fastcavi demo: N = {n:,} points, p = {p}, K = {k}, seed = {args.seed}")
        print(f"model: mu_k ~ N({alpha:g}, {sigma2:g} I), c_i ~ Categorical(1/{k}), "
              f"x_i ~ N(mu_(c_i), {lambda2:g} I)")
        t0 = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        true_means = alpha + math.sqrt(sigma2) * rng.standard_normal((k, p))
        true_labels = rng.integers(k, size=n)
        X = true_means[true_labels]
        X += math.sqrt(lambda2) * rng.standard_normal((n, p))
        if args.float32:
            X = X.astype(np.float32)
        print(f"drew the data ({X.dtype}) in {_fmt_time(time.perf_counter() - t0)}")

        est = GaussianMixtureCAVI(k, prior_mean=alpha, prior_var=sigma2, likelihood_var=lambda2,
                                  n_init=args.n_init, max_iter=args.max_iter, tol=args.tol,
                                  random_state=args.seed, n_threads=args.threads)
        print(f"fitting: CAVI, {args.n_init} run(s) from k-means++ starts, at most "
              f"{args.max_iter} sweeps each, tol = {args.tol:g} per point", flush=True)
        progress, seconds = _fit_with_progress(est, X, args.quiet)

        labels = est.predict(X)
        ari = adjusted_rand_score(true_labels, labels)
        oracle = adjusted_rand_score(true_labels, _nearest(X, true_means))
        dist = np.sqrt(((est.means_[:, None, :] - true_means[None]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(dist)
        total_sweeps = sum(len(t) for t in progress.traces)
        _summary([
            ("sweeps", f"{est.n_iter_} in the best run (run "
                       f"{int(np.argmax([t[-1] for t in progress.traces])) + 1} of "
                       f"{est.n_init}), {total_sweeps} in all; converged: "
                       f"{'yes' if est.converged_ else 'no'}"),
            ("time", f"{_fmt_time(progress.time_per_sweep(seconds))} per sweep "
                     f"({n / progress.time_per_sweep(seconds) / 1e6:.0f} M points/s), "
                     f"fit {_fmt_time(seconds)} in all (threads: {_numba_threads()})"),
            ("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n:.6f} per point)"),
            ("ARI", f"{ari:.4f} against the true labels (nearest true mean: {oracle:.4f})"),
            ("means", f"largest distance from a fitted mean to its true mean: "
                      f"{dist[rows, cols].max():.4f}"),
        ])
        if plot_file is not None:
            _plot(plot_file, plot_path, X, est, progress.traces,
                  f"fastcavi demo, K = {k}", true_means=true_means, seed=args.seed)
        if model_file is not None:
            from ._io import write_model

            write_model(est, model_file)
    for path, what in ((plot_path, "plot"), (args.output, "model")):
        if path is not None:
            print(f"wrote {what}: {path}")
    return 0


# -- fastcavi fit ----------------------------------------------------------------------------

def cmd_fit(args):
    from ._estimator import GaussianMixtureCAVI

    for path, allowed, what in ((args.labels, ARRAY_OUT_SUFFIXES, "--labels"),
                                (args.proba, ARRAY_OUT_SUFFIXES, "--proba"),
                                (args.plot, PLOT_SUFFIXES, "--plot")):
        if path is not None:
            _check_suffix(path, allowed, what)
    if args.plot is not None:
        _require_matplotlib()
    X = load_data(args.data, key=args.key, skip_header=args.skip_header)
    n, p = X.shape
    if args.n_components > n:
        raise CLIError(f"-k {args.n_components} is more than the number of points ({n}) in "
                       f"{args.data}")
    means_init = None
    if args.means_init is not None:
        try:
            means_init = np.array(load_data(args.means_init), dtype=np.float64)
        except CLIError as exc:
            raise CLIError(f"--means-init: {exc}") from None
    if args.float32 and X.dtype != np.float32:
        X = X.astype(np.float32)  # a copy, in float32

    with _staged() as out:
        files = {name: out.open(path) for name, path in (
            ("model", args.output), ("labels", args.labels), ("proba", args.proba),
            ("plot", args.plot)) if path is not None}
        est = GaussianMixtureCAVI(
            args.n_components, prior_mean=args.prior_mean, prior_var=args.prior_var,
            likelihood_var=args.likelihood_var, init_params=args.init_params,
            means_init=means_init, mean_vars_init=args.mean_vars_init, n_init=args.n_init,
            max_iter=args.max_iter, tol=args.tol, random_state=args.random_state,
            n_threads=args.threads, verbose=args.verbose)
        progress, seconds = _fit_with_progress(est, X, args.quiet)
        per_sweep = progress.time_per_sweep(seconds)
        alpha = est.prior_mean_
        alpha_text = f"{alpha[0]:.6g}" if np.all(alpha == alpha[0]) else np.array2string(
            alpha, precision=6, separator=", ", threshold=8)
        _summary([
            ("data", f"{args.data}: N = {n:,} points, p = {p} features ({X.dtype})"),
            ("components", f"K = {est.n_components}"),
            ("hyperparameters", f"prior_mean = {alpha_text}, prior_var = "
                                f"{est.prior_var_:.6g}, likelihood_var = "
                                f"{est.likelihood_var_:.6g}"),
            ("sweeps", f"{est.n_iter_} (best of {est.n_init} run(s)); converged: "
                       f"{'yes' if est.converged_ else 'no'}"),
            ("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n:.6f} per point)"),
            ("time", f"{_fmt_time(per_sweep)} per sweep, fit {_fmt_time(seconds)} in all"),
        ])
        if "model" in files:
            from ._io import write_model

            write_model(est, files["model"])
        if "labels" in files:
            _write_array(files["labels"], args.labels, est.predict(X))
        if "proba" in files:
            _write_array(files["proba"], args.proba, est.predict_proba(X))
        if "plot" in files:
            _plot(files["plot"], args.plot, X, est, progress.traces, os.path.basename(args.data))
    for name, path in (("model", args.output), ("labels", args.labels),
                       ("responsibilities", args.proba), ("plot", args.plot)):
        if path is not None:
            print(f"wrote {name}: {path}")
    return 0


# -- fastcavi predict ------------------------------------------------------------------------

def cmd_predict(args):
    from ._io import load

    out_path = args.output or ("proba.npy" if args.proba else "labels.npy")
    _check_suffix(out_path, ARRAY_OUT_SUFFIXES, "-o")
    est = load(args.model)
    X = load_data(args.data, key=args.key, skip_header=args.skip_header)
    if X.shape[1] != est.n_features_in_:
        raise CLIError(f"{args.data} has {X.shape[1]} features, but the model {args.model} "
                       f"was fitted on {est.n_features_in_}")
    est.n_threads = args.threads
    with _staged() as out:
        f = out.open(out_path)
        result = est.predict_proba(X) if args.proba else est.predict(X)
        _write_array(f, out_path, result)
    what = "responsibilities" if args.proba else "labels"
    print(f"{X.shape[0]:,} points, K = {est.n_components}: wrote {what} {result.shape} "
          f"to {out_path}")
    return 0


# -- fastcavi info ---------------------------------------------------------------------------

def _numba_threads():
    import numba

    return numba.get_num_threads()


def _dist_version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cmd_info(args):
    import numba

    from . import __version__, _kernels
    from ._estimator import GaussianMixtureCAVI

    # numba.threading_layer() only answers once a parallel kernel has run: run a tiny fit.
    try:
        X = np.random.default_rng(0).normal(size=(64, 2))
        GaussianMixtureCAVI(2, random_state=0, max_iter=2, tol=0).fit(X)
        layer = numba.threading_layer()
    except ValueError:
        layer = "not yet chosen"
    try:
        cache = _kernels._sweep_statistics._cache._cache_path
    except AttributeError:  # no writable cache location (see fastcavi._jit)
        cache = "none writable: the kernels are compiled in memory, for this process only"
    try:
        n_cached = sum(1 for f in os.listdir(cache)
                       if f.endswith((".nbi", ".nbc")) and f.startswith(("_kernels.",
                                                                         "_fastexp.")))
        cache_text = f"{cache} ({n_cached} files)"
    except OSError:
        cache_text = f"{cache} (not created yet)"
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    env = os.environ.get("NUMBA_NUM_THREADS")
    _summary([
        ("fastcavi", f"{__version__} ({os.path.dirname(os.path.abspath(__file__))})"),
        ("python", f"{sys.version.split()[0]} ({sys.executable})"),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("llvmlite", _dist_version("llvmlite")),
        ("scikit-learn", _dist_version("scikit-learn")),
        ("scipy", _dist_version("scipy")),
        ("matplotlib", _dist_version("matplotlib") + " (optional: plots)"),
        ("threading layer", f"{layer} (NUMBA_THREADING_LAYER={numba.config.THREADING_LAYER})"),
        ("threads", f"numba.get_num_threads() = {numba.get_num_threads()}, "
                    f"NUMBA_NUM_THREADS = {numba.config.NUMBA_NUM_THREADS}"
                    f" ({'from the environment' if env else 'default: CPU count'}), "
                    f"CPUs available = {cpus}"),
        ("kernel cache", cache_text),
    ])
    return 0


# -- the parser ------------------------------------------------------------------------------

def _staged():
    from ._io import StagedFiles

    return StagedFiles()


class _PlotAction(argparse.Action):
    """--plot PATH that also records that the user asked for it."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.plot_given = True


def _data_options(parser):
    parser.add_argument("--key", metavar="NAME",
                        help="the array to read from an .npz (default: its first array)")
    parser.add_argument("--skip-header", type=int, metavar="N", default=None,
                        help="lines to skip at the top of a .csv/.txt (default: 1 if the first "
                             "line is not numeric, else 0)")


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Mean-field CAVI for the Bayesian Gaussian mixture, with Numba kernels.",
        epilog="Run 'fastcavi COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="fit data drawn from the seed's model and show what happened",
        description="Draw N points from the seed's generative model (mu_k ~ N(0, sigma2 I), "
                    "c_i uniform, x_i ~ N(mu_(c_i), lambda2 I); sigma2 = 100, lambda2 = 1 "
                    "by default), fit them with the true hyperparameters, and report the "
                    "ELBO, the time per sweep and the adjusted Rand index against the true "
                    "labels; plot the clusters, means and ELBO trace when matplotlib is "
                    "installed.")
    demo.add_argument("-n", type=_count, default=1_000_000, metavar="N",
                      help="number of points (default: 1e6)")
    demo.add_argument("-p", type=_count, default=2, metavar="P",
                      help="dimensions (default: 2)")
    demo.add_argument("-k", type=_count, default=10, metavar="K",
                      help="components (default: 10)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seeds the data and the fit (default: 0)")
    demo.add_argument("--prior-var", type=_positive, default=DEMO_PRIOR_VAR, metavar="SIGMA2",
                      help=f"sigma2, spread of the true means (default: {DEMO_PRIOR_VAR:g})")
    demo.add_argument("--likelihood-var", type=_positive, default=DEMO_LIKELIHOOD_VAR,
                      metavar="LAMBDA2",
                      help=f"lambda2, spread of each cluster (default: {DEMO_LIKELIHOOD_VAR:g})")
    demo.add_argument("--n-init", type=_count, default=3, metavar="N",
                      help="restarts; the best ELBO is kept (default: 3)")
    demo.add_argument("--max-iter", type=_count, default=100, metavar="N",
                      help="most sweeps per run (default: 100)")
    demo.add_argument("--tol", type=_non_negative, default=1e-4,
                      help="convergence: ELBO change per point (default: 1e-4)")
    demo.add_argument("--threads", type=_threads, default=None, metavar="N",
                      help="Numba threads (default: all; more than the cores available are "
                          "clamped, with a warning)")
    demo.add_argument("--float32", action="store_true", help="draw and fit float32 data")
    demo.add_argument("--plot", action=_PlotAction, default="fastcavi-demo.png", metavar="PATH",
                      help="where to write the plot (.png, .pdf or .svg; default: "
                           "fastcavi-demo.png)")
    demo.add_argument("--no-plot", action="store_true", help="do not plot")
    demo.add_argument("-o", "--output", metavar="MODEL.npz", default=None,
                      help="also save the fitted model here")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo, plot_given=False)

    fit = sub.add_parser(
        "fit", help="fit a model to a data file and save it",
        description="Fit GaussianMixtureCAVI to DATA (.npy memory-mapped, .npz, .csv or .txt; "
                    "shape (n_samples, n_features)) and save the model. Options default to "
                    "the estimator's defaults.")
    fit.add_argument("data", metavar="DATA", help="the data file")
    fit.add_argument("-k", "--n-components", type=_count, required=True, metavar="K",
                     help="number of components")
    fit.add_argument("-o", "--output", default="model.npz", metavar="MODEL.npz",
                     help="where to save the model (default: model.npz)")
    fit.add_argument("--labels", metavar="PATH", help="also write the labels (.npy/.csv/.txt)")
    fit.add_argument("--proba", metavar="PATH",
                     help="also write the responsibilities phi, N x K (.npy/.csv/.txt)")
    fit.add_argument("--plot", metavar="PATH",
                     help="also plot the clusters (first two features) and the ELBO trace")
    _data_options(fit)
    fit.add_argument("--prior-mean", type=_vector, metavar="ALPHA",
                     help="alpha: a number or a comma-separated vector (default: data mean)")
    fit.add_argument("--prior-var", type=_positive, metavar="SIGMA2",
                     help="sigma2 (default: the data's variance averaged over features)")
    fit.add_argument("--likelihood-var", type=_positive, metavar="LAMBDA2",
                     help="lambda2 (default: estimated from k-means++ centres)")
    fit.add_argument("--init-params", choices=("kmeans++", "random_from_data", "random"),
                     default="kmeans++", help="how runs start (default: kmeans++)")
    fit.add_argument("--means-init", metavar="FILE",
                     help="starting means, a K x p array (.npy/.npz/.csv/.txt)")
    fit.add_argument("--mean-vars-init", type=_vector, metavar="S2",
                     help="starting s2: a number or K comma-separated numbers")
    fit.add_argument("--n-init", type=_count, default=1, metavar="N",
                     help="restarts; the best ELBO is kept (default: 1)")
    fit.add_argument("--max-iter", type=_count, default=100, metavar="N",
                     help="most sweeps per run (default: 100)")
    fit.add_argument("--tol", type=_non_negative, default=1e-4,
                     help="convergence: ELBO change per point (default: 1e-4)")
    fit.add_argument("--random-state", type=int, default=None, metavar="SEED",
                     help="seed for the initialisation (default: none, not reproducible)")
    fit.add_argument("--threads", type=_threads, default=None, metavar="N",
                     help="Numba threads (default: all; more than the cores available are "
                          "clamped, with a warning)")
    fit.add_argument("--float32", action="store_true",
                     help="fit in float32 (float32 data always is; other data are copied)")
    fit.add_argument("-v", "--verbose", action="count", default=0,
                     help="the estimator's verbose output (-v: per run, -vv: per sweep)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser(
        "predict", help="labels or responsibilities of data under a saved model",
        description="Write argmax_k phi_ik (int64 labels) of every point of DATA under MODEL, "
                    "or with --proba the responsibilities phi (N x K).")
    predict.add_argument("model", metavar="MODEL", help="a model saved by 'fastcavi fit'")
    predict.add_argument("data", metavar="DATA", help="the data file")
    predict.add_argument("-o", "--output", metavar="PATH",
                         help="output (.npy/.csv/.txt; default: labels.npy, or proba.npy "
                              "with --proba)")
    predict.add_argument("--proba", action="store_true",
                         help="write the responsibilities instead of the labels")
    _data_options(predict)
    predict.add_argument("--threads", type=_threads, default=None, metavar="N",
                         help="Numba threads (default: all; more than the cores available are "
                              "clamped, with a warning)")
    predict.set_defaults(func=cmd_predict)

    info = sub.add_parser("info", help="versions, threading and the kernel cache",
                          description="Print versions, the Numba threading layer and thread "
                                      "count, and where the compiled kernels are cached.")
    info.set_defaults(func=cmd_info)
    return parser


def main(argv=None):
    """Entry point of the ``fastcavi`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "skip_header", None) is not None and args.skip_header < 0:
        parser.error("--skip-header must be >= 0")
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = args.func(args)
        except KeyboardInterrupt:
            error, status = "interrupted", 130
        except MemoryError:
            error, status = "out of memory", 1
        except (CLIError, ValueError, TypeError, OSError) as exc:
            error, status = _error_text(exc), 2
    sys.stdout.flush()
    for text in dict.fromkeys(_one_line(w.message) for w in caught):  # each once, in order
        _eprint(f"{PROG}: warning: {text}")
    if error is not None:
        _eprint(f"{PROG}: error: {_one_line(error)}")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
