"""Independent oracles for the learned-weights, learned-covariance family, used only by tests.

Nothing here imports :mod:`fastcavi`. Every function is written again from
``shared/model-family.md`` with vectorised NumPy / SciPy instead of the reference's plain loops
(Cholesky solves, ``scipy.stats`` entropies and densities where they help), or computes a
quantity the ELBO must relate to without any CAVI at all: the closed-form evidence at K = 1
(and the same by the chain rule of Student-t predictives), the exact log evidence by
enumerating all K^N assignments, a Monte Carlo ELBO, and a sampler from the model.

``hyper`` is a dict with scikit-learn's names (the fields of the reference's ``Prior``):
``covariance_type``, ``weight_concentration_prior_type``, ``weight_concentration_prior`` g0,
``mean_precision_prior`` b0, ``mean_prior`` m0 (p,), ``degrees_of_freedom_prior`` n0,
``covariance_prior`` Psi0 (float, (p,) or (p, p)), ``reg_covar``. A q is a dict with keys
``weight_concentration`` (g, or the pair (a, b)), ``mean_precision`` b (K,), ``means`` m (K, p),
``degrees_of_freedom`` nu ((K,), one float for tied) and ``psi`` (Psi_k in the type's shape).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import linalg, special, stats

__all__ = [
    "TERM_NAMES",
    "centred_accumulators",
    "e_log_det",
    "e_log_pi",
    "e_maha",
    "elbo_terms",
    "expected_weights",
    "log_evidence_chain",
    "log_evidence_enumerate",
    "log_evidence_k1",
    "log_predictive",
    "log_resp",
    "m_step",
    "mc_elbo",
    "one_iteration",
    "sample_model",
    "vectorised_cavi",
    "wishart_logpdf",
]

TERM_NAMES = ("L_x", "L_c", "H_c", "KL_pi", "KL_theta")
LOG_2PI = math.log(2.0 * math.pi)


def _w(sample_weight, n):
    return np.ones(n) if sample_weight is None else np.asarray(sample_weight, float).reshape(n)


def _per_k_psi(q, ctype, k_comp):
    """Psi_k broadcast to one per component: (K, p, p), (K, p) or (K,)."""
    psi = np.asarray(q["psi"], dtype=np.float64)
    if ctype == "tied":
        return np.broadcast_to(psi, (k_comp,) + psi.shape)
    return psi


def _per_k_nu(q, k_comp):
    return np.broadcast_to(np.asarray(q["degrees_of_freedom"], dtype=np.float64), (k_comp,))


def _as_full(psi_k, ctype, p):
    """Psi_k as (K, p, p) matrices whatever the type."""
    if ctype in ("full", "tied"):
        return psi_k
    if ctype == "diag":
        return np.einsum("kj,jl->kjl", psi_k, np.eye(p))
    return psi_k[:, None, None] * np.eye(p)[None]


# --------------------------------------------------------------------------------------------
# vectorised CAVI
# --------------------------------------------------------------------------------------------


def statistics(X, resp, sample_weight=None):
    """(N_k (K,), xbar_k (K, p), C_k (K, p, p)) by einsum; xbar_k = 0 where N_k = 0."""
    X = np.asarray(X, dtype=np.float64)
    wr = np.asarray(resp, dtype=np.float64) * _w(sample_weight, X.shape[0])[:, None]
    n_k = wr.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xbar = np.where(n_k[:, None] > 0, (wr.T @ X) / n_k[:, None], 0.0)
    return n_k, xbar, _centred_sums(X, wr, xbar)[1]


def _centred_sums(X, wr, centres):
    """sum_i wr_ik (x_i - c_k) (K, p) and sum_i wr_ik (x_i - c_k)(x_i - c_k)^T (K, p, p): one
    product per component (an einsum over (K, N, p) would not use BLAS)."""
    k_comp, p = wr.shape[1], X.shape[1]
    first, second = np.empty((k_comp, p)), np.empty((k_comp, p, p))
    for k in range(k_comp):
        diff = X - centres[k]
        first[k] = wr[:, k] @ diff
        second[k] = (diff * wr[:, k, None]).T @ diff
    return first, second


def centred_accumulators(X, resp, centres, sample_weight=None):
    """What one pass over the data accumulates, centred on the means m_k that produced r:
    (N_k, S~_k = sum_i w_i r_ik (x_i - m_k), R~_k = sum_i w_i r_ik (x_i - m_k)(x_i - m_k)^T).
    Then C_k = R~_k - S~_k S~_k^T / N_k and, about any m', the scatter is
    R~_k - d S~_k^T - S~_k d^T + N_k d d^T with d = m' - m_k."""
    X = np.asarray(X, dtype=np.float64)
    wr = np.asarray(resp, dtype=np.float64) * _w(sample_weight, X.shape[0])[:, None]
    return (wr.sum(axis=0),
            *_centred_sums(X, wr, np.asarray(centres, dtype=np.float64)))


