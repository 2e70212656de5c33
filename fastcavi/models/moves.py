"""Moves that change the number of components of a variational mixture during its fit: merge
two components, delete one, or give birth to one by splitting another (Hughes & Sudderth 2013's
memoized moves, on the exact ELBO of :mod:`fastcavi.models.family`).

Every move is a new q(c) built from the current one, r (the E-step's responsibilities at the
current q(theta)):

* **merge** j and k: one column r_j + r_k;
* **delete** j: r_j's mass handed to the others in proportion to theirs, r'_l = r_l / (1 - r_j);
* **birth** from j: r_j split in two, r_j s(x) and r_j (1 - s(x)), where s is the posterior of
  the first of two Gaussians fitted (by EM) to a subsample of j's points.

A **round** is one pass over the data at the current q(theta). It computes, from one set of
responsibilities, the statistics of r (the ordinary CAVI sweep) and of every candidate r'
(a merge needs only the entropy of its merged column; the other statistics of a merge follow
from the two columns'), so every candidate's ELBO, ``L(r', q(theta)'(r'))`` with q(theta)' the
update from r', is exact, and so is its gain over the sweep's ``L(r, q(theta)(r))``. Candidates
are accepted greedily, best first, when they touch no component an accepted one touched and the
bound of everything accepted so far rises (a move that removes a component also on a tie
within round-off); so the ELBO never decreases, and a round without an accepted move is the
ordinary sweep. The one exception is an empty component (N_j < :data:`EMPTY`, less than a
thousandth of a point): deleting it costs each point log(1 - r_ij), about N_j in all, and it is
deleted when the bound falls by no more than that. Under the process prior every truncation K bounds the evidence of the same
model. Under a finite Dirichlet distribution each K is its own model, and comparing their
raw bounds leaves out the log K! of label symmetry (Bishop 2006, section 10.2.4) that the
selection table adds: moves are conservative there, a component must earn its place by
more than log K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._threads import single_threaded_blas
from ..inference.algorithms import iterate, make_sweep, recentre
from .family import FamilyStats
from .family_fit import family_model, predict_block
from .fixed import kernel_means

MOVES = ("merge", "delete", "birth")
MOVE_EVERY = 10            # CAVI sweeps between rounds (fewer when the ELBO settles first)
MAX_MERGES = 12            # candidate pairs scored per round (each a column of entropies)
NEIGHBOURS = 6             # a component's nearest others (by its mean) considered for merges
MAX_DELETES = 2            # smallest components tried per round (each a full set of columns)
MAX_BIRTHS = 2             # components tried per round
BIRTH_SAMPLE = 20_000      # rows drawn per round to fit birth proposals on
BIRTH_MIN_POINTS = 20      # a proposal needs this many (weighted) points of its component
MIN_GAIN = 1e-9            # relative to |ELBO|: smaller gains are round-off, never accepted
EMPTY = 1e-3               # a component with less weight than this holds no point


@dataclass(frozen=True)
class Move:
    """One proposed move: ``kind`` ('merge', 'delete' or 'birth'), ``components`` (indices in
    the model it was proposed to), ``gain`` (the exact ELBO change it makes), ``accepted``,
    and ``iteration`` (the sweep it was proposed at)."""

    kind: str
    components: tuple
    gain: float
    accepted: bool
    iteration: int


def check_moves(moves):
    """The moves a ``moves`` parameter names, as a tuple in MOVES' order (() for off)."""
    if moves is None or moves is False:
        return ()
    if moves is True or (isinstance(moves, str) and moves == "all"):
        return MOVES
    names = moves.split(",") if isinstance(moves, str) else moves
    try:
        names = [str(n).strip() for n in names]
    except TypeError:
        names = None
    if not names or any(n not in MOVES for n in names):
        raise ValueError(f"moves must be None, True, 'all' or a subset of {MOVES} (a list or a "
                         f"comma-separated string), got {moves!r}")
    return tuple(m for m in MOVES if m in names)


# -- one pass: the statistics of r and of the candidates --------------------------------------

@dataclass
class Columns:
    """Per-component sums of a q(c), each column centred on its own ``centres`` row:
    ``n_k``, ``s_k`` (K, p), ``r_k`` (K, p, p) when ``matrix`` else per feature (K, p), the
    column entropies ``h_k`` = -sum_i w_i r_ik log r_ik, and ``total_weight``."""

    n_k: np.ndarray
    s_k: np.ndarray
    r_k: np.ndarray
    h_k: np.ndarray
    total_weight: float

    def __add__(self, other):
        return Columns(self.n_k + other.n_k, self.s_k + other.s_k, self.r_k + other.r_k,
                       self.h_k + other.h_k, self.total_weight + other.total_weight)


