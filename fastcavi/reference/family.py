"""Reference CAVI for scikit-learn's variational mixtures, done exactly.

The models of scikit-learn's ``BayesianGaussianMixture`` (Bishop, *Pattern Recognition and
Machine Learning*, section 10.2; Blei & Jordan 2006 for the Dirichlet process), with the mixing
weights and the covariances learned, as exact conjugate mean-field CAVI. Plain Python loops
over points, components and features, one function per stage and per ELBO term, so that each
can be read against its equation. Slow on purpose: use it to check fast code, never to fit
real data.

The model (N points x_i in R^p with weights w_i, K components)::

    pi ~ Dir(g0, ..., g0)                           (weight_concentration_prior_type
      or pi_k = v_k prod_{j<k} (1 - v_j),             "dirichlet_distribution" or
         v_k ~ Beta(1, g0)                            "dirichlet_process")
    P_k ~ Wishart / Gamma by covariance_type        (see fastcavi.reference._components)
    mu_k | P_k ~ N(m0, (b0 P_k)^-1)
    c_i ~ Categorical(pi),  x_i | c_i, mu, P ~ N(mu_{c_i}, P_{c_i}^-1)

and the family ``q(c_i) = Cat(r_i)``, ``q(pi) = Dir(g)`` or ``q(v_k) = Beta(a_k, b_k)``,
``q(mu_k, P_k) = N(mu_k | m_k, (b_k P_k)^-1) x (Wishart or Gamma posterior of P_k)``.

Names follow scikit-learn: ``weight_concentration_prior`` g0, ``mean_precision_prior`` b0,
``mean_prior`` m0, ``degrees_of_freedom_prior`` n0, ``covariance_prior`` Psi0; ``resp`` r
(N, K). ``sample_weight`` (optional, length N, non-negative) makes point i count w_i times.
scikit-learn's ``covariances_`` is Psi_k / nu_k (:func:`covariances`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._components import (
    COVARIANCE_TYPES,
    covariances,
    expected_log_det,
    expected_mahalanobis,
    kl_components,
    kl_gamma,
    kl_wishart,
    log_student_t,
    precisions,
    update_components,
)
from ._weights import (
    DIRICHLET_DISTRIBUTION,
    DIRICHLET_PROCESS,
    WEIGHT_PRIOR_TYPES,
    expected_log_weights,
    expected_weights,
    kl_weights,
    update_weights,
)

__all__ = [
    "COVARIANCE_TYPES",
    "DIRICHLET_DISTRIBUTION",
    "DIRICHLET_PROCESS",
    "WEIGHT_PRIOR_TYPES",
    "FamilyResult",
    "Params",
    "Prior",
    "cavi",
    "covariances",
    "default_prior",
    "elbo",
    "elbo_assignments",
    "elbo_entropy",
    "elbo_likelihood",
    "elbo_terms",
    "expected_log_det",
    "expected_log_weights",
    "expected_mahalanobis",
    "expected_weights",
    "kl_components",
    "kl_gamma",
    "kl_weights",
    "kl_wishart",
    "log_predictive",
    "log_resp",
    "log_student_t",
    "precisions",
    "statistics",
    "update",
    "update_components",
    "update_weights",
]

_LOG_2PI = math.log(2.0 * math.pi)


def _rows(X):
    return np.asarray(X, dtype=np.float64).tolist()


def _weights(sample_weight, n):
    if sample_weight is None:
        return [1.0] * n
    return [float(w) for w in np.asarray(sample_weight, dtype=np.float64).reshape(n)]


# ----------------------------------------------------------------------------------------------
# prior and variational parameters
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prior:
    """The hyperparameters, as scikit-learn names them.

    Attributes
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration_prior : float
        g0 > 0.
    mean_precision_prior : float
        b0 > 0.
    mean_prior : array (p,)
        m0.
    degrees_of_freedom_prior : float
        n0; full and tied need n0 > p - 1, diag and spherical n0 > 0.
    covariance_prior : float, array (p,) or array (p, p)
        Psi0: (p, p) for full and tied, (p,) for diag, a float for spherical.
    reg_covar : float
        Added as scikit-learn adds it: ``reg_covar * I`` to C_k / N_k. The exact facts
        (evidence, bounds) hold at 0.
    """

    covariance_type: str
    weight_concentration_prior_type: str
    weight_concentration_prior: float
    mean_precision_prior: float
    mean_prior: Any
    degrees_of_freedom_prior: float
    covariance_prior: Any
    reg_covar: float = 0.0

    def __post_init__(self):
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}")
        if self.weight_concentration_prior_type not in WEIGHT_PRIOR_TYPES:
            raise ValueError(f"weight_concentration_prior_type must be one of "
                             f"{WEIGHT_PRIOR_TYPES}")
        m0 = np.array(self.mean_prior, dtype=np.float64).reshape(-1)
        p = m0.shape[0]
        psi0 = np.array(self.covariance_prior, dtype=np.float64)
        want = {"full": (p, p), "tied": (p, p), "diag": (p,), "spherical": ()}
        if psi0.shape != want[self.covariance_type]:
            raise ValueError(f"covariance_prior must have shape {want[self.covariance_type]} "
                             f"for {self.covariance_type!r}, got {psi0.shape}")
        low = p - 1.0 if self.covariance_type in ("full", "tied") else 0.0
        if not float(self.degrees_of_freedom_prior) > low:
            raise ValueError(f"degrees_of_freedom_prior must be > {low}")
        if not (float(self.weight_concentration_prior) > 0
                and float(self.mean_precision_prior) > 0 and float(self.reg_covar) >= 0):
            raise ValueError("weight_concentration_prior and mean_precision_prior must be > 0, "
                             "reg_covar >= 0")
        object.__setattr__(self, "mean_prior", m0)
        object.__setattr__(self, "covariance_prior", float(psi0) if psi0.ndim == 0 else psi0)


def default_prior(X, covariance_type="full", weight_concentration_prior_type="dirichlet_process",
                  n_components=1, *, weight_concentration_prior=None, mean_precision_prior=None,
                  mean_prior=None, degrees_of_freedom_prior=None, covariance_prior=None,
                  reg_covar=1e-6):
    """A :class:`Prior` with scikit-learn's defaults for every hyperparameter left as None.

    ``weight_concentration_prior`` 1 / K, ``mean_precision_prior`` 1, ``mean_prior`` the data
    mean, ``degrees_of_freedom_prior`` p, ``covariance_prior`` the sample covariance
    ``np.atleast_2d(np.cov(X.T))`` (ddof = 1) for full and tied, the per-feature variance
    (ddof = 1) for diag, its mean over features for spherical; ``reg_covar`` 1e-6. The
    defaults ignore any sample weights, as scikit-learn (which has none) does.
    """
    xs = _rows(X)
    n, p = len(xs), len(xs[0])
    if n < 2 and covariance_prior is None:
        raise ValueError("the default covariance_prior needs at least 2 points")
    mean = [sum(x[j] for x in xs) / n for j in range(p)]
    cov = [[sum((x[j] - mean[j]) * (x[q] - mean[q]) for x in xs) / (n - 1) for q in range(p)]
           for j in range(p)]
    if covariance_prior is None:
        if covariance_type in ("full", "tied"):
            covariance_prior = np.array(cov)
        elif covariance_type == "diag":
            covariance_prior = np.array([cov[j][j] for j in range(p)])
        else:
            covariance_prior = sum(cov[j][j] for j in range(p)) / p
    return Prior(
        covariance_type=covariance_type,
        weight_concentration_prior_type=weight_concentration_prior_type,
        weight_concentration_prior=(1.0 / n_components if weight_concentration_prior is None
                                    else weight_concentration_prior),
        mean_precision_prior=1.0 if mean_precision_prior is None else mean_precision_prior,
        mean_prior=np.array(mean) if mean_prior is None else mean_prior,
        degrees_of_freedom_prior=float(p) if degrees_of_freedom_prior is None
        else degrees_of_freedom_prior,
        covariance_prior=covariance_prior,
        reg_covar=reg_covar,
    )


@dataclass
class Params:
    """The variational parameters of q(pi) (or q(v)) and q(mu_k, P_k).

    Attributes
    ----------
    covariance_type : str
    weight_concentration_prior_type : str
    weight_concentration : array (K,) or tuple of two arrays (K,)
        g for ``dirichlet_distribution``, the stick parameters (a, b) for ``dirichlet_process``.
    mean_precision : array (K,)
        b_k.
    means : array (K, p)
        m_k.
    degrees_of_freedom : array (K,), or float for ``tied``
        nu_k.
    psi : array (K, p, p), (p, p), (K, p) or (K,) by ``covariance_type``
        Psi_k, the inverse scale matrix of the Wishart (full, tied) or twice the Gamma rates
        (diag, spherical).
    """

    covariance_type: str
    weight_concentration_prior_type: str
    weight_concentration: Any
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: Any
    psi: np.ndarray


# ----------------------------------------------------------------------------------------------
# M-step
# ----------------------------------------------------------------------------------------------


def statistics(X, resp, covariance_type, sample_weight=None):
    """The weighted statistics of one q(c): (N_k, xbar_k, C_k).

    ::

        N_k = sum_i w_i r_ik        xbar_k = sum_i w_i r_ik x_i / N_k   (0 where N_k = 0)
        C_k = sum_i w_i r_ik (x_i - xbar_k)(x_i - xbar_k)^T

    C_k is returned in the shape the type's update needs: (K, p, p) for full, the sum
    over k (p, p) for tied, the diagonals (K, p) for diag, the traces (K,) for spherical.
    """
    xs, r = _rows(X), _rows(resp)
    n, p, k_comp = len(xs), len(xs[0]), len(r[0])
    w = _weights(sample_weight, n)
    n_k = [sum(w[i] * r[i][k] for i in range(n)) for k in range(k_comp)]
    xbar = []
    for k in range(k_comp):
        s_k = [sum(w[i] * r[i][k] * xs[i][j] for i in range(n)) for j in range(p)]
        xbar.append([s / n_k[k] if n_k[k] > 0 else 0.0 for s in s_k])
    full = np.zeros((k_comp, p, p))
    for k in range(k_comp):
        for j in range(p):
            for q in range(p):
                full[k, j, q] = sum(w[i] * r[i][k] * (xs[i][j] - xbar[k][j])
                                    * (xs[i][q] - xbar[k][q]) for i in range(n))
    if covariance_type == "full":
        scatter = full
    elif covariance_type == "tied":
        scatter = np.array([[sum(full[k, j, q] for k in range(k_comp)) for q in range(p)]
                            for j in range(p)])
    elif covariance_type == "diag":
        scatter = np.array([[full[k, j, j] for j in range(p)] for k in range(k_comp)])
    else:
        scatter = np.array([sum(full[k, j, j] for j in range(p)) for k in range(k_comp)])
    return np.array(n_k), np.array(xbar), scatter


def update(stats, prior):
    """The M-step: q(pi) (or q(v)) and q(mu_k, P_k) from ``statistics(...)``.

    See :func:`update_weights` (``g_k = g0 + N_k``; ``a_k = 1 + N_k``,
    ``b_k = g0 + sum_{j>k} N_j``) and :func:`update_components` (``b_k = b0 + N_k``,
    ``m_k = (b0 m0 + N_k xbar_k) / b_k``, nu_k and Psi_k by type, ``reg_covar`` as
    scikit-learn adds it).
    """
    n_k, xbar, scatter = stats
    weights = update_weights(n_k, prior.weight_concentration_prior_type,
                             prior.weight_concentration_prior)
    b, m, nu, psi = update_components(n_k, xbar, scatter, prior)
    return Params(prior.covariance_type, prior.weight_concentration_prior_type, weights, b, m,
                  nu, psi)


# ----------------------------------------------------------------------------------------------
# E-step
# ----------------------------------------------------------------------------------------------


def _log_gauss_expected(X, params):
    """E_q[log N(x_i | mu_k, P_k^-1)] (N, K) as lists:
    ``E[log|P_k|]/2 - (p/2) log(2 pi) - E[(x_i - mu_k)^T P_k (x_i - mu_k)]/2``."""
    p = np.asarray(params.means).shape[1]
    e_log_det = expected_log_det(params).tolist()
    maha = expected_mahalanobis(X, params).tolist()
    return [[e_log_det[k] / 2.0 - p / 2.0 * _LOG_2PI - row[k] / 2.0 for k in range(len(row))]
            for row in maha]


def log_resp(X, params):
    """The E-step: log r (N, K) at the current q(pi), q(mu, P).

    ``log r_ik = E[log pi_k] + E[log|P_k|]/2 - (p/2) log(2 pi)
    - E[(x_i - mu_k)^T P_k (x_i - mu_k)]/2``, normalised over k with log-sum-exp.
    """
    e_log_pi = expected_log_weights(params).tolist()
    out = []
    for row in _log_gauss_expected(X, params):
        logits = [e_log_pi[k] + row[k] for k in range(len(row))]
        top = max(logits)
        log_norm = top + math.log(sum(math.exp(v - top) for v in logits))
        out.append([v - log_norm for v in logits])
    return np.array(out, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# the ELBO
# ----------------------------------------------------------------------------------------------


def elbo_likelihood(X, resp, params, sample_weight=None):
    """L_x = sum_i w_i sum_k r_ik [E[log|P_k|]/2 - (p/2) log(2 pi)
    - E[(x_i - mu_k)^T P_k (x_i - mu_k)]/2]."""
    r = _rows(resp)
    w = _weights(sample_weight, len(r))
    total = 0.0
    for i, row in enumerate(_log_gauss_expected(X, params)):
        total += w[i] * sum(r[i][k] * row[k] for k in range(len(row)))
    return total


def elbo_assignments(resp, params, sample_weight=None):
    """L_c = sum_i w_i sum_k r_ik E[log pi_k] = sum_k N_k E[log pi_k]."""
    r = _rows(resp)
    w = _weights(sample_weight, len(r))
    e_log_pi = expected_log_weights(params).tolist()
    return sum(w[i] * r[i][k] * e_log_pi[k] for i in range(len(r)) for k in range(len(r[i])))


def elbo_entropy(resp, sample_weight=None):
    """H_c = -sum_i w_i sum_k r_ik log r_ik, with 0 log 0 = 0."""
    r = _rows(resp)
    w = _weights(sample_weight, len(r))
    return -sum(w[i] * sum(v * math.log(v) for v in r[i] if v > 0.0) for i in range(len(r)))


def elbo_terms(X, resp, params, prior, sample_weight=None):
    """The five terms as a dict: ``L_x``, ``L_c``, ``H_c``, ``KL_pi``, ``KL_theta``."""
    return {
        "L_x": elbo_likelihood(X, resp, params, sample_weight),
        "L_c": elbo_assignments(resp, params, sample_weight),
        "H_c": elbo_entropy(resp, sample_weight),
        "KL_pi": kl_weights(params, prior),
        "KL_theta": kl_components(params, prior),
    }


def elbo(X, resp, params, prior, sample_weight=None):
    """The evidence lower bound ``L_x + L_c + H_c - KL_pi - KL_theta``, with every constant."""
    t = elbo_terms(X, resp, params, prior, sample_weight)
    return t["L_x"] + t["L_c"] + t["H_c"] - t["KL_pi"] - t["KL_theta"]


# ----------------------------------------------------------------------------------------------
# the posterior predictive density
# ----------------------------------------------------------------------------------------------


def log_predictive(X, params):
    """log p(x_i | data) (N,): the posterior predictive density under q, which integrates to 1.

    ``p(x | data) = sum_k wbar_k T_k(x)``, with wbar the normalised E[pi]
    (:func:`expected_weights`, scikit-learn's ``weights_``) and T_k the Student-t of
    :func:`log_student_t`. (scikit-learn's ``score_samples`` is instead the E-step's
    normaliser, which does not integrate to 1.)
    """
    log_w = [math.log(v) for v in expected_weights(params)]
    out = []
    for row in log_student_t(X, params).tolist():
        terms = [log_w[k] + row[k] for k in range(len(row))]
        top = max(terms)
        out.append(top + math.log(sum(math.exp(v - top) for v in terms)))
    return np.array(out, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------


@dataclass
class FamilyResult:
    """What :func:`cavi` returns: the final q, the last responsibilities and the ELBOs."""

    params: Params
    resp: np.ndarray          # (N, K), the r of the last E-step
    lower_bounds: np.ndarray  # (n_iter,), the ELBO after each iteration


def cavi(X, resp_init, prior, n_iter, sample_weight=None):
    """Run scikit-learn's order of CAVI updates from initial responsibilities.

    An M-step from ``resp_init``, then ``n_iter`` iterations of E-step, M-step, and the ELBO
    at the new (r, q(pi), q(mu, P)).

    Parameters
    ----------
    X : array (N, p)
    resp_init : array (N, K), rows summing to 1
    prior : Prior
    n_iter : int
    sample_weight : array (N,), optional

    Returns
    -------
    FamilyResult
    """
    X = np.asarray(X, dtype=np.float64)
    ctype = prior.covariance_type
    resp = np.asarray(resp_init, dtype=np.float64)
    params = update(statistics(X, resp, ctype, sample_weight), prior)
    bounds = []
    for _ in range(n_iter):
        resp = np.exp(log_resp(X, params))
        params = update(statistics(X, resp, ctype, sample_weight), prior)
        bounds.append(elbo(X, resp, params, prior, sample_weight))
    return FamilyResult(params, resp, np.array(bounds, dtype=np.float64))
