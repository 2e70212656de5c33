"""The candidates of the moves of :mod:`fastcavi.models.moves`: which pairs are worth a merge
(scored from the last sweep's statistics by a bound on their gain), and the births (a
component's points, from a subsample, fitted with two Gaussians whose posterior splits its
responsibilities); and the E-step's responsibilities of a block, which both use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.defaults import _subsample
from ..inference.algorithms import recentre
from .family import FamilyStats, expected_log_weights, kl_weights, update_weights
from .family_fit import predict_block

MAX_MERGES = 12            # candidate pairs scored per round (each a column of entropies)
NEIGHBOURS = 4             # a component's nearest others (by its mean) considered for merges
MAX_BIRTHS = 2             # components tried per round
BIRTH_SAMPLE = 20_000      # rows drawn per round to fit birth proposals on
BIRTH_MIN_POINTS = 20      # a proposal needs this many (weighted) points of its component
MIN_GAIN = 1e-9            # relative to |ELBO|: smaller gains are round-off, never accepted


def responsibilities(X, params, prior):
    """The E-step's r (B, K) for rows X, float64, rows summing to 1."""
    r = np.asarray(predict_block(np.ascontiguousarray(X), params, prior, "proba"),
                   dtype=np.float64)
    return r / r.sum(axis=1, keepdims=True)


def weight_terms(n_k, prior):
    """The weights' terms of the ELBO, ``L_c - KL_pi``, at the q(pi) that ``n_k`` updates to."""
    conc = update_weights(n_k, prior.weight_type, prior.weight_concentration)
    return float(np.sum(n_k * expected_log_weights(prior.weight_type, conc))) \
        - kl_weights(prior.weight_type, conc, prior.weight_concentration)


def component_terms(update, prior, stats, rows, centres):
    """The ELBO's terms of components ``rows`` alone (likelihood and KL terms; valid without
    a shared precision): the bound of a model of just those components less its weights'
    terms (its entropy is set to 0)."""
    sub = FamilyStats(stats.n_k[rows], stats.s_k[rows], stats.r_k[rows], 0.0,
                      float(np.sum(stats.n_k[rows])))
    return update(sub, centres[rows])[1] - weight_terms(sub.n_k, prior)


def _merged_stats(stats, centres, j, o, kind):
    """The statistics (in the type's shape) with component o merged into j (re-centred on j's
    centre), o removed, the entropy unchanged."""
    moved = centres.copy()
    moved[o] = centres[j]
    st = recentre(stats, centres, moved, kind.stats_shape)
    keep = np.arange(len(stats.n_k)) != o
    merged = FamilyStats(st.n_k[keep], st.s_k[keep], st.r_k if kind.shared else st.r_k[keep],
                         st.entropy, st.total_weight)
    merged.n_k[j] += st.n_k[o]
    merged.s_k[j] += st.s_k[o]
    if not kind.shared:  # one scatter per component; a shared one is pooled already
        merged.r_k[j] += st.r_k[o]
    return merged


def merge_pairs(stats, centres, update, prior, max_pairs=MAX_MERGES):
    """The pairs worth scoring, from the last sweep's statistics (``stats`` in the type's
    shape, centred on ``centres``), among each component's nearest neighbours: each pair's
    gain with the entropy left as it was bounds its true gain from above (merging lowers the
    entropy), so pairs whose bound does not rise are dropped; the best ``max_pairs`` of the
    others are kept. Without a shared precision a component's terms of the ELBO depend on its
    own statistics only, so a pair's bound changes only two components' terms and the
    weights'; each is computed alone (one p x p factorisation per pair, not K)."""
    k = len(stats.n_k)
    if k < 2:
        return []
    scale = np.std(centres, axis=0) + 1e-300
    dist = np.sum(((centres[:, None, :] - centres[None]) / scale) ** 2, axis=2)
    np.fill_diagonal(dist, np.inf)  # never a pair with itself (equal means tie with it)
    near = np.argsort(dist, axis=1, kind="stable")[:, :min(NEIGHBOURS, k - 1)]
    candidates = sorted({(min(j, int(o)), max(j, int(o))) for j in range(k) for o in near[j]})
    alone = not prior.kind.shared
    if alone:
        own = [component_terms(update, prior, stats, [j], centres) for j in range(k)]
        weights_now = weight_terms(stats.n_k, prior)
    else:
        _, now = update(stats, centres)
    scored = []
    for j, o in candidates:
        merged = _merged_stats(stats, centres, j, o, prior.kind)
        cen = np.delete(centres, o, axis=0)
        if alone:
            gain = component_terms(update, prior, merged, [j], cen) - own[j] - own[o] \
                + weight_terms(merged.n_k, prior) - weights_now
            scale_now = abs(weights_now) + abs(own[j]) + abs(own[o])
        else:
            gain = update(merged, cen)[1] - now
            scale_now = abs(now)
        if gain > -MIN_GAIN * scale_now:
            scored.append((gain, j, o))
    scored.sort(reverse=True)
    return [(j, o) for _, j, o in scored[:max_pairs]]


