"""Incremental CAVI (``algorithm='incremental'``): every block visit is an exact coordinate-
ascent step (the ELBO, recorded after every visit, never decreases), the fixed point is batch
CAVI's, every engine visits the same blocks, and re-centring kept statistics on new means is
exact (checked against sums computed directly by the NumPy oracle)."""

import warnings

import numpy as np
import pytest

from fastcavi import BayesianGaussianMixture, GaussianMixtureCAVI
from fastcavi._registry import ENGINES
from fastcavi.data import sources as _sources
from fastcavi.inference.algorithms import recentre
from fastcavi.models.family import FamilyStats
from fastcavi.models.fixed import SweepStats

# Blocks of 1,999 rows: a multiple of no kernel chunk or tile, and 6,007 rows leave a short
# last block.
BLOCK_ROWS = 1999
N, P, K = 6007, 2, 4


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", BLOCK_ROWS)


def separated(seed, n=N, p=P, k=K):
    rng = np.random.default_rng(seed)
    centres = 20.0 * np.array([[0, 0], [1, 0], [0, 1], [1, 1]])[:k] + rng.normal(0, 1, (k, p))
    X = centres[rng.integers(k, size=n)] + rng.normal(size=(n, p)) * rng.uniform(0.5, 1.5, p)
    w = rng.uniform(0, 2, n)
    w[::11] = 0.0
    return X, w


# Starts near the clusters (the seed model from the k-means++ rows of a fixed random state,
# the family from KMeans), so that both algorithms reach the same optimum.
def estimators(algorithm, means_init=None, **kw):
    seed = GaussianMixtureCAVI(K, random_state=0, algorithm=algorithm, means_init=means_init,
                               **kw)
    family = [BayesianGaussianMixture(n_components=K, covariance_type=ct, random_state=0,
                                      init_params="kmeans", algorithm=algorithm,
                                      weight_concentration_prior_type=wt, **kw)
              for ct in ("spherical", "diag") for wt in ("dirichlet_process",
                                                          "dirichlet_distribution")]
    family += [BayesianGaussianMixture(n_components=K, covariance_type=ct, random_state=0,
                                       init_params="kmeans", algorithm=algorithm, **kw)
               for ct in ("full", "tied")]
    return [seed] + family


def elbos_per_visit(est, X, w):
    """Fit with a recorder of the ELBO after every block visit (and every pass)."""
    visits = []
    from fastcavi.inference import algorithms as _algorithms

    original = _algorithms.incremental_sweep

    def recording(source, visit, update, shape, on_visit=None, exact_first=False):
        return original(source, visit, update, shape, on_visit=visits.append,
                        exact_first=exact_first)

    _algorithms.incremental_sweep = recording
    try:
        est.fit(X, sample_weight=w)
    finally:
        _algorithms.incremental_sweep = original
    return visits


@pytest.mark.parametrize("i", range(7), ids=["fixed", "spherical-dp", "spherical-dd",
                                            "diag-dp", "diag-dd", "full", "tied"])
