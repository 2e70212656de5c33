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
deleted when the bound falls by no more than that.

A birth's first step can lower the bound while the fit that settles around it is higher
(the other components give up the points the new one explains better). So a fit that has
settled with every component's birth rejected gives the :data:`TRIALS` rejected births that
came closest a **trial** (:func:`_trials`): each is made whatever its gain and the fit runs
until it settles; it is kept when that bound beats the settled fit without it by more than
``tol`` and both children keep points. The bound still never decreases.

Under the process prior every truncation K bounds the evidence of the same model. Under a
finite Dirichlet distribution each K is its own model, and comparing their raw bounds leaves
out the log K! of label symmetry (Bishop 2006, section 10.2.4) that the selection table adds:
moves are conservative there, a component must earn its place by more than log K.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import entr

from .._threads import single_threaded_blas
from ..inference.algorithms import Recorder, Run, iterate, make_sweep, recentre
from ..kernels import columns as _columns
from .family import FamilyStats
from .family_fit import family_model
from .fixed import kernel_means
from .proposals import (
    BIRTH_MIN_POINTS,
    MAX_BIRTHS,
    MIN_GAIN,
    birth_proposals,
    component_terms,
    merge_pairs,
    responsibilities,
    weight_terms,
)

MOVES = ("merge", "delete", "birth")
MOVE_EVERY = 10            # CAVI sweeps between rounds (fewer when the ELBO settles first)
MAX_DELETES = 1            # smallest components tried per round (each a full set of columns)
EMPTY = 1e-3               # a component with less weight than this holds no point
TRIALS = 2                 # rejected births a stalled fit gives time to pay off, best first
TRIAL_SWEEPS = 20          # the most CAVI sweeps each is given


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

    def __sub__(self, other):
        return Columns(self.n_k - other.n_k, self.s_k - other.s_k, self.r_k - other.r_k,
                       self.h_k - other.h_k, self.total_weight - other.total_weight)


def _neg_xlogx(r):
    """-r log r elementwise, 0 where r = 0 (scipy's ``entr``: one pass, no temporaries)."""
    return entr(r)


def column_sums(X, w, r, centres, matrix):
    """:class:`Columns` of responsibilities r (B, K) over rows X (B, p) float64 with weights
    w (B,) (:mod:`fastcavi.kernels.columns`)."""
    args = [np.ascontiguousarray(a, dtype=np.float64) for a in (X.T, w, r.T, centres)]
    sums = (_columns.column_sums_matrix if matrix else _columns.column_sums_diagonal)(*args)
    return Columns(*sums, float(w.sum()))


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
        gone = [deleted_columns(X, w, r, base, centres, j, matrix) for j in deletes]
    return RoundSums(base, pair_h, born, gone)


#: A row whose r_ij is at most this keeps its other columns as they are when j is deleted:
#: r_il / (1 - r_ij) is r_il to within half an ulp.
UNCHANGED = np.finfo(np.float64).eps / 2


def deleted_columns(X, w, r, base, centres, j, matrix):
    """The :class:`Columns` of ``delete_responsibilities(r, j)``, from ``base`` (those of r):
    only the rows where r_ij is above :data:`UNCHANGED` change, so when they are fewer than
    half the rows, only they are summed again (their old columns out, their new ones in);
    otherwise every row is."""
    cen = np.delete(centres, j, axis=0)
    moved = r[:, j] > UNCHANGED
    n_moved = int(np.count_nonzero(moved))
    if 2 * n_moved >= len(r):
        return column_sums(X, w, delete_responsibilities(r, j), cen, matrix)
    keep = np.arange(r.shape[1]) != j
    out = Columns(base.n_k[keep], base.s_k[keep], base.r_k[keep], base.h_k[keep],
                  base.total_weight)
    if n_moved == 0:
        return out
    Xm, wm, rm = X[moved], w[moved], r[moved]
    new = column_sums(Xm, wm, delete_responsibilities(rm, j), cen, matrix)
    old = column_sums(Xm, wm, rm[:, keep], cen, matrix)
    return out + (new - old)  # the moved rows' weight cancels exactly: the same wm sums


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


