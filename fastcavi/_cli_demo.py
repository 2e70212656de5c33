"""``fastcavi demo``: draw points around random centres, fit them, and show how well the
clusters were found (the adjusted Rand index) and how fast."""

from __future__ import annotations

import math
import os
import time

from ._cli_data import CLIError, check_suffix
from ._cli_plot import PLOT_SUFFIXES, have_matplotlib, require_matplotlib
from ._cli_progress import fit_with_progress, fmt_time, summary

# The demo's generative model: alpha = 0, sigma2 = 100, lambda2 = 1. With means spread 10
# units per coordinate and unit noise, the 10 clusters are mostly separated; where two happen
# to be close, even the true means cannot tell their points apart, which is why the demo also
# reports the ARI of "nearest true mean".
DEMO_PRIOR_MEAN = 0.0
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

    return os.path.join(tempfile.gettempdir(), DEMO_PLOT)


def cmd_demo(args):
    import numba
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score

    from ._cli_plot import plot
    from ._estimator import GaussianMixtureCAVI
    from ._io import StagedFiles

    n, p, k = args.n, args.p, args.k
    if k > n:
        raise CLIError(f"-k {k} is more than the number of points (-n {n})")
    plot_path = _demo_plot_path(args)
    if plot_path is not None:
        check_suffix(plot_path, PLOT_SUFFIXES, "--plot")
        if not have_matplotlib():
            if args.plot is not None:
                require_matplotlib()
            print("matplotlib is not installed: no plot (pip install 'fastcavi[plot]')")
            plot_path = None

    with StagedFiles() as out:
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
        print(f"drew the data ({X.dtype}) in {fmt_time(time.perf_counter() - t0)}")

        est = GaussianMixtureCAVI(k, prior_mean=alpha, prior_var=sigma2, likelihood_var=lambda2,
                                  n_init=args.n_init, max_iter=args.max_iter, tol=args.tol,
                                  random_state=args.seed, n_threads=args.threads)
        print(f"fitting: CAVI, {args.n_init} run(s) from k-means++ starts, at most "
              f"{args.max_iter} sweeps each, tol = {args.tol:g} per point; the run with the "
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
        if plot_file is not None:
            plot(plot_file, plot_path, X, est, progress.traces,
                 f"fastcavi demo, K = {k}", true_means=true_means, seed=args.seed)
        if model_file is not None:
            from ._io import write_model

            write_model(est, model_file)
    for path, what in ((plot_path, "plot"), (args.output, "model")):
        if path is not None:
            print(f"wrote {what}: {path}")
    return 0
