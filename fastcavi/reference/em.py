"""Reference EM for the maximum-likelihood Gaussian mixture (scikit-learn's ``GaussianMixture``),
written straight from the equations in plain Python loops. Slow on purpose: use it to check
the fast path, never to fit real data.

The model (N points x_i in R^p with weights w_i, K components)::

    p(x) = sum_k pi_k N(x | mu_k, Sigma_k)

One EM iteration, in scikit-learn's order, from parameters theta:

    E-step:   l_ik = log pi_k + log N(x_i | mu_k, Sigma_k),
              r_ik = exp(l_ik - log sum_j exp(l_ij))
    bound:    sum_i w_i log sum_k exp(l_ik) / sum_i w_i   (the mean log-likelihood at theta)
    M-step:   n_k = sum_i w_i r_ik + 10 eps,   pi_k = n_k / sum_j n_j,
              mu_k = sum_i w_i r_ik x_i / n_k,
              full:      Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg I
              tied:      Sigma = sum_k sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / sum_k n_k
                                 + reg I
              diag:      sigma_kj^2 = sum_i w_i r_ik (x_ij - mu_kj)^2 / n_k + reg
              spherical: sigma_k^2 = the mean over j of diag's sigma_kj^2

``eps`` is the machine epsilon of X's dtype (scikit-learn adds 10 eps to every n_k, so that an
empty component divides by a positive number) and ``reg`` is ``reg_covar``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@dataclass
class EMResult:
    """``weights`` (K,), ``means`` (K, p), ``covariances`` (scikit-learn's shapes), the last
    E-step's ``resp`` (N, K) and the ``bounds`` (one mean log-likelihood per iteration)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    resp: np.ndarray
    bounds: np.ndarray


def covariance_matrix(covariances, covariance_type, k, n_features):
    """Sigma_k as a p x p matrix."""
    if covariance_type == "full":
        return np.array(covariances[k], dtype=np.float64)
    if covariance_type == "tied":
        return np.array(covariances, dtype=np.float64)
    if covariance_type == "diag":
        return np.diag(np.asarray(covariances[k], dtype=np.float64))
    return float(covariances[k]) * np.eye(n_features)


def log_gaussian(x, mean, cov):
    """log N(x | mean, cov) = -(p/2) log(2 pi) - (1/2) log|cov| - (1/2) u^T cov^-1 u."""
    p = len(x)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        raise ValueError("a covariance is not positive definite")
    inv = np.linalg.inv(cov)
    u = [float(x[j]) - float(mean[j]) for j in range(p)]
    quad = 0.0
    for a in range(p):
        for b in range(p):
            quad += u[a] * inv[a, b] * u[b]
    return -0.5 * p * math.log(2.0 * math.pi) - 0.5 * logdet - 0.5 * quad


def e_step(X, weights, means, covariances, covariance_type, sample_weight=None):
    """(resp (N, K), the weighted mean of log p(x_i))."""
    n, p = X.shape
    k_comp = len(weights)
    covs = [covariance_matrix(covariances, covariance_type, k, p) for k in range(k_comp)]
    resp = np.zeros((n, k_comp))
    total = weight_sum = 0.0
    for i in range(n):
        logits = []
        for k in range(k_comp):
            log_w = math.log(weights[k]) if weights[k] > 0 else -math.inf
            logits.append(log_w + log_gaussian(X[i], means[k], covs[k]))
        top = max(logits)
        norm = top + math.log(sum(math.exp(v - top) for v in logits))
        for k in range(k_comp):
            resp[i, k] = math.exp(logits[k] - norm)
        w = 1.0 if sample_weight is None else float(sample_weight[i])
        total += w * norm
        weight_sum += w
    return resp, total / weight_sum


def m_step(X, resp, covariance_type, reg_covar, eps, sample_weight=None):
    """(weights, means, covariances) from the responsibilities (see the module docstring)."""
    n, p = X.shape
    k_comp = resp.shape[1]
    w = [1.0 if sample_weight is None else float(sample_weight[i]) for i in range(n)]
    nk = [sum(w[i] * resp[i, k] for i in range(n)) + 10.0 * eps for k in range(k_comp)]
    means = np.zeros((k_comp, p))
    for k in range(k_comp):
        for j in range(p):
            means[k, j] = sum(w[i] * resp[i, k] * X[i, j] for i in range(n)) / nk[k]
    scatter = np.zeros((k_comp, p, p))  # sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T
    for k in range(k_comp):
        for i in range(n):
            u = [float(X[i, j]) - means[k, j] for j in range(p)]
            for a in range(p):
                for b in range(p):
                    scatter[k, a, b] += w[i] * resp[i, k] * u[a] * u[b]
    if covariance_type == "full":
        cov = np.array([scatter[k] / nk[k] + reg_covar * np.eye(p) for k in range(k_comp)])
    elif covariance_type == "tied":
        cov = sum(scatter[k] for k in range(k_comp)) / sum(nk) + reg_covar * np.eye(p)
    elif covariance_type == "diag":
        cov = np.array([[scatter[k, j, j] / nk[k] + reg_covar for j in range(p)]
                        for k in range(k_comp)])
    else:
        cov = np.array([sum(scatter[k, j, j] / nk[k] + reg_covar for j in range(p)) / p
                        for k in range(k_comp)])
    weights = np.array(nk) / sum(nk)
    return weights, means, cov


def em(X, resp_init, covariance_type, reg_covar, n_iter, sample_weight=None):
    """The M-step from ``resp_init``, then ``n_iter`` iterations (E-step, bound, M-step)."""
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}")
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    eps = float(np.finfo(dtype).eps)
    X = np.asarray(X, dtype=np.float64)
    params = m_step(X, np.asarray(resp_init, dtype=np.float64), covariance_type, reg_covar,
                    eps, sample_weight)
    bounds = []
    resp = np.asarray(resp_init, dtype=np.float64)
    for _ in range(n_iter):
        resp, bound = e_step(X, *params, covariance_type, sample_weight)
        params = m_step(X, resp, covariance_type, reg_covar, eps, sample_weight)
        bounds.append(bound)
    return EMResult(*params, resp, np.array(bounds))


