"""Slow, readable reference implementation of CAVI for the Bayesian Gaussian mixture.

Every function here is written straight from the equations of the model
(``docs/model.md``), with plain Python loops over points and components, so that it can be
read against the paper line by line. It is slow on purpose: use it to check the fast path
(:class:`fastcavi.GaussianMixtureCAVI`), never to fit real data.

The model (N points x_i in R^p, K components)::

    mu_k ~ N(alpha, sigma2 I)
    c_i ~ Categorical(1/K, ..., 1/K)
    x_i | c_i, mu ~ N(mu_{c_i}, lambda2 I)

and the mean-field family ``q(mu_k) = N(m_k, s2_k I)``, ``q(c_i) = Categorical(phi_i)``.

Names follow the estimator: ``prior_mean`` is alpha, ``prior_var`` is sigma2,
``likelihood_var`` is lambda2, ``means`` is m (K, p), ``mean_vars`` is s2 (K,), ``resp`` is
phi (N, K). ``sample_weight`` (optional, length N, non-negative) makes point i count w_i times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CAVIResult",
    "cavi",
    "elbo",
    "elbo_entropy_assignments",
    "elbo_entropy_means",
    "elbo_likelihood",
    "elbo_prior_assignments",
    "elbo_prior_means",
    "responsibilities",
    "update_means",
]


def _rows(X):
    return np.asarray(X, dtype=np.float64).tolist()


def _weights(sample_weight, n):
    if sample_weight is None:
        return [1.0] * n
    return [float(w) for w in np.asarray(sample_weight, dtype=np.float64)]


def _alpha(prior_mean, p):
    """alpha as a list of p floats (a scalar alpha means alpha * ones(p))."""
    a = np.asarray(prior_mean, dtype=np.float64)
    if a.ndim == 0:
        return [float(a)] * p
    return [float(v) for v in a.reshape(p)]


def _dot(u, v):
    return sum(a * b for a, b in zip(u, v))


def _sqdist(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v))


def responsibilities(X, means, mean_vars, *, likelihood_var):
    """CAVI update of q(c): phi (N, K) from the current q(mu).

    ``log phi_ik = [x_i . m_k - (|m_k|^2 + p s2_k) / 2] / lambda2 + const_i``,
    normalised over k with log-sum-exp.
    """
    xs, ms = _rows(X), _rows(means)
    s2 = [float(v) for v in np.asarray(mean_vars, dtype=np.float64)]
    p, lam2 = len(ms[0]), float(likelihood_var)
    resp = []
    for x in xs:
        logits = [(_dot(x, m) - (_dot(m, m) + p * s2k) / 2.0) / lam2 for m, s2k in zip(ms, s2)]
        top = max(logits)
        log_norm = top + math.log(sum(math.exp(lg - top) for lg in logits))
        resp.append([math.exp(lg - log_norm) for lg in logits])
    return np.array(resp, dtype=np.float64)


def update_means(X, resp, *, prior_mean, prior_var, likelihood_var, sample_weight=None):
    """CAVI update of q(mu): (m (K, p), s2 (K,)) from phi.

    With ``N_k = sum_i w_i phi_ik`` and ``S_k = sum_i w_i phi_ik x_i``::

        s2_k = 1 / (1/sigma2 + N_k/lambda2),   m_k = s2_k (alpha/sigma2 + S_k/lambda2)
    """
    xs, phi = _rows(X), _rows(resp)
    n, p, k_comp = len(xs), len(xs[0]), len(phi[0])
    w = _weights(sample_weight, n)
    alpha = _alpha(prior_mean, p)
    sig2, lam2 = float(prior_var), float(likelihood_var)
    means, mean_vars = [], []
    for k in range(k_comp):
        n_k = sum(w[i] * phi[i][k] for i in range(n))
        s_k = [sum(w[i] * phi[i][k] * xs[i][j] for i in range(n)) for j in range(p)]
        s2_k = 1.0 / (1.0 / sig2 + n_k / lam2)
        means.append([s2_k * (alpha[j] / sig2 + s_k[j] / lam2) for j in range(p)])
        mean_vars.append(s2_k)
    return np.array(means, dtype=np.float64), np.array(mean_vars, dtype=np.float64)


def elbo_prior_means(means, mean_vars, *, prior_mean, prior_var):
    """T1 = sum_k E_q[log p(mu_k)]
    = -(K p / 2) log(2 pi sigma2) - sum_k (|m_k - alpha|^2 + p s2_k) / (2 sigma2)."""
    ms = _rows(means)
    k_comp, p = len(ms), len(ms[0])
    alpha, sig2 = _alpha(prior_mean, p), float(prior_var)
    total = -(k_comp * p / 2.0) * math.log(2.0 * math.pi * sig2)
    for m, s2k in zip(ms, np.asarray(mean_vars, dtype=np.float64).tolist()):
        total -= (_sqdist(m, alpha) + p * s2k) / (2.0 * sig2)
    return total


def elbo_prior_assignments(n_samples, n_components, sample_weight=None):
    """T2 = sum_i w_i E_q[log p(c_i)] = -(sum_i w_i) log K."""
    return -sum(_weights(sample_weight, n_samples)) * math.log(n_components)


def elbo_likelihood(X, resp, means, mean_vars, *, likelihood_var, sample_weight=None):
    """T3 = sum_i w_i E_q[log p(x_i | c_i, mu)]
    = sum_i w_i sum_k phi_ik [-(p/2) log(2 pi lambda2) - (|x_i - m_k|^2 + p s2_k) / (2 lambda2)]."""
    xs, phi, ms = _rows(X), _rows(resp), _rows(means)
    s2 = np.asarray(mean_vars, dtype=np.float64).tolist()
    p, lam2 = len(xs[0]), float(likelihood_var)
    w = _weights(sample_weight, len(xs))
    log_norm = -(p / 2.0) * math.log(2.0 * math.pi * lam2)
    total = 0.0
    for x, phi_i, w_i in zip(xs, phi, w):
        for phi_ik, m, s2k in zip(phi_i, ms, s2):
            total += w_i * phi_ik * (log_norm - (_sqdist(x, m) + p * s2k) / (2.0 * lam2))
    return total


def elbo_entropy_means(mean_vars, n_features):
    """T4 = -sum_k E_q[log q(mu_k)] = sum_k (p/2) (1 + log(2 pi s2_k))."""
    p = n_features
    return sum((p / 2.0) * (1.0 + math.log(2.0 * math.pi * s2k))
               for s2k in np.asarray(mean_vars, dtype=np.float64).tolist())


def elbo_entropy_assignments(resp, sample_weight=None):
    """T5 = -sum_i w_i E_q[log q(c_i)] = -sum_i w_i sum_k phi_ik log phi_ik, with 0 log 0 = 0."""
    phi = _rows(resp)
    w = _weights(sample_weight, len(phi))
    return -sum(w_i * sum(v * math.log(v) for v in phi_i if v > 0.0) for phi_i, w_i in zip(phi, w))


def elbo(X, resp, means, mean_vars, *, prior_mean, prior_var, likelihood_var, sample_weight=None):
    """The evidence lower bound T1 + T2 + T3 + T4 + T5, with every constant."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    k_comp = np.asarray(means).shape[0]
    return (
        elbo_prior_means(means, mean_vars, prior_mean=prior_mean, prior_var=prior_var)
        + elbo_prior_assignments(n, k_comp, sample_weight)
        + elbo_likelihood(X, resp, means, mean_vars, likelihood_var=likelihood_var,
                          sample_weight=sample_weight)
        + elbo_entropy_means(mean_vars, p)
        + elbo_entropy_assignments(resp, sample_weight)
    )


