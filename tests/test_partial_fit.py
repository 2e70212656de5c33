"""partial_fit: stochastic variational inference on a stream of batches. One step is the
blend of natural parameters written out here from the model (independently of fastcavi's
code), a stream drawn from the model ends near the batch fit's held-out likelihood, batches
of a memory-mapped file are read in O(batch) memory, and bad input is refused as in fit."""

import warnings

import numpy as np
import pytest

from fastcavi import BayesianGaussianMixture, GaussianMixtureCAVI

from . import oracles
from . import oracles_family as O

K, P = 3, 2


def mixture(seed, n, p=P, k=K, fixed=False):
    """Points drawn from the learned-variance model (or, ``fixed``, from the fixed-variance
    one: equal weights, unit variance)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, p))
    scales = np.ones((k, p)) if fixed else np.exp(rng.uniform(-0.5, 0.5, (k, p)))
    weights = np.full(k, 1.0 / k) if fixed else rng.dirichlet(np.full(k, 3.0))
    z = rng.choice(k, size=n, p=weights)
    return centres[z] + rng.normal(size=(n, p)) * scales[z]


def rho(t, offset=10.0, decay=0.7):
    return (offset + t) ** -decay


def test_fixed_variance_step_is_the_natural_parameter_blend():
    """After fit, one partial_fit moves q(mu)'s natural parameters (precision
    1/s2 = 1/sigma2 + N/lambda2 and 1/s2 m = alpha/sigma2 + S/lambda2) a fraction rho of the
    way to the batch's, scaled to total_samples; the kept N and S are those of the fit."""
    X, B = mixture(0, 3000), mixture(1, 400)
    w = np.random.default_rng(2).uniform(0, 2, len(B))
    gm = GaussianMixtureCAVI(K, random_state=0, total_samples=5000.0, tol=1e-12,
                             max_iter=500).fit(X)
    a, s2, lam2, m = gm.prior_mean_, gm.prior_var_, gm.likelihood_var_, gm.means_
    v = gm.mean_vars_
    # The converged q(mu) is the update from its own statistics: read them back.
    n_fit = lam2 * (1.0 / v - 1.0 / s2)
    s_fit = lam2 * (m / v[:, None] - a / s2)
    r = np.exp(oracles.log_resp(B, m, v, lam2)) * w[:, None]
    n_b, s_b = r.sum(0), r.T @ B
    t = rho(0)
    n_new = (1 - t) * n_fit * 5000.0 / len(X) + t * n_b * 5000.0 / w.sum()
    s_new = (1 - t) * s_fit * 5000.0 / len(X) + t * s_b * 5000.0 / w.sum()
    gm.partial_fit(B, sample_weight=w)
    v_new = 1.0 / (1.0 / s2 + n_new / lam2)
    np.testing.assert_allclose(gm.mean_vars_, v_new, rtol=1e-8)
    np.testing.assert_allclose(gm.means_, v_new[:, None] * (a / s2 + s_new / lam2), rtol=1e-8)
    assert gm.n_batch_iter_ == 1 and gm.n_iter_ == 1 and not gm.converged_


@pytest.mark.parametrize("wtype", ["dirichlet_process", "dirichlet_distribution"])
def test_family_step_is_the_natural_parameter_blend(wtype):
    """The same for BayesianGaussianMixture (diag): N_k = b_k - b0, N_k xbar_k = b_k m_k -
    b0 m0 and the second moments sum r x^2 (from Psi_k) each move a fraction rho of the way
    to the batch's, from the fit's statistics, scaled to total_samples."""
    X, B = mixture(3, 3000), mixture(4, 500)
    bgm = BayesianGaussianMixture(n_components=K, covariance_type="diag", random_state=0,
                                  weight_concentration_prior_type=wtype, tol=1e-10,
                                  max_iter=1000, total_samples=4000.0).fit(X)
    b0, m0, psi0 = bgm.mean_precision_prior_, bgm.mean_prior_, bgm.covariance_prior_
    reg = bgm.reg_covar

    def moments(b, m, nu, cov):
        n = b - b0
        nx = b[:, None] * m - b0 * m0
        xbar = nx / n[:, None]
        f = b0 * n / b
        scatter = cov * nu[:, None] - psi0 - (n * reg)[:, None] - f[:, None] * (xbar - m0) ** 2
        return n, nx, scatter + n[:, None] * xbar ** 2

    fit = moments(bgm.mean_precision_, bgm.means_, bgm.degrees_of_freedom_, bgm.covariances_)
    q = dict(weight_concentration=bgm.weight_concentration_, mean_precision=bgm.mean_precision_,
             means=bgm.means_, degrees_of_freedom=bgm.degrees_of_freedom_,
             psi=bgm.covariances_ * bgm.degrees_of_freedom_[:, None])
    hyper = dict(covariance_type="diag", weight_concentration_prior_type=wtype,
                 weight_concentration_prior=bgm.weight_concentration_prior_,
                 mean_precision_prior=b0, mean_prior=m0,
                 degrees_of_freedom_prior=bgm.degrees_of_freedom_prior_,
                 covariance_prior=psi0, reg_covar=reg)
    r = np.exp(O.log_resp(B, q, hyper))
    batch = (r.sum(0), r.T @ B, r.T @ B ** 2)
    t = rho(0)
    want = [(1 - t) * a * 4000.0 / len(X) + t * c * 4000.0 / len(B) for a, c in zip(fit, batch)]
    bgm.partial_fit(B)
    got = moments(bgm.mean_precision_, bgm.means_, bgm.degrees_of_freedom_, bgm.covariances_)
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g, w_, rtol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["fixed", "diag", "full", "tied"])
def test_a_stream_ends_near_the_batch_fit(model):
    """Batches of a shuffled stream drawn from the model: one pass within 5e-2 nats per point
    of the batch fit's held-out log-likelihood, three passes within 1e-2."""
    data = mixture(5, 80_000, fixed=model == "fixed")
    train, test = data[:60_000], data[60_000:]
    if model == "fixed":
        # The default likelihood_var is an estimate from the first rows seen, which differ
        # between the two: both get the model's.
        make = lambda: GaussianMixtureCAVI(K, random_state=0, total_samples=len(train),  # noqa: E731
                                           likelihood_var=1.0, prior_var=36.0, prior_mean=0.0)
    else:
        make = lambda: BayesianGaussianMixture(  # noqa: E731
            n_components=K, covariance_type=model, random_state=0, total_samples=len(train),
            max_iter=500)
    batch_fit = make().fit(train).score(test)
    stream = make()
    rng = np.random.default_rng(7)
    for epoch in range(3):
        for rows in np.array_split(rng.permutation(len(train)), 30):
            stream.partial_fit(train[rows])
        if epoch == 0:
            assert stream.score(test) > batch_fit - 5e-2
    assert stream.score(test) > batch_fit - 1e-2
    assert stream.n_batch_iter_ == 90 and len(stream.lower_bounds_) == 90