def _neg_xlogx(r):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, -r * np.log(np.where(r > 0, r, 1.0)), 0.0)


def column_sums(X, w, r, centres, matrix):
    """:class:`Columns` of responsibilities r (B, K) over rows X (B, p) float64 with weights
    w (B,)."""
    k, p = r.shape[1], X.shape[1]
    wr = r * w[:, None]
    s = np.empty((k, p))
    sq = np.empty((k, p, p) if matrix else (k, p))
    for j in range(k):
        d = X - centres[j]
        s[j] = wr[:, j] @ d
        sq[j] = (d * wr[:, j, None]).T @ d if matrix else wr[:, j] @ (d * d)
    h = w @ _neg_xlogx(r)
    return Columns(wr.sum(axis=0), s, sq, h, float(w.sum()))


@dataclass
class RoundSums:
    """One round's sums: ``base`` (the :class:`Columns` of r), the merged columns' entropies
    ``pair_h`` (one per pair), and the Columns of each birth (its two children) and each
    delete (every other column)."""

    base: Columns
    pair_h: np.ndarray
    births: list
    deletes: list

    def __add__(self, other):
        return RoundSums(self.base + other.base, self.pair_h + other.pair_h,
                         [a + b for a, b in zip(self.births, other.births)],
                         [a + b for a, b in zip(self.deletes, other.deletes)])


def responsibilities(X, params, prior):
    """The E-step's r (B, K) for rows X, float64, rows summing to 1."""
    r = np.asarray(predict_block(np.ascontiguousarray(X), params, prior, "proba"),
                   dtype=np.float64)
    return r / r.sum(axis=1, keepdims=True)


def delete_responsibilities(r, j):
    """r without column j, its mass given to the others in proportion (a row with nothing
    elsewhere is spread evenly)."""
    rest = np.delete(r, j, axis=1)
    total = rest.sum(axis=1, keepdims=True)
    even = np.full_like(rest, 1.0 / rest.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, rest / np.where(total > 0, total, 1.0), even)


def round_block(X, w, params, prior, centres, pairs, births, deletes):
    """The block function of a round (any data source): :class:`RoundSums` of rows X."""
    with single_threaded_blas():  # the same sums for any number of threads
        r = responsibilities(X, params, prior)
        X = np.asarray(X, dtype=np.float64)
        w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
        matrix = prior.kind.matrix
        base = column_sums(X, w, r, centres, matrix)
        pair_h = np.array([w @ _neg_xlogx(r[:, j] + r[:, k]) for j, k in pairs])
        born = []
        for j, split in births:
            s = split.first(X)
            rj = r[:, j:j + 1]
            born.append(column_sums(X, w, np.hstack([rj * s[:, None], rj * (1.0 - s)[:, None]]),
                                    centres[[j, j]], matrix))
        gone = [column_sums(X, w, delete_responsibilities(r, j), np.delete(centres, j, axis=0),
                            matrix) for j in deletes]
    return RoundSums(base, pair_h, born, gone)


# -- from columns to the model's statistics ----------------------------------------------------

def model_stats(cols, prior):
    """:class:`~fastcavi.models.family.FamilyStats` (the scatter in the type's statistics
    shape) of Columns."""
    r = cols.r_k
    kind = prior.kind
    if kind.shared:
        r = r.sum(axis=0)
    elif not kind.per_feature:
        r = r.sum(axis=1)
    return FamilyStats(cols.n_k, cols.s_k, r, float(np.sum(cols.h_k)), cols.total_weight)


def _column(cols, j):
    return (cols.n_k[j], cols.s_k[j], cols.r_k[j], cols.h_k[j])


def _merged(col_j, c_j, col_k, c_k, h, matrix):
    """The merged column of j and k (entropy h), centred on c_j."""
    one = Columns(np.array([col_k[0]]), col_k[1][None], col_k[2][None], np.zeros(1), 0.0)
    moved = recentre(one, c_k[None], c_j[None], "full" if matrix else "diag")
    return (col_j[0] + col_k[0], col_j[1] + moved.s_k[0], col_j[2] + moved.r_k[0], h)


@dataclass
class _Layout:
    """A q(c) under construction: one entry per column (None once merged away), with its
    centre."""

    columns: list
    centres: list

    def stats(self, prior):
        keep = [i for i, c in enumerate(self.columns) if c is not None]
        cols = Columns(np.array([self.columns[i][0] for i in keep]),
                       np.array([self.columns[i][1] for i in keep]),
                       np.array([self.columns[i][2] for i in keep]),
                       np.array([self.columns[i][3] for i in keep]), 0.0)
        return cols, np.array([self.centres[i] for i in keep])


