"""How many clusters: ``BayesianGaussianMixture`` with moves against scikit-learn's answers.

    python -m fastcavi.bench.moves             # the full run (tens of minutes on 2 cores)
    python -m fastcavi.bench.moves --quick     # a few small problems, for CI (seconds)
    python -m fastcavi.bench.moves --parts real --types full tied diag spherical

Three tables; every fit has ``covariance_type='full'``, but the real-data part also fits
'diag' (``--types`` chooses):

1. **Synthetic recovery.** 24 seeded mixtures, K in {3, 5, 8, 12, 18, 25} x p in
   {2, 4, 8, 12}, N = 200 K points. Weights ``0.5 / K + 0.5 Dirichlet(2, ..., 2)`` (so every
   weight is at least ``0.5 / K``); each covariance a random rotation of eigenvalues drawn
   log-uniformly in [1, 10], with 1 and 10 among them (condition number 10); means drawn one
   by one, uniformly in a cube that grows until every pair (i, j) is separated by a pooled
   Mahalanobis distance ``sqrt(d' ((S_i + S_j) / 2)^-1 d) >= c`` (``d`` the difference of the
   means, ``c = 3`` by default: two equal-covariance clusters at exactly ``c`` overlap so
   that the Bayes classifier of the pair errs on ``Phi(-c / 2)``, 6.7% of their points). The
   number of clusters found by: fastcavi with moves (``n_components_``) started at K0 = 1
   and at K0 = 2K (both capped at ``max_components = 2K``); fastcavi's plain Dirichlet-process
   fit at 2K (no moves: components of weight above 1%); scikit-learn's
   ``BayesianGaussianMixture`` with the Dirichlet-process prior at 2K (weight above 1%);
   scikit-learn's ``GaussianMixture`` with BIC over K = 1..2K (``n_init=1`` each). Then the
   fraction of problems each method gets exactly right, and its mean absolute error in K.
2. **Real data.** scikit-learn's bundled iris, wine, breast_cancer and digits, and digits
   projected by PCA to 10 and 30 dimensions (fitted on the training part); features
   standardised on the training part, features constant there dropped; 70/30 stratified
   split, two seeds; the upper bound is 3 x the number of classes C. For each set: the held-out
   mean log-likelihood under the plug-in mixture density ``sum_k w_k N(x | m_k, S_k)``
   computed from each fitted model's ``weights_``, ``means_`` and ``covariances_`` by one
   formula (:func:`plugin_log_density`: fastcavi's ``score`` is the posterior predictive and
   scikit-learn's ``score`` of a variational fit is not a density, so neither is used), the
   adjusted Rand index of ``predict`` against the class labels on the held-out part, and the
   number of components kept, for: fastcavi with moves started at 3C, fastcavi's plain fit
   at 3C, scikit-learn's Dirichlet-process fit at 3C, and the best of 10 starts
   (``n_init=10``) of scikit-learn's Dirichlet-process fit at K = C. Penguins (no installed
   package ships them) and MNIST (needs the network) are not included.
3. **Time.** A fit with moves against a plain fit from the same K0 (N = 1e5, p = 4,
   K0 = 20, 8 true clusters), and :class:`~fastcavi.MixtureSelection` over K = 1..20 and the
   four covariance types against the same plain fit: with its default algorithm
   ('accelerated') and with batch fits. One run each, wall-clock and the
   process's CPU time (all threads): other load on the machine changes the first more.

Every variational fit uses ``tol = 1e-5 N`` (the bound is a total over the data),
``max_iter = 300`` and ``random_state`` = the problem's seed; convergence warnings are silenced.
BLAS is held to one thread (scikit-learn's calls oversubscribe the cores otherwise); fastcavi's
kernels use Numba's threads. Progress lines go to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

from ..models.covariance import COVARIANCES

#: A component counts as kept when its weight is above this (as in MixtureSelection).
KEPT_WEIGHT = 0.01
TOL_PER_POINT = 1e-5
MAX_ITER = 300
SYNTHETIC_K = (3, 5, 8, 12, 18, 25)
SYNTHETIC_P = (2, 4, 8, 12)
REAL_SETS = ("iris", "wine", "breast_cancer", "digits", "digits-pca10", "digits-pca30")


# --------------------------------------------------------------------------- densities

def _full_covariances(covariances, covariance_type, n_components, n_features):
    """The (K, p, p) matrices of scikit-learn's ``covariances_`` layout for each type."""
    c = np.asarray(covariances, dtype=float)
    if covariance_type not in COVARIANCES:
        raise ValueError(f"covariance_type must be one of {tuple(COVARIANCES)}, got "
                         f"{covariance_type!r}")
    kind = COVARIANCES[covariance_type]
    shape = kind.covariances_shape(n_components, n_features)
    if c.shape != shape:
        raise ValueError(f"covariances of shape {c.shape} do not match {n_components} "
                         f"components of {n_features} features for covariance_type "
                         f"{covariance_type!r} (expected {shape})")
    return kind.matrices(c, n_components, n_features)


