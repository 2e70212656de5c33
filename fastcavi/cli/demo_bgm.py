"""``fastcavi demo --model bgm`` and ``--model gm``: clusters whose weights and spreads differ,
fitted by BayesianGaussianMixture (or by GaussianMixture, maximum likelihood); the learned
weights and variances are printed beside the true ones, each fitted component matched to one
true cluster (the Hungarian assignment on the distances between their means)."""

from __future__ import annotations

import math
import time

from .args import estimator_tol, tol_text
from .progress import fit_with_progress, fmt_time, summary

# The simulated clusters: weights ~ Dirichlet(2, ..., 2), so some clusters are several times
# larger than others, and variances log-uniform between 0.25 and 4 (standard deviations from
# 0.5 to 2), drawn per cluster and feature (per cluster for spherical, per feature and shared
# for tied: the kind of covariance fitted).
DEMO_WEIGHT_CONCENTRATION = 2.0
DEMO_VARIANCES = (0.25, 4.0)
_BLOCK = 65_536


# Both demos draw their true means around this point (the prior mean of the cavi demo's model).
DEMO_PRIOR_MEAN = 0.0


def draw(rng, n, p, k, sigma2, kind):
    """(X (n, p), labels (n,), weights (k,), means (k, p), variances (k, p)) of the demo's
    clusters."""
    import numpy as np

    weights = rng.dirichlet(np.full(k, DEMO_WEIGHT_CONCENTRATION))
    means = DEMO_PRIOR_MEAN + math.sqrt(sigma2) * rng.standard_normal((k, p))
    shape = {"spherical": (k, 1), "tied": (1, p)}.get(kind, (k, p))
    lo, hi = DEMO_VARIANCES
    variances = np.broadcast_to(np.exp(rng.uniform(math.log(lo), math.log(hi), shape)),
                                (k, p)).copy()
    labels = rng.choice(k, size=n, p=weights)
    X = rng.standard_normal((n, p))
    sd = np.sqrt(variances)
    for s in range(0, n, _BLOCK):
        lab = labels[s:s + _BLOCK]
        X[s:s + _BLOCK] *= sd[lab]
        X[s:s + _BLOCK] += means[lab]
    return X, labels, weights, means, variances


def most_probable(X, weights, means, variances):
    """Every point's most probable true cluster (the true weights, means and variances)."""
    import numpy as np

    const = np.log(weights) - 0.5 * np.log(variances).sum(axis=1)
    out = np.empty(X.shape[0], dtype=np.int64)
    for s in range(0, X.shape[0], _BLOCK):
        d = np.asarray(X[s:s + _BLOCK], dtype=np.float64)[:, None, :] - means[None]
        out[s:s + _BLOCK] = np.argmax(const - 0.5 * np.sum(d * d / variances, axis=2), axis=1)
    return out


def _model_text(kind, k, sigma2):
    lo, hi = DEMO_VARIANCES
    g = f"{DEMO_WEIGHT_CONCENTRATION:g}"
    noise = {"spherical": "v_(c_i) I) with v_k",
             "tied": "diag(v)) with every v_j"}.get(kind, "diag(v_(c_i))) with every v_kj")
    return (f"model: (pi_1..pi_{k}) ~ Dirichlet({g}, ..., {g}), mu_k ~ N({DEMO_PRIOR_MEAN:g}, "
            f"{sigma2:g} I), c_i ~ Categorical(pi), x_i ~ N(mu_(c_i), {noise} log-uniform "
            f"in [{lo:g}, {hi:g}]")


def matched_table(est, weights, means, variances, rows, cols, dist):
    """Lines: every true cluster (by decreasing true weight, at most MAX_ROWS) beside the
    fitted component matched to it: weights, variances, and the distance between the means."""
    import numpy as np

    from ..models.covariance import COVARIANCES
    from .bgm import MAX_ROWS, values, variance_heading
    from .bgm import variances as fitted_variances

    fitted_w, fitted_v = np.asarray(est.weights_), fitted_variances(est)
    match = dict(zip(cols, rows))  # true cluster -> fitted component
    names = [f"x[{j}]" for j in range(means.shape[1])]
    spherical = not COVARIANCES[est.covariance_type].per_feature
    table = [("cluster", "component", "true weight", "fitted weight", "true variance",
              "fitted variance", "mean error")]
    order = np.argsort(-weights, kind="stable")
    for t in order[:MAX_ROWS]:
        f = match.get(t)
        fit = ("-", "-", "-", "-") if f is None else (
            f"{f}", f"{fitted_w[f]:.4f}", values(fitted_v[f]), f"{dist[f, t]:.3g}")
        table.append((f"{t}", fit[0], f"{weights[t]:.4f}", fit[1],
                      values(variances[t, :1] if spherical else variances[t]), fit[2], fit[3]))
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    lines = [f"true clusters by weight, each beside the fitted component matched to it "
             f"({variance_heading(est, names)}):"]
    for r in table:
        lines.append("  " + "  ".join(cell.ljust(w) if c in (4, 5) else cell.rjust(w)
                                      for c, (cell, w) in enumerate(zip(r, widths))).rstrip())
    if len(order) > MAX_ROWS:
        lines.append(f"  ... and {len(order) - MAX_ROWS} more clusters, the lightest")
    return lines