def m_step(X, resp, hyper, sample_weight=None):
    """q from r: the conjugate updates, reg_covar * N_k * I added to C_k."""
    ctype = hyper["covariance_type"]
    n_k, xbar, scatter = statistics(X, resp, sample_weight)
    k_comp, p = xbar.shape
    g0, b0, n0 = (hyper["weight_concentration_prior"], hyper["mean_precision_prior"],
                  hyper["degrees_of_freedom_prior"])
    m0 = np.asarray(hyper["mean_prior"], dtype=np.float64)
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    scatter = scatter + hyper.get("reg_covar", 0.0) * n_k[:, None, None] * np.eye(p)

    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        weights = g0 + n_k
    else:
        tail = np.concatenate([np.cumsum(n_k[::-1])[::-1][1:], [0.0]])  # sum_{j>k} N_j
        weights = (1.0 + n_k, g0 + tail)
    b = b0 + n_k
    means = (b0 * m0[None, :] + n_k[:, None] * xbar) / b[:, None]
    d = xbar - m0[None, :]
    f = b0 * n_k / b
    outer = f[:, None, None] * np.einsum("ki,kj->kij", d, d)       # f_k D_k D_k^T
    if ctype == "full":
        nu, psi = n0 + n_k, psi0[None] + scatter + outer
    elif ctype == "tied":
        nu, psi = n0 + n_k.sum(), psi0 + scatter.sum(axis=0) + outer.sum(axis=0)
    elif ctype == "diag":
        nu = n0 + n_k
        psi = psi0[None, :] + np.diagonal(scatter + outer, axis1=1, axis2=2)
    else:
        nu = n0 + p * n_k
        psi = psi0 + np.trace(scatter + outer, axis1=1, axis2=2)
    return dict(weight_concentration=weights, mean_precision=b, means=means,
                degrees_of_freedom=nu, psi=psi)


def e_log_pi(q, hyper):
    """E[log pi_k] (K,); for the process by cumulative sums of the sticks' digammas."""
    wc = q["weight_concentration"]
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        g = np.asarray(wc, dtype=np.float64)
        return special.digamma(g) - special.digamma(g.sum())
    a, b = (np.asarray(v, dtype=np.float64) for v in wc)
    e_log_v = special.digamma(a) - special.digamma(a + b)
    e_log_1mv = special.digamma(b) - special.digamma(a + b)
    return e_log_v + np.concatenate([[0.0], np.cumsum(e_log_1mv)[:-1]])


def expected_weights(q, hyper):
    """E[pi_k] normalised over the K components."""
    wc = q["weight_concentration"]
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        e = np.asarray(wc, dtype=np.float64)
    else:
        a, b = (np.asarray(v, dtype=np.float64) for v in wc)
        e = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
    return e / e.sum()


