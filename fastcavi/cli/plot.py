"""The plot that ``fastcavi demo`` and ``fastcavi fit --plot`` write: the points coloured by
label with the fitted means (the two features that separate the clusters most, axes named
after the columns and kept on the points), and every run's ELBO trace. matplotlib is
optional (``pip install 'fastcavi[plot]'``)."""

from __future__ import annotations

import math
import os

from .data import CLIError, suffix

PLOT_SUFFIXES = (".png", ".pdf", ".svg")
PLOT_POINTS = 20_000  # points drawn in a scatter plot (a uniform subsample)
WEIGHT_SHOWN = 0.01  # components in use: of a model with learned weights, weight above this


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError("plotting needs matplotlib: pip install 'fastcavi[plot]'") from None


def have_matplotlib():
    try:
        require_matplotlib()
    except CLIError:
        return False
    return True


def marker_style(n_shown):
    """(marker area in points^2, opacity) for a scatter of n_shown points: small and faint for
    20,000 points, large and solid for a few hundred, so the points can be seen either way."""
    size = min(36.0, max(3.0, 3.0 * math.sqrt(PLOT_POINTS / max(1, n_shown))))
    alpha = 0.5 if n_shown > 5_000 else 0.85
    return size, alpha


def beside(path, name):
    """``name`` in the directory of ``path``."""
    return os.path.join(os.path.dirname(os.path.abspath(path)), name)


def shown_features(X, means, labels):
    """The two features to draw: those along which the fitted means of the clusters in use
    lie furthest apart, relative to the feature's spread (the first two when p <= 2)."""
    import numpy as np

    p = X.shape[1]
    if p <= 2:
        return list(range(p))
    used = np.unique(labels)
    sd = np.std(X, axis=0)
    spread = np.std(means[used[used < len(means)]], axis=0) / np.where(sd > 0, sd, 1.0)
    return sorted(np.argsort(-spread, kind="stable")[:2].tolist())


def _limits(ax, xs, ys, equal):
    """Axes on the points (a 5% margin): fitted means of empty components far outside do not
    stretch them, nor does an equal aspect when the two features' spreads differ tenfold."""
    import numpy as np

    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        lo, hi = float(np.min(values)), float(np.max(values))
        pad = 0.05 * (hi - lo) or 0.5
        setter(lo - pad, hi + pad)
    if equal:
        ax.set_aspect("equal", adjustable="box")


def plot(f, path, X, est, traces, title, names=None, true_means=None, seed=0):
    """Scatter of (a subsample of) X coloured by predicted label, the fitted means (in the
    data's units, also for a standardised model), and the ELBO trace of every run; written to
    the open file f in the format of path's extension. Of more than two features, the two
    that separate the clusters most are drawn (:func:`shown_features`)."""
    import numpy as np
    from matplotlib.figure import Figure

    n, p = X.shape
    names = names or [f"x[{j}]" for j in range(p)]
    rng = np.random.default_rng(seed)
    idx = np.arange(n) if n <= PLOT_POINTS else np.sort(
        rng.choice(n, PLOT_POINTS, replace=False))
    pts = np.asarray(X[idx], dtype=np.float64)
    labels = est.predict(pts)
    means = est.means_
    if getattr(est, "center_", None) is not None:
        means = est.center_ + est.scale_ * means
    features = shown_features(pts, means, labels)
    label = "fitted means"
    if getattr(est, "weights_", None) is not None:  # learned weights: the components in use
        means = means[np.asarray(est.weights_) > WEIGHT_SHOWN]
        label = f"fitted means (weight > {WEIGHT_SHOWN:.0%})"
    a = features[0]
    if p >= 2:
        b = features[1]
        xs, ys, mys = pts[:, a], pts[:, b], means[:, b]
        tys = None if true_means is None else true_means[:, b]
        ylabel = names[b]
    else:
        xs, ys = pts[:, 0], rng.uniform(-1, 1, len(idx))
        mys = np.zeros(len(means))
        tys = None if true_means is None else np.zeros(len(true_means))
        ylabel = "jitter (one feature)"

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.25, 1])
    cmap = "tab10" if est.means_.shape[0] <= 10 else "tab20"
    size, alpha = marker_style(len(idx))
    ax.scatter(xs, ys, c=labels % 20, cmap=cmap, vmin=0, vmax=9 if cmap == "tab10" else 19,
               s=size, alpha=alpha, linewidths=0, rasterized=len(idx) > 5_000)
    ax.scatter(means[:, a], mys, marker="X", s=90, c="black", edgecolors="white",
               label=label)
    if true_means is not None:
        ax.scatter(true_means[:, a], tys, marker="+", s=300, c="red", linewidths=1.5,
                   label="true means")
    ax.set_xlabel(names[a])
    ax.set_ylabel(ylabel)
    sd_x, sd_y = float(np.std(xs)), float(np.std(ys))
    _limits(ax, xs, ys, equal=p >= 2 and getattr(est, "center_", None) is None
            and 0 < sd_x <= 10 * sd_y and sd_y <= 10 * sd_x)
    ax.legend(loc="best", fontsize="small")
    shown = f"{len(idx):,} of {n:,} points" if len(idx) < n else f"{n:,} points"
    ax.set_title(f"{title}: {shown}" + (f", the 2 of {p} features that separate the "
                                        "clusters most" if p > 2 else ""))

    from .progress import bound_name

    quantity = bound_name(est)
    best = int(np.argmax([t[-1] for t in traces])) if traces else -1
    for r, trace in enumerate(traces):
        sweeps = np.arange(1, len(trace) + 1)
        is_best = r == best
        ax2.plot(sweeps, np.asarray(trace) / n, marker="o", ms=3, lw=2 if is_best else 1,
                 alpha=1 if is_best else 0.5,
                 label=f"run {r + 1}" + (" (best, kept)" if is_best else ""))
    from matplotlib.ticker import MaxNLocator

    ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.ticklabel_format(axis="y", useOffset=False)
    unit = "sweep" if getattr(est, "covariance_type", None) is None else "iteration"
    ax2.set_xlabel(unit)
    ax2.set_ylabel(f"{quantity} per point")
    ax2.set_title(f"{quantity} after every {unit} (higher is better)")
    ax2.grid(alpha=0.3)
    if traces:
        ax2.legend(loc="lower right", fontsize="small")
    fig.savefig(f, format=suffix(path)[1:], dpi=110)


def write_demo_files(plot_file, plot_path, model_file, X, est, traces, title, true_means,
                     seed):
    """The demo's files, into their staged files: the picture (when one is drawn) and the
    model (with -o)."""
    if plot_file is not None:
        plot(plot_file, plot_path, X, est, traces, title, true_means=true_means, seed=seed)
    if model_file is not None:
        from ..estimators.io import write_model

        write_model(est, model_file)


def report_demo_files(plot_path, model_path):
    """Say which of the demo's files were written (once they are in place); the exit
    status, 0."""
    for path, what in ((plot_path, "plot"), (model_path, "model")):
        if path is not None:
            print(f"wrote {what}: {path}")
    return 0