def _layout(cols, centres):
    return _Layout([_column(cols, j) for j in range(len(cols.n_k))], list(centres))


def _apply(layout, move, sums, centres, matrix):
    """The layout with one more (disjoint) move made."""
    kind, comps, data = move
    cols, cen = list(layout.columns), list(layout.centres)
    if kind == "merge":
        j, k = comps
        cols[j] = _merged(cols[j], cen[j], cols[k], cen[k], data, matrix)
        cols[k] = None
    elif kind == "birth":
        (j,), child = comps, sums.births[data]
        cols[j] = _column(child, 0)
        cols.append(_column(child, 1))
        cen.append(centres[j])
    else:
        return _layout(sums.deletes[data], np.delete(centres, comps[0], axis=0))
    return _Layout(cols, cen)


# -- choosing candidates -------------------------------------------------------------------------

def merge_pairs(stats, centres, update, prior, max_pairs=MAX_MERGES):
    """The pairs worth scoring, from the last sweep's statistics (``stats`` in the type's
    shape, centred on ``centres``): each pair's gain with the entropy left as it was bounds
    its true gain from above (merging lowers the entropy), so pairs whose bound does not rise
    are dropped; the best ``max_pairs`` of the others are kept."""
    k = len(stats.n_k)
    if k < 2:
        return []
    _, now = update(stats, centres)
    shape = prior.kind.stats_shape
    scale = np.std(centres, axis=0) + 1e-300
    dist = np.sum(((centres[:, None, :] - centres[None]) / scale) ** 2, axis=2)
    np.fill_diagonal(dist, np.inf)  # never a pair with itself (equal means tie with it)
    near = np.argsort(dist, axis=1, kind="stable")[:, :min(NEIGHBOURS, k - 1)]
    candidates = sorted({(min(j, int(o)), max(j, int(o))) for j in range(k) for o in near[j]})
    scored = []
    for j, o in candidates:
        moved = centres.copy()
        moved[o] = centres[j]
        st = recentre(stats, centres, moved, shape)
        keep = np.arange(k) != o
        r = st.r_k if prior.kind.shared else st.r_k[keep]
        merged = FamilyStats(st.n_k[keep], st.s_k[keep], r, st.entropy, st.total_weight)
        merged.n_k[j] += st.n_k[o]
        merged.s_k[j] += st.s_k[o]
        if not prior.kind.shared:
            merged.r_k[j] += st.r_k[o]
        _, bound = update(merged, centres[keep])
        gain = bound - now
        if gain > -MIN_GAIN * abs(now):
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
    resp = np.zeros((n, 2))
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
    n = source.count_positive()
    size = min(n, BIRTH_SAMPLE)
    rows = source.positive_rows(np.sort(rng.choice(n, size=size, replace=False)))
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


# -- a round --------------------------------------------------------------------------------------

def move_round(source, prior, params, update, kinds, rng, *, last_stats=None, max_components,
               iteration=0, tried=None):
    """One round at q(theta) ``params``: the candidates (:func:`candidates`), then
    :func:`score_round`. ``tried``: a set of components whose births were rejected since the
    last accepted move (not proposed again; updated here)."""
    tried = set() if tried is None else tried
    k = len(params.mean_precision)
    pairs = []
    if "merge" in kinds and last_stats is not None:
        pairs = merge_pairs(*last_stats, update, prior)
    deletes = []
    if "delete" in kinds and k > 1:
        deletes = [int(j) for j in np.argsort(last_stats[0].n_k if last_stats else
                                              np.zeros(k), kind="stable")[:MAX_DELETES]]
    births = []
    if "birth" in kinds and k < max_components:
        births = birth_proposals(source, params, prior, rng,
                                 min(MAX_BIRTHS, max_components - k), exclude=tried)
        tried |= {j for j, _ in births}
    out = score_round(source, prior, params, update, pairs, births, deletes,
                      max_components=max_components, iteration=iteration)
    if any(m.accepted for m in out[2]):
        tried.clear()
    return out