def e_log_det(q, hyper):
    """E[log|P_k|] (K,): Wishart digamma sum via slogdet, Gamma per feature / shared."""
    ctype = hyper["covariance_type"]
    k_comp, p = np.asarray(q["means"]).shape
    nu = _per_k_nu(q, k_comp)
    psi = _per_k_psi(q, ctype, k_comp)
    if ctype in ("full", "tied"):
        dig = special.digamma((nu[:, None] - np.arange(p)[None, :]) / 2.0).sum(axis=1)
        return dig + p * math.log(2.0) - np.linalg.slogdet(psi)[1]
    if ctype == "diag":
        return p * (special.digamma(nu / 2.0) + math.log(2.0)) - np.log(psi).sum(axis=1)
    return p * (special.digamma(nu / 2.0) + math.log(2.0) - np.log(psi))


def e_maha(X, q, hyper):
    """E[(x_i - mu_k)^T P_k (x_i - mu_k)] (N, K), full and tied by Cholesky solves."""
    ctype = hyper["covariance_type"]
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(q["means"], dtype=np.float64)
    k_comp, p = M.shape
    nu = _per_k_nu(q, k_comp)
    psi = _per_k_psi(q, ctype, k_comp)
    diff = X[:, None, :] - M[None, :, :]                            # (N, K, p)
    if ctype in ("full", "tied"):
        quad = np.empty((X.shape[0], k_comp))
        for k in range(k_comp):
            chol = linalg.cholesky(psi[k], lower=True)
            z = linalg.solve_triangular(chol, diff[:, k, :].T, lower=True)
            quad[:, k] = np.sum(z * z, axis=0)
    elif ctype == "diag":
        quad = np.sum(diff ** 2 / psi[None, :, :], axis=2)
    else:
        quad = np.sum(diff ** 2, axis=2) / psi[None, :]
    return p / np.asarray(q["mean_precision"])[None, :] + nu[None, :] * quad


def _log_gauss(X, q, hyper):
    p = np.asarray(X).shape[1]
    return 0.5 * e_log_det(q, hyper)[None, :] - 0.5 * p * LOG_2PI - 0.5 * e_maha(X, q, hyper)


def log_resp(X, q, hyper):
    logits = e_log_pi(q, hyper)[None, :] + _log_gauss(X, q, hyper)
    return logits - special.logsumexp(logits, axis=1, keepdims=True)


def _kl_precisions(q, hyper):
    """sum_k KL(q(P_k) || p(P_k)) as -H[q] - E_q[log p], with scipy's entropies."""
    ctype = hyper["covariance_type"]
    k_comp, p = np.asarray(q["means"]).shape
    n0 = hyper["degrees_of_freedom_prior"]
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    e_ld = e_log_det(q, hyper)
    if ctype in ("full", "tied"):
        prior = stats.wishart(df=n0, scale=np.linalg.inv(psi0))
        # log normaliser of the prior from scipy's density at the identity
        log_z0 = float(prior.logpdf(np.eye(p))) + 0.5 * np.trace(psi0)
        nu = _per_k_nu(q, k_comp)
        psi = _per_k_psi(q, ctype, k_comp)
        comps = [0] if ctype == "tied" else range(k_comp)
        total = 0.0
        for k in comps:
            ent = stats.wishart(df=nu[k], scale=np.linalg.inv(psi[k])).entropy()
            e_p = nu[k] * np.linalg.inv(psi[k])
            e_log_p = log_z0 + 0.5 * (n0 - p - 1) * e_ld[k] - 0.5 * np.trace(psi0 @ e_p)
            total += -ent - e_log_p
        return float(total)
    nu = np.asarray(q["degrees_of_freedom"], dtype=np.float64)
    shape_q = (nu / 2.0)[:, None] if ctype == "diag" else nu / 2.0
    rate_q = np.asarray(q["psi"], dtype=np.float64) / 2.0
    shape_0, rate_0 = n0 / 2.0, psi0 / 2.0
    ent = stats.gamma(shape_q, scale=1.0 / rate_q).entropy()
    e_log_l = special.digamma(shape_q) - np.log(rate_q)
    e_l = shape_q / rate_q
    e_log_p = (shape_0 * np.log(rate_0) - special.gammaln(shape_0)
               + (shape_0 - 1.0) * e_log_l - rate_0 * e_l)
    return float(np.sum(-ent - np.broadcast_to(e_log_p, np.shape(ent))))


