"""``fastcavi demo``: draw points around random centres, fit them, and show how well the
clusters were found (the adjusted Rand index) and how fast. This module has the demo's
options and the GaussianMixtureCAVI demo; ``--model bgm`` and ``--model gm`` are in
:mod:`fastcavi.cli.demo_bgm`.
"""

from __future__ import annotations

import math
import os
import time

from .args import (
    add_bgm_options,
    add_model_option,
    add_run_options,
    add_threads_option,
    check_model_options,
    count,
    estimator_tol,
    positive,
)
from .data import CLIError, check_suffix
from .demo_bgm import DEMO_PRIOR_MEAN, demo_bgm
from .plot import PLOT_SUFFIXES, have_matplotlib, require_matplotlib
from .progress import fit_with_progress, fmt_time, summary

# The demo's generative model: alpha = 0, sigma2 = 100, lambda2 = 1. With means spread 10
# units per coordinate and unit noise, the 10 clusters are mostly separated; where two happen
# to be close, even the true means cannot tell their points apart, which is why the demo also
# reports the ARI of "nearest true mean".
DEMO_PRIOR_VAR = 100.0
DEMO_LIKELIHOOD_VAR = 1.0
DEMO_PLOT = "fastcavi-demo.png"


def _nearest(X, centres, block=65_536):
    import numpy as np

    out = np.empty(X.shape[0], dtype=np.int64)
    c2 = (centres ** 2).sum(axis=1)
    for s in range(0, X.shape[0], block):
        xb = np.asarray(X[s:s + block], dtype=np.float64)
        out[s:s + block] = np.argmin(c2 - 2.0 * xb @ centres.T, axis=1)
    return out


def _demo_plot_path(args):
    """--plot PATH as given; by default beside the model (-o), else in the temporary
    directory: never into the current directory, which may be a source tree."""
    if args.no_plot:
        return None
    if args.plot is not None:
        return args.plot
    if args.output is not None:
        return os.path.splitext(os.path.abspath(args.output))[0] + ".png"
    import tempfile

    name = DEMO_PLOT if args.model == "cavi" else DEMO_PLOT.replace(".png", f"-{args.model}.png")
    return os.path.join(tempfile.gettempdir(), name)


def demo_plot_path(args):
    """Where the demo plots (checked), or None: --no-plot, or no matplotlib and no --plot."""
    plot_path = _demo_plot_path(args)
    if plot_path is not None:
        check_suffix(plot_path, PLOT_SUFFIXES, "--plot")
        if not have_matplotlib():
            if args.plot is not None:
                require_matplotlib()
            print("matplotlib is not installed: no plot (pip install 'fastcavi[plot]')")
            plot_path = None
    return plot_path


def cmd_demo(args):
    check_model_options(args, shared=("prior_var",))
    if args.k > args.n:
        raise CLIError(f"-k {args.k} is more than the number of points (-n {args.n})")
    if args.model != "cavi":
        return demo_bgm(args, demo_plot_path(args))
    return _demo_cavi(args)