# -- a round --------------------------------------------------------------------------------------

@dataclass
class BirthLog:
    """The births rejected since the last accepted move: ``rejected[j]`` = (gain,
    :class:`~fastcavi.models.proposals.Split`) of component j's."""

    rejected: dict = field(default_factory=dict)

    def best(self, n):
        """The ``n`` rejected births of the highest gains, best first: (gain, j, Split)."""
        return sorted(((g, j, split) for j, (g, split) in self.rejected.items()),
                      key=lambda t: (-t[0], t[1]))[:n]


def move_round(source, prior, params, update, kinds, rng, *, last_stats=None, max_components,
               iteration=0, tried=None):
    """One round at q(theta) ``params``: the candidates (merge pairs by their bound, the
    smallest component to delete, births from :mod:`fastcavi.models.proposals`), then
    :func:`score_round`. ``tried``: the :class:`BirthLog` since the last accepted move (a
    component whose birth was rejected is not proposed again; updated here)."""
    with single_threaded_blas():  # p x p algebra: a second thread pool only fights the kernels
        return _move_round(source, prior, params, update, kinds, rng, last_stats,
                           max_components, iteration, BirthLog() if tried is None else tried)


def _move_round(source, prior, params, update, kinds, rng, last_stats, max_components,
                iteration, tried):
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
                                 min(MAX_BIRTHS, max_components - k),
                                 exclude=set(tried.rejected))
    out = score_round(source, prior, params, update, pairs, births, deletes,
                      max_components=max_components, iteration=iteration)
    if any(m.accepted for m in out[2]):
        tried.rejected.clear()
        return out
    splits = dict(births)
    tried.rejected.update({m.components[0]: (m.gain, splits[m.components[0]])
                           for m in out[2] if m.kind == "birth"})
    return out


def score_round(source, prior, params, update, pairs, births, deletes, *, max_components,
                iteration=0, take=False):
    """The pass at q(theta) ``params`` and the greedy choice among the given candidates:
    ``pairs`` to merge, ``births`` ((component, :class:`Split`)) and ``deletes``. Returns
    ``(params, bound, records, last)``: the new q(theta) (the ordinary sweep's when nothing is
    accepted) and its ELBO, a :class:`Move` per candidate (best first), and the statistics
    (with their centres) q(theta) was updated from. ``take``: make every candidate that clashes
    with none, whatever its gain (the start of a trial)."""
    centres = kernel_means(params.means, source.dtype).astype(np.float64)
    parts = source.map_rows(round_block, params, prior, centres, pairs, births, deletes,
                            threaded=True)
    sums = parts[0]
    for part in parts[1:]:
        sums = sums + part
    matrix = prior.kind.matrix
    base_stats = model_stats(sums.base, prior)
    base_params, base = update(base_stats, centres)
    base_layout = _layout(sums.base, centres)
    candidates = []
    for i, pair in enumerate(pairs):
        candidates.append(("merge", pair, sums.pair_h[i]))
    for i, (j, _) in enumerate(births):
        candidates.append(("birth", (j,), i))
    for i, j in enumerate(deletes):
        candidates.append(("delete", (j,), i))

    def stats_of(layout):
        cols, cen = layout.stats(prior)
        cols.total_weight = sums.base.total_weight
        return model_stats(cols, prior), cen

    def evaluate(layout):
        stats, cen = stats_of(layout)
        new, bound = update(stats, cen)
        return new, bound, len(cen), (stats, cen)

    alone = not prior.kind.shared  # a component's terms depend on its statistics only
    if alone:
        own = [component_terms(update, prior, base_stats, [j], centres)
               for j in range(len(centres))]
        weights_base = weight_terms(base_stats.n_k, prior)

    def gain_of(cand):
        """A candidate's exact gain alone; without a shared precision, from the terms of the
        components it changes (a merge's row j; a birth's row j and its new last row)."""
        layout = _apply(base_layout, cand, sums, centres, matrix)
        if not alone or cand[0] == "delete":
            return evaluate(layout)[1] - base
        st, cen = stats_of(layout)
        j = cand[1][0]
        rows = [j] if cand[0] == "merge" else [j, len(cen) - 1]
        return (component_terms(update, prior, st, rows, cen) - sum(own[c] for c in cand[1])
                + weight_terms(st.n_k, prior) - weights_base + st.entropy - base_stats.entropy)

    scored = sorted(((gain_of(cand), cand) for cand in candidates), key=lambda t: -t[0])
    margin = MIN_GAIN * abs(base)
    layout, best, best_params, touched, records = base_layout, base, base_params, set(), []
    best_stats = (base_stats, centres)
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
        if (take or gain > need) and not clash:
            trial = _apply(layout, cand, sums, centres, matrix)
            new, bound, kk, stats = evaluate(trial)
            if kk <= max_components and (take or bound > best + need):
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
    dtype = source.dtype
    visit, update = family_model(prior, dtype)
    bounds, records, converged, first, last, tried = [], [], False, True, None, BirthLog()
    state, before = params, params

    def report(bound, moves):
        """A round's (or the trials') bound and moves, to the trace and the callbacks."""
        bounds.append(bound)
        if callback is not None:
            callback(len(bounds) - 1, bound)
        for move in moves:
            if on_move is not None:
                on_move(move)
        records.extend(moves)

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
        report(bound, round_records)
        settled = out.converged and not any(m.accepted for m in round_records)
        if settled and not any(m.kind == "birth" for m in round_records):
            # No move helps, and no component is left to try a birth on: the best rejected
            # births get time to pay off (:func:`_trials`) before the fit ends.
            if not tried.rejected or len(bounds) >= max_iter:
                converged = True
                break
            (state, before, last, bound), trials = _trials(
                source, prior, state, bound, algorithm, tol, tried.best(TRIALS),
                max_components, len(bounds))
            report(bound, trials)
            if not any(m.accepted for m in trials):
                converged = True
                break
            tried.rejected.clear()
    return Run(state, bounds, converged, before), records, last


