"""Choosing the number of components and the covariance type by the exact ELBO: a grid of
:class:`~fastcavi.BayesianGaussianMixture` fits and a table of their bounds, as R's mclust
tabulates BIC."""

from __future__ import annotations

import math
import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .._validation import check_choice_params, check_int_params
from ..inference.algorithms import ALGORITHMS
from ..models.names import COVARIANCE_TYPES, PRIOR_DEFAULTS, SELECTION_MODELS, WEIGHT_PRIORS
from .base import keep_arguments
from .bayesian_mixture import BayesianGaussianMixture

#: A component counts as kept when its weight is above this.
KEPT_WEIGHT = 0.01

_COLUMNS = ("model", "covariance_type", "default_prior", "n_components", "lower_bound",
            "criterion", "n_kept", "n_iter", "converged", "fit_time")
#: The estimators a grid can fit: the variational mixture, judged by its exact ELBO;
#: maximum-likelihood EM, judged by BIC; the variational mixture with moves, by its ELBO.
MODELS = SELECTION_MODELS


# How the table names the best fit of each model, and how the plot draws its rows.
_BEST_BY = {"bgm": "ELBO", "gm": "BIC", "moves": "moves"}
_LINES = {"bgm": "-", "gm": "--", "moves": "none"}


def label_symmetry(n_components, weight_concentration_prior_type):
    """log K! for the finite Dirichlet prior, 0 for the Dirichlet process.

    Under the finite symmetric Dirichlet prior the K components are exchangeable: the
    posterior has K! equivalent modes (the labels permuted) and a mean-field fit sits in one,
    so its bound falls short of the log evidence by about log K! when the components are well
    separated (Bishop 2006, section 10.2.4). Under the stick-breaking prior of the Dirichlet
    process the components are not exchangeable (a permutation changes the prior), the modes
    are not equivalent, and nothing is added: the bound is used as it is.
    """
    if weight_concentration_prior_type == "dirichlet_distribution":
        return math.lgamma(n_components + 1)
    return 0.0


def _names(value, parameter, allowed):
    """The distinct names of a parameter that takes one name or an iterable of names among
    ``allowed``, in the order given."""
    names = [value] if isinstance(value, str) else list(value)
    if not names or len(set(names)) != len(names) or any(n not in allowed for n in names):
        raise ValueError(f"The '{parameter}' parameter of MixtureSelection must be distinct "
                         f"names among {allowed} (one or several), got {value!r}")
    return names


def _n_components_grid(value):
    """The distinct K >= 1 of ``n_components`` (one int or an iterable of them)."""
    values = [value] if np.ndim(value) == 0 else list(value)
    if (not values or len(set(values)) != len(values) or any(
            isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1
            for k in values)):
        raise ValueError(f"The 'n_components' parameter of MixtureSelection must be distinct "
                         f"ints >= 1 (one int or several), got {value!r}")
    return [int(k) for k in values]