def plugin_log_density(X, weights, means, covariances, covariance_type="full"):
    """Log of the plug-in mixture density ``sum_k w_k N(x | m_k, S_k)`` at each row of X.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    weights : array of shape (n_components,)
        Non-negative mixing weights (used as given; a zero weight drops its component).
    means : array of shape (n_components, n_features)
    covariances : array
        In scikit-learn's ``covariances_`` layout for ``covariance_type``: (K, p, p) for
        'full', (p, p) for 'tied', (K, p) for 'diag', (K,) for 'spherical'.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'

    Returns
    -------
    array of shape (n_samples,)
    """
    X = np.asarray(X, dtype=float)
    w = np.asarray(weights, dtype=float)
    m = np.asarray(means, dtype=float)
    if X.ndim != 2 or m.ndim != 2 or w.ndim != 1 or m.shape != (len(w), X.shape[1]):
        raise ValueError(f"X {X.shape}, weights {w.shape} and means {m.shape} must be "
                         f"(n, p), (K,) and (K, p)")
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite and non-negative")
    covs = _full_covariances(covariances, covariance_type, len(w), X.shape[1])
    n, p = X.shape
    log_prob = np.empty((n, len(w)))
    for k in range(len(w)):
        try:
            chol = np.linalg.cholesky(covs[k])
        except np.linalg.LinAlgError:
            raise ValueError(f"covariance of component {k} is not positive definite") from None
        z = solve_triangular(chol, (X - m[k]).T, lower=True)
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        log_prob[:, k] = -0.5 * (p * math.log(2 * math.pi) + log_det + np.sum(z * z, axis=0))
    with np.errstate(divide="ignore"):
        return logsumexp(log_prob + np.log(w), axis=1)


def model_log_density(model, X):
    """:func:`plugin_log_density` from a fitted mixture's ``weights_``, ``means_`` and
    ``covariances_`` (fastcavi's or scikit-learn's)."""
    return plugin_log_density(X, model.weights_, model.means_, model.covariances_,
                              model.covariance_type)


# --------------------------------------------------------------------------- problems

def _separation(d, cov_a, cov_b):
    """Pooled Mahalanobis distance ``sqrt(d' ((S_a + S_b) / 2)^-1 d)``."""
    return float(np.sqrt(d @ np.linalg.solve(0.5 * (cov_a + cov_b), d)))


def make_mixture(n_components, n_features, seed, separation=3.0, n_per_component=200,
                 n_samples=None):
    """A seeded mixture as the module docstring describes; returns (X, labels, truth dict)."""
    K, p = n_components, n_features
    rng = np.random.default_rng(seed)
    weights = 0.5 / K + 0.5 * rng.dirichlet(np.full(K, 2.0))
    covs = np.empty((K, p, p))
    for k in range(K):
        q, r = np.linalg.qr(rng.standard_normal((p, p)))
        q *= np.sign(np.diag(r))
        eig = 10.0 ** rng.uniform(0.0, 1.0, p)
        eig[0] = 1.0
        if p > 1:
            eig[1] = 10.0
        covs[k] = (q * eig) @ q.T
    side = separation * math.sqrt(10.0) * K ** (1.0 / p)
    means = np.empty((K, p))
    k, tries = 0, 0
    while k < K:
        cand = rng.uniform(-side / 2, side / 2, p)
        if all(_separation(cand - means[j], covs[k], covs[j]) >= separation for j in range(k)):
            means[k], k, tries = cand, k + 1, 0
            continue
        tries += 1
        if tries == 200:
            side, tries = side * 1.2, 0
    n = n_per_component * K if n_samples is None else int(n_samples)
    labels = rng.permutation(np.repeat(np.arange(K), rng.multinomial(n, weights)))
    chols = np.linalg.cholesky(covs)
    X = means[labels] + np.einsum("nij,nj->ni", chols[labels], rng.standard_normal((n, p)))
    return X, labels, dict(weights=weights, means=means, covariances=covs)