def elbo_terms(X, resp, q, hyper, sample_weight=None):
    """The five terms ``L_x, L_c, H_c, KL_pi, KL_theta`` as a dict.

    KL_pi and the precision KLs are written as -entropy - E_q[log prior] with scipy.stats's
    entropies (not the closed-form KLs); the mean part as E_q[log q(mu|P) - log p(mu|P)].
    """
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    n, p = X.shape
    k_comp = resp.shape[1]
    w = _w(sample_weight, n)
    ctype = hyper["covariance_type"]
    g0, b0 = hyper["weight_concentration_prior"], hyper["mean_precision_prior"]
    m0 = np.asarray(hyper["mean_prior"], dtype=np.float64)

    l_x = float(np.sum(w[:, None] * resp * _log_gauss(X, q, hyper)))
    l_c = float(np.sum(w[:, None] * resp * e_log_pi(q, hyper)[None, :]))
    h_c = float(np.sum(w * special.entr(resp).sum(axis=1)))

    wc = q["weight_concentration"]
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        g = np.asarray(wc, dtype=np.float64)
        log_c0 = special.gammaln(k_comp * g0) - k_comp * special.gammaln(g0)
        e_log_prior = log_c0 + (g0 - 1.0) * e_log_pi(q, hyper).sum()
        kl_pi = -stats.dirichlet(g).entropy() - e_log_prior
    else:
        a, b = (np.asarray(v, dtype=np.float64) for v in wc)
        e_log_1mv = special.digamma(b) - special.digamma(a + b)
        e_log_prior = -special.betaln(1.0, g0) + (g0 - 1.0) * e_log_1mv
        kl_pi = np.sum(-stats.beta(a, b).entropy() - e_log_prior)

    bq = np.asarray(q["mean_precision"], dtype=np.float64)
    nu = _per_k_nu(q, k_comp)
    psi_full = _as_full(_per_k_psi(q, ctype, k_comp), ctype, p)
    dm = np.asarray(q["means"], dtype=np.float64) - m0[None, :]
    maha0 = np.einsum("ki,ki->k", dm, np.linalg.solve(psi_full, dm[:, :, None])[:, :, 0])
    e_ld = e_log_det(q, hyper)
    e_log_q_mu = -0.5 * p * (LOG_2PI + 1.0) + 0.5 * (p * np.log(bq) + e_ld)
    e_log_p_mu = (-0.5 * p * LOG_2PI + 0.5 * (p * np.log(b0) + e_ld)
                  - 0.5 * b0 * (p / bq + nu * maha0))
    kl_theta = _kl_precisions(q, hyper) + float(np.sum(e_log_q_mu - e_log_p_mu))
    return {"L_x": l_x, "L_c": l_c, "H_c": h_c, "KL_pi": float(kl_pi), "KL_theta": kl_theta}


def elbo(X, resp, q, hyper, sample_weight=None):
    t = elbo_terms(X, resp, q, hyper, sample_weight)
    return math.fsum([t["L_x"], t["L_c"], t["H_c"], -t["KL_pi"], -t["KL_theta"]])


def one_iteration(X, q, hyper, sample_weight=None):
    """E-step, M-step, ELBO: returns (resp, q, elbo)."""
    resp = np.exp(log_resp(X, q, hyper))
    q = m_step(X, resp, hyper, sample_weight)
    return resp, q, elbo(X, resp, q, hyper, sample_weight)


def vectorised_cavi(X, resp_init, hyper, n_iter, sample_weight=None):
    """scikit-learn's order from r: returns (q, resp, lower_bounds, history of (resp, q))."""
    q = m_step(X, resp_init, hyper, sample_weight)
    resp, bounds, history = np.asarray(resp_init, dtype=np.float64), [], []
    for _ in range(n_iter):
        resp, q, lb = one_iteration(X, q, hyper, sample_weight)
        bounds.append(lb)
        history.append((resp, q))
    return q, resp, np.array(bounds), history


