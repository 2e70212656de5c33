"""What every fastcavi estimator shares, written once (as scikit-learn's
``sklearn/mixture/_base.py``): the guarded ``fit`` and ``partial_fit``, prediction, scoring and
saving. Each estimator supplies the model: its parameters, defaults, start and update, through
the hooks listed in :class:`Mixture`.

Nothing here imports scikit-learn: :class:`Mixture` is the skeleton, and
:class:`fastcavi.estimators.estimator.MixtureBase` makes it a scikit-learn estimator. The
command line fits the known-variance model on the skeleton alone, without the second or so
that importing scikit-learn takes."""

from __future__ import annotations

import numpy as np

from .._interrupt import unchanged_on_failure
from .._threads import thread_limit
from .._validation import check_fitted, check_n_samples, check_random_state, check_stream_params
from ..data.scale import standardizer
from ..data.sources import open_source, predict_rows
from ..inference.algorithms import svi_step
from .predict import KINDS, output_spec

STREAM_PARAMETERS = """\
    algorithm : {'batch', 'incremental', 'accelerated', 'subsample_start'}, default='batch'
        'batch': every iteration is one pass over all the data, then one update of q(theta).
        'incremental': each iteration visits the rows in fixed blocks (of 262,144 rows in
        memory; a Dask array's row chunks) and updates q(theta) after every block, from the
        latest statistics of all blocks (in the first iteration, from the blocks seen so far).
        After the first iteration each visit is an exact coordinate-ascent step, so the ELBO
        never decreases and the fixed points are the batch ones; on large data it needs
        fewer passes. 'accelerated': batch passes with SQUAREM's extrapolation every third
        iteration (Varadhan & Roland 2008), kept only when the exact ELBO after it is at
        least the last one, so the ELBO never decreases and the fixed points are the batch
        ones; where the components overlap, batch creeps and this needs several times fewer
        passes (an iteration whose extrapolation is not kept costs two passes; convergence
        is judged by the mean change over three iterations). 'subsample_start': accelerated
        passes, the first started from accelerated passes converged on uniform subsamples
        of 65,536 and then 8 times as many rows (while the data have 8 times a level's rows
        and its copy fits in 64 MiB), their statistics scaled to all the data: the slow part
        of the approach costs a fraction of a pass per pass, and the passes over all the
        data (``n_iter_`` counts only these) start near the fixed point, which is batch's;
        data with fewer than 524,288 rows, and a warm start from a fit, get plain accelerated
        passes. The same on every engine.
    total_samples : float, default=1e6
        :meth:`partial_fit`: the number of points the stream stands for (each batch's
        statistics are scaled up to it).
    learning_offset : float, default=10.0
        :meth:`partial_fit`: tau0 in the step size ``(tau0 + t) ** -kappa``; larger values
        make the early batches count less.
    learning_decay : float, default=0.7
        :meth:`partial_fit`: kappa, in (0.5, 1].
"""

BATCH_PARAMETERS = """Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or dask.array.Array
            One batch.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self"""


def batch_parameters(method):
    """Put the parameters and the return of ``partial_fit`` in place of
    ``{batch_parameters}`` in ``method``'s docstring (the estimators' ``partial_fit`` share
    them)."""
    method.__doc__ = method.__doc__.replace("{batch_parameters}", BATCH_PARAMETERS)
    return method


def sample_mixture(est, n_samples):
    """Draw ``n_samples`` points from a fitted ``est``'s Gaussian mixture (``weights_``,
    ``means_``, ``covariances_`` of its ``covariance_type``), as scikit-learn does: the counts
    per component from one multinomial draw, then each component's points in turn. Returns
    (X, component labels)."""
    import numbers

    from ..models.covariance import COVARIANCES

    check_fitted(est)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
            or n_samples < 1:
        raise ValueError(f"Invalid value for 'n_samples': {n_samples!r}. The sampling "
                         "requires at least one sample.")
    rng = check_random_state(est.random_state)
    counts = rng.multinomial(n_samples, est.weights_)
    covariance = COVARIANCES[est.covariance_type]
    covs = covariance.per_component(est.covariances_, len(counts))
    parts = [covariance.draw(rng, mean, cov, count)
             for mean, cov, count in zip(est.means_, covs, counts)]
    labels = np.concatenate([np.full(c, j, dtype=np.int64) for j, c in enumerate(counts)])
    return np.vstack(parts), labels


