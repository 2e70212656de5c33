"""The ``fastcavi`` command (also ``python -m fastcavi``).

Subcommands:

* ``demo``: draw simulated clusters, fit them, and show what happened.
* ``fit DATA -k K``: fit a model to a ``.npy`` / ``.npz`` / ``.csv`` / ``.tsv`` / ``.txt``
  file, write it. ``--model cavi`` (default) fits :class:`~fastcavi.GaussianMixtureCAVI`,
  ``--model bgm`` :class:`~fastcavi.BayesianGaussianMixture`, ``--model gm``
  :class:`~fastcavi.GaussianMixture` (:mod:`fastcavi.cli.args` has the options of each,
  :mod:`fastcavi.cli.bgm` and :mod:`fastcavi.cli.gm` what is printed about the latter two).
* ``predict MODEL DATA``: labels (or responsibilities) of DATA under a saved model.
* ``info``: versions, Numba threading and the kernel cache.

Bad input (missing or unreadable files, wrong shapes, NaN/inf, bad options, K out of range,
unknown extensions, a model with a different number of features) is reported as one line on
stderr, ``fastcavi: error: ...``, with exit status 2 and no output file written: every output is
staged in a temporary file beside its target and renamed into place only once everything
succeeded (see :class:`fastcavi.estimators.io.StagedFiles`).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

from ..inference.algorithms import ALGORITHMS
from .args import (
    add_bgm_options,
    add_data_options,
    add_model_option,
    add_run_options,
    add_threads_option,
    check_model_options,
    count,
    positive,
    threads,
    tol_text,
    vector,
)
from .data import ARRAY_OUT_SUFFIXES, CLIError, load_table, write_array
from .data import check_suffix as _check_suffix
from .demo import add_demo_parser
from .plot import PLOT_SUFFIXES, beside, require_matplotlib
from .progress import fit_with_progress
from .progress import fmt_time as _fmt_time
from .progress import summary as _summary
from .select import add_select_parser

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


def _read(args, by_name=None, context=""):
    """The Table of args.data (with --key, --skip-header and --columns; ``by_name``: a model's
    column names, picked by name from a file with a header line)."""
    return load_table(args.data, key=args.key, skip_header=args.skip_header,
                      columns=args.columns, by_name=by_name, context=context,
                      drop_incomplete=args.drop_incomplete)


def _scale_hint(args):
    """What the warning about features on different scales advises, or None when
    --standardize is on."""
    if args.standardize:
        return None
    if args.model != "cavi":
        from ..models.covariance import COVARIANCES
        from .bgm import covariance_type

        if not COVARIANCES[covariance_type(args)].per_feature:
            return "--covariance-type diag learns a variance per feature"
        return "--standardize puts every feature on the same scale for the k-means start"
    return "--standardize puts every feature on the same scale"


def _advise(text):
    """A warning printed at once (before a fit that may take long), not with the others at
    the end."""
    from .advice import warn_now

    warn_now(text, PROG)


def _estimator(args, n_features, means_init, scaled=None):
    """The estimator that args.model names, with the options given (bgm: ``scaled``, the
    standardised data, its centre and scale, when it is to be fitted on them)."""
    from .args import estimator_tol

    common = dict(n_init=args.n_init, max_iter=args.max_iter,
                  tol=estimator_tol(args.model, args.tol, args.n_rows),
                  init_params=args.init_params, random_state=args.random_state,
                  n_threads=args.threads, verbose=args.verbose, algorithm=args.algorithm)
    if args.model == "gm":
        from .gm import gm_estimator

        return gm_estimator(args, common["tol"], args.random_state, args.n_rows)
    if args.partial is not None:
        common["total_samples"] = float(args.n_rows)
    if args.model == "bgm":
        from ..estimators.bayesian_mixture import BayesianGaussianMixture
        from .bgm import bgm_params

        return BayesianGaussianMixture(n_components=args.n_components, **common,
                                       **bgm_params(args, n_features, scaled))
    # GaussianMixtureCAVI without scikit-learn's base classes: the same fit and model file,
    # and no second spent importing scikit-learn.
    from ..estimators.known_variance import KnownVarianceMixture

    return KnownVarianceMixture(
        args.n_components, prior_mean=args.prior_mean, prior_var=args.prior_var,
        likelihood_var=args.likelihood_var, means_init=means_init,
        mean_vars_init=args.mean_vars_init, standardize=bool(args.standardize), **common)


def _stream(est, X, args):
    """``--partial ROWS``: one pass of ``partial_fit`` over X in batches of ROWS rows, in file
    order (a memory-mapped .npy is read one batch at a time)."""
    import time
    from types import SimpleNamespace

    from .progress import notice_for

    notice_for(est, "fit", args.quiet)
    start = time.perf_counter()
    for first in range(0, X.shape[0], args.partial):
        batch = X[first:first + args.partial]
        if args.float32:
            batch = np.asarray(batch, dtype=np.float32)
        est.partial_fit(batch)
    return SimpleNamespace(traces=[list(est.lower_bounds_)]), time.perf_counter() - start


def _streamed(args, est, rows):
    """With --partial, the summary's line on iterations says how the data were streamed."""
    if args.partial is None:
        return rows
    line = (f"{est.n_batch_iter_} batches of at most {args.partial:,} rows, one pass "
            "(partial_fit)" + ("" if args.model == "gm" else
                               "; the ELBO below is the estimate from the last batch"))
    return [("stream", line) if name in ("sweeps", "iterations") else (name, text)
            for name, text in rows]