# --------------------------------------------------------------------------------------------
# the posterior predictive
# --------------------------------------------------------------------------------------------


def log_predictive(X, q, hyper):
    """log sum_k wbar_k T_k(x) with scipy.stats.multivariate_t / t."""
    ctype = hyper["covariance_type"]
    X = np.asarray(X, dtype=np.float64)
    M = np.asarray(q["means"], dtype=np.float64)
    k_comp, p = M.shape
    bq = np.asarray(q["mean_precision"], dtype=np.float64)
    nu = _per_k_nu(q, k_comp)
    psi = _per_k_psi(q, ctype, k_comp)
    cols = []
    for k in range(k_comp):
        if ctype in ("full", "tied"):
            dof = nu[k] + 1 - p
            shape = np.linalg.inv(dof * bq[k] / (1 + bq[k]) * np.linalg.inv(psi[k]))
            cols.append(stats.multivariate_t(loc=M[k], shape=shape, df=dof).logpdf(X))
        elif ctype == "diag":
            scale = np.sqrt(psi[k] * (1 + bq[k]) / (bq[k] * nu[k]))
            cols.append(stats.t(df=nu[k], loc=M[k], scale=scale).logpdf(X).sum(axis=1))
        else:
            shape = psi[k] * (1 + bq[k]) / (bq[k] * nu[k]) * np.eye(p)
            cols.append(stats.multivariate_t(loc=M[k], shape=shape, df=nu[k]).logpdf(X))
    logt = np.reshape(np.stack(cols, axis=-1), (X.shape[0], k_comp))
    return special.logsumexp(logt + np.log(expected_weights(q, hyper))[None, :], axis=1)


# --------------------------------------------------------------------------------------------
# exact log evidence
# --------------------------------------------------------------------------------------------


def _group(X, hyper):
    """n, (C + f D D^T) (p, p), log(b0 / b_n) of the points X."""
    n, p = X.shape
    b0 = hyper["mean_precision_prior"]
    m0 = np.asarray(hyper["mean_prior"], dtype=np.float64)
    if n == 0:
        return 0, np.zeros((p, p)), 0.0
    xbar = X.mean(axis=0)
    c = (X - xbar).T @ (X - xbar)
    d = xbar - m0
    return n, c + b0 * n / (b0 + n) * np.outer(d, d), math.log(b0 / (b0 + n))


def _log_evidence_wishart(n, p, n0, psi0, s, log_b_ratio_sum):
    return (-(n * p / 2.0) * math.log(math.pi) + special.multigammaln((n0 + n) / 2.0, p)
            - special.multigammaln(n0 / 2.0, p) + (n0 / 2.0) * np.linalg.slogdet(psi0)[1]
            - ((n0 + n) / 2.0) * np.linalg.slogdet(psi0 + s)[1] + (p / 2.0) * log_b_ratio_sum)


def log_evidence_k1(X, hyper):
    """Closed-form log p(X) of one component (Normal-Wishart / Normal-Gamma conjugacy)."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    if n == 0:
        return 0.0
    ctype = hyper["covariance_type"]
    n0 = hyper["degrees_of_freedom_prior"]
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    _, s, log_ratio = _group(X, hyper)
    if ctype in ("full", "tied"):
        return float(_log_evidence_wishart(n, p, n0, psi0, s, log_ratio))
    if ctype == "diag":
        return float(np.sum(-(n / 2.0) * math.log(math.pi) + special.gammaln((n0 + n) / 2.0)
                            - special.gammaln(n0 / 2.0) + (n0 / 2.0) * np.log(psi0)
                            - ((n0 + n) / 2.0) * np.log(psi0 + np.diag(s))
                            + 0.5 * log_ratio))
    return float(-(n * p / 2.0) * math.log(math.pi) + special.gammaln((n0 + n * p) / 2.0)
                 - special.gammaln(n0 / 2.0) + (n0 / 2.0) * math.log(psi0)
                 - ((n0 + n * p) / 2.0) * math.log(psi0 + np.trace(s))
                 + (p / 2.0) * log_ratio)


def log_evidence_chain(X, hyper):
    """The same log p(X) as :func:`log_evidence_k1`, as sum_i log p(x_i | x_<i), each factor
    the Student-t posterior predictive of one component with scipy.stats (an oracle for the
    oracle: no determinant or multivariate gamma in sight)."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    total = 0.0
    for i in range(n):
        q = m_step(X[:i], np.ones((i, 1)), dict(hyper, reg_covar=0.0))
        h = dict(hyper, weight_concentration_prior_type="dirichlet_distribution")
        total += float(log_predictive(X[i:i + 1], q, h)[0])
    return total