def synthetic_problems(quick=False):
    """(K, p, seed) of every problem: the K x p grid, or three small ones with ``quick``."""
    if quick:
        return [(3, 2, 0), (4, 3, 1), (5, 2, 2)]
    return [(k, p, 1000 + i) for i, (k, p) in
            enumerate((k, p) for k in SYNTHETIC_K for p in SYNTHETIC_P)]


# --------------------------------------------------------------------------- fits

def moves_available():
    """Whether this fastcavi's ``BayesianGaussianMixture`` has the ``moves`` parameter."""
    from ..estimators.bayesian_mixture import BayesianGaussianMixture

    return "moves" in BayesianGaussianMixture().get_params()


def _quiet_fit(model, X):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*prior.*", category=UserWarning)
        return model.fit(X)


def _bgm_kwargs(n, covariance_type, seed):
    return dict(covariance_type=covariance_type, weight_concentration_prior_type=(
        "dirichlet_process"), random_state=seed, max_iter=MAX_ITER, tol=TOL_PER_POINT * n)


def fit_fastcavi(X, k0, seed, covariance_type="full", moves=False, max_components=None,
                 prior="scikit-learn"):
    """fastcavi's Dirichlet-process fit from K0 components, with or without moves, its prior's
    defaults from ``prior`` (``default_prior``)."""
    from ..estimators.bayesian_mixture import BayesianGaussianMixture

    extra = dict(moves=True, max_components=max_components) if moves else {}
    if prior != "scikit-learn":
        extra["default_prior"] = prior
    return _quiet_fit(BayesianGaussianMixture(
        n_components=k0, **_bgm_kwargs(len(X), covariance_type, seed), **extra), X)


def mclust_prior(X, n_clusters, covariance_type="full"):
    """R's mclust's default prior for G = ``n_clusters`` (Fraley & Raftery 2007), in
    scikit-learn's parameters, computed here from X alone: the means' precision 0.01, p + 2
    degrees of freedom, and the covariance of X (divisor n - 1) divided by G^(2/p) as the
    covariance prior (its diagonal for 'diag', their mean for 'spherical')."""
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    cov = np.atleast_2d(np.cov(X, rowvar=False)) / n_clusters ** (2.0 / p)
    psi0 = {"full": cov, "tied": cov, "diag": np.diag(cov).copy(),
            "spherical": float(np.mean(np.diag(cov)))}[covariance_type]
    return dict(mean_precision_prior=0.01, degrees_of_freedom_prior=p + 2.0,
                covariance_prior=psi0, weight_concentration_prior=1.0 / n_clusters)


def fit_sklearn_dp(X, k, seed, covariance_type="full", n_init=1, prior="scikit-learn"):
    """scikit-learn's Dirichlet-process fit at K components, with its own default prior or
    (``prior='mclust'``) :func:`mclust_prior` for G = K given explicitly."""
    from sklearn.mixture import BayesianGaussianMixture

    given = mclust_prior(X, k, covariance_type) if prior == "mclust" else {}
    return _quiet_fit(BayesianGaussianMixture(
        n_components=k, n_init=n_init, **_bgm_kwargs(len(X), covariance_type, seed), **given),
        X)


def bic_choice(X, k_max, seed, covariance_type="full"):
    """The K in 1..k_max of scikit-learn's ``GaussianMixture`` fit with the lowest BIC."""
    from sklearn.mixture import GaussianMixture

    bics = [_quiet_fit(GaussianMixture(k, covariance_type=covariance_type, n_init=1,
                                       random_state=seed), X).bic(X)
            for k in range(1, k_max + 1)]
    return int(np.argmin(bics)) + 1


