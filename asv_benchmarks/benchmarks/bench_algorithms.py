"""asv benchmarks of the ways to walk the data: a batch, an incremental, an accelerated and a
subsample-start fit to convergence (time, iterations, ELBO reached) and one pass of
partial_fit, both estimators."""

import warnings

import numpy as np

from fastcavi import BayesianGaussianMixture, GaussianMixtureCAVI

from . import rows


def _data(n_samples, n_features, n_components, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (n_components, n_features))
    z = rng.integers(n_components, size=n_samples)
    return centres[z] + rng.normal(size=(n_samples, n_features)) * (0.5 + z[:, None] / 10)


def _make(model, **kw):
    if model == "cavi":
        return GaussianMixtureCAVI(10, random_state=0, **dict(dict(max_iter=300), **kw))
    return BayesianGaussianMixture(n_components=10, covariance_type="diag", random_state=0,
                                   init_params="random_from_data",
                                   **dict(dict(max_iter=300, tol=1.0), **kw))


class Algorithms:
    params = (["cavi", "bgm"], ["batch", "incremental", "accelerated", "subsample_start"])
    param_names = ["model", "algorithm"]
    timeout = 600

    def setup(self, model, algorithm):
        self.X = _data(rows(600_000), 2, 10)  # a subsample start needs 524,288 rows
        _make(model, max_iter=2, algorithm=algorithm).fit(self.X[:5000])  # compile

    def _fit(self, model, algorithm):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _make(model, algorithm=algorithm).fit(self.X)

    def time_fit(self, model, algorithm):
        self._fit(model, algorithm)

    def track_passes(self, model, algorithm):
        return self._fit(model, algorithm).n_iter_

    def track_elbo_per_point(self, model, algorithm):
        return -self._fit(model, algorithm).lower_bound_ / len(self.X)

    track_passes.unit = ("passes over all the data (an accelerated one whose step is not kept: "
                         "two; a subsample start's passes over its subsamples not counted)")
    track_elbo_per_point.unit = "nats per point (-ELBO / N)"


class PartialFit:
    params = ["cavi", "bgm"]
    param_names = ["model"]
    timeout = 300

    def setup(self, model):
        self.X = _data(rows(200_000), 2, 10)
        _make(model).partial_fit(self.X[:5000])  # compile

    def time_one_pass(self, model):
        est = _make(model, total_samples=len(self.X))
        for start in range(0, len(self.X), 100_000):
            est.partial_fit(self.X[start:start + 100_000])