def _log_prior_assignments(counts, hyper):
    g0 = hyper["weight_concentration_prior"]
    counts = np.asarray(counts, dtype=np.float64)
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        k_comp, n = len(counts), counts.sum()
        return (special.gammaln(k_comp * g0) - special.gammaln(n + k_comp * g0)
                + np.sum(special.gammaln(counts + g0) - special.gammaln(g0)))
    tail = np.concatenate([np.cumsum(counts[::-1])[::-1][1:], [0.0]])
    return float(np.sum(special.betaln(1.0 + counts, g0 + tail) - special.betaln(1.0, g0)))


def log_evidence_enumerate(X, K, hyper):
    """Exact log sum_{c in [K]^N} p(c) p(X | c) (tiny N only); tied shares one Wishart."""
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    tied = hyper["covariance_type"] == "tied"
    n0 = hyper["degrees_of_freedom_prior"]
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    cache = {}

    def group(mask):
        if mask not in cache:
            idx = [i for i in range(n) if mask >> i & 1]
            cache[mask] = _group(X[idx], hyper) if tied else log_evidence_k1(X[idx], hyper)
        return cache[mask]

    terms = []
    for assign in itertools.product(range(K), repeat=n):
        masks = [0] * K
        for i, c in enumerate(assign):
            masks[c] |= 1 << i
        counts = [bin(mk).count("1") for mk in masks]
        if tied:
            groups = [group(mk) for mk in masks]
            s = sum(g[1] for g in groups)
            log_ratio = sum(g[2] for g in groups)
            log_x = _log_evidence_wishart(n, p, n0, psi0, s, log_ratio)
        else:
            log_x = sum(group(mk) for mk in masks)
        terms.append(_log_prior_assignments(counts, hyper) + log_x)
    return float(special.logsumexp(terms))


# --------------------------------------------------------------------------------------------
# Monte Carlo ELBO
# --------------------------------------------------------------------------------------------


def wishart_logpdf(P, psi, nu):
    """log Wishart(P | scale Psi^-1, nu) for a stack P (..., p, p), by hand: scipy's logpdf
    handles one matrix at a time (tests check the two agree)::

        (nu/2) log|Psi| - (nu p/2) log 2 - log Gamma_p(nu/2) + ((nu - p - 1)/2) log|P|
        - tr(Psi P)/2
    """
    p = psi.shape[0]
    return ((nu / 2.0) * np.linalg.slogdet(psi)[1] - (nu * p / 2.0) * math.log(2.0)
            - special.multigammaln(nu / 2.0, p)
            + ((nu - p - 1.0) / 2.0) * np.linalg.slogdet(P)[1]
            - 0.5 * np.einsum("ij,...ji->...", psi, P))


