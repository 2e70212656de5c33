"""Independent oracles used only by the tests.

Nothing here imports :mod:`fastcavi`. Every function is written again from ``docs/model.md``
(vectorised NumPy / SciPy instead of the reference's plain loops), or computes a quantity the
ELBO must relate to without any CAVI at all (exact log evidence, Monte Carlo ELBO), so that the
reference implementation can be checked against facts that do not depend on it.

Symbols: ``prior_mean`` alpha (scalar or (p,)), ``prior_var`` sigma2, ``likelihood_var``
lambda2, ``means`` m (K, p), ``mean_vars`` s2 (K,), ``resp`` phi (N, K).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import special, stats

__all__ = [
    "elbo_terms",
    "log_evidence_enumerate",
    "log_evidence_k1",
    "mc_elbo",
    "one_sweep",
    "sample_model",
    "vectorised_cavi",
]

TERM_NAMES = ("T1", "T2", "T3", "T4", "T5")


def _as_alpha(prior_mean, p):
    a = np.asarray(prior_mean, dtype=np.float64)
    return np.broadcast_to(a, (p,)).astype(np.float64)


def _as_weights(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).reshape(n)
    return w


# --------------------------------------------------------------------------------------------
# (a) vectorised CAVI
# --------------------------------------------------------------------------------------------


def log_resp(X, means, mean_vars, likelihood_var):
    """log phi (N, K), normalised with scipy.special.logsumexp."""
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(means, dtype=np.float64)
    s2 = np.asarray(mean_vars, dtype=np.float64)
    p = X.shape[1]
    logits = (X @ M.T - 0.5 * (np.einsum("kj,kj->k", M, M) + p * s2)[None, :]) / likelihood_var
    return logits - special.logsumexp(logits, axis=1, keepdims=True)


def update_q_mu(X, resp, prior_mean, prior_var, likelihood_var, sample_weight=None):
    """(m, s2) from phi, vectorised."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    w = _as_weights(sample_weight, n)
    wr = resp * w[:, None]
    n_k = wr.sum(axis=0)
    s_k = wr.T @ X
    s2 = 1.0 / (1.0 / prior_var + n_k / likelihood_var)
    m = s2[:, None] * (_as_alpha(prior_mean, p)[None, :] / prior_var + s_k / likelihood_var)
    return m, s2


def elbo_terms(X, resp, means, mean_vars, prior_mean, prior_var, likelihood_var,
               sample_weight=None, *, t3_form="direct"):
    """The five ELBO terms as a dict ``{"T1": ..., ..., "T5": ...}``.

    ``t3_form="direct"`` builds the full N x K matrix |x_i - m_k|^2 by broadcasting;
    ``t3_form="expanded"`` uses the one-pass accumulator formula of model.md
    (Q - 2 sum m.S + sum N_k (|m|^2 + p s2)), which cancels badly far from the origin.
    T5 uses scipy.special.entr.
    """
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    M = np.asarray(means, dtype=np.float64)
    s2 = np.asarray(mean_vars, dtype=np.float64)
    n, p = X.shape
    k = M.shape[0]
    w = _as_weights(sample_weight, n)
    alpha = _as_alpha(prior_mean, p)

    t1 = (-(k * p / 2.0) * np.log(2.0 * np.pi * prior_var)
          - np.sum(np.sum((M - alpha) ** 2, axis=1) + p * s2) / (2.0 * prior_var))
    t2 = -w.sum() * np.log(k)
    log_norm = -(p / 2.0) * np.log(2.0 * np.pi * likelihood_var)
    if t3_form == "direct":
        d2 = np.sum((X[:, None, :] - M[None, :, :]) ** 2, axis=2)  # (N, K)
        t3 = np.sum(w[:, None] * resp
                    * (log_norm - (d2 + p * s2[None, :]) / (2.0 * likelihood_var)))
    elif t3_form == "expanded":
        wr = resp * w[:, None]
        n_k = wr.sum(axis=0)
        s_k = wr.T @ X
        q = np.sum(w * np.sum(X * X, axis=1))
        n_tot = np.sum(w * resp.sum(axis=1))
        t3 = (n_tot * log_norm
              - (q - 2.0 * np.sum(M * s_k) + np.sum(n_k * (np.sum(M * M, axis=1) + p * s2)))
              / (2.0 * likelihood_var))
    else:
        raise ValueError(t3_form)
    t4 = np.sum((p / 2.0) * (1.0 + np.log(2.0 * np.pi * s2)))
    t5 = np.sum(w * special.entr(resp).sum(axis=1))
    return {"T1": float(t1), "T2": float(t2), "T3": float(t3), "T4": float(t4), "T5": float(t5)}


