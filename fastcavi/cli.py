"""The ``fastcavi`` command (also ``python -m fastcavi``).

Subcommands:

* ``demo``: draw simulated clusters, fit them, and show what happened.
* ``fit DATA -k K``: fit a model to a ``.npy`` / ``.npz`` / ``.csv`` / ``.tsv`` / ``.txt``
  file, write it.
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
import warnings

import numpy as np

from ._cli_data import ARRAY_OUT_SUFFIXES, CLIError, load_table, parse_columns, write_array
from ._cli_data import check_suffix as _check_suffix
from ._cli_demo import DEMO_LIKELIHOOD_VAR, DEMO_PLOT, DEMO_PRIOR_VAR, cmd_demo
from ._cli_plot import PLOT_SUFFIXES, beside, require_matplotlib
from ._cli_progress import fit_with_progress
from ._cli_progress import fmt_time as _fmt_time
from ._cli_progress import summary as _summary

PROG = "fastcavi"
__all__ = ["main", "build_parser", "CLIError"]


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


def _columns(text):
    try:
        return parse_columns(text)
    except CLIError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None




def _vector(text):
    """A scalar, or a comma-separated vector of finite numbers."""
    parts = [p.strip() for p in text.split(",")]
    values = [_real(p) for p in parts]
    return values[0] if len(values) == 1 else np.array(values)


# -- fastcavi fit ----------------------------------------------------------------------------

def _plot_path(args):
    """fit --plot: PATH as given; without one, beside the model when -o was given, else
    beside the data."""
    if args.plot is None or args.plot:
        return args.plot
    if args.output != _FIT_OUTPUT:
        return os.path.splitext(os.path.abspath(args.output))[0] + ".png"
    stem = os.path.splitext(os.path.basename(args.data))[0]
    return beside(args.data, f"{stem}-clusters.png")


def _read(args):
    """The Table of args.data (with --key, --skip-header and --columns)."""
    return load_table(args.data, key=args.key, skip_header=args.skip_header,
                      columns=args.columns)


def cmd_fit(args):
    from ._cli_data import warn_if_scales_differ
    from ._estimator import GaussianMixtureCAVI

    plot_path = _plot_path(args)
    for path, allowed, what in ((args.labels, ARRAY_OUT_SUFFIXES, "--labels"),
                                (args.proba, ARRAY_OUT_SUFFIXES, "--proba"),
                                (plot_path, PLOT_SUFFIXES, "--plot")):
        if path is not None:
            _check_suffix(path, allowed, what)
    if plot_path is not None:
        require_matplotlib()
    table = _read(args)
    X = table.X
    n, p = X.shape
    if args.n_components > n:
        raise CLIError(f"-k {args.n_components} is more than the number of points ({n}) in "
                       f"{args.data}")
    means_init = None
    if args.means_init is not None:
        try:
            means_init = np.array(load_table(args.means_init).X, dtype=np.float64)
        except CLIError as exc:
            raise CLIError(f"--means-init: {exc}") from None
    if not args.standardize:
        warn_if_scales_differ(X, table.names, args.data)
    if args.float32 and X.dtype != np.float32:
        X = X.astype(np.float32)  # a copy, in float32

    with _staged() as out:
        files = {name: out.open(path) for name, path in (
            ("model", args.output), ("labels", args.labels), ("proba", args.proba),
            ("plot", plot_path)) if path is not None}
        est = GaussianMixtureCAVI(
            args.n_components, prior_mean=args.prior_mean, prior_var=args.prior_var,
            likelihood_var=args.likelihood_var, init_params=args.init_params,
            means_init=means_init, mean_vars_init=args.mean_vars_init, n_init=args.n_init,
            max_iter=args.max_iter, tol=args.tol, random_state=args.random_state,
            n_threads=args.threads, verbose=args.verbose, standardize=args.standardize)
        progress, seconds = fit_with_progress(est, X, args.quiet)
        per_sweep = progress.time_per_sweep(seconds)
        alpha = est.prior_mean_
        if args.standardize:  # the mean of standardised data: 0 but for rounding
            alpha = np.where(np.abs(alpha) < 1e-12, 0.0, alpha)
        alpha_text = f"{alpha[0]:.6g}" if np.all(alpha == alpha[0]) else np.array2string(
            alpha, precision=6, separator=", ", threshold=8)
        rows = [("data", f"{args.data}: N = {n:,} points, p = {p} features ({X.dtype})")]
        rows += [("features", ", ".join(table.names))] if p <= 20 else []
        rows += [("ignored", "; ".join(table.ignored))] if table.ignored else []
        rows += [("standardized", "yes: every feature centred and divided by its standard "
                                  "deviation (kept in the model)")] if args.standardize else []
        _summary(rows + [
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
            write_array(files["labels"], args.labels, est.predict(X))
        if "proba" in files:
            write_array(files["proba"], args.proba, est.predict_proba(X))
        if "plot" in files:
            from ._cli_plot import plot

            plot(files["plot"], plot_path, X, est, progress.traces,
                 os.path.basename(args.data), names=table.names)
    for name, path in (("model", args.output), ("labels", args.labels),
                       ("responsibilities", args.proba), ("plot", plot_path)):
        if path is not None:
            print(f"wrote {name}: {path}")
    return 0


# -- fastcavi predict ------------------------------------------------------------------------

def cmd_predict(args):
    from ._cli_progress import compile_notice
    from ._load import load

    out_path = args.output or ("proba.npy" if args.proba else "labels.npy")
    _check_suffix(out_path, ARRAY_OUT_SUFFIXES, "-o")
    est = load(args.model)
    table = _read(args)
    X = table.X
    if X.shape[1] != est.n_features_in_:
        raise CLIError(f"{args.data} has {X.shape[1]} features, but the model {args.model} "
                       f"was fitted on {est.n_features_in_}")
    est.n_threads = args.threads
    with _staged() as out:
        f = out.open(out_path)
        compile_notice(sys.stderr, "_predict")
        result = est.predict_proba(X) if args.proba else est.predict(X)
        write_array(f, out_path, result)
    what = "responsibilities" if args.proba else "labels"
    ignored = f" (ignored {'; '.join(table.ignored)})" if table.ignored else ""
    print(f"{X.shape[0]:,} points, K = {est.n_components}: wrote {what} {result.shape} "
          f"to {out_path}{ignored}")
    return 0


# -- fastcavi info ---------------------------------------------------------------------------

def _dist_version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cmd_info(args):
    import numba

    from . import __version__
    from ._cli_progress import COMPILE_SECONDS, cache_dir, cached_kernels
    from ._threads import threading_layer

    layer = threading_layer()  # starts Numba's thread pool; compiles and fits nothing
    cache, n_cached = cached_kernels()
    if cache is None:
        cache_text = (f"empty: the first fit compiles the kernels (about {COMPILE_SECONDS} s) "
                      f"and caches them in {cache_dir() or 'memory only (nothing writable)'}")
    else:
        cache_text = f"{cache} ({n_cached} compiled kernels)"
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


_FIT_OUTPUT = "model.npz"


def _data_options(parser):
    parser.add_argument("--columns", type=_columns, metavar="A,B,C",
                        help="the columns to use: header names or 0-based numbers, "
                             "comma-separated (default: every numeric column; a first column "
                             "without a name, a row index, is left out)")
    parser.add_argument("--key", metavar="NAME",
                        help="the array to read from an .npz (default: its first array)")
    parser.add_argument("--skip-header", type=int, metavar="N", default=None,
                        help="lines to skip at the top of a text file (default: a header line "
                             "is found by itself)")


def build_parser():
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Mean-field CAVI for the Bayesian Gaussian mixture, with Numba kernels.",
        epilog="Run 'fastcavi COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="fit simulated clusters and show how well they are found",
        description="Draw N points around K random centres (centres mu_k ~ N(0, sigma2 I), "
                    "each point's cluster chosen uniformly, x_i ~ N(mu_(c_i), lambda2 I); "
                    "sigma2 = 100, lambda2 = 1 by default), fit them with those "
                    "hyperparameters, and report the ELBO, the time per sweep and the "
                    "adjusted Rand index against the true clusters; plot the clusters, means "
                    "and ELBO trace when matplotlib is installed.")
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
    demo.add_argument("--plot", metavar="PATH",
                      help=f"where to write the plot (.png, .pdf or .svg; default: beside the "
                           f"model given by -o, else {DEMO_PLOT} in the temporary directory)")
    demo.add_argument("--no-plot", action="store_true", help="do not plot")
    demo.add_argument("-o", "--output", metavar="MODEL.npz", default=None,
                      help="also save the fitted model here")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser(
        "fit", help="fit a model to a data file and save it",
        description="Fit GaussianMixtureCAVI to DATA and save the model. DATA is a .csv, .tsv "
                    "or .txt file (one point per line; the delimiter, quoting and a header "
                    "line are recognised; text columns and an unnamed index column are left "
                    "out), a .npy (memory-mapped) or a .npz. Options default to the "
                    "estimator's defaults.")
    fit.add_argument("data", metavar="DATA", help="the data file")
    fit.add_argument("-k", "--n-components", type=_count, required=True, metavar="K",
                     help="number of components")
    fit.add_argument("-o", "--output", default=_FIT_OUTPUT, metavar="MODEL.npz",
                     help="where to save the model (default: model.npz)")
    fit.add_argument("--labels", metavar="PATH", help="also write the labels (.npy/.csv/.txt)")
    fit.add_argument("--proba", metavar="PATH",
                     help="also write the responsibilities phi, N x K (.npy/.csv/.txt)")
    fit.add_argument("--plot", metavar="PATH", nargs="?", const="",
                     help="also plot the clusters (first two features) and the ELBO trace "
                          "(.png/.pdf/.svg; without PATH: beside the model given by -o, else "
                          "beside the data)")
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
    fit.add_argument("--standardize", action="store_true",
                     help="centre every feature and divide it by its standard deviation "
                          "before fitting; kept in the model, so predict does the same")
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