def _converge(source, prior, update, algorithm, tol, state, bound=None):
    """CAVI from ``state`` until the bound changes by less than ``tol`` (``bound``: the bound
    of ``state`` when known), at most :data:`TRIAL_SWEEPS` sweeps: (state, the state before
    the last sweep, the last statistics, the bound)."""
    visit = family_model(prior, source.dtype)[0]
    recorder = Recorder(update)
    sweep = make_sweep(algorithm, source, visit, recorder, prior.kind.stats_shape,
                       exact_first=True)
    out = iterate(sweep, state, TRIAL_SWEEPS, tol, strict=True, dtype=source.dtype,
                  previous=bound)
    return out.state, out.state_before_last, recorder.last, out.bounds[-1]


def _trials(source, prior, params, bound, algorithm, tol, births, max_components, iteration):
    """Rejected births given time to pay off, at a settled q(theta) ``params`` of ELBO
    ``bound``: each of ``births`` ((gain, component, Split), in turn) made whatever its gain,
    then CAVI until it settles, against the fit without it, settled too. The first is kept
    whose bound is above the other's by more than ``tol`` (a change the fit does not resolve)
    and round-off, and whose two children each keep
    :data:`~fastcavi.models.proposals.BIRTH_MIN_POINTS` of weight (not a near-empty component
    that the bound barely tells from none). Returns (the fit kept, as :func:`_converge` gives
    it, and a :class:`Move` per trial, its gain the difference of the two bounds)."""
    update = family_model(prior, source.dtype)[1]
    plain = _converge(source, prior, update, algorithm, tol, params, bound)
    moves = []
    for _, j, split in births:
        with single_threaded_blas():
            start, _, made, _ = score_round(source, prior, params, update, [], [(j, split)],
                                            [], max_components=max_components, take=True)
        if not made[0].accepted:
            continue
        born = _converge(source, prior, update, algorithm, tol, start)
        gain = born[3] - plain[3]
        n_k = born[2][0].n_k
        accepted = bool(gain > max(tol, MIN_GAIN * abs(plain[3]))
                        and min(n_k[j], n_k[-1]) >= BIRTH_MIN_POINTS)
        moves.append(Move("birth", (int(j),), float(gain), accepted, int(iteration)))
        if accepted:
            return born, moves
    return plain, moves