def elbo_total(X, resp, means, mean_vars, prior_mean, prior_var, likelihood_var,
               sample_weight=None):
    return math.fsum(elbo_terms(X, resp, means, mean_vars, prior_mean, prior_var,
                                likelihood_var, sample_weight).values())


def one_sweep(X, means, mean_vars, prior_mean, prior_var, likelihood_var, sample_weight=None):
    """One CAVI sweep: returns (means, mean_vars, resp, elbo)."""
    resp = np.exp(log_resp(X, means, mean_vars, likelihood_var))
    m, s2 = update_q_mu(X, resp, prior_mean, prior_var, likelihood_var, sample_weight)
    lb = elbo_total(X, resp, m, s2, prior_mean, prior_var, likelihood_var, sample_weight)
    return m, s2, resp, lb


def vectorised_cavi(X, means_init, mean_vars_init, prior_mean, prior_var, likelihood_var,
                    n_iter, sample_weight=None):
    """Independent vectorised CAVI; returns (means, mean_vars, resp, lower_bounds)."""
    X = np.asarray(X, dtype=np.float64)
    m = np.array(means_init, dtype=np.float64)
    s2 = np.broadcast_to(np.asarray(mean_vars_init, dtype=np.float64), (m.shape[0],)).copy()
    resp = None
    bounds = np.empty(n_iter)
    for t in range(n_iter):
        m, s2, resp, bounds[t] = one_sweep(X, m, s2, prior_mean, prior_var, likelihood_var,
                                           sample_weight)
    return m, s2, resp, bounds


# --------------------------------------------------------------------------------------------
# (b), (c) exact log evidence
# --------------------------------------------------------------------------------------------


def log_evidence_k1(X, prior_mean, prior_var, likelihood_var):
    """Closed-form log p(x) for K = 1 (Sherman-Morrison / matrix determinant lemma).

    Per dimension j, the column x[:, j] ~ N(alpha_j 1, lambda2 I + sigma2 11^T), columns
    independent. An empty X has log evidence 0.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] == 0:
        return 0.0
    n, p = X.shape
    d = X - _as_alpha(prior_mean, p)[None, :]
    lam2, sig2 = float(likelihood_var), float(prior_var)
    c = lam2 + n * sig2
    logdet = (n - 1) * math.log(lam2) + math.log(c)
    col_sum = d.sum(axis=0)
    quad = (np.sum(d * d, axis=0) - sig2 * col_sum ** 2 / c) / lam2  # (p,)
    return float(np.sum(-0.5 * (n * math.log(2.0 * math.pi) + logdet + quad)))


def log_evidence_k1_scipy(X, prior_mean, prior_var, likelihood_var):
    """The same as :func:`log_evidence_k1` with dense covariances and scipy.stats."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    alpha = _as_alpha(prior_mean, p)
    cov = likelihood_var * np.eye(n) + prior_var * np.ones((n, n))
    return float(sum(stats.multivariate_normal(mean=np.full(n, alpha[j]), cov=cov).logpdf(X[:, j])
                     for j in range(p)))


