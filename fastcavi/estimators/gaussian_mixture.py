"""``GaussianMixture``: scikit-learn's maximum-likelihood Gaussian mixture (EM), fitted with the
fused one-pass kernels of the variational mixtures: one parallel pass over the data per
iteration, no N x K array. The math is :mod:`fastcavi.models.em`."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state

from .._threads import check_n_threads
from .._validation import (
    as_kernel_array,
    check_bool_params,
    check_mixture_params,
)
from ..data.defaults import moments
from ..data.sources import ArraySource
from ..inference.algorithms import ALGORITHMS, Recorder, iterate, make_sweep
from ..models.covariance import COVARIANCES
from ..models.em import (
    EMParams,
    em_model,
    label_sums,
    n_parameters,
    one_point_tied_covariance,
    precisions_cholesky,
    predict_block,
    second_moment_block,
    start_from_sums,
    statistics_of,
)
from ..models.em_types import EM_TYPES
from ..models.family_fit import _resp_sums, initial_statistics, kmeans_labels, shared
from ..models.names import COVARIANCE_TYPES
from .base import (
    batch_parameters,
    both_callbacks,
    keep_arguments,
    sample_mixture,
)
from .estimator import MixtureBase

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


def _check_shape(value, shape, name):
    if value.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got "
                         f"{value.shape}")


def check_weights_init(weights, n_components):
    """scikit-learn's checks of ``weights_init``: shape (K,), in [0, 1], summing to 1."""
    w = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(w, (n_components,), "weights")
    if np.any(w < 0.0) or np.any(w > 1.0):
        # scikit-learn's message, which names the minimum "max value" and the maximum "min
        # value" (its own tests check that order)
        raise ValueError(f"The parameter 'weights' should be in the range [0, 1], but got max "
                         f"value {np.min(w):.5f}, min value {np.max(w):.5f}")
    atol = 1e-6 if w.dtype == np.float32 else 1e-8
    if not np.allclose(abs(1.0 - np.sum(w)), 0.0, atol=atol):
        raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) "
                         f"= {np.sum(w):.5f}")
    return np.asarray(w, dtype=np.float64)


def check_means_init(means, n_components, n_features):
    m = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(m, (n_components, n_features), "means")
    return np.asarray(m, dtype=np.float64)


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    """scikit-learn's checks of ``precisions_init`` (shape per covariance type, positive, and
    symmetric positive-definite matrices)."""
    form = EM_TYPES[covariance_type]
    prec = check_array(precisions, dtype=[np.float64, np.float32], ensure_2d=False,
                       allow_nd=form.precision_ndim > 2)
    name = f"{covariance_type} precision"
    _check_shape(prec, COVARIANCES[covariance_type].covariances_shape(n_components, n_features),
                 name)
    form.check_precisions(prec, name)
    return np.asarray(prec, dtype=np.float64)