# -- incremental EM (Neal & Hinton 1998) -------------------------------------------------------

def free_energy(X, resp, weights, means, covariances, covariance_type, sample_weight=None):
    """F(q, theta) = sum_i w_i sum_k r_ik [log pi_k + log N(x_i | theta_k) - log r_ik], with
    0 log 0 = 0: at most the log-likelihood at theta, equal to it when r is the E-step's."""
    n, p = X.shape
    covs = [covariance_matrix(covariances, covariance_type, k, p) for k in range(len(weights))]
    total = 0.0
    for i in range(n):
        w = 1.0 if sample_weight is None else float(sample_weight[i])
        for k in range(len(weights)):
            r = float(resp[i, k])
            if r > 0.0:
                total += w * r * (math.log(weights[k]) + log_gaussian(X[i], means[k], covs[k])
                                  - math.log(r))
    return total


def incremental_em(X, params, covariance_type, reg_covar, n_passes, block_rows,
                   sample_weight=None, eps=None):
    """Incremental EM from ``params`` (weights, means, covariances): the rows in blocks of
    ``block_rows``; each visit is the E-step of one block at the current parameters, then the
    M-step from every block's latest responsibilities. In the first pass only the blocks seen
    so far have responsibilities; their weights are scaled up to the total weight for the
    M-step (except after the last block, when every block has them). Returns (params, the
    free energy per unit weight after every visit of the later passes, and after every
    pass)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    eps = float(np.finfo(np.float64).eps) if eps is None else eps
    starts = list(range(0, n, block_rows))
    resp = np.zeros((n, len(params[0])))
    seen = 0
    visits, passes = [], []
    for it in range(n_passes):
        for b, a in enumerate(starts):
            rows = slice(a, min(n, a + block_rows))
            resp[rows] = e_step(X[rows], *params, covariance_type, w[rows])[0]
            if it == 0:
                seen = rows.stop
                scale = w.sum() / w[:seen].sum() if seen < n else 1.0
                params = m_step(X[:seen], resp[:seen], covariance_type, reg_covar, eps,
                                w[:seen] * scale)
            else:
                params = m_step(X, resp, covariance_type, reg_covar, eps, w)
                visits.append(free_energy(X, resp, *params, covariance_type, w) / w.sum())
        passes.append(free_energy(X, resp, *params, covariance_type, w) / w.sum())
    return params, np.array(visits), np.array(passes)