def n_kept(model):
    """``n_components_`` of a fit with moves, else its components of weight above 1%."""
    if getattr(model, "moves", False):
        return int(model.n_components_)
    return int(np.sum(model.weights_ > KEPT_WEIGHT))


# --------------------------------------------------------------------------- parts

def _sklearn_arms(prior):
    """scikit-learn's DP arms: its own default prior, and with ``prior`` 'mclust' also the
    same prior as fastcavi's, given explicitly (marked '(m)')."""
    return ["scikit-learn"] + (["mclust"] if prior == "mclust" else [])


_MARK = {"scikit-learn": "", "mclust": " (m)"}


def synthetic(quick=False, separation=3.0, covariance_type="full", prior="mclust", log=print):
    """Part 1: the number of clusters each method finds; returns the table as text."""
    have_moves = moves_available()
    dp_arms = {f"sklearn DP{_MARK[a]}": a for a in _sklearn_arms(prior)}
    names = ["moves K0=1", "moves K0=2K", "fastcavi DP", *dp_arms, "sklearn BIC"]
    rows = []
    for K, p, seed in synthetic_problems(quick):
        X, _, _ = make_mixture(K, p, seed, separation,
                               n_per_component=100 if quick else 200)
        t0 = time.perf_counter()
        found = {}
        if have_moves:
            found["moves K0=1"] = n_kept(fit_fastcavi(X, 1, seed, covariance_type, True, 2 * K,
                                                      prior))
            found["moves K0=2K"] = n_kept(fit_fastcavi(X, 2 * K, seed, covariance_type, True,
                                                       2 * K, prior))
        found["fastcavi DP"] = n_kept(fit_fastcavi(X, 2 * K, seed, covariance_type,
                                                   prior=prior))
        for name, arm in dp_arms.items():
            found[name] = n_kept(fit_sklearn_dp(X, 2 * K, seed, covariance_type, prior=arm))
        found["sklearn BIC"] = bic_choice(X, 2 * K, seed, covariance_type)
        rows.append((K, p, len(X), found))
        log(f"  synthetic K={K} p={p} N={len(X)}: {found} ({time.perf_counter() - t0:.1f} s)")
    lines = [f"Synthetic recovery ({covariance_type}, separation c = {separation}, fastcavi's "
             f"default_prior={prior!r}): clusters found",
             f"{'K':>3} {'p':>3} {'N':>6} " + " ".join(f"{n:>14}" for n in names)]
    for K, p, n, found in rows:
        lines.append(f"{K:>3} {p:>3} {n:>6} " + " ".join(
            f"{found.get(name, 'n/a'):>14}" for name in names))
    right = {name: [f[name] == K for K, _, _, f in rows if name in f] for name in names}
    error = {name: [abs(f[name] - K) for K, _, _, f in rows if name in f] for name in names}
    lines.append(f"{'exactly right':>14} " + " ".join(
        f"{np.mean(r):>14.0%}" if r else f"{'n/a':>14}" for r in right.values()))
    lines.append(f"{'mean |error|':>14} " + " ".join(
        f"{np.mean(e):>14.2f}" if e else f"{'n/a':>14}" for e in error.values()))
    if not have_moves:
        lines.append("(this fastcavi has no moves: those columns are n/a)")
    if len(dp_arms) > 1:
        lines.append("(m): scikit-learn's fit given mclust's prior, the one fastcavi's fits use")
    return "\n".join(lines)