def score_round(source, prior, params, update, pairs, births, deletes, *, max_components,
                iteration=0):
    """The pass at q(theta) ``params`` and the greedy choice among the given candidates:
    ``pairs`` to merge, ``births`` ((component, :class:`Split`)) and ``deletes``. Returns
    ``(params, bound, records, last)``: the new q(theta) (the ordinary sweep's when nothing is
    accepted) and its ELBO, a :class:`Move` per candidate (best first), and the statistics
    (with their centres) q(theta) was updated from."""
    centres = kernel_means(params.means, source.dtype).astype(np.float64)
    parts = source.map_rows(round_block, params, prior, centres, pairs, births, deletes)
    sums = parts[0]
    for part in parts[1:]:
        sums = sums + part
    matrix = prior.kind.matrix
    base_params, base = update(model_stats(sums.base, prior), centres)
    base_layout = _layout(sums.base, centres)
    candidates = []
    for i, pair in enumerate(pairs):
        candidates.append(("merge", pair, sums.pair_h[i]))
    for i, (j, _) in enumerate(births):
        candidates.append(("birth", (j,), i))
    for i, j in enumerate(deletes):
        candidates.append(("delete", (j,), i))

    def evaluate(layout):
        cols, cen = layout.stats(prior)
        cols.total_weight = sums.base.total_weight
        stats = model_stats(cols, prior)
        new, bound = update(stats, cen)
        return new, bound, len(cols.n_k), (stats, cen)

    scored = []
    for cand in candidates:
        _, bound, kk, _ = evaluate(_apply(base_layout, cand, sums, centres, matrix))
        scored.append((bound - base, cand))
    scored.sort(key=lambda t: -t[0])
    margin = MIN_GAIN * abs(base)
    layout, best, best_params, touched, records = base_layout, base, base_params, set(), []
    best_stats = (model_stats(sums.base, prior), centres)
    for gain, cand in scored:
        kind, comps, _ = cand
        accepted = False
        clash = touched & set(comps) or (kind == "delete" and touched) or \
            ("delete" in {m.kind for m in records if m.accepted})
        # A move that removes a component is taken on a tie (within round-off): fewer
        # components when the bound cannot tell; one that adds must gain. An empty component
        # (N_j < EMPTY) goes when the bound falls by no more than N_j: each point loses
        # log(1 - r_ij) ~ -r_ij of it, and it explains nothing.
        need = -margin if kind != "birth" else margin
        if kind == "delete" and sums.base.n_k[comps[0]] < EMPTY:
            need -= 1.001 * sums.base.n_k[comps[0]]
        if gain > need and not clash:
            trial = _apply(layout, cand, sums, centres, matrix)
            new, bound, kk, stats = evaluate(trial)
            if kk <= max_components and bound > best + need:
                layout, best, best_params, best_stats, accepted = trial, bound, new, stats, True
                touched |= set(comps)
        records.append(Move(kind, tuple(int(c) for c in comps), float(gain), accepted,
                            int(iteration)))
    return best_params, best, records, best_stats


# -- the loop --------------------------------------------------------------------------------

def run_with_moves(source, prior, params, *, algorithm, kinds, max_components, max_iter, tol,
                   rng, callback=None, on_move=None):
    """CAVI with rounds of moves (:func:`move_round`) every :data:`MOVE_EVERY` sweeps or when
    the ELBO settles, until it has settled and a round accepts nothing, or ``max_iter`` sweeps
    (a round counts as one). Returns ``(Run, records, last)``, ``last`` the statistics and
    centres of the last update; ``on_move(Move)`` for each record."""
    from ..inference.algorithms import Recorder, Run

    dtype = source.dtype
    visit, update = family_model(prior, dtype)
    bounds, records, converged, first, last, tried = [], [], False, True, None, set()
    state, before = params, params
    while len(bounds) < max_iter:
        recorder = Recorder(update)
        sweep = make_sweep(algorithm, source, visit, recorder, prior.kind.stats_shape,
                           exact_first=not first)
        first = False
        out = iterate(sweep, state, min(MOVE_EVERY, max_iter - len(bounds)), tol, strict=True,
                      dtype=dtype, callback=None if callback is None else
                      (lambda it, b, _n=len(bounds): callback(_n + it, b)))
        bounds += out.bounds
        state, before, last = out.state, out.state_before_last, recorder.last
        if len(bounds) >= max_iter:
            break
        before = state
        state, bound, round_records, last = move_round(
            source, prior, state, update, kinds, rng, last_stats=recorder.last,
            max_components=max_components, iteration=len(bounds), tried=tried)
        bounds.append(bound)
        if callback is not None:
            callback(len(bounds) - 1, bound)
        for move in round_records:
            if on_move is not None:
                on_move(move)
        records += round_records
        settled = out.converged and not any(m.accepted for m in round_records)
        if settled and not any(m.kind == "birth" for m in round_records):
            converged = True  # no move helps, and no component is left to try a birth on
            break
    return Run(state, bounds, converged, before), records, last

