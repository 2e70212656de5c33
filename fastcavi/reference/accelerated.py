"""Reference accelerated CAVI: :func:`fastcavi.reference.family.cavi` with SQUAREM's step
(Varadhan & Roland 2008), written plainly, for the equivalence tests of the fast path's
``algorithm='accelerated'``.

Every third iteration, from the statistics of the last three E-steps (each re-expressed as
sums centred on the means of the last one: the weights N_k, the first moments S_k and the
scatters R_k, in the covariance type's shape), the step ::

    r = s1 - s0,   v = s2 - 2 s1 + s0,   a = -min(max(|r| / |v|, 1), limit)
    s' = s0 - 2 a r + a^2 v

proposes q(theta) = update(s'), after making empty (N_k, S_k and R_k zero; tied's R is one
pooled matrix and stays) every component whose N_k the step takes below zero. The iteration
then does its E-step at that q(theta) and keeps
the result when its ELBO is at least the last one; else it does the E-step at the q(theta)
of the plain iterations. ``limit`` starts at 1, grows 4-fold after a kept step that reached
it (at most 1024) and shrinks 4-fold after a step that was not kept.
"""

from __future__ import annotations

import math

import numpy as np

from .family import FamilyResult, elbo, log_resp, statistics, update

MAX_STEP, GROWTH = 1024.0, 4.0


def centred_sums(stats, centre, covariance_type):
    """(N_k, S_k, R_k) of ``statistics(...)`` = (N_k, xbar_k, C_k), centred on ``centre``
    (K, p): ``S_k = N_k (xbar_k - c_k)``, ``R_k = C_k + N_k d_k d_k^T`` (``d_k = xbar_k -
    c_k``) in the type's shape (tied: summed over k; diag: the diagonal; spherical: the
    trace)."""
    n, xbar, scatter = stats
    d = np.asarray(xbar) - np.asarray(centre)
    s = n[:, None] * d
    outer = [n[k] * np.outer(d[k], d[k]) for k in range(len(n))]
    if covariance_type == "full":
        r = scatter + np.array(outer)
    elif covariance_type == "tied":
        r = scatter + sum(outer)
    elif covariance_type == "diag":
        r = scatter + np.array([np.diag(o) for o in outer])
    else:
        r = scatter + np.array([np.trace(o) for o in outer])
    return n, s, r


def from_centred(n, s, r, centre, covariance_type):
    """The inverse of :func:`centred_sums`: (N_k, xbar_k, C_k) (xbar_k = c_k where N_k = 0)."""
    d = np.array([s[k] / n[k] if n[k] > 0 else np.zeros_like(s[k]) for k in range(len(n))])
    outer = [n[k] * np.outer(d[k], d[k]) for k in range(len(n))]
    if covariance_type == "full":
        scatter = r - np.array(outer)
    elif covariance_type == "tied":
        scatter = r - sum(outer)
    elif covariance_type == "diag":
        scatter = r - np.array([np.diag(o) for o in outer])
    else:
        scatter = r - np.array([np.trace(o) for o in outer])
    return n, np.asarray(centre) + d, scatter


def squarem_step(history, covariance_type, limit):
    """(statistics of the step, |a|) from three (statistics, centre) pairs; None when the
    iterations have not moved."""
    centre = history[-1][1]
    s0, s1, s2 = (centred_sums(st, centre, covariance_type) for st, _ in history)
    r = [b - a for a, b in zip(s0, s1)]
    v = [c - 2.0 * b + a for a, b, c in zip(s0, s1, s2)]
    r_norm = math.sqrt(sum(float(np.sum(x * x)) for x in r))
    v_norm = math.sqrt(sum(float(np.sum(x * x)) for x in v))
    if r_norm == 0.0 or v_norm == 0.0:
        return None
    a = -min(max(r_norm / v_norm, 1.0), limit)
    step = [x0 - 2.0 * a * x + a * a * y for x0, x, y in zip(s0, r, v)]
    gone = step[0] < 0.0  # a component the step carries past empty is made empty
    for x in step[:2] if covariance_type == "tied" else step:  # (tied: one pooled scatter)
        x[gone] = 0.0
    return from_centred(*step, centre, covariance_type), -a