@dataclass(frozen=True)
class Split:
    """Two Gaussians (``means`` (2, p), lower Cholesky factors of their precisions ``chol``
    (2, p, p), ``log_weights`` (2,)): :meth:`first` is the posterior of the first."""

    means: np.ndarray
    chol: np.ndarray
    log_weights: np.ndarray

    def first(self, X):
        logs = []
        for c in range(2):
            z = (X - self.means[c]) @ self.chol[c]
            logs.append(self.log_weights[c] + np.sum(np.log(np.diag(self.chol[c])))
                        - 0.5 * np.sum(z * z, axis=1))
        return 1.0 / (1.0 + np.exp(np.clip(logs[1] - logs[0], -700.0, 700.0)))


def fit_split(X, w, rng, n_iter=20):
    """Two full-covariance Gaussians fitted by weighted EM to rows X (n, p) with weights w,
    from two k-means++ seeds (a ridge of 1e-3 of the mean variance keeps them proper); None
    when the rows cannot support them."""
    n, p = X.shape
    total = w.sum()
    if n < 4 or total <= 0:
        return None
    mean = w @ X / total
    ridge = 1e-3 * max(float(np.sum(w @ (X - mean) ** 2)) / (total * p), 1e-300)
    first = rng.choice(n, p=w / total)
    d2 = np.sum((X - X[first]) ** 2, axis=1) * w
    if d2.sum() <= 0:
        return None
    second = rng.choice(n, p=d2 / d2.sum())
    means = X[[first, second]].copy()
    for _ in range(3):  # Lloyd steps for a first split
        lab = np.argmin(((X[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
        resp = np.eye(2)[lab]
        nk = w @ resp
        if np.any(nk <= 0):
            return None
        means = (resp * w[:, None]).T @ X / nk[:, None]
    for _ in range(n_iter):
        nk = w @ resp
        if np.any(nk <= 1e-8 * total):
            return None
        means = (resp * w[:, None]).T @ X / nk[:, None]
        chol = np.empty((2, p, p))
        for c in range(2):
            d = X - means[c]
            cov = (d * (resp[:, c] * w)[:, None]).T @ d / nk[c] + ridge * np.eye(p)
            chol[c] = np.linalg.cholesky(np.linalg.inv(cov))
        split = Split(means, chol, np.log(nk / total))
        s = split.first(X)
        resp = np.column_stack([s, 1.0 - s])
    return split


def birth_proposals(source, params, prior, rng, n_births=MAX_BIRTHS, exclude=()):
    """(component, :class:`Split`) for up to ``n_births`` components not in ``exclude``,
    drawn with probability proportional to their share of a uniform subsample's
    responsibility, each split fitted on that subsample weighted by its responsibilities."""
    rows = _subsample(source, BIRTH_SAMPLE, rng)  # O(sample) memory, on every engine
    X = source.take(rows)
    w = source.take_weights(rows)
    w = np.ones(len(rows)) if w is None else w
    r = responsibilities(X, params, prior) * w[:, None]
    mass = r.sum(axis=0)
    able = np.array([j for j in np.flatnonzero(mass >= BIRTH_MIN_POINTS) if j not in exclude],
                    dtype=np.int64)
    if len(able) == 0:
        return []
    chosen = rng.choice(able, size=min(n_births, len(able)), replace=False,
                        p=mass[able] / mass[able].sum())
    out = []
    for j in sorted(int(c) for c in chosen):
        mine = r[:, j] > 1e-3 * r[:, j].max()
        split = fit_split(X[mine], r[mine, j], rng)
        if split is not None:
            out.append((j, split))
    return out