def keep_arguments(est, arguments):
    """Store each argument of ``est.__init__`` unchanged as the attribute of its name, as
    scikit-learn requires of an estimator's ``__init__`` (no checks, no derived values: those
    happen in ``fit``). ``arguments`` is ``locals()`` taken first thing in ``__init__``."""
    for name, value in arguments.items():
        if name != "self":
            setattr(est, name, value)


def both_callbacks(first, second):
    """One callback ``(iteration, bound)`` that calls ``first`` then ``second`` (either may be
    None)."""
    if first is None or second is None:
        return first or second

    def both(it, bound):
        first(it, bound)
        second(it, bound)

    return both


def with_stream_parameters(cls):
    """Put the parameters of the algorithms and of ``partial_fit``, which every estimator
    shares, in place of ``{stream_parameters}`` in the class's docstring."""
    cls.__doc__ = cls.__doc__.replace("    {stream_parameters}\n", STREAM_PARAMETERS + "\n")
    return cls


class Mixture:
    """The estimator skeleton (without scikit-learn's base classes). A subclass supplies:

    - ``_check_params()``: every parameter that can be checked without the data;
    - ``_fit_source(source, callback)``: the starts and the iterations on a checked data
      source (:mod:`fastcavi.data.sources`), setting the fitted attributes;
    - ``_stream_start(source)`` and ``_stream_resume()``: ``(prior, state)`` for the first
      ``partial_fit`` call of an unfitted model, and for a later one;
    - ``_stream_model(prior, dtype)``: ``(visit, update, statistics shape)`` for
      :func:`fastcavi.inference.algorithms.svi_step`;
    - ``_set_stream_fitted(state, prior, bounds)``: the fitted attributes after a
      ``partial_fit`` call (and ``_stream_total(source)``, the weight the kept statistics
      stand for: ``total_samples`` unless overridden);
    - ``_predict_block``, a static method of one block of rows and ``_predict_args(kind)``;
    - ``_MIN_SAMPLES``, the rows a fit needs, and ``_FITTED``, an attribute only a fitted
      model has.

    ``_prepare(source)`` checks a fit's data (and may transform it); override it to add
    checks.
    """

    _MIN_SAMPLES = 1
    _FITTED = "lower_bounds_"

    def __sklearn_is_fitted__(self):
        """Whether the model is fitted (scikit-learn's ``check_is_fitted`` asks this)."""
        return hasattr(self, self._FITTED)

    def _init_arguments(self):
        """``{name: value}`` of the ``__init__`` parameters (``get_params(deep=False)``)."""
        import inspect

        return {name: getattr(self, name)
                for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    def _fresh_copy(self, **changes):
        """An unfitted copy with the same parameters but ``changes`` (as scikit-learn's
        ``clone`` followed by ``set_params``)."""
        import copy

        return type(self)(**{**copy.deepcopy(self._init_arguments()), **changes})

    # -- fitting -------------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture, keeping the best of ``n_init`` runs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or dask.array.Array
            float32 data is fitted in float32 (sums in float64); other real data in float64.
            Boolean data count as 0/1 in float64 (as scikit-learn's ``check_array`` does);
            NaN, infinity, complex numbers and strings are refused.
            A float32/float64 C-ordered memmap (``np.load(path, mmap_mode="r")``) is read in
            place, never copied. A Dask array is fitted block by block on the current
            ``dask.distributed`` client (persisted there once; only K-sized statistics come
            back), or, with no client, streamed through this process one block at a time.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Point i counts ``sample_weight[i]`` times (integer weights fit as repeated rows).
            Non-negative and finite. With a Dask X, a NumPy array or a Dask array (rechunked
            to X's rows).

        Returns
        -------
        self
        """
        return self._fit(X, sample_weight)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of every point of X."""
        return self.fit(X, sample_weight=sample_weight).predict(X)

    def _fit(self, X, sample_weight=None, callback=None):
        """The fit; ``callback(it, bound)`` after every iteration of every run (the command
        line's progress bar). A failed fit leaves the fitted model as it was."""
        with unchanged_on_failure(self):
            self._check_params()
            with open_source(self, X, sample_weight, n_threads=self.n_threads,
                             ensure_min_samples=self._MIN_SAMPLES) as source:
                source = self._prepare(source)
                try:
                    self._fit_source(source, callback)
                finally:
                    source.close()
        return self

    def _best_of_runs(self, n_runs, run):
        """Restarts -> the loop -> keep the best, for every estimator: ``run(i)`` fits from
        the i-th start and returns ``(result, bound)``; the result with the highest bound is
        returned with its bound and index (ties: the first; a run without a bound, -inf, is
        replaced by the next one, as scikit-learn keeps the last start when max_iter=0). The
        runs share the estimator's thread limit."""
        best = None
        with thread_limit(self.n_threads):
            for i in range(n_runs):
                result, bound = run(i)
                if best is None or bound > best[1] or best[1] == -np.inf:
                    best = (result, bound, i)
        self.__dict__.pop("n_batch_iter_", None)  # a fit from scratch ends a stream
        return best

    def _prepare(self, source):
        """A fit's data source, checked: at least n_components rows."""
        check_n_samples(source.n_rows, self.n_components)
        return source

    def _transform(self, source):
        """The data source as a fitted model sees it (standardised, for a model fitted with
        ``standardize=True``)."""
        transform = standardizer(self)
        return source if transform is None else source.transformed(transform)

    # -- streams -------------------------------------------------------------------------------

    @batch_parameters
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch of a stream (stochastic variational inference).

        The statistics of the batch at the current q(theta), scaled up to ``total_samples``
        points, are blended into the model's with weight ``rho = (learning_offset + t) **
        -learning_decay`` at the t-th call (Hoffman, Blei, Wang & Paisley 2013), then q(theta)
        is updated. The first call on an unfitted model starts from its batch as ``fit``
        would (``init_params``, and the data-driven defaults of the prior from that batch:
        give them explicitly when the first batch is not representative); a model fitted with
        ``fit`` continues from its fit. Later batches must have the same number of features.
        Memory is O(batch): a memory-mapped ``.npy`` can be streamed in slices.

        ``lower_bound_`` is then the ELBO of ``total_samples`` points estimated from the batch
        (``lower_bounds_`` one per call, ``n_iter_`` their number, ``converged_`` False), and
        ``n_batch_iter_`` counts the calls. A model read from a file continues from its
        q(theta), its first call weighting the batch alone.

        {batch_parameters}
        """
        with unchanged_on_failure(self):
            self._partial_fit(X, sample_weight)
        return self

    def _partial_fit(self, X, sample_weight):
        self._check_params()
        check_stream_params(self)
        first = not hasattr(self, self._FITTED)
        with open_source(self, X, sample_weight, n_threads=self.n_threads, reset=first,
                         ensure_min_samples=self._MIN_SAMPLES if first else 1) as source:
            if first:
                source = self._prepare(source)
                prior, state = self._stream_start(source)
                kept, step, bounds = None, 0, []
            else:
                source = self._transform(source)
                prior, state = self._stream_resume()
                kept = getattr(self, "_kept", None)
                step = getattr(self, "n_batch_iter_", 0)
                bounds = list(self.lower_bounds_) if step else []
            try:
                visit, update, shape = self._stream_model(prior, source.dtype)
                settings = (self._stream_total(source), self.learning_offset,
                            self.learning_decay)
                with thread_limit(self.n_threads):
                    state, bound, self._kept = svi_step(state, source, visit, update, shape,
                                                          kept, step, settings)
            finally:
                source.close()
        self.n_batch_iter_ = step + 1
        self._set_stream_fitted(state, prior, bounds + [bound])

    def _stream_total(self, source):
        """The weight the kept statistics stand for (``total_samples``)."""
        return self.total_samples

    # -- prediction ----------------------------------------------------------------------------

    def _predict(self, X, kind):
        """``_predict_block`` on X in memory, or mapped over the row blocks of a Dask array
        (lazily)."""
        check_fitted(self)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        tail, dtype = output_spec(kind, self.means_.shape[0])
        return predict_rows(self, X, self._predict_block, self._predict_args(kind), tail,
                            dtype, standardizer(self))

    def predict(self, X):
        """The most probable component of each point (argmax of its responsibilities),
        shape (n_samples,)."""
        return self._predict(X, "labels")

    def predict_proba(self, X):
        """The responsibilities at the fitted model, shape (n_samples, n_components) (K of
        the fitted model: n_components may have been changed by set_params since)."""
        return self._predict(X, "proba")

    def score_samples(self, X):
        """log p(x | data) for each point: the log posterior predictive density of the fitted
        model (see the class's documentation), which integrates to 1."""
        return self._predict(X, "score")

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over X."""
        return float(np.mean(self.score_samples(X)))

    def save(self, path):
        """Write the fitted model to an ``.npz`` (no pickle); see :func:`fastcavi.load`."""
        from .io import save_model

        save_model(self, path)