def possible(stats, covariance_type):
    """Whether responsibilities could have these statistics (N_k, xbar_k, C_k): no weight
    below zero, no negative variance in a scatter (the diagonal of a matrix)."""
    n, _, scatter = stats
    c = np.asarray(scatter)
    variances = np.diagonal(c, axis1=-2, axis2=-1) if covariance_type in ("full", "tied") else c
    return bool(np.all(n >= 0.0) and np.all(variances >= 0.0))


def accelerated_cavi(X, resp_init, prior, n_iter, sample_weight=None):
    """:func:`fastcavi.reference.family.cavi` with SQUAREM's step (see the module docstring);
    same arguments and result. An iteration that tries a step and does not keep it does two
    E-steps."""
    X = np.asarray(X, dtype=np.float64)
    params = update(statistics(X, np.asarray(resp_init, dtype=np.float64),
                               prior.covariance_type, sample_weight), prior)
    params, resp, bounds = accelerated_from(X, params, prior, n_iter, sample_weight)
    return FamilyResult(params, resp, bounds)


def accelerated_from(X, params, prior, n_iter, sample_weight=None, tol=None):
    """The iterations of :func:`accelerated_cavi` from q(theta) = ``params``: (q(theta),
    the last E-step's responsibilities, the bounds). ``tol``: stop early once the bound has
    changed by less than ``tol`` per iteration on average over the last three (more than
    three iterations done)."""
    ctype = prior.covariance_type
    bounds, history, limit, resp = [], [], 1.0, None

    def iteration(q):
        r = np.exp(log_resp(X, q))
        stats = statistics(X, r, ctype, sample_weight)
        new = update(stats, prior)
        return r, (stats, q.means), new, elbo(X, r, new, prior, sample_weight)

    for _ in range(n_iter):
        if tol is not None and len(bounds) > 3 and abs(bounds[-1] - bounds[-4]) / 3 < tol:
            break
        if len(history) == 3:
            step = squarem_step(history, ctype, limit)
            history = []
            trial = None
            if step is not None and possible(step[0], ctype):
                try:  # an impossible q(theta) (a scatter not positive definite): no step
                    with np.errstate(all="ignore"):
                        trial = iteration(update(step[0], prior))
                except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                    trial = None
            if trial is not None:
                r, kept, new, bound = trial
                if bound >= bounds[-1]:
                    if step[1] >= limit:
                        limit = min(limit * GROWTH, MAX_STEP)
                    resp, params = r, new
                    history.append(kept)
                    bounds.append(bound)
                    continue
                limit = max(1.0, limit / GROWTH)
        resp, kept, params, bound = iteration(params)
        history.append(kept)
        bounds.append(bound)
    return params, resp, np.array(bounds, dtype=np.float64)


def subsample_start_cavi(X, resp_init, prior, n_iter, sample_weight=None, levels=(),
                         level_tol=1e-8, level_iter=1000, seed=0):
    """:func:`accelerated_cavi` started from accelerated CAVI converged on nested subsamples
    of the rows of positive weight (``levels``: their sizes, smallest first), the rows of each
    weighted by the data's total weight over the level's, so that it stands for all the data.
    The rows: ``sample_without_replacement`` of the largest level's count among the rows of
    positive weight, from ``RandomState(seed)``; a level of n rows takes the first n of a
    permutation of them drawn next from the same generator. A level stops as
    :func:`accelerated_from` with ``tol = level_tol`` times the data's total weight, or after
    ``level_iter`` iterations. Same result as :func:`accelerated_cavi`."""
    from sklearn.utils.random import sample_without_replacement

    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    params = update(statistics(X, np.asarray(resp_init, dtype=np.float64),
                               prior.covariance_type, sample_weight), prior)
    if levels:
        rs = np.random.RandomState(seed)
        positive = np.flatnonzero(w > 0)
        rows = positive[np.sort(sample_without_replacement(len(positive), levels[-1],
                                                           random_state=rs))]
        order = rs.permutation(len(rows))
        for size in levels:
            pick = rows[np.sort(order[:size])]
            weights = w[pick] * (w.sum() / w[pick].sum())
            params = accelerated_from(X[pick], params, prior, level_iter, weights,
                                      tol=level_tol * w.sum())[0]
    params, resp, bounds = accelerated_from(X, params, prior, n_iter, sample_weight)
    return FamilyResult(params, resp, bounds)