def _demo_cavi(args):
    import numba
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score

    from ..estimators.gaussian_mixture_cavi import GaussianMixtureCAVI
    from ..estimators.io import StagedFiles
    from .plot import report_demo_files, write_demo_files

    n, p, k = args.n, args.p, args.k
    lambda2 = DEMO_LIKELIHOOD_VAR if args.likelihood_var is None else args.likelihood_var
    tol = estimator_tol("cavi", args.tol, args.n)
    plot_path = demo_plot_path(args)

    with StagedFiles() as out:
        plot_file = None if plot_path is None else out.open(plot_path)
        model_file = None if args.output is None else out.open(args.output)

        alpha, sigma2 = DEMO_PRIOR_MEAN, args.prior_var
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
        print(f"drew the data ({X.dtype}) in {fmt_time(time.perf_counter() - t0)}")

        est = GaussianMixtureCAVI(k, prior_mean=alpha, prior_var=sigma2, likelihood_var=lambda2,
                                  init_params=args.init_params, n_init=args.n_init,
                                  max_iter=args.max_iter, tol=tol, random_state=args.seed,
                                  n_threads=args.threads)
        start = "k-means++" if args.init_params == "kmeans++" else args.init_params
        print(f"fitting: CAVI, {args.n_init} run(s) from {start} starts, at most "
              f"{args.max_iter} sweeps each, tol = {tol:g} per point; the run with the "
              "highest ELBO is kept", flush=True)
        progress, seconds = fit_with_progress(est, X, args.quiet)

        labels = est.predict(X)
        ari = adjusted_rand_score(true_labels, labels)
        oracle = adjusted_rand_score(true_labels, _nearest(X, true_means))
        dist = np.sqrt(((est.means_[:, None, :] - true_means[None]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(dist)
        total_sweeps = sum(len(t) for t in progress.traces)
        summary([
            ("sweeps", f"{est.n_iter_} in the best run (run "
                       f"{int(np.argmax([t[-1] for t in progress.traces])) + 1} of "
                       f"{est.n_init}), {total_sweeps} in all; converged: "
                       f"{'yes' if est.converged_ else 'no'}"),
            ("time", f"{fmt_time(progress.time_per_sweep(seconds))} per sweep "
                     f"({n / progress.time_per_sweep(seconds) / 1e6:.0f} M points/s), "
                     f"fit {fmt_time(seconds)} in all (threads: {numba.get_num_threads()})"),
            ("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n:.6f} per point)"),
            ("ARI", f"{ari:.4f} against the true labels (nearest true mean: {oracle:.4f})"),
            ("means", f"largest distance from a fitted mean to its true mean: "
                      f"{dist[rows, cols].max():.4f}"),
        ])
        print("(ARI: 1 = the true clusters exactly, 0 = no better than chance; the ELBO is "
              "the fit's score, higher is better)")
        write_demo_files(plot_file, plot_path, model_file, X, est, progress.traces,
                         f"fastcavi demo, K = {k}", true_means, args.seed)
    return report_demo_files(plot_path, args.output)


def add_demo_parser(sub):
    """The ``demo`` subcommand and its options."""
    demo = sub.add_parser(
        "demo", help="fit simulated clusters and show how well they are found",
        description="Draw N points around K random centres, fit them, and report the ELBO, "
                    "the time per sweep and the adjusted Rand index against the true "
                    "clusters; plot the clusters, means and ELBO trace when matplotlib is "
                    "installed. --model cavi (default): centres mu_k ~ N(0, sigma2 I), each "
                    "point's cluster chosen uniformly, x_i ~ N(mu_(c_i), lambda2 I) (sigma2 = "
                    "100, lambda2 = 1 by default), fitted by GaussianMixtureCAVI with those "
                    "hyperparameters. --model bgm: unequal weights drawn from a Dirichlet "
                    "distribution and a variance per cluster and feature (one per cluster for "
                    "spherical) drawn between 0.25 and 4, fitted by BayesianGaussianMixture "
                    "with its default prior; the learned weights and variances are printed "
                    "beside the true ones. --model gm: the same clusters fitted by "
                    "GaussianMixture (maximum likelihood, EM), with its log-likelihood, BIC "
                    "and AIC.")
    demo.add_argument("-n", type=count, default=1_000_000, metavar="N",
                      help="number of points (default: 1e6)")
    demo.add_argument("-p", type=count, default=2, metavar="P",
                      help="dimensions (default: 2)")
    demo.add_argument("-k", type=count, default=10, metavar="K",
                      help="clusters, and components fitted (default: 10)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seeds the data and the fit (default: 0)")
    add_model_option(demo)
    demo.add_argument("--prior-var", type=positive, default=DEMO_PRIOR_VAR, metavar="SIGMA2",
                      help=f"sigma2, spread of the true means (default: {DEMO_PRIOR_VAR:g})")
    demo.add_argument("--likelihood-var", type=positive, default=None, metavar="LAMBDA2",
                      help=f"lambda2, spread of each cluster (--model cavi only; default: "
                           f"{DEMO_LIKELIHOOD_VAR:g})")
    add_run_options(demo, n_init=3, tol_note=", as for fit")
    add_threads_option(demo)
    demo.add_argument("--float32", action="store_true", help="draw and fit float32 data")
    demo.add_argument("--plot", metavar="PATH",
                      help=f"where to write the plot (.png, .pdf or .svg; default: beside the "
                           f"model given by -o, else {DEMO_PLOT} in the temporary directory, "
                           "fastcavi-demo-bgm.png for --model bgm, fastcavi-demo-gm.png for "
                           "--model gm)")
    demo.add_argument("--no-plot", action="store_true", help="do not plot")
    demo.add_argument("-o", "--output", metavar="MODEL.npz", default=None,
                      help="also save the fitted model here")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_bgm_options(demo)
    demo.set_defaults(func=cmd_demo)
    return demo