def _draw_precisions(q, hyper, n_draws, rng):
    """P_k (D, K, p, p) from q, with log q(P) and log p(P) (D,)."""
    ctype = hyper["covariance_type"]
    k_comp, p = np.asarray(q["means"]).shape
    n0 = hyper["degrees_of_freedom_prior"]
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    nu = _per_k_nu(q, k_comp)
    psi = _per_k_psi(q, ctype, k_comp)
    log_q, log_p = np.zeros(n_draws), np.zeros(n_draws)
    if ctype in ("full", "tied"):
        P = np.empty((n_draws, k_comp, p, p))
        for k in ([0] if ctype == "tied" else range(k_comp)):
            post = stats.wishart(df=nu[k], scale=np.linalg.inv(psi[k]))
            draws = np.reshape(post.rvs(size=n_draws, random_state=rng), (n_draws, p, p))
            P[:, k] = draws
            log_q += wishart_logpdf(draws, psi[k], nu[k])
            log_p += wishart_logpdf(draws, psi0, n0)
        if ctype == "tied":
            P[:] = P[:, :1]
        return P, log_q, log_p
    if ctype == "diag":
        shape_q, rate_q = (nu / 2.0)[:, None], psi / 2.0
        lam = rng.gamma(shape_q, 1.0 / rate_q, size=(n_draws, k_comp, p))
        log_q = stats.gamma.logpdf(lam, shape_q, scale=1.0 / rate_q).sum(axis=(1, 2))
        log_p = stats.gamma.logpdf(lam, n0 / 2.0, scale=2.0 / psi0).sum(axis=(1, 2))
        return np.einsum("dkj,jl->dkjl", lam, np.eye(p)), log_q, log_p
    shape_q, rate_q = nu / 2.0, psi / 2.0
    lam = rng.gamma(shape_q, 1.0 / rate_q, size=(n_draws, k_comp))
    log_q = stats.gamma.logpdf(lam, shape_q, scale=1.0 / rate_q).sum(axis=1)
    log_p = stats.gamma.logpdf(lam, n0 / 2.0, scale=2.0 / psi0).sum(axis=1)
    return lam[:, :, None, None] * np.eye(p), log_q, log_p


def _log_normal_prec(x, mean, prec):
    """log N(x | mean, prec^-1) for stacks of vectors and precision matrices."""
    p = x.shape[-1]
    d = x - mean
    quad = np.einsum("...i,...ij,...j->...", d, prec, d)
    return -0.5 * p * LOG_2PI + 0.5 * np.linalg.slogdet(prec)[1] - 0.5 * quad


def _draw_log_weights(q, hyper, n_draws, rng):
    """log pi (D, K) from q, with log q and log p of the weights (D,), all in log space (the
    sticks through Gamma draws, so that 1 - v never rounds to 0)."""
    g0 = hyper["weight_concentration_prior"]
    wc = q["weight_concentration"]
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        g = np.asarray(wc, dtype=np.float64)
        log_g = np.log(rng.standard_gamma(g, size=(n_draws, len(g))))
        log_pi = log_g - special.logsumexp(log_g, axis=1, keepdims=True)
        log_q = special.gammaln(g.sum()) - special.gammaln(g).sum() + (log_pi * (g - 1)).sum(1)
        k_comp = len(g)
        log_p = (special.gammaln(k_comp * g0) - k_comp * special.gammaln(g0)
                 + (g0 - 1) * log_pi.sum(axis=1))
        return log_pi, log_q, log_p
    a, b = (np.asarray(v, dtype=np.float64) for v in wc)
    log_x = np.log(rng.standard_gamma(a, size=(n_draws, len(a))))
    log_y = np.log(rng.standard_gamma(b, size=(n_draws, len(b))))
    log_s = np.logaddexp(log_x, log_y)
    log_v, log_1mv = log_x - log_s, log_y - log_s
    log_pi = log_v + np.concatenate([np.zeros((n_draws, 1)),
                                     np.cumsum(log_1mv, axis=1)[:, :-1]], axis=1)
    log_q = ((a - 1) * log_v + (b - 1) * log_1mv - special.betaln(a, b)).sum(axis=1)
    log_p = ((g0 - 1) * log_1mv - special.betaln(1.0, g0)).sum(axis=1)
    return log_pi, log_q, log_p