@dataclass
class CAVIResult:
    """What :func:`cavi` returns: the final q and the ELBO after each sweep."""

    means: np.ndarray         # (K, p)
    mean_vars: np.ndarray     # (K,)
    resp: np.ndarray          # (N, K), the phi of the last sweep
    lower_bounds: np.ndarray  # (n_iter,)


def cavi(X, means_init, mean_vars_init, *, prior_mean, prior_var, likelihood_var, n_iter,
         sample_weight=None):
    """Run exactly ``n_iter`` CAVI sweeps from the given q(mu).

    One sweep updates phi from (m, s2), then (m, s2) from phi, then records the ELBO at the
    new (phi, m, s2).

    Parameters
    ----------
    X : array (N, p)
    means_init : array (K, p), starting m
    mean_vars_init : float or array (K,), starting s2
    prior_mean : float or array (p,), alpha
    prior_var : float, sigma2
    likelihood_var : float, lambda2
    n_iter : int, number of sweeps
    sample_weight : array (N,), optional

    Returns
    -------
    CAVIResult
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.array(means_init, dtype=np.float64)
    mean_vars = np.broadcast_to(np.asarray(mean_vars_init, dtype=np.float64),
                                (means.shape[0],)).copy()
    hyper = dict(prior_mean=prior_mean, prior_var=prior_var, likelihood_var=likelihood_var)
    resp = None
    bounds = []
    for _ in range(n_iter):
        resp = responsibilities(X, means, mean_vars, likelihood_var=likelihood_var)
        means, mean_vars = update_means(X, resp, sample_weight=sample_weight, **hyper)
        bounds.append(elbo(X, resp, means, mean_vars, sample_weight=sample_weight, **hyper))
    return CAVIResult(means, mean_vars, resp, np.array(bounds, dtype=np.float64))