@pytest.mark.slow
def test_memmap_batches_in_o_batch_memory(tmp_path):
    """Streaming a memmap in batches allocates less than one batch's copy. Measured in a fresh
    process: tracemalloc counts every thread's allocations, and a Dask client left running by
    other tests allocates in its own threads."""
    import json
    import subprocess
    import sys

    np.save(tmp_path / "x.npy", mixture(8, 400_000))
    script = tmp_path / "measure.py"
    script.write_text(f"""
import json, tracemalloc
import numpy as np
from fastcavi import BayesianGaussianMixture
mm = np.load({str(tmp_path / "x.npy")!r}, mmap_mode="r")
gm = BayesianGaussianMixture(n_components={K}, covariance_type="diag", random_state=0,
                             init_params="random_from_data", total_samples=len(mm))
gm.partial_fit(mm[:20_000])
tracemalloc.start()
for start in range(20_000, len(mm), 20_000):
    gm.partial_fit(mm[start:start + 20_000])
print(json.dumps([tracemalloc.get_traced_memory()[1], gm.n_batch_iter_]))
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    peak, n_batches = json.loads(proc.stdout.strip().splitlines()[-1])
    assert peak < 20_000 * P * 8  # less than one batch's copy: no copy at all
    assert n_batches == 20


def test_later_batches_are_checked_and_a_failed_call_changes_nothing():
    X = mixture(9, 1000)
    for est in (GaussianMixtureCAVI(K, random_state=0),
                BayesianGaussianMixture(n_components=K, covariance_type="spherical",
                                        random_state=0)):
        est.partial_fit(X[:500])
        means = est.means_.copy()
        with pytest.raises(ValueError, match="features"):
            est.partial_fit(np.c_[X, X][:500])
        bad = X[500:].copy()
        bad[3, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            est.partial_fit(bad)
        np.testing.assert_array_equal(est.means_, means)
        assert est.n_batch_iter_ == 1
        with pytest.raises(ValueError, match="learning_decay"):
            est.set_params(learning_decay=0.4).partial_fit(X[500:])
        est.set_params(learning_decay=0.7)


def test_integer_batch_weights_are_repeated_rows():
    X, B = mixture(10, 2000), mixture(11, 300)
    w = np.random.default_rng(12).integers(0, 4, len(B))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixtureCAVI(K, random_state=0, max_iter=5).fit(X)
    b = GaussianMixtureCAVI(K, random_state=0).set_params()
    b.__dict__.update({k: v.copy() if isinstance(v, np.ndarray) else v
                       for k, v in a.__dict__.items()})
    a.partial_fit(B, sample_weight=w)
    b.partial_fit(np.repeat(B, w, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.mean_vars_, b.mean_vars_, rtol=1e-12)


@pytest.mark.slow
def test_dask_batches_step_like_in_memory(dask_client):
    import dask.array as da

    X = mixture(13, 4000)
    for make in (lambda: GaussianMixtureCAVI(K, random_state=0, total_samples=4000.0),
                 lambda: BayesianGaussianMixture(n_components=K, covariance_type="diag",
                                                 random_state=0, total_samples=4000.0,
                                                 init_params="random_from_data")):
        mem, lazy = make(), make()
        for start in range(0, 4000, 1000):
            mem.partial_fit(X[start:start + 1000])
            lazy.partial_fit(da.from_array(X[start:start + 1000], chunks=300))
        np.testing.assert_allclose(lazy.means_, mem.means_, rtol=1e-10)
        np.testing.assert_allclose(lazy.lower_bounds_, mem.lower_bounds_, rtol=1e-10)