def log_evidence_enumerate(X, K, prior_mean, prior_var, likelihood_var):
    """Exact log p(x) by summing over all K^N assignments (tiny N only)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    cache = {}

    def group(mask):
        if mask not in cache:
            idx = [i for i in range(n) if mask >> i & 1]
            cache[mask] = log_evidence_k1(X[idx], prior_mean, prior_var, likelihood_var)
        return cache[mask]

    terms = []
    for assign in itertools.product(range(K), repeat=n):
        masks = [0] * K
        for i, c in enumerate(assign):
            masks[c] |= 1 << i
        terms.append(sum(group(mk) for mk in masks))
    return float(special.logsumexp(terms) - n * math.log(K))


# --------------------------------------------------------------------------------------------
# (d) Monte Carlo ELBO
# --------------------------------------------------------------------------------------------


def mc_elbo(X, means, mean_vars, resp, prior_mean, prior_var, likelihood_var, n_draws, rng):
    """Monte Carlo estimate of E_q[log p(mu, c, x) - log q(mu, c)]: (mean, standard error)."""
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(means, dtype=np.float64)
    s2 = np.asarray(mean_vars, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    n, p = X.shape
    k = M.shape[0]
    alpha = _as_alpha(prior_mean, p)
    sd_q = np.sqrt(s2)[None, :, None]

    mu = M[None] + sd_q * rng.standard_normal((n_draws, k, p))            # (D, K, p)
    cum = np.cumsum(resp, axis=1)
    u = rng.random((n_draws, n)) * cum[:, -1]        # u < cum[i, -1]: a zero phi is never drawn
    c = (u[:, :, None] >= cum[None, :, :]).sum(axis=2)                    # (D, N)

    log_p_mu = stats.norm.logpdf(mu, loc=alpha, scale=math.sqrt(prior_var)).sum(axis=(1, 2))
    log_p_c = -n * math.log(k)
    mu_c = np.take_along_axis(mu, c[:, :, None], axis=1)                  # (D, N, p)
    log_p_x = stats.norm.logpdf(X[None], loc=mu_c,
                                scale=math.sqrt(likelihood_var)).sum(axis=(1, 2))
    log_q_mu = stats.norm.logpdf(mu, loc=M[None], scale=sd_q).sum(axis=(1, 2))
    with np.errstate(divide="ignore"):
        log_resp_ = np.log(resp)
    log_q_c = log_resp_[np.arange(n)[None, :], c].sum(axis=1)
    vals = log_p_mu + log_p_c + log_p_x - log_q_mu - log_q_c
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(n_draws))


# --------------------------------------------------------------------------------------------
# (e) sampler
# --------------------------------------------------------------------------------------------


def sample_model(rng, N, p, K, prior_mean, prior_var, likelihood_var):
    """Draw from the generative model: returns (X (N, p), labels (N,), true_means (K, p))."""
    alpha = _as_alpha(prior_mean, p)
    true_means = alpha[None, :] + math.sqrt(prior_var) * rng.standard_normal((K, p))
    labels = rng.integers(K, size=N)
    X = true_means[labels] + math.sqrt(likelihood_var) * rng.standard_normal((N, p))
    return X, labels, true_means


# --------------------------------------------------------------------------------------------
# (f) what the fast path's kernels compute, from the oracle's phi
# --------------------------------------------------------------------------------------------


def sweep_statistics(X, means, mean_vars, likelihood_var, sample_weight=None):
    """The K-sized sums of one sweep, centred on ``means``, from the N x K phi of
    :func:`log_resp`: ``(n_k, r_k, s_k, entropy, total_weight)`` with n_k = sum w phi,
    r_k = sum w phi |x - m_k|^2, s_k = sum w phi (x - m_k), entropy = sum w H(phi_i)."""
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(means, dtype=np.float64)
    n = X.shape[0]
    w = _as_weights(sample_weight, n)
    resp = np.exp(log_resp(X, M, mean_vars, likelihood_var))
    wr = resp * w[:, None]
    diff = X[:, None, :] - M[None, :, :]                                  # (N, K, p)
    n_k = wr.sum(axis=0)
    r_k = np.einsum("ik,ikj,ikj->k", wr, diff, diff)
    s_k = np.einsum("ik,ikj->kj", wr, diff)
    entropy = float(np.sum(w * special.entr(resp).sum(axis=1)))
    return n_k, r_k, s_k, entropy, float(w.sum())


def log_predictive(X, means, mean_vars, likelihood_var):
    """log sum_k (1/K) N(x | m_k, (lambda2 + s2_k) I) per point, with scipy.stats."""
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(means, dtype=np.float64)
    s2 = np.asarray(mean_vars, dtype=np.float64)
    k, p = M.shape
    logs = np.stack([stats.multivariate_normal(M[j], (likelihood_var + s2[j]) * np.eye(p))
                     .logpdf(X).reshape(-1) for j in range(k)], axis=1)
    return special.logsumexp(logs, axis=1) - math.log(k)