def test_elbo_never_decreases_at_any_visit_and_the_fixed_point_is_batch(i):
    X, w = separated(1)
    start = dict(means_init=X[[np.argmin(X @ [1, 1]), np.argmax(X @ [1, -1]),
                                np.argmax(X @ [-1, 1]), np.argmax(X @ [1, 1])]]) if i == 0 else {}
    inc = estimators("incremental", tol=1e-9, max_iter=400, **start)[i]
    visits = elbos_per_visit(inc, X, w)
    n_blocks = -(-N // BLOCK_ROWS)
    assert n_blocks == 4 and len(visits) == n_blocks * (inc.n_iter_ - 1)
    steps = np.diff(np.r_[inc.lower_bounds_[0], visits])
    assert np.all(steps >= -1e-9 * abs(visits[-1])), steps.min()
    np.testing.assert_allclose(inc.lower_bounds_[1:], visits[n_blocks - 1::n_blocks])
    batch = estimators("batch", tol=1e-9, max_iter=400, **start)[i].fit(X, sample_weight=w)
    assert inc.converged_ and batch.converged_
    np.testing.assert_allclose(inc.means_, batch.means_, rtol=1e-6, atol=1e-6)
    assert inc.lower_bound_ == pytest.approx(batch.lower_bound_, rel=1e-9)
    if i:
        np.testing.assert_allclose(inc.weights_, batch.weights_, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(inc.covariances_, batch.covariances_, rtol=1e-6)
    else:
        np.testing.assert_allclose(inc.mean_vars_, batch.mean_vars_, rtol=1e-6)


def test_the_first_pass_already_updates_after_every_block():
    """In the first pass q(theta) is updated after every block (from the blocks seen, scaled
    to the total weight), so one pass gets further than one batch sweep from the same start;
    its ELBO, reported once every block has statistics, is the exact one."""
    X, w = separated(2)
    for inc, batch in zip(estimators("incremental", tol=0, max_iter=1),
                          estimators("batch", tol=0, max_iter=1)):
        inc.set_params(init_params="random")  # far from the optimum: the passes differ
        batch.set_params(init_params="random")
        inc.fit(X, sample_weight=w)
        batch.fit(X, sample_weight=w)
        assert inc.lower_bounds_[0] > batch.lower_bounds_[0]


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_visits_the_same_blocks(engine, tmp_path, request, monkeypatch):
    """In memory and memory-mapped the blocks are row ranges; a Dask array's are its chunks:
    chunked like the in-memory blocks, the fits agree (on the cluster, sums in block order)."""
    from fastcavi import _registry

    if engine == "dask":
        request.getfixturevalue("dask_client")
        monkeypatch.setattr(_registry, "_DASK_ROWS", BLOCK_ROWS)
    X, w = separated(3)
    Xe, we = ENGINES[engine](X, w, str(tmp_path))
    for est, ref in zip(estimators("incremental", tol=0, max_iter=6),
                        estimators("incremental", tol=0, max_iter=6)):
        est.fit(Xe, sample_weight=we)
        ref.fit(X, sample_weight=w)
        np.testing.assert_allclose(est.lower_bounds_, ref.lower_bounds_, rtol=1e-12)
        np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-10, atol=1e-12)


def test_one_block_is_the_batch_fit_bit_for_bit(monkeypatch):
    """With one block (N at most the block size) the incremental passes are batch sweeps."""
    monkeypatch.setattr(_sources, "INCREMENTAL_BLOCK_ROWS", 2**18)
    X, w = separated(4)
    for inc, batch in zip(estimators("incremental", tol=0, max_iter=5),
                          estimators("batch", tol=0, max_iter=5)):
        np.testing.assert_array_equal(inc.fit(X, sample_weight=w).lower_bounds_,
                                      batch.fit(X, sample_weight=w).lower_bounds_)


def oracle_sums(X, w, r, centre):
    """N_k, S_k, per-feature R_k and per-component p x p R_k of responsibilities r, centred
    on ``centre`` (K, p), straight from the definitions."""
    d = X[:, None, :] - centre[None]                                 # (N, K, p)
    wr = w[:, None] * r
    return (wr.sum(0), np.einsum("nk,nkj->kj", wr, d), np.einsum("nk,nkj->kj", wr, d * d),
            np.einsum("nk,nki,nkj->kij", wr, d, d))


@pytest.mark.parametrize("shape", ["scalar", "diag", "full", "tied"])
def test_recentring_is_exact(shape):
    """Statistics centred on m, re-centred on c, equal the sums centred on c directly."""
    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 2.0, (500, 3))
    w = rng.uniform(0, 2, 500)
    r = rng.dirichlet(np.ones(K), size=500)
    m, c = rng.normal(3.0, 1.0, (K, 3)), rng.normal(3.0, 1.0, (K, 3))
    direct = oracle_sums(X, w, r, c)
    sums = oracle_sums(X, w, r, m)
    pick = {"scalar": lambda s: s[2].sum(axis=1), "diag": lambda s: s[2],
            "full": lambda s: s[3], "tied": lambda s: s[3].sum(axis=0)}[shape]
    stats = FamilyStats(sums[0], sums[1], pick(sums), 1.5, float(w.sum()))
    got = recentre(stats, m, c, shape)
    np.testing.assert_allclose(got.s_k, direct[1], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(got.r_k, pick(direct), rtol=1e-12)
    assert got.n_k is stats.n_k and got.entropy == 1.5
    if shape == "scalar":  # the fixed-variance model's statistics re-centre the same way
        seed = recentre(SweepStats(sums[0], pick(sums), sums[1], 1.5, 1.0), m, c, shape)
        np.testing.assert_allclose(seed.r_k, pick(direct), rtol=1e-12)


def test_algorithm_is_checked():
    with pytest.raises(ValueError, match="'algorithm' parameter"):
        GaussianMixtureCAVI(2, algorithm="online").fit(np.zeros((5, 1)) + np.arange(5)[:, None])
    with pytest.raises(ValueError, match="'algorithm' parameter"):
        BayesianGaussianMixture(n_components=2, covariance_type="diag",
                                algorithm="svi").fit(np.arange(10.0)[:, None])


def test_warm_start_and_n_init_start_afresh():
    """Each of n_init runs (and a warm start) gets its own kept statistics."""
    X, w = separated(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixtureCAVI(K, random_state=1, n_init=3, algorithm="incremental",
                                max_iter=5).fit(X)
        singles = [GaussianMixtureCAVI(K, random_state=1, n_init=1, algorithm="incremental",
                                       max_iter=5) for _ in range(1)]
        singles[0].fit(X)
    assert a.lower_bound_ >= singles[0].lower_bound_
    b = BayesianGaussianMixture(n_components=K, covariance_type="diag", random_state=0,
                                algorithm="incremental", warm_start=True, tol=0, max_iter=3)
    b.fit(X)
    first = b.lower_bound_
    b.fit(X)
    assert b.lower_bounds_[0] >= first - 1e-9 * abs(first)


def test_incremental_cavi_is_the_algorithm_written_out_with_the_oracle():
    """Two passes of incremental CAVI (fixed-variance model, soft responsibilities, weighted)
    against the algorithm written out with the NumPy oracle: in the first pass q(mu) after
    each block from the blocks seen (their weights scaled to the total), then one exact visit
    per block, each E-step at the q(mu) of that moment."""
    from . import oracles

    rng = np.random.default_rng(11)
    X = rng.normal(0, 1.5, (N, P)) + rng.integers(0, 2, (N, 1)) * 2.0   # overlapping clusters
    w = rng.uniform(0.2, 2, N)
    hyper = dict(prior_mean=0.5, prior_var=9.0, likelihood_var=1.3)
    m, v = X[:K].copy(), np.full(K, 0.7)
    edges = list(range(0, N, BLOCK_ROWS)) + [N]
    parts = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
    args = (hyper["prior_mean"], hyper["prior_var"], hyper["likelihood_var"])
    resp = [None] * len(parts)
    for b, rows in enumerate(parts):
        resp[b] = np.exp(oracles.log_resp(X[rows], m, v, hyper["likelihood_var"]))
        seen = slice(0, rows.stop)
        scale = w.sum() / w[seen].sum() if b + 1 < len(parts) else 1.0
        m, v = oracles.update_q_mu(X[seen], np.vstack(resp[:b + 1]), *args, w[seen] * scale)
    for b, rows in enumerate(parts):
        resp[b] = np.exp(oracles.log_resp(X[rows], m, v, hyper["likelihood_var"]))
        m, v = oracles.update_q_mu(X, np.vstack(resp), *args, w)
    gm = GaussianMixtureCAVI(K, means_init=X[:K], mean_vars_init=0.7, algorithm="incremental",
                             tol=0, max_iter=2, **hyper).fit(X, sample_weight=w)
    np.testing.assert_allclose(gm.means_, m, rtol=1e-10)
    np.testing.assert_allclose(gm.mean_vars_, v, rtol=1e-10)
    want = oracles.elbo_total(X, np.vstack(resp), m, v, *args, sample_weight=w)
    assert gm.lower_bound_ == pytest.approx(want, rel=1e-10)