def _estimator(args, kind):
    """(the estimator, its description, how the tolerance is printed) of --model bgm or
    gm."""
    from .bgm import bgm_params, check_supported

    n, p, k = args.n, args.p, args.k
    tol = estimator_tol(args.model, args.tol, n)  # what fit gives a user
    if args.model == "gm":
        from .gm import gm_estimator

        return (gm_estimator(args, tol, args.seed),
                f"GaussianMixture (maximum likelihood, EM), covariance_type = {kind}",
                tol_text("gm", args.tol, n))
    from ..estimators.bayesian_mixture import BayesianGaussianMixture

    check_supported(kind)
    est = BayesianGaussianMixture(n_components=k, n_init=args.n_init, max_iter=args.max_iter,
                                  tol=tol, init_params=args.init_params,
                                  random_state=args.seed, n_threads=args.threads,
                                  **bgm_params(args, p))
    return (est, f"BayesianGaussianMixture, covariance_type = {kind}, "
                 f"{est.weight_concentration_prior_type} weight prior",
            tol_text("bgm", args.tol, n))


def _fit_rows(est, X, n, weights):
    """The summary rows on the fit itself, (before the ARI, after it): the ELBO, and the
    components in use (bgm); the log-likelihood, BIC and AIC (gm)."""
    import numpy as np

    from .bgm import WEIGHT_SHOWN, effective

    if hasattr(est, "weight_concentration_prior_type"):
        return ([("final ELBO", f"{est.lower_bound_:.10g} ({est.lower_bound_ / n:.6f} per "
                                "point)")],
                [("components", f"{effective(est)} of {len(weights)} with weight > "
                                f"{WEIGHT_SHOWN:.0%} ({int(np.sum(weights > WEIGHT_SHOWN))} "
                                "true clusters are)")])
    from .gm import summary_rows

    return [row for row in summary_rows(est, X) if row[0] in ("log-likelihood", "BIC, AIC")], []


def demo_bgm(args, plot_path):
    """``fastcavi demo --model bgm`` (or ``--model gm``), plotting to ``plot_path`` (None: no
    plot)."""
    import numba
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score

    from ..estimators.io import StagedFiles
    from .bgm import covariance_type
    from .plot import report_demo_files, write_demo_files
    from .progress import bound_name

    n, p, k = args.n, args.p, args.k
    kind = covariance_type(args)
    est, described, tol = _estimator(args, kind)

    with StagedFiles() as out:
        plot_file = None if plot_path is None else out.open(plot_path)
        model_file = None if args.output is None else out.open(args.output)

        print(f"fastcavi demo --model {args.model}: N = {n:,} points, p = {p}, K = {k}, "
              f"seed = {args.seed}")
        print(_model_text(kind, k, args.prior_var))
        t0 = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        X, true_labels, weights, means, variances = draw(rng, n, p, k, args.prior_var, kind)
        if args.float32:
            X = X.astype(np.float32)
        print(f"drew the data ({X.dtype}) in {fmt_time(time.perf_counter() - t0)}")
        print(f"fitting: {described}; {args.n_init} run(s) from {args.init_params} starts, "
              f"at most {args.max_iter} iterations each, {tol}; the run with the highest "
              f"{bound_name(est)} is kept", flush=True)
        progress, seconds = fit_with_progress(est, X, args.quiet)

        ari = adjusted_rand_score(true_labels, est.predict(X))
        oracle = adjusted_rand_score(true_labels, most_probable(X, weights, means, variances))
        dist = np.sqrt(((est.means_[:, None, :] - means[None]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(dist)
        per_iteration = progress.time_per_sweep(seconds)
        before_ari, after_ari = _fit_rows(est, X, n, weights)
        summary([
            ("iterations", f"{est.n_iter_} in the best run (run "
                           f"{int(np.argmax([t[-1] for t in progress.traces])) + 1} of "
                           f"{est.n_init}), {sum(len(t) for t in progress.traces)} in all; "
                           f"converged: {'yes' if est.converged_ else 'no'}"),
            ("time", f"{fmt_time(per_iteration)} per iteration ({n / per_iteration / 1e6:.0f} "
                     f"M points/s), fit {fmt_time(seconds)} in all (threads: "
                     f"{numba.get_num_threads()})"),
            *before_ari,
            ("ARI", f"{ari:.4f} against the true labels (most probable true cluster: "
                    f"{oracle:.4f})"),
            *after_ari,
        ])
        print("\n".join(matched_table(est, weights, means, variances, rows, cols, dist)))
        print(f"(ARI: 1 = the true clusters exactly, 0 = no better than chance; the "
              f"{bound_name(est)} is the fit's score, higher is better)")
        write_demo_files(plot_file, plot_path, model_file, X, est, progress.traces,
                         f"fastcavi demo --model {args.model}, K = {k}", means, args.seed)
    return report_demo_files(plot_path, args.output)
