"""The public estimator :class:`GaussianMixtureCAVI`: the known-variance mixture of
:mod:`fastcavi.estimators.known_variance` as a scikit-learn estimator."""

from __future__ import annotations

from .base import with_stream_parameters
from .estimator import MixtureBase
from .known_variance import KnownVarianceMixture


@with_stream_parameters
class GaussianMixtureCAVI(KnownVarianceMixture, MixtureBase):
    """Bayesian Gaussian mixture fitted by mean-field coordinate-ascent VI (CAVI).

    The model (Blei, Kucukelbir & McAuliffe 2017, section 3)::

        mu_k ~ N(alpha, sigma2 I),  c_i ~ Categorical(1/K, ..., 1/K),  x_i ~ N(mu_{c_i}, lambda2 I)

    with ``q(mu_k) = N(m_k, s2_k I)`` and ``q(c_i) = Categorical(phi_i)``. Each sweep updates
    phi, then (m, s2), in one parallel pass over the data; the exact ELBO (every constant)
    follows from K-sized sums, so no N x K array is formed during ``fit``.
    :meth:`score_samples` is the log posterior predictive density under q,
    ``log sum_k (1/K) N(x | m_k, (lambda2 + s2_k) I)``.

    Parameters
    ----------
    n_components : int, default=1
        K, the number of mixture components.
    prior_mean : float or array of shape (n_features,), default=None
        alpha, the prior mean of every mu_k. None: the (weighted) mean of the data.
    prior_var : float, default=None
        sigma2, the prior variance of each coordinate of mu_k. None: the data's variance
        averaged over features (so the prior covers where the data are, in the data's units).
    likelihood_var : float, default=None
        lambda2, the variance of each coordinate of x_i about its component mean. None: the
        mean squared distance per feature of (at most 20,000) points to their nearest of K
        k-means++ centres, a data-driven estimate of the within-cluster spread.
        When the data have no spread at all, the defaults fall back to 1.0.
    init_params : {'kmeans++', 'random_from_data', 'random'}, default='kmeans++'
        How the starting means are chosen when ``means_init`` is None: k-means++ seeding on
        (at most 20,000) points; K distinct random points; or the q(mu) update from random
        responsibilities.
    means_init : array of shape (n_components, n_features), default=None
        Starting m. When given, every restart starts from it.
    mean_vars_init : float or array of shape (n_components,), default=None
        Starting s2. None: every s2 equal to ``1 / (1/sigma2 + (N/K)/lambda2)``, the value an
        even split of the points would give. (Equal values cancel in the first phi, so only
        unequal values change the fit.)
    n_init : int, default=1
        Number of restarts; the run with the highest final ELBO is kept.
    max_iter : int, default=100
        Most sweeps per run.
    tol : float, default=1e-4
        A run has converged when the ELBO changes by at most ``tol`` per point (per unit of
        sample weight) between sweeps. ``tol=0`` runs exactly ``max_iter`` sweeps and does not
        warn.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (and the subsample for the defaults).
    n_threads : int, default=None
        Numba threads for the kernels; None or -1 use all; more than Numba has
        (``NUMBA_NUM_THREADS``, by default the cores available) are clamped to that, with a
        ``UserWarning``. Results are bit-identical for any value.
    verbose : int, default=0
        1 prints each run's result; 2 also prints the ELBO after every sweep.
    standardize : bool, default=False
        Centre every feature and divide it by its standard deviation before fitting (the model
        gives every feature one variance). Kept in ``center_``/``scale_``, applied to every X
        given to ``predict*``/``score*``, also after ``fastcavi.load``; ``means_`` are then in
        standardised units (``center_ + scale_ * means_`` in the data's). Copies X.
    {stream_parameters}
    Attributes
    ----------
    means_ : ndarray of shape (n_components, n_features)
        m, the means of q(mu_k), of the best run.
    mean_vars_ : ndarray of shape (n_components,)
        s2, the per-coordinate variances of q(mu_k).
    lower_bound_ : float
        The final ELBO of the best run (a total over the data, with every constant).
    lower_bounds_ : ndarray of shape (n_iter_,)
        The ELBO after every sweep of the best run.
    n_iter_ : int
        Sweeps run by the best run.
    converged_ : bool
        Whether the best run met ``tol``.
    prior_mean_, prior_var_, likelihood_var_ : the hyperparameters used (defaults resolved).
    n_features_in_ : int
        Number of features seen during fit.
    center_, scale_ : ndarray of shape (n_features,) or None
        With ``standardize=True``, the features' means and standard deviations (1.0 if none).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcavi import GaussianMixtureCAVI
    >>> X = np.r_[np.random.default_rng(0).normal(-5, 1, (200, 2)),
    ...           np.random.default_rng(1).normal(5, 1, (200, 2))]
    >>> gm = GaussianMixtureCAVI(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(0)
    array([-5.,  5.])
    """