def _cavi_rows(args, est, n):
    """The summary rows that describe a fitted GaussianMixtureCAVI."""
    alpha = est.prior_mean_
    if args.standardize:  # the mean of standardised data: 0 but for rounding
        alpha = np.where(np.abs(alpha) < 1e-12, 0.0, alpha)
    alpha_text = f"{alpha[0]:.6g}" if np.all(alpha == alpha[0]) else np.array2string(
        alpha, precision=6, separator=", ", threshold=8)
    rows = [("standardized", "yes: every feature centred and divided by its standard "
                             "deviation (kept in the model)")] if args.standardize else []
    return rows + [
        ("components", f"K = {est.n_components}"),
        ("hyperparameters", f"prior_mean = {alpha_text}, prior_var = {est.prior_var_:.6g}, "
                            f"likelihood_var = {est.likelihood_var_:.6g}"),
        ("sweeps", f"{est.n_iter_} (best of {est.n_init} run(s)); converged: "
                   f"{'yes' if est.converged_ else 'no'}"),
        ("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n:.6f} per point)"),
    ]


def cmd_fit(args):
    from .advice import integer_column_advice, many_components_advice, scale_advice

    check_model_options(args)
    if args.model == "bgm":
        from .bgm import check_standardize, check_supported, covariance_type

        check_supported(covariance_type(args))
        check_standardize(args)
    elif args.model == "gm":
        from .gm import check_options

        check_options(args)
    plot_path = _plot_path(args)
    for path, allowed, what in ((args.output, (".npz",), "-o"),
                                (args.labels, ARRAY_OUT_SUFFIXES, "--labels"),
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
    if args.partial is not None and args.n_init > 1:
        raise CLIError("--partial streams the data once: it has no restarts (--n-init)")
    hint = _scale_hint(args)
    if hint is not None:
        _advise(scale_advice(X, table.names, args.data, hint))
    if args.columns is None:
        _advise(integer_column_advice(X, table.names, args.data))
    _advise(many_components_advice(args.n_components, n))
    if args.float32 and X.dtype != np.float32 and args.partial is None:
        X = X.astype(np.float32)  # a copy, in float32
    args.n_rows = n
    scaled = None  # bgm, gm --standardize: (the standardised X, centre, scale)
    if args.model != "cavi" and args.standardize:
        from .bgm import standardized

        scaled = standardized(X)
    est = _estimator(args, p, means_init, scaled)

    with _staged() as out:
        files = {name: out.open(path) for name, path in (
            ("model", args.output), ("labels", args.labels), ("proba", args.proba),
            ("plot", plot_path)) if path is not None}
        if args.partial is None:
            progress, seconds = fit_with_progress(est, X if scaled is None else scaled[0],
                                                  args.quiet)
            per_sweep = progress.time_per_sweep(seconds)
            if scaled is not None:
                from .bgm import to_data_units
                from .gm import to_data_units as em_to_data_units

                (em_to_data_units if args.model == "gm" else to_data_units)(est, *scaled[1:])
        else:
            progress, seconds = _stream(est, X, args)
            per_sweep = seconds
        rows = [("data", f"{args.data}: N = {n:,} points, p = {p} features ({X.dtype})")]
        rows += [("missing", table.dropped_text())] if table.kept is not None else []
        rows += [("features", ", ".join(table.names))] if p <= 20 else []
        rows += [("ignored", "; ".join(table.ignored))] if table.ignored else []
        unit = "sweep" if args.model == "cavi" else "iteration"
        compiled = getattr(progress, "compile_seconds", None)
        timing = [("time", f"{_fmt_time(per_sweep)} per {unit}, fit {_fmt_time(seconds)} in all"
                   + (f"; before it, the kernels compiled in {_fmt_time(compiled)} (once)"
                      if compiled is not None else ""))]
        if args.partial is not None:
            timing = [("time", f"{_fmt_time(seconds)} for the pass")]
        if args.model == "bgm":
            from .bgm import STANDARDIZED_ROW, component_lines, summary_rows

            rows += [STANDARDIZED_ROW] if args.standardize else []
            _summary(_streamed(args, est, rows + summary_rows(est, n, tol_text(
                "bgm", args.tol, n))) + timing)
            print("\n".join(component_lines(est, table.names)))
        elif args.model == "gm":
            from .bgm import component_lines
            from .gm import STANDARDIZED_ROW as GM_STANDARDIZED
            from .gm import summary_rows as gm_rows

            rows += [GM_STANDARDIZED] if args.standardize else []
            _summary(_streamed(args, est, rows + gm_rows(est, X, tol_text("gm", args.tol, n)))
                     + timing)
            print("\n".join(component_lines(est, table.names)))
        else:
            _summary(_streamed(args, est, rows + _cavi_rows(args, est, n)) + timing)
        if "model" in files:
            from ..estimators.io import write_model

            write_model(est, files["model"], table.names if table.named else None)
        if "labels" in files:
            write_array(files["labels"], args.labels, est.predict(X), table.kept)
        if "proba" in files:
            write_array(files["proba"], args.proba, est.predict_proba(X), table.kept)
        if "plot" in files:
            from .plot import plot

            plot(files["plot"], plot_path, X, est, progress.traces,
                 os.path.basename(args.data), names=table.names)
    for name, path in (("model", args.output), ("labels", args.labels),
                       ("responsibilities", args.proba), ("plot", plot_path)):
        if path is not None:
            print(f"wrote {name}: {path}")
    return 0


# -- fastcavi predict ------------------------------------------------------------------------

class _ModelClasses:
    """The classes model files load into, by name, for ``fastcavi predict``: a
    GaussianMixtureCAVI file as :class:`~fastcavi.estimators.known_variance.KnownVarianceMixture`
    (the same model without scikit-learn's base classes, so that scikit-learn is not
    imported), the others as :func:`fastcavi.load` loads them."""

    def __contains__(self, name):
        from ..estimators.io import LAYOUT_NAMES

        return name in LAYOUT_NAMES

    def __getitem__(self, name):
        if name == "GaussianMixtureCAVI":
            from ..estimators.known_variance import KnownVarianceMixture

            return KnownVarianceMixture
        from ..estimators.load import CLASSES

        return CLASSES[name]


def cmd_predict(args):
    from ..estimators.io import read_model
    from .progress import notice_for

    out_path = args.output or ("proba.npy" if args.proba else "labels.npy")
    _check_suffix(out_path, ARRAY_OUT_SUFFIXES, "-o")
    est = read_model(args.model, _ModelClasses())
    names = getattr(est, "feature_names_in_", None)
    names = None if names is None else [str(n) for n in names]
    table = _read(args, names, f", which the model {args.model} was fitted on")
    X = table.X
    if X.shape[1] != est.n_features_in_:
        raise CLIError(f"{args.data} has {X.shape[1]} features, but the model {args.model} "
                       f"was fitted on {est.n_features_in_}")
    if names is not None:
        # The columns are now the model's, in its order (picked by name), or the file has no
        # names: then by position, said once. Either way the estimator gets a bare array.
        if not table.named:
            warnings.warn(f"{args.data} has no column names: its columns are taken as the "
                          f"model's, in this order: {', '.join(names)}", stacklevel=2)
        del est.feature_names_in_
    est.n_threads = args.threads
    with _staged() as out:
        f = out.open(out_path)
        notice_for(est, "predict")
        result = est.predict_proba(X) if args.proba else est.predict(X)
        write_array(f, out_path, result, table.kept)
    what = "responsibilities" if args.proba else "labels"
    notes = ([f"ignored {'; '.join(table.ignored)}"] if table.ignored else []) + (
        [table.dropped_text()] if table.kept is not None else [])
    shape = result.shape if table.kept is None else (len(table.kept),) + result.shape[1:]
    print(f"{X.shape[0]:,} points, K = {est.means_.shape[0]}: wrote {what} {shape} "
          f"to {out_path}" + (f" ({'; '.join(notes)})" if notes else ""))
    return 0


# -- fastcavi info ---------------------------------------------------------------------------

def _dist_version(name):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cmd_info(args):
    if args.clear_cache:
        from ..kernels.cachedir import clear_caches

        removed = clear_caches()
        for path in removed:
            print(f"removed the kernel cache: {path}")
        if not removed:
            print("kernel cache: nothing to remove")
        return 0
    import numba

    from .. import __version__
    from .._threads import threading_layer
    from .progress import COMPILE_SECONDS, cache_dir, cached_kernels

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
    from ..estimators.io import StagedFiles

    return StagedFiles()


_FIT_OUTPUT = "model.npz"


def build_parser():
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Mean-field CAVI for the Bayesian Gaussian mixture, with Numba kernels.",
        epilog="Run 'fastcavi COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    add_demo_parser(sub)

    fit = sub.add_parser(
        "fit", help="fit a model to a data file and save it",
        description="Fit a mixture to DATA and save the model: GaussianMixtureCAVI (--model "
                    "cavi, the default: equal weights, one spherical variance shared by every "
                    "cluster), BayesianGaussianMixture (--model bgm: learned weights and a "
                    "covariance per cluster, as scikit-learn's) or GaussianMixture (--model "
                    "gm: the same by maximum likelihood, EM, as scikit-learn's). DATA is a "
                    ".csv, .tsv or .txt file (one point per line; the delimiter, quoting and a "
                    "header line are recognised; text columns and an unnamed index column are "
                    "left out), a .npy (memory-mapped) or a .npz. Options default to the "
                    "estimator's defaults.")
    fit.add_argument("data", metavar="DATA", help="the data file")
    fit.add_argument("-k", "--n-components", type=count, required=True, metavar="K",
                     help="number of components (for bgm with the process prior, the most "
                          "it may use)")
    add_model_option(fit)
    fit.add_argument("-o", "--output", default=_FIT_OUTPUT, metavar="MODEL.npz",
                     help="where to save the model (default: model.npz)")
    fit.add_argument("--labels", metavar="PATH", help="also write the labels (.npy/.csv/.txt)")
    fit.add_argument("--proba", metavar="PATH",
                     help="also write the responsibilities phi, N x K (.npy/.csv/.txt)")
    fit.add_argument("--plot", metavar="PATH", nargs="?", const="",
                     help="also plot the clusters (on the two features that separate them "
                          "most) and the ELBO trace "
                          "(.png/.pdf/.svg; without PATH: beside the model given by -o, else "
                          "beside the data)")
    add_data_options(fit)
    fit.add_argument("--prior-mean", type=vector, metavar="ALPHA",
                     help="the prior mean of the cluster centres (cavi: alpha; bgm: "
                          "mean_prior): a number or a comma-separated vector (default: the "
                          "data mean)")
    add_run_options(fit, n_init=1)
    fit.add_argument("--algorithm", choices=ALGORITHMS, default="batch",
                     help="batch: every sweep reads all the data, then updates the model; "
                          "incremental: updates it after every block of rows (fewer passes "
                          "on large data; the same answer); accelerated: batch sweeps with "
                          "an extrapolation every third one, kept when the bound rises (far "
                          "fewer sweeps where clusters overlap; the same fixed points); "
                          "subsample_start: accelerated sweeps started from a fit converged "
                          "on subsamples of the rows (the fewest passes over large data; the "
                          "same fixed points) (default: batch)")
    fit.add_argument("--partial", type=count, default=None, metavar="ROWS",
                     help="stream the data once, ROWS at a time, through partial_fit "
                          "(stochastic variational inference): memory for one batch, for "
                          "files larger than memory (.npy); see docs/large-data.md")
    fit.add_argument("--random-state", type=int, default=None, metavar="SEED",
                     help="seed for the initialisation (default: none, not reproducible)")
    add_threads_option(fit)
    fit.add_argument("--standardize", action="store_true",
                     help="centre every feature and divide it by its standard deviation "
                          "before fitting, so that features in large units do not decide the "
                          "clusters alone; kept in the model (cavi), or the model is saved in "
                          "the data's units (bgm, gm), so predict applies it")
    fit.add_argument("--float32", action="store_true",
                     help="fit in float32 (float32 data always is; other data are copied)")
    fit.add_argument("-v", "--verbose", action="count", default=0,
                     help="the estimator's verbose output (cavi: -v per run, -vv per sweep; "
                          "bgm, gm: scikit-learn's lines every 10 iterations)")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    cavi = fit.add_argument_group("options of --model cavi",
                                  "GaussianMixtureCAVI's parameters")
    cavi.add_argument("--prior-var", type=positive, metavar="SIGMA2",
                      help="sigma2 (default: the data's variance averaged over features)")
    cavi.add_argument("--likelihood-var", type=positive, metavar="LAMBDA2",
                      help="lambda2 (default: estimated from k-means++ centres)")
    cavi.add_argument("--means-init", metavar="FILE",
                      help="starting means, a K x p array (.npy/.npz/.csv/.txt)")
    cavi.add_argument("--mean-vars-init", type=vector, metavar="S2",
                      help="starting s2: a number or K comma-separated numbers")
    add_bgm_options(fit)
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
    add_data_options(predict)
    predict.add_argument("--threads", type=threads, default=None, metavar="N",
                         help="Numba threads (default: all; more than the cores available are "
                              "clamped, with a warning)")
    predict.set_defaults(func=cmd_predict)

    add_select_parser(sub)

    info = sub.add_parser("info", help="versions, threading and the kernel cache",
                          description="Print versions, the Numba threading layer and thread "
                                      "count, and where the compiled kernels are cached.")
    info.add_argument("--clear-cache", action="store_true",
                      help="remove the compiled kernels (fastcavi's folder in the user cache, "
                           "and this installation's in NUMBA_CACHE_DIR) and print what was "
                           "removed; the next fit compiles them again")
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
        except (CLIError, ValueError, TypeError, OSError, NotImplementedError) as exc:
            error, status = _error_text(exc), 2
    sys.stdout.flush()
    for text in dict.fromkeys(_one_line(w.message) for w in caught):  # each once, in order
        _eprint(f"{PROG}: warning: {text}")
    if error is not None:
        _eprint(f"{PROG}: error: {_one_line(error)}")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
