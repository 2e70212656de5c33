"""How a fit walks over the data: batch CAVI and incremental CAVI, for every model and every
data source (:mod:`fastcavi.data.sources`). Each returns a ``sweep(state) -> (state, elbo)`` for
the one CAVI loop, :func:`fastcavi.models.fixed.iterate`.

A model is described by two functions:

* ``visit(state) -> (block_fn, args, centre)``: the block function of the E-step and its
  statistics at the current q(theta), and the means (float64 (K, p)) the statistics will be
  centred on;
* ``update(stats, centre) -> (state, elbo)``: q(theta) from the statistics of every point and
  the exact ELBO there.

**Batch** (the default): every sweep is one map over all blocks, then one update.

**Incremental** (Neal & Hinton 1998; Hughes & Sudderth 2013's memoized VI): the rows are split
into blocks that depend on the number of rows only (so results depend on neither threads nor
workers), and each block's statistics are kept. In the first sweep q(theta) is updated after
every block from the blocks seen so far (scaled to the total weight); after that, a sweep
visits the blocks in order, and each visit recomputes one block's statistics at the current
q(theta) and updates q(theta) from the sum of every block's statistics. Each visit is
an exact coordinate-ascent step (q(c) of the block, then q(theta)), so the ELBO never
decreases, and the fixed points are batch CAVI's; q(theta) improves B times per pass instead
of once. The statistics of each block are centred on the means that produced them; the sum
re-centres them on the current means (:func:`recentre`), exactly.

**Accelerated**: batch passes with a squared extrapolation step (SQUAREM, Varadhan & Roland
2008), safeguarded so that the bound never falls (:func:`accelerated_sweep`).

**Subsample start**: accelerated passes over all the data, started from accelerated passes
converged on uniform subsamples of the rows (:func:`subsample_start_sweep`).

Coordinate ascent on a mixture converges linearly, and slowly where components overlap: the
weights and the overlapping components move a little in the same direction every pass. A batch
pass is a fixed-point map on the statistics of the data, ``s -> G(s)`` (q(theta) updated from
``s``, then the statistics of every point at the new q(theta)). After three passes
``s0, s1 = G(s0), s2 = G(s1)`` SQUAREM's step

    r = s1 - s0,   v = s2 - 2 s1 + s0,   a = -|r| / |v|   (|a| clipped to [1, bound]),
    s' = s0 - 2 a r + a^2 v

extrapolates along the path the passes took (``a = -1`` gives ``s2`` back: a plain pass).
Where the passes drain a component (two sharing one cluster, the fuller taking over: the other
slow mode, each pass moving its weight a little towards zero), the step carries its weight
below zero; the step then makes it empty (its statistics zero, so that its q is the prior's),
the projection of the step onto weights >= 0, rather than being dropped (EM, whose empty
component would have no prior to fall back to and stay dead, keeps dropping it). The
extrapolated statistics are those of no responsibilities, so they only propose: the next pass
starts from the q(theta) of ``s'``, computes the real statistics there, and the bound it
reports is exact. The proposal is kept when that bound is at least the last one reported;
otherwise the pass is done again from where the plain passes had arrived (two passes in one
iteration). So every reported bound is exact, none falls, and the fixed points are batch
CAVI's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

ALGORITHMS = ("batch", "incremental", "accelerated", "subsample_start")


class Sums:
    """A pass's statistics (a dataclass of arrays and floats) that add field by field, so
    that :func:`combine` can reduce the passes over blocks, chunks or workers."""

    def __add__(self, other):
        return type(self)(*(getattr(self, f.name) + getattr(other, f.name)
                            for f in dataclasses.fields(self)))


def combine(stats):
    """Reduce: the sum of an iterable of :class:`Sums`, in the order given."""
    it = iter(stats)
    total = next(it)
    for s in it:
        total = total + s
    return total



@dataclass
class Run:
    """What :func:`iterate` returns: the last state, the ELBO after every sweep, whether the
    run converged, and the state the last sweep started from."""

    state: object
    bounds: list
    converged: bool
    state_before_last: object


def iterate(sweep, state, max_iter, threshold, *, strict=False, dtype=np.float64,
            callback=None, previous=None):
    """The CAVI loop, written once for every model and engine.

    ``sweep(state) -> (new_state, elbo)`` is one coordinate-ascent sweep (the map-reduce over
    the data, in memory, streamed or on Dask, then the model's update and exact ELBO). Runs
    ``max_iter`` sweeps, or until the ELBO changes by at most ``threshold`` between two sweeps
    (less than it when ``strict``, as scikit-learn's mixtures test); ``threshold == 0`` runs
    exactly ``max_iter`` sweeps. ``previous``: the ELBO of ``state`` when it is known (a
    warm start continuing a fit, as scikit-learn's mixtures do), so that the first sweep's
    change counts too. A sweep with a ``window`` attribute (the accelerated one: 3, its cycle)
    is judged by the mean change over its last ``window`` sweeps, so that a plain pass after
    an extrapolated one does not stop a fit that the next extrapolation would move. A
    non-finite ELBO is an error that says to rescale X.
    """
    bounds = []
    converged = False
    before = state
    window = getattr(sweep, "window", 1)
    for it in range(max_iter):
        before = state
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # An overflow shows in the bound, and is reported just below in plain words.
            state, bound = sweep(state)
        bounds.append(bound)
        if not math.isfinite(bound):
            raise ValueError(
                f"The ELBO is {bound} after sweep {it + 1}: a squared distance or a sum over the "
                f"points overflowed (or underflowed) in {np.dtype(dtype).name}, so the data's "
                "scale is outside what the kernels can represent. Rescale X (the model is "
                "scale-equivariant), or fit float32 data as float64.")
        if callback is not None:
            callback(it, bound)
        seen = len(bounds) + (previous is not None)
        if threshold > 0 and seen > window:
            before_window = bounds[-1 - window] if len(bounds) > window else previous
            change = abs(bounds[-1] - before_window) / window
            if change < threshold or (not strict and change == threshold):
                converged = True
                break
    return Run(state, bounds, converged, before)


def _shift_scalar(n, s, r, d):
    return r + 2.0 * np.sum(d * s, axis=1) + n * np.sum(d * d, axis=1)


def _shift_diag(n, s, r, d):
    return r + 2.0 * d * s + n[:, None] * d * d


def _shift_full(n, s, r, d):
    ds = np.einsum("ki,kj->kij", d, s)
    return r + ds + ds.transpose(0, 2, 1) + n[:, None, None] * np.einsum("ki,kj->kij", d, d)


def _shift_tied(n, s, r, d):
    ds = d.T @ s
    return r + ds + ds.T + (n[:, None] * d).T @ d


#: The scatter ``R + d S^T + S d^T + N d d^T`` in each form a model keeps it: summed over
#: features ('scalar'), per feature ('diag'), per component ('full'), summed over components
#: ('tied').
SCATTER_SHIFTS = {"scalar": _shift_scalar, "diag": _shift_diag, "full": _shift_full,
                  "tied": _shift_tied}


def _matrix_diagonal(r):
    return np.diagonal(r, axis1=-2, axis2=-1)


#: The variances in each form of the scatter (the diagonal of a matrix).
SCATTER_VARIANCES = {"scalar": np.asarray, "diag": np.asarray, "full": _matrix_diagonal,
                     "tied": _matrix_diagonal}


#: Whether each form of the scatter has one per component (tied's is pooled over them).
SCATTER_PER_COMPONENT = {"scalar": True, "diag": True, "full": True, "tied": False}


def recentre(stats, old, new, shape):
    """``stats`` (centred on the means ``old`` (K, p)) centred on ``new`` instead.

    With ``d = old - new``: ``S' = S + N d``, and the scatter ``R' = R + d S^T + S d^T +
    N d d^T`` in the form ``shape`` names (:data:`SCATTER_SHIFTS`).
    """
    try:
        shift = SCATTER_SHIFTS[shape]
    except KeyError:
        raise ValueError(f"unknown statistics shape {shape!r}") from None
    d = np.asarray(old, dtype=np.float64) - np.asarray(new, dtype=np.float64)
    if not np.any(d):
        return stats
    n, s = stats.n_k, stats.s_k
    return dataclasses.replace(stats, s_k=s + n[:, None] * d, r_k=shift(n, s, stats.r_k, d))


def batch_pass(source, visit, update, state):
    """One map over every block at ``state``, the sum in block order, one update:
    ``((statistics, centre), new state, bound)``."""
    fn, args, centre = visit(state)
    stats = combine(source.map(fn, *args))
    new, bound = update(stats, centre)
    return (stats, centre), new, bound


def batch_sweep(source, visit, update):
    """One map over every block, the sum in block order, one update."""

    def sweep(state):
        return batch_pass(source, visit, update, state)[1:]

    return sweep


def incremental_sweep(source, visit, update, shape, on_visit=None, exact_first=False):
    """Incremental CAVI over ``source.n_blocks`` fixed blocks (see the module docstring).

    The first call is the first pass: each block in turn is visited at the current q(theta),
    which is updated after every block from the statistics seen so far, scaled up to the total
    weight (Hughes & Sudderth's first lap: the model improves B times in the first pass too);
    after the last block every block has statistics and the ELBO is exact. Every later call is
    a pass of one exact coordinate-ascent visit per block, the total kept up to date by
    replacing the block's old statistics with its new ones (and summed afresh from every block
    at the start of each pass, so no round-off accumulates). ``on_visit(elbo)`` after every
    visit of the later passes. ``shape``: the statistics' scatter form, for :func:`recentre`.
    ``exact_first``: the first pass visits every block at the q(theta) it is given, with no
    update in between (a batch sweep that keeps each block's statistics: an exact
    coordinate-ascent step, for a q(theta) that is already good, as after a move).
    """
    kept = []  # (statistics, the means they are centred on), per block

    def first_pass(state):
        total = prev = None
        for b in range(source.n_blocks):
            fn, args, centre = visit(state)
            new = source.map_block(b, fn, *args)
            kept.append((new, centre))
            total = new if total is None else combine([recentre(total, prev, centre, shape), new])
            prev = centre
            if b + 1 < source.n_blocks and total.total_weight > 0 and not exact_first:
                state, _ = update(scaled(total, source.total_weight / total.total_weight),
                                  centre)
        return update(total, prev)

    def sweep(state):
        if not kept:
            return first_pass(state)
        fn, args, centre = visit(state)
        total = combine(recentre(s, c, centre, shape) for s, c in kept)
        bound = None
        for b in range(len(kept)):
            if b:
                fn, args, new_centre = visit(state)
                total, centre = recentre(total, centre, new_centre, shape), new_centre
            new = source.map_block(b, fn, *args)
            old, old_centre = kept[b]
            total = combine([total, scaled(recentre(old, old_centre, centre, shape), -1.0), new])
            kept[b] = (new, centre)
            state, bound = update(total, centre)
            if on_visit is not None:
                on_visit(bound)
        return state, bound

    return sweep


# -- accelerated: batch passes with SQUAREM's step --------------------------------------------

#: SQUAREM's bound on the step: it starts at 1 (a plain pass) and grows MAX_STEP_GROWTH-fold
#: after every kept step that reached it, shrinking as much after a step that was not kept
#: (Varadhan & Roland's adaptive scheme), up to MAX_STEP.
MAX_STEP, MAX_STEP_GROWTH = 1024.0, 4.0


def _extrapolate(history, shape, limit, emptying=True):
    """(statistics s', centre, step length |a|) of SQUAREM's step from three passes
    ``[(s, centre)] * 3``, all re-centred on the last centre, with ``|a| <= limit``; None when
    the path has not moved. ``emptying``: a component whose weight the step carries below zero
    is made empty (its statistics zero; tied's pooled scatter is kept), the projection of the
    step onto weights >= 0; without it such a step is impossible (:func:`_impossible`)."""
    centre = history[-1][1]
    s0, s1, s2 = (recentre(s, c, centre, shape) for s, c in history)
    fields = ("n_k", "s_k", "r_k")
    r = [getattr(s1, f) - getattr(s0, f) for f in fields]
    v = [getattr(s2, f) - 2.0 * getattr(s1, f) + getattr(s0, f) for f in fields]
    rn = math.sqrt(sum(float(np.sum(x * x)) for x in r))
    vn = math.sqrt(sum(float(np.sum(x * x)) for x in v))
    if not (vn > 0.0 and rn > 0.0):
        return None
    a = -min(max(rn / vn, 1.0), limit)
    new = {f: getattr(s0, f) - 2.0 * a * x + a * a * y for f, x, y in zip(fields, r, v)}
    if emptying:
        gone = new["n_k"] < 0.0  # carried past empty
        for f in fields if SCATTER_PER_COMPONENT[shape] else fields[:2]:
            new[f][gone] = 0.0
    return dataclasses.replace(s2, **new), centre, -a


def _impossible(stats, centre, shape):
    """Whether no responsibilities have these statistics: a weight below zero, or a negative
    variance in a component's scatter about its own mean."""
    if np.any(stats.n_k < 0.0):
        return True
    shift = stats.s_k / np.where(stats.n_k > 0.0, stats.n_k, 1.0)[:, None]
    own = recentre(stats, centre, centre + shift, shape).r_k
    return bool(np.any(SCATTER_VARIANCES[shape](own) < 0.0))


def accelerated_sweep(source, visit, update, shape, emptying=True):
    """Batch passes with SQUAREM's step every third pass (see the module docstring): the
    ``sweep(state) -> (state, bound)`` of :func:`iterate`. ``shape``: the statistics' scatter
    form, for :func:`recentre`; ``emptying``: see :func:`_extrapolate` (for models whose empty
    component is the prior's; EM's would be a dead one)."""
    history = []  # (statistics, centre) of consecutive passes, each from the last's update
    last = None  # the last bound reported
    limit = 1.0  # the step bound

    def proposal():
        """(q(theta) of the extrapolated statistics, step length), or None: no step, or one
        to statistics no responsibilities have (:func:`_impossible`) or whose update fails
        (a Psi that is not positive definite)."""
        step = _extrapolate(history, shape, limit, emptying)
        if step is None or _impossible(*step[:2], shape):
            return None
        try:
            with np.errstate(all="ignore"):
                return update(*step[:2])[0], step[2]
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None

    def sweep(state):
        nonlocal last, limit
        done = None  # the pass this sweep keeps
        if len(history) == 3:
            trial = proposal()
            history.clear()
            if trial is not None:
                with np.errstate(all="ignore"):
                    done = batch_pass(source, visit, update, trial[0])
                if math.isfinite(done[2]) and done[2] >= last:
                    if trial[1] >= limit:
                        limit = min(limit * MAX_STEP_GROWTH, MAX_STEP)
                else:
                    done, limit = None, max(1.0, limit / MAX_STEP_GROWTH)
        if done is None:
            done = batch_pass(source, visit, update, state)
        kept, new, last = done
        history.append(kept)
        return new, last

    sweep.window = 3  # a cycle: judge convergence by the mean change over one (see iterate)
    return sweep


# -- subsample start: the slow approach on few rows, the last passes on all ------------------

#: The levels of the subsample start: SUBSAMPLE_ROWS rows, then SUBSAMPLE_GROWTH times as many
#: at each next level, as long as the data have SUBSAMPLE_GROWTH times the level's rows and the
#: level's copy stays within SUBSAMPLE_BYTES.
SUBSAMPLE_ROWS, SUBSAMPLE_GROWTH, SUBSAMPLE_BYTES = 2**16, 8, 64 * 2**20
#: A level stops when its bound (scaled to the data's weight) changes by less than this per
#: unit of the data's weight, over a cycle of three passes, or after SUBSAMPLE_SWEEPS passes.
SUBSAMPLE_TOL, SUBSAMPLE_SWEEPS = 1e-8, 1000
#: The subsample is drawn from this seed: the same rows for the same data, whatever the
#: random_state (the fixed points do not depend on it).
SUBSAMPLE_SEED = 0


def subsample_levels(n_rows, n_features, itemsize):
    """The rows of each level of the subsample start for ``n_rows`` rows of positive weight
    (see :data:`SUBSAMPLE_ROWS`); empty when the data are too few to gain from one."""
    most = max(1, SUBSAMPLE_BYTES // max(1, n_features * itemsize))
    levels, size = [], min(SUBSAMPLE_ROWS, most)
    while size * SUBSAMPLE_GROWTH <= n_rows and size <= most:
        levels.append(size)
        size *= SUBSAMPLE_GROWTH
    return levels


def subsample_start(source, visit, update, shape, state, per_weight=False, emptying=True):
    """The state that accelerated passes reach on nested uniform subsamples of the rows of
    positive weight, from ``state``: the start of the passes over all the data. Each level's
    statistics are scaled to the data's total weight, so that the prior weighs against the
    level's rows as it does against all the data and the passes follow the path that passes
    over all the data would take, up to the subsample's noise (fitted as the data it is, a
    subsample of n << N rows lets the prior prune components that all the data support).
    ``per_weight``: ``update`` reports its bound per unit of weight (EM), not in total;
    ``emptying``: see :func:`accelerated_sweep`."""
    from ..data.defaults import _subsample
    from ..data.sources import ArraySource

    levels = subsample_levels(source.count_positive(), source.n_features,
                              np.dtype(source.dtype).itemsize)
    if not levels:
        return state
    rng = np.random.RandomState(SUBSAMPLE_SEED)
    rows = _subsample(source, levels[-1], rng)
    order = rng.permutation(len(rows))  # a level's rows: the first of this order, sorted
    X = np.ascontiguousarray(source.take(rows), dtype=source.dtype)  # the largest level
    w = source.take_weights(rows)
    flags = getattr(getattr(source, "X", None), "flags", None)  # (an array in this process)
    tol = SUBSAMPLE_TOL * (1.0 if per_weight else source.total_weight)
    for size in levels:
        pick = np.sort(order[:size])
        xs = X if size == len(rows) else X[pick]  # (the largest level: all its rows, no copy)
        if flags is not None and not flags.writeable:
            xs.flags.writeable = False  # the kernels' read-only variant, as for the data
        sub = ArraySource(xs, None if w is None else w[pick])
        scale = source.total_weight / sub.total_weight

        def sub_update(stats, centre, scale=scale):
            return update(scaled(stats, scale), centre)

        state = iterate(accelerated_sweep(sub, visit, sub_update, shape, emptying), state,
                        SUBSAMPLE_SWEEPS, tol, strict=True, dtype=source.dtype).state
    return state


def subsample_start_sweep(source, visit, update, shape, per_weight=False, emptying=True):
    """Accelerated passes over all the data (:func:`accelerated_sweep`), the first started
    from :func:`subsample_start`.

    Where components overlap, coordinate ascent creeps: many passes each move the weights and
    the overlapping components a little. On a subsample of n rows standing for all the data
    the same creep costs n / N of a pass per pass, and ends within the subsample's
    statistical error of the full data's fixed point. The passes over all the data then start
    there.
    Every reported bound is a pass over all the data, none falls, and the fixed points are
    batch CAVI's; the subsample only moves the start.
    """
    passes = accelerated_sweep(source, visit, update, shape, emptying)
    started = False

    def sweep(state):
        nonlocal started
        if not started:
            started = True
            state = subsample_start(source, visit, update, shape, state, per_weight, emptying)
        return passes(state)

    sweep.window = passes.window
    return sweep


def make_sweep(algorithm, source, visit, update, shape, on_visit=None, exact_first=False,
               per_weight=False, warm=False, emptying=True):
    """The sweep of ``algorithm`` ('batch', 'incremental', 'accelerated' or
    'subsample_start') for :func:`iterate` (``exact_first``: see :func:`incremental_sweep`;
    a subsample start is then skipped: the state is already good, as it is with ``warm``, a
    warm start from a fit; ``per_weight``: see :func:`subsample_start`; ``emptying``: see
    :func:`accelerated_sweep`)."""
    if algorithm == "batch":
        return batch_sweep(source, visit, update)
    if algorithm == "accelerated" or (algorithm == "subsample_start" and (exact_first or warm)):
        return accelerated_sweep(source, visit, update, shape, emptying)
    if algorithm == "subsample_start":
        return subsample_start_sweep(source, visit, update, shape, per_weight, emptying)
    return incremental_sweep(source, visit, update, shape, on_visit, exact_first)


# -- stochastic variational inference (partial_fit) -------------------------------------------

def scaled(stats, factor):
    """Every sum of ``stats`` times ``factor`` (the statistics of ``factor`` copies)."""
    return dataclasses.replace(stats, n_k=stats.n_k * factor, s_k=stats.s_k * factor,
                               r_k=stats.r_k * factor, entropy=stats.entropy * factor,
                               total_weight=stats.total_weight * factor)


def learning_rate(step, offset, decay):
    """rho_t = (tau0 + t)^-kappa (scikit-learn's online LatentDirichletAllocation), at most 1
    (tau0 + t < 1 would weigh the kept statistics negatively, or divide by zero)."""
    base = offset + step
    return 1.0 if base <= 1.0 else base ** -decay


def svi_blend(kept, batch, centre, rho, scale, shape):
    """One stochastic step on the statistics that define q(theta): ``(1 - rho) kept + rho
    scale batch``, centred on ``centre`` (the batch's means). q(theta)'s natural parameters
    are the prior's plus a linear function of these statistics, so this is Hoffman et al.'s
    blend of natural parameters. ``kept``: (statistics, their centre), or None for the first
    step (then the batch alone, scaled)."""
    batch = scaled(batch, scale)
    if kept is None:
        return batch
    stats, old = kept
    return combine([scaled(recentre(stats, old, centre, shape), 1.0 - rho),
                    scaled(batch, rho)])


class Recorder:
    """Wraps a model's ``update`` so that the statistics (and their centre) of the latest
    update can be read after a fit: what ``partial_fit`` continues from."""

    def __init__(self, update):
        self._update, self.last = update, None

    def __call__(self, stats, centre):
        self.last = (stats, centre)
        return self._update(stats, centre)


def svi_step(state, source, visit, update, shape, kept, step, settings):
    """One call of ``partial_fit``: the batch's statistics at q(theta) = ``state``, blended
    into the kept ones (:func:`svi_blend`; ``kept`` None on the first step), then q(theta).

    ``settings``: (total_samples, learning_offset, learning_decay). The kept statistics may
    stand for any number of points (a fit's N): they are rescaled to total_samples first.
    Returns (state, elbo estimate, kept statistics and their centre).
    """
    total_samples, offset, decay = settings
    fn, args, centre = visit(state)
    batch = combine(source.map(fn, *args))
    if kept is not None:
        stats, old = kept
        kept = (scaled(stats, total_samples / stats.total_weight), old)
    new = svi_blend(kept, batch, centre, learning_rate(step, offset, decay),
                    total_samples / source.total_weight, shape)
    state, bound = update(new, centre)
    return state, bound, (new, centre)
