"""The global step of the learned-weight, learned-precision mixtures (spherical and diag
precisions; Dirichlet distribution or process weights): everything O(K p) that follows one
pass over the data, and the weights and containers every covariance type shares. Full and
tied precisions: :mod:`fastcavi.models.family_full`, with the same three functions (:func:`m_step`,
:func:`elbo`, :func:`logit_params`); :func:`fastcavi.models.family_fit.model_math` picks one.

A pass (the kernels) returns, centred on the means ``m`` that produced the responsibilities
r (:class:`FamilyStats`)::

    N_k = sum_i w_i r_ik                    S_k = sum_i w_i r_ik (x_i - m_k)
    R_k = sum_i w_i r_ik (x_i - m_k)^2      per feature (diag) or summed over features
                                            (spherical)
    H   = -sum_i w_i sum_k r_ik log r_ik

From them, with no second pass and no cancellation far from the origin:
``xbar_k = m_k + S_k / N_k`` and the scatter ``C_k = R_k - S_k^2 / N_k`` (the M-step,
:func:`m_step`), and at the new means m' the likelihood term's
``sum_i w_i r_ik (x_i - m'_k)^2 = R_k - 2 d_k S_k + N_k d_k^2`` with ``d = m' - m``
(:func:`elbo`). The updates and the ELBO, with every constant, are those of
:mod:`fastcavi.reference.family` (which checks this module term by term).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ..inference.algorithms import Sums
from .covariance import COVARIANCES

DIRICHLET_DISTRIBUTION = "dirichlet_distribution"
DIRICHLET_PROCESS = "dirichlet_process"
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class FamilyPrior:
    """The hyperparameters (scikit-learn's names): ``covariance_type``, ``weight_type``,
    g0 ``weight_concentration``, b0 ``mean_precision``, m0 ``mean`` (p,), n0
    ``degrees_of_freedom``, Psi0 ``covariance`` (a float for spherical, (p,) for diag, (p, p)
    for full and tied; see :mod:`fastcavi.models.family_full`) and
    ``reg_covar`` (``reg_covar * I`` added to C_k / N_k, as scikit-learn adds it)."""

    covariance_type: str
    weight_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: object
    reg_covar: float

    @property
    def kind(self):
        """The covariance type's facts (:data:`fastcavi.models.covariance.COVARIANCES`)."""
        return COVARIANCES[self.covariance_type]


@dataclass
class FamilyParams:
    """q(pi) (``weight_concentration``: g (K,), or the sticks' (a, b)), and q(mu_k, P_k):
    b_k ``mean_precision`` (K,), m_k ``means`` (K, p), nu_k ``degrees_of_freedom`` ((K,); one
    float for tied) and Psi_k ``psi`` ((K,) spherical, (K, p) diag, (K, p, p) full, (p, p)
    tied)."""

    weight_concentration: object
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    psi: np.ndarray


@dataclass
class FamilyStats(Sums):
    """One pass's sums, centred on the means that produced r (see the module docstring)."""

    n_k: np.ndarray
    s_k: np.ndarray
    r_k: np.ndarray
    entropy: float
    total_weight: float


# -- weights -----------------------------------------------------------------------------------

def update_weights(n_k, weight_type, g0):
    """g_k = g0 + N_k; or the sticks a_k = 1 + N_k, b_k = g0 + sum_{j>k} N_j."""
    if weight_type == DIRICHLET_DISTRIBUTION:
        return g0 + n_k
    tail = np.concatenate((np.cumsum(n_k[::-1])[::-1][1:], [0.0]))
    return (1.0 + n_k, g0 + tail)


def expected_log_weights(weight_type, conc):
    """E[log pi_k]: psi(g_k) - psi(sum g); or psi(a_k) - psi(a_k + b_k)
    + sum_{j<k} [psi(b_j) - psi(a_j + b_j)]."""
    if weight_type == DIRICHLET_DISTRIBUTION:
        return digamma(conc) - digamma(np.sum(conc))
    a, b = conc
    d_ab = digamma(a + b)
    log_rest = digamma(b) - d_ab
    return digamma(a) - d_ab + np.concatenate(([0.0], np.cumsum(log_rest)[:-1]))


def expected_weights(weight_type, conc):
    """E[pi] normalised over the K components (scikit-learn's ``weights_``)."""
    if weight_type == DIRICHLET_DISTRIBUTION:
        return conc / np.sum(conc)
    a, b = conc
    v = a / (a + b)
    w = v * np.concatenate(([1.0], np.cumprod(1.0 - v)[:-1]))
    return w / np.sum(w)


def kl_weights(weight_type, conc, g0):
    """KL(q(pi) || p(pi)) (Dirichlet), or sum_k KL(q(v_k) || Beta(1, g0)) (process)."""
    if weight_type == DIRICHLET_DISTRIBUTION:
        k = len(conc)
        e_log = expected_log_weights(weight_type, conc)
        log_c = gammaln(np.sum(conc)) - np.sum(gammaln(conc))
        log_c0 = gammaln(k * g0) - k * gammaln(g0)
        return float(log_c - log_c0 + np.sum((conc - g0) * e_log))
    a, b = conc
    d_ab = digamma(a + b)
    e_log_v, e_log_1v = digamma(a) - d_ab, digamma(b) - d_ab
    return float(np.sum(-betaln(a, b) + (a - 1.0) * e_log_v + (b - 1.0) * e_log_1v
                        - math.log(g0) - (g0 - 1.0) * e_log_1v))


# -- components --------------------------------------------------------------------------------

def expected_log_det(covariance_type, nu, psi, n_features):
    """E[log|P_k|] (K,): p psi(nu_k/2) + p log 2 - sum_j log Psi_kj (diag),
    p [psi(nu_k/2) + log 2 - log Psi_k] (spherical)."""
    if COVARIANCES[covariance_type].per_feature:
        return n_features * (digamma(nu / 2.0) + math.log(2.0)) - np.sum(np.log(psi), axis=1)
    return n_features * (digamma(nu / 2.0) + math.log(2.0) - np.log(psi))


def _scaled_sq(covariance_type, psi, sq):
    """sum_j sq_kj / Psi_kj (diag) or sq_k / Psi_k (spherical, sq already summed)."""
    if COVARIANCES[covariance_type].per_feature:
        return np.sum(sq / psi, axis=1)
    return sq / psi


def update_means(n_k, xbar, prior):
    """The Gaussian half of q(mu_k, P_k), the same for every covariance type: ``b_k = b0 +
    N_k``, ``m_k = (b0 m0 + N_k xbar_k) / b_k``, and what the scatter update needs, ``D_k =
    xbar_k - m0`` and ``f_k = b0 N_k / b_k``; returns (b, m, D, f)."""
    b0, m0 = prior.mean_precision, prior.mean
    b = b0 + n_k
    means = (b0 * m0 + n_k[:, None] * xbar) / b[:, None]
    return b, means, xbar - m0, b0 * n_k / b


def update_components(n_k, xbar, scatter, prior):
    """q(mu_k, P_k) from N_k, xbar_k and the scatter C_k (diagonal (K, p) or trace (K,)).

    ``b_k = b0 + N_k``, ``m_k = (b0 m0 + N_k xbar_k) / b_k``; diag: ``nu_k = n0 + N_k``,
    ``Psi_kj = Psi0_j + C_kj + N_k reg + f_k D_kj^2``; spherical: ``nu_k = n0 + p N_k``,
    ``Psi_k = Psi0 + tr C_k + p N_k reg + f_k |D_k|^2``; ``D_k = xbar_k - m0``,
    ``f_k = b0 N_k / b_k``. An empty component keeps its prior.
    """
    n0, p = prior.degrees_of_freedom, prior.mean.shape[0]
    b, means, d, f = update_means(n_k, xbar, prior)
    if prior.kind.per_feature:
        nu = n0 + n_k
        psi = prior.covariance + scatter + (n_k * prior.reg_covar)[:, None] + f[:, None] * d * d
    else:
        nu = n0 + p * n_k
        psi = prior.covariance + scatter + p * n_k * prior.reg_covar + f * np.sum(d * d, axis=1)
    return b, means, nu, psi


def kl_gamma(shape_q, rate_q, shape_0, rate_0):
    """KL(Gamma(a_q, r_q) || Gamma(a_0, r_0)) (shape, rate), elementwise."""
    return ((shape_q - shape_0) * digamma(shape_q) - gammaln(shape_q) + gammaln(shape_0)
            + shape_0 * (np.log(rate_q) - np.log(rate_0)) + shape_q * (rate_0 - rate_q) / rate_q)


def kl_components(params, prior):
    """sum_k KL(q(mu_k, P_k) || p(mu_k, P_k)): the Gamma KLs of the precisions plus
    ``(1/2) [p b0/b_k - p + p log(b_k/b0) + b0 nu_k (m_k - m0)^T Psi_k^-1 (m_k - m0)]``."""
    b0, n0, m0 = prior.mean_precision, prior.degrees_of_freedom, prior.mean
    p = m0.shape[0]
    b, nu, psi = params.mean_precision, params.degrees_of_freedom, params.psi
    if prior.kind.per_feature:
        kl_prec = np.sum(kl_gamma(nu[:, None] / 2.0, psi / 2.0, n0 / 2.0,
                                  np.asarray(prior.covariance) / 2.0))
    else:
        kl_prec = np.sum(kl_gamma(nu / 2.0, psi / 2.0, n0 / 2.0, prior.covariance / 2.0))
    u = params.means - m0
    sq = u * u if prior.kind.per_feature else np.sum(u * u, axis=1)
    quad = _scaled_sq(prior.covariance_type, psi, sq)
    kl_mean = 0.5 * np.sum(p * b0 / b - p + p * np.log(b / b0) + b0 * nu * quad)
    return float(kl_prec + kl_mean)


# -- the global step -------------------------------------------------------------------------

def m_step(stats, means_used, prior):
    """The M-step from one pass's statistics centred on ``means_used`` (K, p)."""
    n_k = stats.n_k
    safe = np.where(n_k > 0, n_k, 1.0)
    shift = stats.s_k / safe[:, None]                 # xbar_k - m_k, 0 for an empty k
    xbar = means_used + shift
    if prior.kind.per_feature:
        scatter = np.maximum(stats.r_k - stats.s_k * shift, 0.0)
    else:
        scatter = np.maximum(stats.r_k - np.sum(stats.s_k * shift, axis=1), 0.0)
    b, means, nu, psi = update_components(n_k, xbar, scatter, prior)
    conc = update_weights(n_k, prior.weight_type, prior.weight_concentration)
    return FamilyParams(conc, b, means, nu, psi)


def elbo(stats, means_used, params, prior):
    """The exact ELBO ``L_x + L_c + H_c - KL_pi - KL_theta`` at the new q(theta), from the
    statistics of the responsibilities that produced it (centred on ``means_used``)."""
    p = prior.mean.shape[0]
    n_k = stats.n_k
    nu, psi, b = params.degrees_of_freedom, params.psi, params.mean_precision
    d = params.means - means_used
    if prior.kind.per_feature:
        sq = stats.r_k - 2.0 * d * stats.s_k + n_k[:, None] * d * d
    else:
        sq = stats.r_k - 2.0 * np.sum(d * stats.s_k, axis=1) + n_k * np.sum(d * d, axis=1)
    e_log_det = expected_log_det(prior.covariance_type, nu, psi, p)
    l_x = float(np.sum(n_k * (0.5 * e_log_det - 0.5 * p * _LOG_2PI - 0.5 * p / b)
                       - 0.5 * nu * _scaled_sq(prior.covariance_type, psi, sq)))
    e_log_pi = expected_log_weights(prior.weight_type, params.weight_concentration)
    l_c = float(np.sum(n_k * e_log_pi))
    kl_pi = kl_weights(prior.weight_type, params.weight_concentration,
                       prior.weight_concentration)
    return l_x + l_c + stats.entropy - kl_pi - kl_components(params, prior)


def logit_params(params, prior):
    """The E-step's logits in the kernels' form ``l_ik = -sum_j h_kj (x_ij - m_kj)^2 - o_k``:
    ``h = nu_k / (2 Psi_k)`` ((K,) spherical, (K, p) diag) and
    ``o_k = -(E[log pi_k] + E[log|P_k|]/2 - p / (2 b_k))`` (the -(p/2) log(2 pi) common to
    every k is left out: it cancels in r and in the entropy)."""
    p = prior.mean.shape[0]
    nu, psi = params.degrees_of_freedom, params.psi
    half_prec = 0.5 * (nu[:, None] / psi if prior.kind.per_feature else nu / psi)
    e_log_pi = expected_log_weights(prior.weight_type, params.weight_concentration)
    e_log_det = expected_log_det(prior.covariance_type, nu, psi, p)
    offsets = -(e_log_pi + 0.5 * e_log_det - 0.5 * p / params.mean_precision)
    return half_prec, offsets
