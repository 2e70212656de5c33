"""``fastcavi select``: fit BayesianGaussianMixture over a grid of K and covariance types to a
data file, print the table of exact ELBOs and keep the best model
(:class:`fastcavi.MixtureSelection`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

from ..inference.algorithms import ALGORITHMS
from ..models.names import COVARIANCE_TYPES, PRIOR_DEFAULTS, SELECTION_MODELS, WEIGHT_PRIORS
from .args import (
    DEFAULT_PRIOR_HELP,
    DEFAULT_TOL,
    add_data_options,
    count,
    estimator_tol,
    non_negative,
    threads,
    tol_text,
)
from .data import CLIError, check_suffix, load_table

SELECT_OUTPUT = "model.npz"


def k_grid(text):
    """-k: '1-10', '2,3,5' or '4' -> a list of distinct K >= 1."""
    import argparse

    ks = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            ks += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K as '1-10' or '2,3,5', got {text!r}") \
            from None
    if not ks or min(ks) < 1 or len(set(ks)) != len(ks):
        raise argparse.ArgumentTypeError(f"expected distinct K >= 1, got {text!r}")
    return ks


def type_list(text):
    """--covariance-types: comma-separated names."""
    import argparse

    names = [t.strip() for t in text.split(",")]
    bad = [t for t in names if t not in COVARIANCE_TYPES]
    if bad or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected distinct names among {', '.join(COVARIANCE_TYPES)}, got {text!r}")
    return names


def _names_list(option, allowed):
    """The argparse type of an option that takes distinct names among ``allowed``,
    comma-separated."""
    def names_list(text):
        names = [t.strip() for t in text.split(",")]
        if any(n not in allowed for n in names) or len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"{option} takes distinct names among "
                                             f"{', '.join(allowed)}, comma-separated: "
                                             f"got {text!r}")
        return names

    return names_list


model_list = _names_list("--models", SELECTION_MODELS)
prior_list = _names_list("--default-prior", PRIOR_DEFAULTS)


def add_select_parser(sub):
    """The ``select`` subcommand and its options."""
    p = sub.add_parser(
        "select", help="choose K and the covariance type by the exact ELBO",
        description="Fit BayesianGaussianMixture for every K and covariance type of a grid, "
                    "print the exact ELBO of each fit (plus log K! under the finite Dirichlet "
                    "prior: its K components can be labelled in K! equivalent ways) and keep "
                    "the best model. Higher is better.")
    p.add_argument("data", help="the data file (.npy, .npz, .csv, .tsv, .txt)")
    p.add_argument("-k", type=k_grid, default=list(range(1, 11)), metavar="K",
                   help="the numbers of components: '1-10' (default), '2,3,5' or '4'")
    p.add_argument("--covariance-types", type=type_list, default=list(COVARIANCE_TYPES),
                   metavar="T,T", help="comma-separated among full, tied, diag, spherical "
                                       "(default: all four)")
    p.add_argument("--weight-prior", choices=WEIGHT_PRIORS, default="dirichlet_distribution",
                   help="the weights' prior (default: dirichlet_distribution)")
    p.add_argument("--default-prior", type=prior_list, default=["mclust"], metavar="P,P",
                   help=DEFAULT_PRIOR_HELP.replace("--max-components", "the largest K")
                   + " (default: mclust); both, as 'mclust,scikit-learn': every fit under "
                     "each, so that the bound chooses the prior too")
    p.add_argument("--models", type=model_list, default=["bgm"], metavar="M,M",
                   help="what to fit at every K and type: bgm (BayesianGaussianMixture, by its "
                        "ELBO; the default), gm (GaussianMixture, maximum likelihood, by BIC, "
                        "as mclust); or moves: one BayesianGaussianMixture per type, started "
                        "at the largest K, whose moves choose K (by its ELBO); several, as "
                        "'bgm,gm,moves'; the best of the first one is saved")
    p.add_argument("-o", "--output", default=SELECT_OUTPUT, metavar="PATH",
                   help=f"the best model (.npz; default: {SELECT_OUTPUT})")
    p.add_argument("--plot", nargs="?", const="", default=None, metavar="PATH",
                   help="draw the criterion against K per covariance type (.png/.pdf/.svg; "
                        "without PATH: beside the model)")
    p.add_argument("--standardize", action="store_true",
                   help="fit the features centred and divided by their standard deviations "
                        "(not with spherical); the model is saved in the data's units")
    p.add_argument("--n-init", type=count, default=1, metavar="N",
                   help="restarts per fit; the best ELBO is kept (default: 1)")
    p.add_argument("--max-iter", type=count, default=200, metavar="N",
                   help="most iterations per run (default: 200)")
    p.add_argument("--tol", type=non_negative, default=None,
                   help=f"convergence: the ELBO's change between two iterations, per point "
                        f"(default: {DEFAULT_TOL['bgm']:g})")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="accelerated",
                   help="every fit's algorithm, as in fastcavi fit; all have the same fixed "
                        "points. accelerated (the default here) reaches them in far fewer "
                        "sweeps where components overlap, as at every K above the number of "
                        "clusters, so that the bounds compared are nearer their optima than "
                        "batch fits stopped by --tol")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="the seed of every fit's start (default: 0)")
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="Numba threads (default: all)")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per fit")
    add_data_options(p)
    p.set_defaults(func=cmd_select)


def _plot_path(args):
    import os

    if args.plot is None or args.plot:
        return args.plot
    return os.path.splitext(os.path.abspath(args.output))[0] + "-selection.png"


def cmd_select(args):

    from ..estimators.io import StagedFiles, write_model
    from ..estimators.selection import MixtureSelection
    from ..models.covariance import COVARIANCES
    from .plot import PLOT_SUFFIXES, require_matplotlib
    from .progress import fmt_time

    plot_path = _plot_path(args)
    check_suffix(args.output, (".npz",), "-o")
    if plot_path is not None:
        check_suffix(plot_path, PLOT_SUFFIXES, "--plot")
        require_matplotlib()
    if args.standardize:
        fixed = [t for t in args.covariance_types if not COVARIANCES[t].standardizable]
        if fixed:
            raise CLIError(f"--standardize with {', '.join(fixed)}: such a model of "
                           "standardised data is not one in the data's units; leave it out "
                           "with --covariance-types")
    table = load_table(args.data, key=args.key, skip_header=args.skip_header,
                       columns=args.columns, drop_incomplete=args.drop_incomplete)
    X = table.X
    n, p = X.shape
    if max(args.k) > n:
        raise CLIError(f"-k {max(args.k)} is more than the number of points ({n}) in "
                       f"{args.data}")
    from .advice import integer_column_advice, scale_advice, warn_now

    if not args.standardize:
        warn_now(scale_advice(X, table.names, args.data,
                              "--standardize puts every feature on the same scale"))
    if args.columns is None:
        warn_now(integer_column_advice(X, table.names, args.data))
    scaled = None
    if args.standardize:
        from .bgm import standardized

        scaled = standardized(X)
    sel = MixtureSelection(args.k, args.covariance_types,
                           weight_concentration_prior_type=args.weight_prior,
                           n_init=args.n_init, max_iter=args.max_iter,
                           tol=estimator_tol("bgm", args.tol, n),
                           random_state=args.random_state, n_threads=args.threads,
                           verbose=0 if args.quiet else 1, models=args.models,
                           default_prior=tuple(args.default_prior),
                           algorithm=args.algorithm)
    print(f"data: {args.data}: N = {n:,} points, p = {p} features; "
          f"{tol_text('bgm', args.tol, n)}; {args.algorithm} fits")
    with StagedFiles() as out:
        model_file = out.open(args.output)
        plot_file = None if plot_path is None else out.open(plot_path)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # a line per fit, as progress
            sel.fit(X if scaled is None else scaled[0])
        seconds = time.perf_counter() - t0
        print(sel.table())
        best = sel.best_estimator_
        if scaled is not None:
            if args.models[0] == "gm":
                from .gm import to_data_units
            else:
                from .bgm import to_data_units

            to_data_units(best, *scaled[1:])
        of = " (of the standardised data)" if scaled is not None else ""
        r = sel.results_
        for model, i in sel.best_by_model_.items():
            what = (f"BIC{of} {-2 * r['criterion'][i]:.10g}" if model == "gm" else
                    f"ELBO{of} {r['lower_bound'][i]:.10g}")
            prior = (f", default_prior = {r['default_prior'][i]}"
                     if len(args.default_prior) > 1 and model != "gm" else "")
            print(f"best {model}: covariance_type = {r['covariance_type'][i]}{prior}, K = "
                  f"{r['n_components'][i]} ({r['n_kept'][i]} with weight > 1%), {what}")
        print(f"{len(r['n_components'])} fits in {fmt_time(seconds)}; saved: the best "
              f"{args.models[0]}")
        write_model(best, model_file, table.names if table.named else None)
        if plot_file is not None:
            from matplotlib.figure import Figure

            from .data import suffix

            fig = Figure(figsize=(6.5, 4.5))
            ax = sel.plot(fig.add_subplot())
            ax.set_title(f"{args.data}: higher is better")
            ax.grid(alpha=0.3)
            fig.tight_layout()
            fig.savefig(plot_file, format=suffix(plot_path)[1:], dpi=110)
    print(f"wrote model: {args.output}")
    if plot_path is not None:
        print(f"wrote plot: {plot_path}")
    return 0
