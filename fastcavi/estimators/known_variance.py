"""The known-variance mixture's estimator logic: validation, defaults, initialisation and
restarts, in plain Python and without scikit-learn (the command line fits it directly, and
:class:`fastcavi.GaussianMixtureCAVI` adds scikit-learn's base classes to it); the sweeps run
in the Numba kernels through :mod:`fastcavi.models.fixed`."""

from __future__ import annotations

import warnings

import numpy as np

from .._threads import check_n_threads
from .._validation import (
    check_bool_params,
    check_choice_params,
    check_int_params,
    check_mean_vars,
    check_means,
    check_positive_count,
    check_prior_mean_param,
    check_random_state,
    check_real_params,
)
from ..data.defaults import (
    _centred,
    _default_variance,
    _kmeans_plusplus,
    _pow2_above,
    _subsample,
    _too_large,
    moments,
)
from ..data.scale import fit_standardize
from ..inference.algorithms import ALGORITHMS
from ..models.fixed import Hyper, check_hyper, fixed_model, run_sweeps
from .base import Mixture, keep_arguments
from .predict import predict_block

_INIT_PARAMS = ("kmeans++", "random_from_data", "random")
# kmeans++ seeding and the default likelihood_var look at no more than this many points:
# the seeding costs O(n K) memory and time, and a subsample this size places K <= a few
# hundred centres as well as the full data would.
_INIT_SUBSAMPLE = 20_000