def real_set(name, seed):
    """(X_train, X_test, y_train, y_test, n_classes) of one set, standardised on the training
    part (features constant there dropped), PCA fitted on it for the 'digits-pcaD' sets."""
    from sklearn import datasets
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    base = name.split("-")[0]
    X, y = getattr(datasets, f"load_{base}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    varying = Xtr.std(axis=0) > 0
    scaler = StandardScaler().fit(Xtr[:, varying])
    Xtr, Xte = scaler.transform(Xtr[:, varying]), scaler.transform(Xte[:, varying])
    if "-pca" in name:
        pca = PCA(int(name.split("-pca")[1]), random_state=seed).fit(Xtr)
        Xtr, Xte = pca.transform(Xtr), pca.transform(Xte)
    return Xtr, Xte, ytr, yte, len(np.unique(y))


def real(quick=False, seeds=(0, 1), covariance_types=("full",), prior="mclust", log=print):
    """Part 2: held-out plug-in log-likelihood, ARI and components kept; the table as text."""
    from sklearn.metrics import adjusted_rand_score

    have_moves = moves_available()
    sets, seeds = (("iris",), seeds[:1]) if quick else (REAL_SETS, seeds)
    covariance_types = covariance_types[:1] if quick else covariance_types
    dp_arms = {f"sklearn DP 3C{_MARK[a]}": a for a in _sklearn_arms(prior)}
    arms = (["moves 3C"] if have_moves else []) + ["fastcavi DP 3C", *dp_arms,
                                                   "sklearn DP C x10"]
    lines = [f"Real data: held-out mean log-likelihood (plug-in), ARI on the held-out part, "
             f"components kept; mean over seeds {list(seeds)}; fastcavi's "
             f"default_prior={prior!r}",
             f"{'set':>14} {'type':>5} {'n':>5} {'p':>3} {'C':>3} {'method':>17} "
             f"{'loglik':>9} {'ARI':>6} {'kept':>5} {'ELBO/pt':>9}"]
    for name in sets:
        for ctype in covariance_types:
            scores = {a: [] for a in arms}
            for seed in seeds:
                Xtr, Xte, _, yte, C = real_set(name, seed)
                t0 = time.perf_counter()
                fits = {"fastcavi DP 3C": fit_fastcavi(Xtr, 3 * C, seed, ctype, prior=prior),
                        **{name: fit_sklearn_dp(Xtr, 3 * C, seed, ctype, prior=arm)
                           for name, arm in dp_arms.items()},
                        "sklearn DP C x10": fit_sklearn_dp(Xtr, C, seed, ctype, n_init=10)}
                if have_moves:
                    fits["moves 3C"] = fit_fastcavi(Xtr, 3 * C, seed, ctype, True, 3 * C,
                                                    prior)
                for arm in arms:
                    m = fits[arm]
                    scores[arm].append((float(np.mean(model_log_density(m, Xte))),
                                        adjusted_rand_score(yte, m.predict(Xte)), n_kept(m),
                                        _bound_per_point(m, len(Xtr))))
                log(f"  real {name} {ctype} seed {seed}: {time.perf_counter() - t0:.1f} s")
            for arm in arms:
                ll, ari, kept, bound = np.mean(scores[arm], axis=0)
                lines.append(f"{name:>14} {ctype:>5} {len(Xtr) + len(Xte):>5} "
                             f"{Xtr.shape[1]:>3} {C:>3} {arm:>17} {ll:>9.3f} {ari:>6.3f} "
                             f"{kept:>5.1f} " + (f"{bound:>9.3f}" if np.isfinite(bound)
                                                 else f"{'':>9}"))
    if not have_moves:
        lines.append("(this fastcavi has no moves: that row is left out)")
    if len(dp_arms) > 1:
        lines.append("(m): scikit-learn's fit given mclust's prior, the one fastcavi's fits use")
    lines.append("ELBO/pt: fastcavi's exact bound per training point (the evidence of the "
                 "model and its prior; scikit-learn's bound leaves out constants)")
    return "\n".join(lines)


def _bound_per_point(model, n):
    """fastcavi's exact ELBO per training point; NaN for scikit-learn's fits, whose bound
    leaves out constants."""
    if not type(model).__module__.startswith("fastcavi"):
        return float("nan")
    return float(model.lower_bound_) / n


def timing(quick=False, prior="mclust", log=print):
    """Part 3: seconds of a fit with moves, a plain fit and the selection grid; as text."""
    from ..estimators.selection import MixtureSelection

    n, p, k_true, k0, k_grid = (5_000, 4, 3, 6, 4) if quick else (100_000, 4, 8, 20, 20)
    X, _, _ = make_mixture(k_true, p, seed=7, n_samples=n)
    for ctype in ("full", "tied", "diag", "spherical"):  # compile or load the kernels,
        fit_fastcavi(X[:500], k0, 0, ctype)  # outside the timings
    rows = []

    def timed(label, fn, repeats=1):
        """The run of median wall time of ``repeats`` (a one-second fit varies by 30% from
        run to run on a shared machine: the ratios' denominator must not)."""
        runs = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            model = fn()
            runs.append((time.perf_counter() - t0, time.process_time() - c0, model))
        seconds, cpu, model = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        rows.append((label, seconds, cpu, model))
        log(f"  timed {label}: {seconds:.2f} s (median of {repeats})")

    timed(f"plain fit, K0={k0}", lambda: fit_fastcavi(X, k0, 0, prior=prior), repeats=5)
    if moves_available():
        fit_fastcavi(X[:500], k0, 0, moves=True)
        timed(f"fit with moves, K0={k0}", lambda: fit_fastcavi(X, k0, 0, moves=True,
                                                               prior=prior), repeats=5)
    for algorithm in ("accelerated", "batch"):  # the grid's default, and batch fits'
        timed(f"MixtureSelection K=1..{k_grid} x 4 types" + (
            "" if algorithm == "accelerated" else f", {algorithm}"),
            lambda a=algorithm: _quiet_fit(MixtureSelection(
                range(1, k_grid + 1), random_state=0, max_iter=MAX_ITER, tol=TOL_PER_POINT * n,
                default_prior=prior, algorithm=a), X))
    base, cpu_base = rows[0][1], rows[0][2]
    lines = [f"Time: N = {n:,}, p = {p}, {k_true} true clusters, full covariances, "
             f"default_prior={prior!r}",
             f"{'':40s} {'seconds':>8} {'ratio':>6} {'CPU s':>8} {'ratio':>6} "
             f"{'iterations':>10} {'found':>6}"]
    for label, seconds, cpu, model in rows:
        if isinstance(model, MixtureSelection):
            iters, found = int(np.sum(model.results_["n_iter"])), (
                f"{model.best_params_['n_components']} "
                f"{model.best_params_['covariance_type']}")
        else:
            iters, found = model.n_iter_, n_kept(model)
        lines.append(f"{label:40s} {seconds:>8.2f} {seconds / base:>6.2f} {cpu:>8.2f} "
                     f"{cpu / cpu_base:>6.2f} {iters:>10} {found!s:>6}")
    lines.append("targets: moves <= 3x the plain fit; the selection grid <= 20x (its default "
                 "algorithm, accelerated; the batch grid for comparison)")
    lines.append("(CPU s: the process's CPU time, all threads; other load changes it less)")
    return "\n".join(lines)


PARTS = {"synthetic": synthetic, "real": real, "time": timing}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m fastcavi.bench.moves",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="three small synthetic problems, iris (first type only), a small timing")
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    ap.add_argument("--types", nargs="+", default=["full", "diag"],
                    choices=["full", "tied", "diag", "spherical"],
                    help="covariance types of the real-data part")
    ap.add_argument("--separation", type=float, default=3.0,
                    help="pooled Mahalanobis separation c of the synthetic means")
    ap.add_argument("--prior", choices=["mclust", "scikit-learn"], default="mclust",
                    help="default_prior of fastcavi's fits (default: mclust); with mclust, "
                         "scikit-learn's DP fits are run with their own prior and with mclust's")
    args = ap.parse_args(argv)
    if args.separation <= 0:
        ap.error(f"--separation must be positive, got {args.separation}")
    from threadpoolctl import threadpool_limits

    quiet = (lambda *a, **k: None) if args.quick else (
        lambda line: print(line, file=sys.stderr, flush=True))
    for part in args.parts:
        kw = {"real": dict(covariance_types=tuple(args.types), prior=args.prior),
              "synthetic": dict(separation=args.separation, prior=args.prior),
              "time": dict(prior=args.prior)}.get(part, {})
        with threadpool_limits(1, user_api="blas"):  # scikit-learn's BLAS oversubscribes
            print(PARTS[part](quick=args.quick, log=quiet, **kw))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