class GaussianMixture(MixtureBase):
    """Gaussian mixture fitted by maximum likelihood (EM), as scikit-learn's
    ``GaussianMixture``: same parameters, defaults, starts, attributes and fit.

    Each iteration is the E-step (the responsibilities at the current parameters) and the
    M-step (weights, means and covariances from the weighted sums, ``reg_covar`` added to the
    variances), in one parallel pass over the data: the responsibilities are never stored.
    ``lower_bound_`` is the mean log-likelihood of the data at the parameters each iteration
    started from (scikit-learn's), and the fit stops when it changes by less than ``tol``.
    From the same start, the fit is scikit-learn's (the same parameters to about 1e-8 on
    float64 data, the same ``n_iter_`` and ``converged_``).

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Each component's own covariance matrix ('full'), one shared by all ('tied'), a
        diagonal one ('diag') or a single variance ('spherical').
    tol : float, default=1e-3
        Convergence: the mean log-likelihood changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
    n_init : int, default=1
        Starts; the run with the highest final mean log-likelihood is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Starting responsibilities, drawn exactly as scikit-learn draws them from the same
        ``random_state``.
    weights_init : array of shape (n_components,), default=None
    means_init : array of shape (n_components, n_features), default=None
    precisions_init : array, default=None
        Starting weights, means and precisions (inverse covariances; (K,) spherical,
        (K, p) diag, (p, p) tied, (K, p, p) full). Those not given come from ``init_params``.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the last fit's solution (one start); the first iteration's change is
        measured from the stored ``lower_bound_``.
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int, default=None
        Numba threads; results are bit-identical for any value.
    algorithm : {'batch', 'incremental', 'accelerated', 'subsample_start'}, default='batch'
        'batch': scikit-learn's EM, one pass over all the data per iteration.
        'accelerated': batch EM with SQUAREM's extrapolation of the sums every third
        iteration (Varadhan & Roland 2008), kept only when the log-likelihood does not fall;
        the fixed points are batch EM's, reached in several times fewer passes where EM is
        slow (overlapping components); convergence is judged by the mean change over three
        iterations.
        'subsample_start': accelerated EM started from accelerated EM converged on uniform
        subsamples of the rows (65,536, then 8 times as many while the data have 8 times a
        level's rows and its copy fits in 64 MiB); the fixed points are batch EM's and
        ``n_iter_`` counts the passes over all the data. Fewer than 524,288 rows, or a warm
        start from a fit: plain accelerated EM.
        'incremental': Neal & Hinton's incremental EM. Each iteration visits the rows in
        fixed blocks (of 262,144 rows in memory; a Dask array's row chunks) and, after every
        block's E-step, redoes the M-step from the latest sums of all blocks (in the first
        iteration, from the blocks seen so far). With ``reg_covar=0`` no visit decreases the
        free energy ``F = sum_i w_i sum_k r_ik [log pi_k + log N(x_i | theta_k) - log r_ik]``
        (a lower bound on the log-likelihood, equal to it when every r is the E-step's at the
        current parameters), and the fixed points are batch EM's; on large data it needs
        fewer passes. ``lower_bounds_`` are then F per unit weight after each pass (at most
        the mean log-likelihood of the parameters reached, and equal to it at convergence).
    learning_offset : float, default=10.0
        :meth:`partial_fit`: tau0 in the step size ``rho_t = (tau0 + t) ** -kappa``.
    learning_decay : float, default=0.7
        :meth:`partial_fit`: kappa, in (0.5, 1].

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ :
        As scikit-learn's.
    converged_, n_iter_, lower_bound_, lower_bounds_ :
        Of the best run (mean log-likelihoods; see ``algorithm`` and :meth:`partial_fit`).
    n_features_in_ : int
    n_batch_iter_ : int
        The :meth:`partial_fit` calls since the last ``fit``.
    """

    _MIN_SAMPLES = 2  # as scikit-learn's mixtures
    _FITTED = "_params_"

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None, algorithm="batch",
                 learning_offset=10.0, learning_decay=0.7):
        keep_arguments(self, locals())

    def _check_params(self):
        check_mixture_params(self, COVARIANCE_TYPES, INIT_PARAMS, algorithm=ALGORITHMS)
        check_bool_params(self, ("warm_start",))
        check_n_threads(self.n_threads)

    def _initial_values(self, n_features):
        """The given weights_init, means_init and precisions_init, checked (None where not
        given)."""
        k = self.n_components
        return (None if self.weights_init is None else check_weights_init(self.weights_init, k),
                None if self.means_init is None else
                check_means_init(self.means_init, k, n_features),
                None if self.precisions_init is None else
                check_precisions_init(self.precisions_init, self.covariance_type, k,
                                      n_features))

    # -- fitting ---------------------------------------------------------------------------

    def _fit_source(self, source, callback=None):
        given = self._initial_values(source.n_features)
        rng = check_random_state(self.random_state)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init and self._params_.means.shape != (self.n_components, source.n_features):
            raise ValueError(
                f"warm_start=True continues the last fit, of {self._params_.means.shape[0]} "
                f"components and {self._params_.means.shape[1]} features, but this fit has "
                f"n_components={self.n_components} and {source.n_features} features. Set "
                "warm_start=False to start afresh.")
        dtype = source.dtype
        cache = getattr(self, "_shared_start", None)
        centre = (shared(cache, "moments", lambda: moments(source)).mean
                  if do_init and any(v is None for v in given) else None)

        def one_run(run):
            if self.verbose:
                print(f"Initialization {run}")
            start_time = time.time()
            params = self._start(source, rng, given, centre) if do_init else self._params_
            if self.max_iter == 0:
                return (params, 0, False, [], None), -np.inf
            visit, update = em_model(self.covariance_type, float(self.reg_covar), dtype,
                                     "loglik" if self.algorithm == "batch" else "free_energy")
            update = Recorder(update)
            # A fresh sweep per run: the incremental one keeps the blocks' statistics.
            sweep = make_sweep(self.algorithm, source, visit, update,
                               COVARIANCES[self.covariance_type].stats_shape, per_weight=True,
                               warm=not do_init, emptying=False)
            report = self._verbose_callback(start_time) if self.verbose else None
            out = iterate(sweep, params, self.max_iter, float(self.tol), strict=True,
                          dtype=dtype, callback=both_callbacks(report, callback),
                          previous=None if do_init else self.lower_bound_)
            bound = out.bounds[-1]
            if self.verbose:
                state = "converged" if out.converged else "did not converge"
                print(f"Initialization {state}." if self.verbose == 1 else
                      f"Initialization {state}. time lapse {time.time() - start_time:.5f}s"
                      f"\t lower bound {bound:.5f}.")
            return (out.state, len(out.bounds), out.converged, out.bounds, update.last), bound

        (params, n_iter, converged, bounds, kept), bound, _ = self._best_of_runs(
            self.n_init if do_init else 1, one_run)
        if not converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate "
                          "data.", ConvergenceWarning, stacklevel=4)
        self._set_fitted(params, dtype)
        if kept is not None and self.algorithm == "incremental":
            # partial_fit's running mean log-likelihood starts from the last pass's F
            stats, centre = kept
            kept = (dataclasses.replace(stats, entropy=bound * stats.total_weight), centre)
        self._kept = kept  # the last E-step's sums, where partial_fit continues
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.lower_bound_ = float(bound)
        self.lower_bounds_ = [float(b) for b in bounds]

    def _start(self, source, rng, given, centre, resp=None):
        """scikit-learn's start: the M-step from the starting responsibilities of
        ``init_params`` (or ``resp`` (N, K) when given), unless weights, means and precisions
        are all given; then the given values in their place."""
        weights, means, precisions = given
        ctype = self.covariance_type
        if centre is not None:
            eps = float(np.finfo(source.dtype).eps)
            matrix = COVARIANCES[ctype].matrix
            if resp is not None:
                sums = _resp_sums(source, resp.shape[1], lambda a, b: resp[a:b], centre, matrix)
            elif self.init_params == "random":
                sums = initial_statistics(source, self.n_components, self.init_params, rng,
                                          centre, matrix=matrix)
            else:
                *sums, centre = self._hard_start_sums(source, rng, matrix)
            # scikit-learn's tied start from one point per component (see
            # fastcavi.models.em.one_point_tied_covariance) replaces the covariance
            quirk = (COVARIANCES[ctype].shared and resp is None and precisions is None
                     and self.init_params in ("k-means++", "random_from_data"))
            params = start_from_sums(*sums, centre, ctype, float(self.reg_covar), eps,
                                     factor=False)
            # scikit-learn's start divides N_k + 10 eps by n_samples, not by their sum.
            params.weights = (sums[0] + 10.0 * eps) / source.total_weight
            if quirk:
                moment = sum(source.map_rows(second_moment_block))
                params.covariances = one_point_tied_covariance(moment, params, sums[0], eps,
                                                               float(self.reg_covar))
            if precisions is None:
                params.precisions_cholesky = precisions_cholesky(params.covariances, ctype)
        else:
            params = EMParams(weights, means, None, None)
        if weights is not None:
            params.weights = weights
        if means is not None:
            params.means = means
        if precisions is not None:
            form = EM_TYPES[ctype]
            params.precisions_cholesky = form.cholesky_from_precisions(precisions)
            params.covariances = form.covariances_from_cholesky(params.precisions_cholesky)
        return params

    def _hard_start_sums(self, source, rng, matrix):
        """The sums of scikit-learn's hard starts ('kmeans': KMeans labels; 'k-means++' and
        'random_from_data': one point per component), each component's centred on its own
        mean (:func:`fastcavi.models.em.label_sums`): the same draws as
        :func:`fastcavi.models.family_fit.initial_statistics`, without the round-off of sums
        centred on the data's mean far from a component (a one-point start's covariance is
        reg_covar exactly, whatever the data's scale)."""
        k = self.n_components
        if self.init_params == "random_from_data":
            idx = rng.choice(source.n_rows, size=k, replace=False)
            return label_sums(source.take(idx), source.take_weights(idx), np.arange(k), k,
                              matrix)
        X, w = source.gather()
        X = np.asarray(X)
        if self.init_params == "k-means++":
            from sklearn.cluster import kmeans_plusplus

            _, idx = kmeans_plusplus(X, k, random_state=rng, sample_weight=w)
            idx = np.asarray(idx)
            return label_sums(X[idx], None if w is None else w[idx], np.arange(k), k, matrix)
        cache = getattr(self, "_shared_start", None)
        labels = kmeans_labels(X, w, k, rng, cache)
        return shared(cache, ("label_sums", k, matrix), lambda: label_sums(X, w, labels, k, matrix))

    def _initialize(self, X, resp):
        """scikit-learn's private start from given responsibilities (its tests call it): the
        M-step from ``resp``, then weights_init, means_init and precisions_init in place."""
        Xk = as_kernel_array(X)
        # unchecked, as scikit-learn's (its checks run in fit)
        given = tuple(None if v is None else np.asarray(v, dtype=np.float64)
                      for v in (self.weights_init, self.means_init, self.precisions_init))
        params = self._start(ArraySource(Xk), None, given, Xk.astype(np.float64).mean(axis=0),
                             np.asarray(resp, dtype=np.float64))
        self._set_fitted(params, Xk.dtype)

    def _verbose_callback(self, start_time):
        """scikit-learn's progress lines every ``verbose_interval`` iterations."""
        last, previous = [start_time], [-np.inf]

        def report(it, bound):
            change = bound - previous[0]
            previous[0] = bound
            if (it + 1) % self.verbose_interval == 0:
                if self.verbose == 1:
                    print(f"  Iteration {it + 1}")
                else:
                    now = time.time()
                    print(f"  Iteration {it + 1}\t time lapse {now - last[0]:.5f}s\t ll "
                          f"change {change:.5f}")
                    last[0] = now

        return report

    def _set_fitted(self, params, dtype=np.float64):
        """The fitted attributes from ``params`` (float64), in the data's dtype as
        scikit-learn's (float32 data: float32 attributes)."""
        self._params_ = params
        pc = params.precisions_cholesky
        prec = EM_TYPES[self.covariance_type].precisions(pc)
        for name, value in (("weights_", params.weights), ("means_", params.means),
                            ("covariances_", params.covariances),
                            ("precisions_cholesky_", pc), ("precisions_", prec)):
            setattr(self, name, None if value is None else np.asarray(value, dtype=dtype))

    def _get_parameters(self):
        """(weights_, means_, covariances_, precisions_cholesky_), as scikit-learn's."""
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params):
        """Set (weights, means, covariances, precisions_cholesky) and the precisions, as
        scikit-learn's private method of the same name does (its tests use it)."""
        weights, means, covariances, prec_chol = params
        dtype = np.asarray(means).dtype

        def as64(a):
            return None if a is None else np.asarray(a, dtype=np.float64)

        self._set_fitted(EMParams(as64(weights), as64(means), as64(covariances),
                                  as64(prec_chol)), dtype)

    # -- streams: online EM -----------------------------------------------------------------

    @batch_parameters
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch of a stream: online EM (Cappe & Moulines 2009).

        The model keeps running sums per unit weight ``s = (N_k, sum_i w_i r_ik x_i, the
        scatter) / W``. At the t-th call the E-step of the batch at the current parameters
        gives the batch's sums ``s_batch`` (per unit weight of the batch); then ``s <- (1 -
        rho_t) s + rho_t s_batch`` with ``rho_t = (learning_offset + t) ** -learning_decay``,
        and the M-step from ``s`` gives the new parameters (the sums scaled to the batch's
        weight, so that ``rho_t = 1`` is one EM iteration on the batch, scikit-learn's). The
        first call on an unfitted model starts from its batch as ``fit`` would
        (``init_params``, ``weights_init``, ``means_init``, ``precisions_init``) and takes
        one EM iteration on it; a model fitted with ``fit`` continues from the sums of its
        last E-step (t = 0). Later batches must have the same number of features.

        ``lower_bound_`` is then the running mean log-likelihood (the batches' mean
        log-likelihoods, each at the parameters it met, blended with the same rho_t),
        ``lower_bounds_`` one per call, ``n_iter_`` their number, ``converged_`` False, and
        ``n_batch_iter_`` counts the calls.

        {batch_parameters}
        """
        return super().partial_fit(X, y, sample_weight)

    def _stream_start(self, source):
        given = self._initial_values(source.n_features)
        centre = moments(source).mean if any(v is None for v in given) else None
        params = self._start(source, check_random_state(self.random_state), given, centre)
        return source.dtype, params

    def _stream_resume(self):
        if getattr(self, "_kept", None) is None:  # read from a file: the sums of its parameters
            self._kept = statistics_of(self._params_, self.covariance_type,
                                       float(self.reg_covar))
        return self.means_.dtype, self._params_

    def _stream_model(self, prior, dtype):
        visit, update = em_model(self.covariance_type, float(self.reg_covar), dtype)
        return visit, update, COVARIANCES[self.covariance_type].stats_shape

    def _stream_total(self, source):
        """The sums are kept per unit weight, and handed to the M-step at the batch's
        weight."""
        return source.total_weight

    def _set_stream_fitted(self, params, dtype, bounds):
        self._set_fitted(params, dtype)
        self.converged_ = False
        self.n_iter_ = len(bounds)
        self.lower_bound_ = float(bounds[-1])
        self.lower_bounds_ = [float(b) for b in bounds]

    # -- prediction and model selection ----------------------------------------------------

    _predict_block = staticmethod(predict_block)

    def _predict_args(self, kind):
        return (self._params_, self.covariance_type, kind)

    def score_samples(self, X):
        """log p(x) of each point under the fitted mixture (scikit-learn's)."""
        return self._predict(X, "score")

    def _n_parameters(self):
        k, p = self.means_.shape
        return n_parameters(self.covariance_type, k, p)

    def bic(self, X):
        """Bayesian information criterion on X: ``-2 n score(X) + n_params log n`` (lower is
        better)."""
        n = _n_rows(X)
        return -2.0 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on X: ``-2 n score(X) + 2 n_params`` (lower is
        better)."""
        return -2.0 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw from the fitted mixture (as scikit-learn does): returns (X, component labels)."""
        return sample_mixture(self, n_samples)


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