class KnownVarianceMixture(Mixture):
    """:class:`fastcavi.GaussianMixtureCAVI` (see it for the parameters and attributes)
    without scikit-learn's base classes: the same fit, prediction and model file, and no
    ``get_params``, ``set_params`` or repr. The command line uses it so that a fit does not
    import scikit-learn."""

    _MODEL_NAME = "GaussianMixtureCAVI"  # in messages and model files

    _FITTED = "means_"

    def __init__(self, n_components=1, *, prior_mean=None, prior_var=None, likelihood_var=None,
                 init_params="kmeans++", means_init=None, mean_vars_init=None, n_init=1,
                 max_iter=100, tol=1e-4, random_state=None, n_threads=None, verbose=0,
                 standardize=False, algorithm="batch", total_samples=1e6, learning_offset=10.0,
                 learning_decay=0.7):
        keep_arguments(self, locals())

    # -- validation ------------------------------------------------------------------------

    def _check_params(self):
        """Every parameter that can be checked without the data, before the data is touched,
        in scikit-learn's wording ("The 'tol' parameter of ... must be ... Got ... instead.").
        Shapes that depend on n_features are checked once X is known."""
        check_int_params(self, {"n_components": 1, "n_init": 1, "max_iter": 1})
        check_real_params(self, ("tol",))
        check_real_params(self, ("prior_var", "likelihood_var"), positive=True, optional=True)
        check_prior_mean_param(self)
        check_choice_params(self, {"init_params": _INIT_PARAMS, "algorithm": ALGORITHMS})
        check_bool_params(self, ("standardize",))
        check_n_threads(self.n_threads)

    # -- defaults and initialisation ---------------------------------------------------------

    def _resolve_hyper(self, source, rng):
        """Hyperparameters as given, with the documented data-driven defaults for None."""
        n_features = source.n_features
        m = moments(source) if self.prior_mean is None or self.prior_var is None else None
        prior_mean = m.mean if self.prior_mean is None else self.prior_mean
        prior_var = self.prior_var
        if prior_var is None:
            prior_var = _default_variance("prior_var", m.mean_var)
        likelihood_var = self.likelihood_var
        if likelihood_var is None:
            sub = source.take(_subsample(source, _INIT_SUBSAMPLE, rng))
            k = min(self.n_components, sub.shape[0])
            centres = _kmeans_plusplus(sub, k, rng)
            # Differences over a power of two (exact), as in the moments.
            scale = _pow2_above(float(np.abs(_centred(sub, "the default likelihood_var"))
                                      .max()))
            d2 = np.full(sub.shape[0], np.inf)
            with np.errstate(over="ignore"):  # inf: refused just below
                for c in centres:
                    np.minimum(d2, (((sub - c) / scale) ** 2).sum(axis=1), out=d2)
            likelihood_var = _default_variance(
                "likelihood_var", float(d2.mean()) / n_features * scale * scale)
        return check_hyper(prior_mean, prior_var, likelihood_var, n_features)

    def _initial_means(self, source, hyper, rng):
        K = self.n_components
        if self.means_init is not None:
            return check_means(self.means_init, K, source.n_features)
        if self.init_params == "random_from_data":
            idx = _subsample(source, K, rng)
            rng.shuffle(idx)
            return source.take(idx)
        if self.init_params == "kmeans++":
            idx = _subsample(source, _INIT_SUBSAMPLE, rng)
            return _kmeans_plusplus(source.take(idx), K, rng, source.take_weights(idx))
        # 'random': the q(mu) update from random responsibilities, in O(block K) memory.
        n_k = np.zeros(K)
        s_k = np.zeros((K, source.n_features))
        for xb, wb in source.row_blocks():
            r = rng.uniform(size=(xb.shape[0], K))
            r /= r.sum(axis=1, keepdims=True)
            if wb is not None:
                r *= wb[:, None]
            n_k += r.sum(axis=0)
            with np.errstate(over="ignore", invalid="ignore"):
                s_k += r.T @ np.asarray(xb, dtype=np.float64)
        if not np.all(np.isfinite(s_k)):
            raise _too_large("the 'random' initialisation")
        s2 = 1.0 / (1.0 / hyper.prior_var + n_k / hyper.likelihood_var)
        return s2[:, None] * (hyper.prior_mean / hyper.prior_var + s_k / hyper.likelihood_var)

    def _initial_mean_vars(self, total_weight, hyper):
        K = self.n_components
        if self.mean_vars_init is not None:
            return check_mean_vars(self.mean_vars_init, K)
        even = 1.0 / (1.0 / hyper.prior_var + (total_weight / K) / hyper.likelihood_var)
        return np.full(K, even)

    # -- fitting ---------------------------------------------------------------------------

    def _prepare(self, source):
        """A fit's data: at least n_components rows (with positive weight), standardised when
        ``standardize`` (setting ``center_`` and ``scale_``)."""
        source = super()._prepare(source)
        if source.weights is not None:
            check_positive_count(source.count_positive(), self.n_components)
        return fit_standardize(self, source)

    def _fit_source(self, source, callback):
        """The restarts and the sweeps, on a checked data source (:mod:`fastcavi.data.sources`)."""
        rng = check_random_state(self.random_state)
        hyper = self._resolve_hyper(source, rng)
        total_w = source.total_weight

        def one_run(run):
            means = self._initial_means(source, hyper, rng)
            mean_vars = self._initial_mean_vars(total_w, hyper)
            cb = callback
            if self.verbose >= 2:
                def cb(it, bound, _user=callback):
                    print(f"  run {run + 1} sweep {it + 1}: ELBO {bound:.10g}")
                    if _user is not None:
                        _user(it, bound)
            out = run_sweeps(source, means, mean_vars, hyper, self.max_iter, self.tol, cb,
                             algorithm=self.algorithm)
            if self.verbose >= 1:
                print(f"run {run + 1}/{self.n_init}: {len(out.bounds)} sweeps, "
                      f"ELBO {out.bounds[-1]:.10g}, converged={out.converged}")
            return out, out.bounds[-1]

        out, _, run = self._best_of_runs(self.n_init, one_run)
        if not out.converged and self.tol > 0:
            from sklearn.exceptions import ConvergenceWarning  # only now: a second's import

            warnings.warn(
                f"Best run (run {run + 1} of {self.n_init}) did not converge in "
                f"max_iter={self.max_iter} sweeps (tol={self.tol}). Try a larger max_iter or "
                "tol, different init parameters, or check for degenerate data.",
                ConvergenceWarning, stacklevel=4)
        self._kept = out.stats
        self._set_fitted(out.means, out.mean_vars, out.bounds, out.converged, hyper)

    def _set_fitted(self, means, mean_vars, bounds, converged, hyper):
        self.means_ = means
        self.mean_vars_ = mean_vars
        self.lower_bounds_ = np.asarray(bounds)
        self.lower_bound_ = float(bounds[-1])
        self.n_iter_ = len(bounds)
        self.converged_ = bool(converged)
        self.prior_mean_ = hyper.prior_mean
        self.prior_var_ = hyper.prior_var
        self.likelihood_var_ = hyper.likelihood_var

    # -- streams (partial_fit) -------------------------------------------------------------

    def _stream_start(self, source):
        rng = check_random_state(self.random_state)
        hyper = self._resolve_hyper(source, rng)
        return hyper, (self._initial_means(source, hyper, rng),
                       self._initial_mean_vars(self.total_samples, hyper), None)

    def _stream_resume(self):
        return (Hyper(self.prior_mean_, self.prior_var_, self.likelihood_var_),
                (self.means_, self.mean_vars_, None))

    def _stream_model(self, hyper, dtype):
        return (*fixed_model(hyper, dtype), "scalar")

    def _set_stream_fitted(self, state, hyper, bounds):
        self._set_fitted(state[0], state[1], bounds, False, hyper)

    # -- prediction ------------------------------------------------------------------------

    _predict_block = staticmethod(predict_block)

    def _predict_args(self, kind):
        return (self.means_, self.mean_vars_, self.likelihood_var_, kind)