class MixtureSelection(DensityMixin, BaseEstimator):
    """Fit :class:`~fastcavi.BayesianGaussianMixture` over a grid of ``n_components`` and
    ``covariance_types`` and keep the fit with the highest criterion.

    The criterion is the exact evidence lower bound (ELBO, ``lower_bound_``; fastcavi's
    bound keeps every constant, so bounds of different K and covariance types are comparable)
    plus ``log K!`` under the finite Dirichlet prior, for the K! equivalent labelings of its
    exchangeable components (:func:`label_symmetry`). A larger bound means more evidence for
    the model; no penalty is added, as the bound already pays for every parameter through its
    KL terms.

    Parameters
    ----------
    n_components : iterable of int, default=range(1, 11)
        The numbers of components to fit.
    covariance_types : iterable of {'full', 'tied', 'diag', 'spherical'}, \
default=('full', 'tied', 'diag', 'spherical')
        The covariance types to fit.
    weight_concentration_prior_type : {'dirichlet_distribution', 'dirichlet_process'}, \
default='dirichlet_distribution'
        The weights' prior of every fit (see :class:`~fastcavi.BayesianGaussianMixture`).
    n_init, max_iter, tol, reg_covar, init_params, random_state, n_threads
        Passed to every fit (see :class:`~fastcavi.BayesianGaussianMixture`); every fit gets
        the same ``random_state``.
    algorithm : {'accelerated', 'batch', 'incremental', 'subsample_start'}, \
default='accelerated'
        Passed to every fit (see :class:`~fastcavi.BayesianGaussianMixture`). Every algorithm
        has batch CAVI's fixed points; 'accelerated' reaches them in fewer passes where
        components overlap, as they do at every K above the number of clusters the data
        hold. A batch fit stops there when the bound rises by less than ``tol`` per
        iteration, short of the optimum, so its bound is lower than the accelerated fit's
        in most rows and the table compares bounds that are nearer their optima (unlike a
        single ``BayesianGaussianMixture``, whose default stays scikit-learn's 'batch').
    models : {'bgm', 'gm', 'moves'} or an iterable of them, default='bgm'
        The estimators fitted: 'bgm' is :class:`~fastcavi.BayesianGaussianMixture` at every
        point of the grid, judged by its exact ELBO as above; 'moves' is one
        ``BayesianGaussianMixture(moves=True)`` per covariance type, started at the largest K
        of the grid (also its cap), whose merge, delete and birth moves choose the number of
        components (its row's ``n_components`` is the number it ends with; judged as 'bgm',
        so the two compare); 'gm' is
        :class:`~fastcavi.GaussianMixture` (maximum likelihood), judged by BIC as mclust
        judges, its criterion ``-BIC / 2`` (the log-likelihood less ``(d / 2) log n`` for d
        free parameters: a rough estimate of the log evidence, so higher is better there
        too). GaussianMixture's ``tol`` is a change of the mean log-likelihood: it gets
        ``tol`` divided by the total weight, so that every fit stops at the same change of
        its total. The best fit is that of the first
        model named; ``best_by_model_`` has each model's.
    weight_concentration_prior, mean_precision_prior, mean_prior, degrees_of_freedom_prior, \
covariance_prior
        The prior of every fit (None: each fit's data-driven default, see
        :class:`~fastcavi.BayesianGaussianMixture`). A given ``covariance_prior`` must suit
        every covariance type of the grid (a number for spherical, one per feature for diag,
        a matrix for full and tied): give it with one type at a time.
    default_prior : {'mclust', 'scikit-learn'} or an iterable of both, default='mclust'
        The values the prior parameters left at None take (see
        :class:`~fastcavi.BayesianGaussianMixture`): 'mclust' scales the covariance prior to
        the size of one of G clusters, as R's mclust does, with G the largest K of the grid
        for every fit (``max_components``), so that all the bounds of the table are bounds
        under one prior; 'scikit-learn' pulls every component towards the covariance of all
        the data, which makes the bound prefer fewer components than the data hold when there
        are many clusters in few dimensions. Both, as ``('mclust', 'scikit-learn')``: every
        'bgm' and 'moves' fit under each prior, so that the bound chooses the prior too (it
        is the evidence of the model with its prior); twice the fits.
    verbose : int, default=0
        1: a line per fit.

    Attributes
    ----------
    results_ : dict of numpy arrays
        One entry per fit, in the order fitted (model, covariance type, then K): ``model``,
        ``covariance_type``, ``n_components``, ``lower_bound`` (the exact ELBO; for 'gm' the
        log-likelihood of the data), ``criterion`` (the ELBO plus the label-symmetry term;
        for 'gm' -BIC / 2), ``n_kept`` (components of weight above 1%), ``n_iter``,
        ``converged`` and ``fit_time`` (seconds). ``pandas.DataFrame(results_)`` is the table.
    best_index_ : int
        The row of ``results_`` with the highest criterion among the first model's fits (the
        first of equals).
    best_by_model_ : dict
        For each model, the row of its highest criterion.
    best_params_ : dict
        Its ``n_components`` and ``covariance_type``.
    best_estimator_ : BayesianGaussianMixture
        Its fitted estimator; ``predict``, ``predict_proba``, ``score_samples``, ``score``
        and ``sample`` use it.
    n_features_in_ : int
        The number of features seen in fit.
    """

    def __init__(self, n_components=range(1, 11), covariance_types=COVARIANCE_TYPES, *,
                 weight_concentration_prior_type="dirichlet_distribution", n_init=1,
                 max_iter=100, tol=1e-3, reg_covar=1e-6, init_params="kmeans",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None,
                 n_threads=None, verbose=0, models="bgm", default_prior="mclust",
                 algorithm="accelerated"):
        keep_arguments(self, locals())

    def _grid(self):
        grid = _n_components_grid(self.n_components)
        types = self.covariance_types
        types = [types] if isinstance(types, str) else list(types)
        if (not types or len(set(types)) != len(types)
                or any(t not in COVARIANCE_TYPES for t in types)):
            raise ValueError(f"The 'covariance_types' parameter of MixtureSelection must be "
                             f"distinct names among {COVARIANCE_TYPES}, got "
                             f"{self.covariance_types!r}")
        check_choice_params(self, {"weight_concentration_prior_type": WEIGHT_PRIORS,
                                   "algorithm": ALGORITHMS})
        check_int_params(self, {"verbose": 0})
        return (types, grid, _names(self.models, "models", MODELS),
                _names(self.default_prior, "default_prior", PRIOR_DEFAULTS))

    def fit(self, X, y=None, sample_weight=None):
        """Fit every (covariance type, K) of the grid to X and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), a memory-mapped array or a Dask array
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        types, grid, models, priors = self._grid()
        total = float(X.shape[0] if sample_weight is None else np.sum(sample_weight))
        rows = {c: [] for c in _COLUMNS}
        fits, late = [], []
        # One k-means start per K for every covariance type, and the data's moments once: from
        # an int random_state and one start per fit, each fit would compute exactly these
        # again (models.family_fit.shared).
        shared = {} if (self.init_params == "kmeans" and self.n_init == 1
                        and isinstance(self.random_state, numbers.Integral)) else None
        cells = [(model, prior, ctype) for model in models
                 for prior in (priors if model != "gm" else [""]) for ctype in types]
        for model, prior, ctype in cells:
            for k in (grid if model != "moves" else [max(grid)]):
                est = self._estimator(model, ctype, k, total, prior, max(grid))
                # (a fit with moves draws births from random_state after its start)
                if model != "moves" and shared is not None:
                    est._shared_start = shared
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    est.fit(X, sample_weight=sample_weight)
                seconds = time.perf_counter() - t0
                est.__dict__.pop("_shared_start", None)
                k = est.n_components_ if model == "moves" else k
                bound, criterion = self._criterion(model, est, k, X, sample_weight)
                row = (model, ctype, prior, k, bound, criterion,
                       int(np.sum(est.weights_ > KEPT_WEIGHT)), est.n_iter_,
                       est.converged_, seconds)
                for c, v in zip(_COLUMNS, row):
                    rows[c].append(v)
                shown = f" ({prior})" if len(priors) > 1 and prior else ""
                if not est.converged_:
                    late.append((f"{model} " if len(models) > 1 else "") + f"{ctype}{shown} "
                                f"K={k}")
                if self.verbose:
                    what = "log-likelihood" if model == "gm" else "ELBO"
                    print(f"{model:>5} {ctype:>9}{shown} K={k:<3} {what} {bound:.6g}  "
                          f"criterion {criterion:.6g}  kept {row[6]}  iterations "
                          f"{row[7]}  {seconds:.2f} s")
                fits.append(est)
        self.results_ = {c: np.array(v) for c, v in rows.items()}
        crit = self.results_["criterion"]
        self.best_by_model_ = {m: int(np.flatnonzero(self.results_["model"] == m)[
            np.argmax(crit[self.results_["model"] == m])]) for m in models}
        self.best_index_ = self.best_by_model_[models[0]]
        self.best_estimator_ = fits[self.best_index_]
        self.best_params_ = {"n_components": int(self.results_["n_components"][self.best_index_]),
                             "covariance_type": str(self.results_["covariance_type"][
                                 self.best_index_])}
        if len(priors) > 1 and models[0] != "gm":
            self.best_params_["default_prior"] = str(
                self.results_["default_prior"][self.best_index_])
        self.n_features_in_ = self.best_estimator_.n_features_in_
        if late:
            warnings.warn(f"{len(late)} of {len(fits)} fits did not converge ({', '.join(late)}"
                          f"): their bounds are lower than converged ones would be; increase "
                          "max_iter or tol", ConvergenceWarning, stacklevel=2)
        return self

    def _estimator(self, model, ctype, k, total_weight, prior, k_max):
        """The unfitted estimator of one point of the grid, under ``default_prior`` ``prior``
        (mclust's for G = ``k_max``, the grid's largest K); GaussianMixture's tol is a change
        of the mean log-likelihood: ``tol`` / the total weight."""
        common = dict(n_components=k, covariance_type=ctype, n_init=self.n_init,
                      max_iter=self.max_iter, reg_covar=self.reg_covar,
                      init_params=self.init_params, random_state=self.random_state,
                      n_threads=self.n_threads, algorithm=self.algorithm)
        if model == "gm":
            from .gaussian_mixture import GaussianMixture

            return GaussianMixture(tol=self.tol / max(total_weight, 1.0), **common)
        if model == "moves":
            common.update(moves=True, max_components=k)
        elif prior == "mclust":  # one prior for the whole grid, as for the moves
            common.update(max_components=k_max)
        return BayesianGaussianMixture(
            tol=self.tol, weight_concentration_prior_type=self.weight_concentration_prior_type,
            weight_concentration_prior=self.weight_concentration_prior,
            mean_precision_prior=self.mean_precision_prior, mean_prior=self.mean_prior,
            degrees_of_freedom_prior=self.degrees_of_freedom_prior,
            covariance_prior=self.covariance_prior, default_prior=prior, **common)

    def _criterion(self, model, est, k, X, sample_weight):
        """(bound, criterion) of a fitted estimator: the ELBO and ELBO + label symmetry, or
        the log-likelihood and -BIC / 2."""
        if model != "gm":
            bound = float(est.lower_bound_)
            return bound, bound + label_symmetry(k, self.weight_concentration_prior_type)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        logp = np.asarray(est.score_samples(X), dtype=np.float64)
        n = float(len(logp)) if w is None else float(np.sum(w))
        loglik = float(np.sum(logp) if w is None else logp @ w)
        return loglik, loglik - 0.5 * est._n_parameters() * math.log(n)

    def _several_priors(self):
        """Whether the grid's fits were made under more than one prior."""
        return len(set(self.results_["default_prior"]) - {""}) > 1

    def table(self):
        """The results as text, one line per fit, best first within each covariance type."""
        check_is_fitted(self)
        r = self.results_
        several = len(self.best_by_model_) > 1
        priors = self._several_priors()
        bound = "ELBO / loglik" if several and "gm" in self.best_by_model_ else \
            "loglik" if "gm" in self.best_by_model_ else "ELBO"
        lines = [("model " if several else "") + f"{'covariance':>10} " +
                 (f"{'prior':>12} " if priors else "") + f"{'K':>4} {bound:>14} "
                 f"{'criterion':>14} {'kept':>5} {'iterations':>10} {'seconds':>8}"]
        best = {i: m for m, i in self.best_by_model_.items()}
        for i in range(len(r["n_components"])):
            mark = ""
            if i in best:
                mark = "  <- best" + ("" if not several else f" {_BEST_BY[best[i]]}")
            lines.append((f"{r['model'][i]:>5} " if several else "") +
                         f"{r['covariance_type'][i]:>10} " +
                         (f"{r['default_prior'][i]:>12} " if priors else "") +
                         f"{r['n_components'][i]:>4} "
                         f"{r['lower_bound'][i]:>14.6g} {r['criterion'][i]:>14.6g} "
                         f"{r['n_kept'][i]:>5} {r['n_iter'][i]:>10} "
                         f"{r['fit_time'][i]:>8.2f}{mark}")
        return "\n".join(lines)

    def plot(self, ax=None):
        """The criterion against K, one line per covariance type (as mclust draws BIC), on
        ``ax`` (a new figure when None); returns the axes. Needs matplotlib."""
        check_is_fitted(self)
        import matplotlib.pyplot as plt

        if ax is None:
            ax = plt.figure(figsize=(6, 4)).add_subplot()
        r = self.results_
        several = len(self.best_by_model_) > 1
        several_priors = self._several_priors()
        for model in self.best_by_model_:
            for prior in dict.fromkeys(r["default_prior"]):
                for ctype in dict.fromkeys(r["covariance_type"]):
                    mine = ((r["covariance_type"] == ctype) & (r["model"] == model)
                            & (r["default_prior"] == prior))
                    if not np.any(mine):
                        continue
                    label = ctype if not several or model == "bgm" else \
                        f"{ctype} ({'-BIC/2' if model == 'gm' else 'moves'})"
                    if several_priors and prior:
                        label += f", {prior}"
                    dotted = several_priors and model == "bgm" and prior == "scikit-learn"
                    ax.plot(r["n_components"][mine], r["criterion"][mine],
                            marker="s" if model == "moves" else "o",
                            linestyle=":" if dotted else _LINES[model], label=label)
        best = self.best_index_
        ax.plot([r["n_components"][best]], [r["criterion"][best]], marker="*", markersize=14,
                color="k", linestyle="none", label="best")
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("number of components K")
        ylabel = "ELBO" + (" + log K!" if self.weight_concentration_prior_type ==
                           "dirichlet_distribution" else "")
        shown = {"-BIC / 2" if m == "gm" else ylabel for m in self.best_by_model_}
        ax.set_ylabel(", or ".join(sorted(shown, key=lambda t: t == "-BIC / 2")))
        ax.legend(loc="lower right")
        return ax

    def predict(self, X):
        """Component labels from the best fit."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Responsibilities from the best fit."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """Log posterior predictive density per row, from the best fit."""
        check_is_fitted(self)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None):
        """Mean log posterior predictive density, from the best fit."""
        check_is_fitted(self)
        return self.best_estimator_.score(X)

    def sample(self, n_samples=1):
        """Draw from the best fit (see :meth:`BayesianGaussianMixture.sample`)."""
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)