def mc_elbo(X, resp, q, hyper, n_draws, rng, sample_weight=None):
    """E_q[log p(X, c, pi, mu, P) - log q(c, pi, mu, P)] by Monte Carlo: (mean, std error).

    Point i's terms (log p(x_i | c_i, ...), log p(c_i | pi), log q(c_i)) count w_i times.
    """
    X = np.asarray(X, dtype=np.float64)
    resp = np.asarray(resp, dtype=np.float64)
    n, p = X.shape
    M = np.asarray(q["means"], dtype=np.float64)
    k_comp = M.shape[0]
    w = _w(sample_weight, n)
    b0 = hyper["mean_precision_prior"]
    m0 = np.asarray(hyper["mean_prior"], dtype=np.float64)
    bq = np.asarray(q["mean_precision"], dtype=np.float64)

    log_pi, log_q_pi, log_p_pi = _draw_log_weights(q, hyper, n_draws, rng)
    P, log_q_prec, log_p_prec = _draw_precisions(q, hyper, n_draws, rng)
    chol = np.linalg.cholesky(P)                                     # P = L L^T
    z = rng.standard_normal((n_draws, k_comp, p, 1))
    mu = M[None] + np.linalg.solve(np.swapaxes(chol, -1, -2), z)[..., 0] / np.sqrt(bq)[None, :,
                                                                                         None]
    log_q_mu = _log_normal_prec(mu, M[None], bq[None, :, None, None] * P).sum(axis=1)
    log_p_mu = _log_normal_prec(mu, m0, b0 * P).sum(axis=1)

    cum = np.cumsum(resp, axis=1)
    u = rng.random((n_draws, n)) * cum[:, -1]
    c = (u[:, :, None] >= cum[None, :, :]).sum(axis=2)               # (D, N)
    log_x_all = _log_normal_prec(X[None, :, None, :], mu[:, None, :, :], P[:, None])  # (D,N,K)
    log_x = np.take_along_axis(log_x_all, c[:, :, None], axis=2)[:, :, 0]
    log_p_c = np.take_along_axis(log_pi, c, axis=1)
    with np.errstate(divide="ignore"):
        log_r = np.log(resp)
    log_q_c = log_r[np.arange(n)[None, :], c]
    per_point = (w[None, :] * (log_x + log_p_c - log_q_c)).sum(axis=1)
    vals = (per_point + log_p_pi + log_p_prec + log_p_mu - log_q_pi - log_q_prec - log_q_mu)
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(n_draws))


# --------------------------------------------------------------------------------------------
# sampler
# --------------------------------------------------------------------------------------------


def sample_model(rng, N, K, hyper):
    """Draw (X (N, p), labels (N,)) from the model. Under the process prior the K truncated
    weights sum to less than 1 and are renormalised for sampling."""
    ctype = hyper["covariance_type"]
    g0, b0, n0 = (hyper["weight_concentration_prior"], hyper["mean_precision_prior"],
                  hyper["degrees_of_freedom_prior"])
    m0 = np.asarray(hyper["mean_prior"], dtype=np.float64)
    psi0 = np.asarray(hyper["covariance_prior"], dtype=np.float64)
    p = m0.shape[0]
    if hyper["weight_concentration_prior_type"] == "dirichlet_distribution":
        pi = rng.dirichlet(np.full(K, g0))
    else:
        v = rng.beta(1.0, g0, size=K)
        pi = v * np.concatenate([[1.0], np.cumprod(1 - v)[:-1]])
        pi = pi / pi.sum()
    if ctype in ("full", "tied"):
        wish = stats.wishart(df=n0, scale=np.linalg.inv(psi0))
        draws = np.reshape(wish.rvs(size=1 if ctype == "tied" else K, random_state=rng),
                           (-1, p, p))
        P = np.broadcast_to(draws, (K, p, p))
    elif ctype == "diag":
        P = np.einsum("kj,jl->kjl", rng.gamma(n0 / 2.0, 2.0 / psi0, size=(K, p)), np.eye(p))
    else:
        P = rng.gamma(n0 / 2.0, 2.0 / psi0, size=K)[:, None, None] * np.eye(p)
    cov = np.linalg.inv(P)
    mu = np.array([rng.multivariate_normal(m0, cov[k] / b0) for k in range(K)])
    labels = rng.choice(K, size=N, p=pi)
    X = np.array([rng.multivariate_normal(mu[c], cov[c]) for c in labels]).reshape(N, p)
    return X, labels
