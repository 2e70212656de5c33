"""``BayesianGaussianMixture``: scikit-learn's variational Gaussian mixtures (learned weights
with a Dirichlet distribution or process prior, learned precisions), fitted by exact CAVI with
the fused kernels: one pass over the data per iteration, no N x K array."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._threads import check_n_threads, single_threaded_blas
from .._validation import (
    check_bool_params,
    check_choice_params,
    check_mixture_params,
    check_real_params,
    is_real,
)
from ..data.defaults import PRIOR_RIDGE, moments, proper_covariance_prior
from ..inference.algorithms import ALGORITHMS, Recorder, iterate, make_sweep
from ..models.covariance import COVARIANCES
from ..models.family import DIRICHLET_PROCESS, FamilyParams, FamilyPrior, expected_weights
from ..models.family_fit import (
    family_model,
    initial_statistics,
    m_step_from_sums,
    predict_block,
    shared,
)
from ..models.family_full import covariance_attributes
from ..models.moves import check_moves, run_with_moves
from ..models.names import COVARIANCE_TYPES, PRIOR_DEFAULTS, WEIGHT_PRIORS
from .base import (
    both_callbacks,
    keep_arguments,
    sample_mixture,
    with_stream_parameters,
)
from .estimator import MixtureBase

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
#: ``default_prior='mclust'``: the means' prior precision relative to a cluster's (mclust's
#: "shrinkage") and the degrees of freedom beyond the number of features.
MCLUST_MEAN_PRECISION = 0.01
MCLUST_EXTRA_DEGREES = 2.0


@dataclass
class _Restored:
    """What _set_fitted reads of a run, for a model read from a file."""

    bounds: list
    converged: bool


def _proper_default_prior(psi0, total, covariance_type):
    """The data-driven covariance_prior (from a total weight ``total``), made proper where it
    is singular, with one warning that says so
    (:func:`fastcavi.data.defaults.proper_covariance_prior`)."""
    if not total > 1.0:
        raise ValueError(f"The default covariance_prior, the covariance of X with divisor "
                         f"sum(sample_weight) - 1, needs a total weight above 1, got {total:g}. "
                         "Give covariance_prior, or scale the weights.")
    psi0, changed = proper_covariance_prior(psi0)
    if changed:
        warnings.warn(
            f"The default covariance_prior for '{covariance_type}' (computed from X) is "
            "singular: a feature has no spread, or there are no more points than features, or "
            f"features are collinear. Using the nearest proper prior instead, with "
            f"{PRIOR_RIDGE:g} x each feature's variance added to its diagonal (stored in "
            "covariance_prior_), so that the ELBO stays exact. Give covariance_prior to choose "
            "another.", UserWarning, stacklevel=6)
    return psi0


@with_stream_parameters
class BayesianGaussianMixture(MixtureBase):
    """Variational Bayesian Gaussian mixture, fitted by exact coordinate-ascent VI (CAVI).

    scikit-learn's ``BayesianGaussianMixture`` (same parameters, defaults, attributes and
    starting points), with the exact conjugate updates (Bishop 2006, section 10.2; Blei &
    Jordan 2006 for the Dirichlet process)::

        pi ~ Dir(g0, ..., g0)  or  stick-breaking with v_k ~ Beta(1, g0)
        P_k ~ Wishart(n0, Psi0^-1) (full; one P shared by all k for tied),
        P_k ~ Gamma(n0/2, Psi0_j/2) per feature (diag) or P_k = l_k I, l_k ~ Gamma(n0/2, Psi0/2)
        mu_k | P_k ~ N(m0, (b0 P_k)^-1),   c_i ~ Cat(pi),   x_i ~ N(mu_{c_i}, P_{c_i}^-1)

    Each iteration is the E-step (responsibilities), then the update of q(pi) and
    q(mu_k, P_k), in one parallel pass over the data; ``lower_bound_`` is the exact ELBO with
    every constant, so it can be compared across ``n_components`` and ``covariance_type``.
    :meth:`score_samples` is the log posterior predictive density, a mixture of Student-t's
    weighted by ``weights_`` that integrates to 1 (scikit-learn's is the E-step's normaliser
    instead, not a density).
    ``full`` is scikit-learn's model with scikit-learn's updates (the same fit from the same
    start); for ``tied``, ``diag`` and ``spherical`` the updates are the exact CAVI updates of
    the model above, which scikit-learn's approximate (tied: nu = n0 + N, where scikit-learn
    has n0 + N / K; see the documentation).

    Parameters
    ----------
    n_components : int, default=1
        K, the number of components (an upper bound under the process prior).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The precision of each component: any positive-definite matrix ('full'), one such
        matrix shared by all components ('tied'), a diagonal matrix ('diag') or a multiple of
        the identity ('spherical').
    tol : float, default=1e-3
        Convergence: the ELBO (a total over the data) changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's weighted scatter / N_k, as scikit-learn does.
    max_iter : int, default=100
    n_init : int, default=1
        Starts; the run with the highest final ELBO is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Starting responsibilities, drawn exactly as scikit-learn draws them from the same
        ``random_state``.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
    weight_concentration_prior : float, default=None
        g0 (None: 1 / n_components; 1 / G with ``default_prior='mclust'``).
    mean_precision_prior : float, default=None
        b0 (None: 1; 0.01 with ``default_prior='mclust'``).
    mean_prior : array of shape (n_features,), default=None
        m0 (None: the (weighted) mean of X).
    degrees_of_freedom_prior : float, default=None
        n0 (None: n_features; n_features + 2 with ``default_prior='mclust'``); must exceed
        n_features - 1.
    covariance_prior : float or array of shape (n_features,) or (n_features, n_features), \
default=None
        Psi0 (None: the (weighted) covariance matrix of X with ddof=1 for 'full' and 'tied',
        the per-feature variance for 'diag', its average for 'spherical'; where that is
        singular, as with a constant feature or fewer points than features, the nearest
        proper prior, 1e-6 x each feature's variance added to its diagonal, with a warning:
        see ``covariance_prior_`` and the documentation; divided by G^(2 / n_features) with
        ``default_prior='mclust'``).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the last fit's solution (one start); the first iteration's change of the
        bound is measured from the stored ``lower_bound_``, as scikit-learn does.
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int, default=None
        Numba threads; results are bit-identical for any value.
    moves : None, True, 'all', or a subset of ('merge', 'delete', 'birth'), default=None
        Moves that change the number of components during the fit (None: none, scikit-learn's
        fit). Every few iterations, a pass over the data scores candidate merges of two
        components, deletions of small ones and births (a component split in two by a
        mixture fitted to a subsample of its points), each by its exact ELBO; a move is made
        only when it raises the ELBO (under ``dirichlet_distribution`` also ``ELBO + log
        K!``), so the bound never decreases. ``n_components`` is then the starting number, and
        ``n_components_`` the number kept. See the documentation's model selection page.
    max_components : int, default=None
        With ``moves``: the most components a fit may have (None: ``max(2 * n_components,
        20)``). With ``default_prior='mclust'``, also the number of clusters G its prior is
        scaled for, with or without ``moves`` (None without ``moves``: ``n_components``), so
        that fits of different ``n_components`` can share one prior.
    default_prior : {'scikit-learn', 'mclust'}, default='scikit-learn'
        The values the prior parameters left at None take. 'scikit-learn': scikit-learn's, as
        above (the mean of each component within about one cluster width of the data's mean,
        each covariance drawn towards the covariance of all the data). 'mclust': those of R's
        mclust (Fraley & Raftery 2007) for G clusters, G = ``max_components`` (None:
        ``n_components`` without ``moves``): the means' prior with 100 times the variance
        (b0 = 0.01), n0 = n_features + 2, and Psi0 the data's covariance divided by
        G^(2 / n_features), the covariance of one of G clusters that share the data's
        volume; g0 = 1 / G. scikit-learn's prior pulls every cluster towards the size of all
        the data, which makes the bound prefer fewer, wider components than the data hold
        when there are many clusters in few dimensions; choose 'mclust' to find the number
        of clusters (``moves``, :class:`~fastcavi.MixtureSelection`). See the
        documentation's model selection page.
    {stream_parameters}
    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_ :
        As scikit-learn's: normalised E[pi], m_k, Psi_k / nu_k, its inverse and its Cholesky
        factor (square root for 'diag' and 'spherical'); (K, p, p) matrices for 'full', one
        (p, p) for 'tied'. K is ``n_components_``.
    n_components_ : int
        The number of components fitted (``n_components`` unless ``moves`` changed it).
    moves_ : list of Move
        With ``moves``: every move proposed, in order (``kind``, ``components`` (their indices
        in the model of the time), ``gain`` (its exact ELBO change), ``accepted``,
        ``iteration``); printed as it happens with ``verbose``.
    weight_concentration_ : array (K,) or tuple of two arrays (K,)
    mean_precision_ : array (K,)
    degrees_of_freedom_ : array (K,), or one float for 'tied' (as scikit-learn's)
    converged_, n_iter_, lower_bound_, lower_bounds_ :
        Of the best run; the bounds are exact ELBOs (totals over the data).
    weight_concentration_prior_, mean_precision_prior_, mean_prior_,
    degrees_of_freedom_prior_, covariance_prior_ : the prior used.
    n_features_in_ : int
    """

    _MIN_SAMPLES = 2  # as scikit-learn's mixtures
    _FITTED = "_params_"

    def __init__(self, *, n_components=1, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans",
                 weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None, mean_prior=None,
                 degrees_of_freedom_prior=None, covariance_prior=None, random_state=None,
                 warm_start=False, verbose=0, verbose_interval=10, n_threads=None,
                 algorithm="batch", total_samples=1e6, learning_offset=10.0,
                 learning_decay=0.7, moves=None, max_components=None,
                 default_prior="scikit-learn"):
        keep_arguments(self, locals())

    # -- validation ------------------------------------------------------------------------

    def _check_params(self):
        check_mixture_params(self, COVARIANCE_TYPES, INIT_PARAMS,
                             weight_concentration_prior_type=WEIGHT_PRIORS,
                             algorithm=ALGORITHMS)
        check_choice_params(self, {"default_prior": PRIOR_DEFAULTS})
        check_real_params(self, ("weight_concentration_prior", "mean_precision_prior"),
                          positive=True, optional=True)
        check_bool_params(self, ("warm_start",))
        check_n_threads(self.n_threads)
        self._moves = check_moves(self.moves)
        self._max_components = _check_max_components(self.max_components, self.n_components)

    def _prior(self, source):
        """The prior, the parameters left at None from ``default_prior`` (weighted moments
        with sample_weight)."""
        n_features = source.n_features
        m = shared(getattr(self, "_shared_start", None), "moments", lambda: moments(source))
        mean, var, total = m.mean, m.variances(ddof=1), m.total
        mclust = self.default_prior == "mclust"
        # mclust's G: the clusters the prior is scaled for, the most the fit may consider
        clusters = self.n_components
        if mclust and (self._moves or self.max_components is not None):
            clusters = self._max_components
        g0 = (1.0 / clusters if self.weight_concentration_prior is None
              else float(self.weight_concentration_prior))
        b0 = (MCLUST_MEAN_PRECISION if mclust else 1.0) if self.mean_precision_prior is None \
            else float(self.mean_precision_prior)
        m0 = mean if self.mean_prior is None else np.asarray(self.mean_prior, dtype=np.float64)
        if m0.shape != (n_features,) or not np.all(np.isfinite(m0)):
            raise ValueError(f"The parameter 'means' should have the shape of ({n_features},), "
                             f"but got {np.shape(self.mean_prior)}")
        n0 = self.degrees_of_freedom_prior
        if n0 is None:
            n0 = n_features + (MCLUST_EXTRA_DEGREES if mclust else 0.0)
        elif not (is_real(n0) and n0 > n_features - 1.0):
            got = f"{n0:.3f}" if is_real(n0) else repr(n0)
            raise ValueError(f"The parameter 'degrees_of_freedom_prior' should be greater than "
                             f"{n_features - 1}, but got {got}.")
        psi0 = COVARIANCES[self.covariance_type].prior(self.covariance_prior, source, mean, var,
                                                       total)
        if self.covariance_prior is None:
            if mclust:  # the covariance of one of G clusters that share the data's volume
                psi0 = psi0 / float(clusters) ** (2.0 / n_features)
            psi0 = _proper_default_prior(psi0, total, self.covariance_type)
        return FamilyPrior(self.covariance_type, self.weight_concentration_prior_type, g0, b0,
                           m0, float(n0), psi0, float(self.reg_covar))

    # -- fitting ---------------------------------------------------------------------------

    def _fit_source(self, source, callback=None):
        """The starts and the iterations, on a checked data source
        (:mod:`fastcavi.data.sources`)."""
        prior = self._prior(source)
        rng = check_random_state(self.random_state)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        dtype = source.dtype

        def one_run(run):
            if self.verbose:
                print(f"Initialization {run}")
            params = self._start(source, prior, rng) if do_init else self._params_
            report = self._verbose_callback() if self.verbose >= 1 else None
            if self._moves:
                out, moves, last = run_with_moves(
                    source, prior, params, algorithm=self.algorithm, kinds=self._moves,
                    max_components=self._max_components, max_iter=self.max_iter, tol=self.tol,
                    rng=rng, callback=both_callbacks(report, callback),
                    on_move=_print_move if self.verbose else None)
                bound = out.bounds[-1] if out.bounds else -np.inf
                return (out, last, moves), bound
            visit, update = family_model(prior, dtype)
            update = Recorder(update)
            # A fresh sweep per run: the incremental one keeps the blocks' statistics.
            sweep = make_sweep(self.algorithm, source, visit, update, prior.kind.stats_shape,
                               warm=not do_init)
            out = iterate(sweep, params, self.max_iter, self.tol, strict=True, dtype=dtype,
                          callback=both_callbacks(report, callback),
                          previous=None if do_init else self.lower_bound_)
            bound = out.bounds[-1] if out.bounds else -np.inf
            if self.verbose:
                state = "converged" if out.converged else "did not converge"
                print(f"Initialization {state}. lower bound {bound:.5f}.")
            return (out, update.last, None), bound

        # BLAS on one thread for the whole fit: set once here, not at each of the iterations'
        # p x p factorisations (a limit costs tens of microseconds; the nested ones only count)
        with single_threaded_blas():
            (out, self._kept, moves), bound, _ = self._best_of_runs(
                self.n_init if do_init else 1, one_run)
        if moves is None:
            self.__dict__.pop("moves_", None)
        else:
            self.moves_ = moves
        if not out.converged and self.max_iter > 0 and self.tol > 0:
            warnings.warn("Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate "
                          "data.", ConvergenceWarning, stacklevel=4)
        self._set_fitted(out.state, prior, out, bound)

    # -- streams (partial_fit) -------------------------------------------------------------

    def _stream_start(self, source):
        self._refuse_moves()
        prior = self._prior(source)
        return prior, self._start(source, prior, check_random_state(self.random_state))

    def _stream_resume(self):
        self._refuse_moves()
        return self._prior_, self._params_

    def _refuse_moves(self):
        if self._moves:
            raise ValueError("partial_fit cannot make moves: a move is judged by the ELBO of "
                             "all the data. Use fit (on any engine), or set moves=None.")

    @property
    def n_components_(self):
        """The number of components fitted."""
        check_is_fitted(self)
        return int(self.means_.shape[0])

    def _stream_model(self, prior, dtype):
        return (*family_model(prior, dtype), COVARIANCES[prior.covariance_type].stats_shape)

    def _set_stream_fitted(self, params, prior, bounds):
        self._set_fitted(params, prior, _Restored(bounds, False), bounds[-1])

    def _start(self, source, prior, rng):
        """The M-step from scikit-learn's starting responsibilities."""
        sums = initial_statistics(source, self.n_components, self.init_params, rng, prior.mean,
                                  matrix=COVARIANCES[prior.covariance_type].matrix,
                                  labels_cache=getattr(self, "_shared_start", None))
        return m_step_from_sums(*sums, prior)

    def _verbose_callback(self):
        """scikit-learn's progress lines: every ``verbose_interval`` iterations, the change of
        the bound (and the bound itself with verbose=2)."""
        previous = -np.inf

        def report(it, bound):
            nonlocal previous
            if (it + 1) % self.verbose_interval == 0:
                change = bound - previous
                print(f"  Iteration {it + 1}\t change: {change:.5f}" if self.verbose < 2 else
                      f"  Iteration {it + 1}\t lower bound: {bound:.5f}\t change: {change:.5f}")
            previous = bound

        return report

    def _set_fitted(self, params, prior, out, bound):
        self._params_ = params
        self._prior_ = prior
        self.converged_ = bool(out.converged)
        self.n_iter_ = len(out.bounds)
        self.lower_bound_ = float(bound)
        self.lower_bounds_ = list(out.bounds)
        self.weight_concentration_prior_ = prior.weight_concentration
        self.mean_precision_prior_ = prior.mean_precision
        self.mean_prior_ = prior.mean
        self.degrees_of_freedom_prior_ = prior.degrees_of_freedom
        self.covariance_prior_ = prior.covariance
        self.weight_concentration_ = params.weight_concentration
        self.mean_precision_ = params.mean_precision
        self.means_ = params.means
        self.degrees_of_freedom_ = params.degrees_of_freedom
        self.weights_ = expected_weights(prior.weight_type, params.weight_concentration)
        if COVARIANCES[prior.covariance_type].matrix:
            self.covariances_, self.precisions_, self.precisions_cholesky_ = \
                covariance_attributes(params, prior)
            return
        nu = params.degrees_of_freedom
        self.covariances_ = params.psi / (nu[:, None] if params.psi.ndim == 2 else nu)
        self.precisions_ = 1.0 / self.covariances_
        self.precisions_cholesky_ = 1.0 / np.sqrt(self.covariances_)

    def _restore_fitted(self, psi):
        """Rebuild the fitted model from the attributes a model file holds
        (:mod:`fastcavi.estimators.io`): weight_concentration_ as (K,) or stacked (2, K) sticks, and
        Psi_k (``psi``) as fitted."""
        conc = np.asarray(self.weight_concentration_, dtype=np.float64)
        if self.weight_concentration_prior_type == DIRICHLET_PROCESS:
            if conc.ndim != 2 or conc.shape[0] != 2:
                raise ValueError("weight_concentration_ of a process prior must be (2, K)")
            conc = (conc[0], conc[1])
        nu = self.degrees_of_freedom_
        if COVARIANCES[self.covariance_type].shared:
            if np.shape(nu) != ():
                raise ValueError(f"degrees_of_freedom_ of {self.covariance_type} must be a "
                                 f"scalar, got shape {np.shape(nu)}")
            nu = float(nu)
        if np.shape(psi) != np.shape(self.covariances_):
            raise ValueError(f"psi has shape {np.shape(psi)}, expected "
                             f"{np.shape(self.covariances_)}")
        psi0 = self.covariance_prior_
        prior = FamilyPrior(self.covariance_type, self.weight_concentration_prior_type,
                            self.weight_concentration_prior_, self.mean_precision_prior_,
                            self.mean_prior_, self.degrees_of_freedom_prior_,
                            float(psi0) if np.ndim(psi0) == 0 else psi0, float(self.reg_covar))
        params = FamilyParams(conc, self.mean_precision_, self.means_, nu, psi)
        bounds = list(self.lower_bounds_)
        self._set_fitted(params, prior, _Restored(bounds, self.converged_), self.lower_bound_)

    def _check_restored(self, path):
        k, p = self.means_.shape
        covariance = COVARIANCES[self.covariance_type]
        shapes = {"mean_precision_": (k,), "mean_prior_": (p,),
                  "degrees_of_freedom_": covariance.degrees_of_freedom_shape(k),
                  "covariances_": covariance.covariances_shape(k, p),
                  "lower_bounds_": (self.n_iter_,)}
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{path}: not a valid fastcavi model file ({name} has shape "
                                 f"{np.shape(getattr(self, name))}, expected {shape})")
        variances = covariance.variances(self.covariances_, k)
        if p != self.n_features_in_ or not (np.all(variances > 0)
                                            and np.all(self.mean_precision_ > 0)):
            raise ValueError(f"{path}: not a valid fastcavi model file (inconsistent shapes "
                             "or non-positive variances)")

    def save(self, path):
        """Write the fitted model to an ``.npz`` (no pickle); see :func:`fastcavi.load`."""
        from .io import save_model

        save_model(self, path)

    # -- prediction ------------------------------------------------------------------------

    _predict_block = staticmethod(predict_block)

    def _predict_args(self, kind):
        return (self._params_, self._prior_, kind)

    def sample(self, n_samples=1):
        """Draw from the fitted Gaussian mixture with ``weights_``, ``means_`` and
        ``covariances_`` (as scikit-learn does): returns (X, component labels)."""
        return sample_mixture(self, n_samples)


def _check_max_components(value, n_components):
    """max_components: None (``max(2 * n_components, 20)``) or an int >= n_components."""
    import numbers

    if value is None:
        return max(2 * int(n_components), 20)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < n_components:
        raise ValueError(f"max_components must be None or an int >= n_components "
                         f"({n_components}), got {value!r}")
    return int(value)


def _print_move(move):
    """verbose: one line per proposed move."""
    comps = ", ".join(str(c) for c in move.components)
    print(f"  move {move.kind}({comps}) at iteration {move.iteration}: ELBO gain "
          f"{move.gain:+.5g} {'accepted' if move.accepted else 'rejected'}")
