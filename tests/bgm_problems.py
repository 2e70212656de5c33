"""What the tests of fastcavi.BayesianGaussianMixture share, for every covariance type: data and
hyperparameters, the sizes that cross the kernels' boundaries, the oracle's result in the
reference's form, and how two results are compared.

Each type keeps its own data: independent features for spherical and diag, correlated ones
(and a correlated covariance prior) for full and tied, so that a matrix kernel's off-diagonal
terms matter."""

from __future__ import annotations

import numpy as np
import pytest

from fastcavi import BayesianGaussianMixture
from fastcavi.models.covariance import COVARIANCES
from fastcavi.models.names import COVARIANCE_TYPES, WEIGHT_PRIORS
from fastcavi.reference import family as F

from . import oracles_family as O

TYPES = COVARIANCE_TYPES
PRIORS = WEIGHT_PRIORS
TYPE = pytest.mark.parametrize("ctype", TYPES)


def _grid():
    """Every type with every weight prior. The quick run (-m "not slow") meets each type and
    each prior in every test: the weight prior is a few lines outside the kernels, so the
    other half of the pairs runs with the slow tests."""
    for t, ctype in enumerate(TYPES):
        for i, wtype in enumerate(PRIORS):
            marks = () if (t + i) % 2 == 0 else (pytest.mark.slow,)
            yield pytest.param(ctype, wtype, marks=marks, id=f"{ctype}-{wtype}")


GRID = pytest.mark.parametrize(("ctype", "wtype"), list(_grid()))
WEIGHTED = pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])

# (N, p, K), N odd or prime in each, run by every type: chunks that the tiles do not divide;
# small tiles (large K); large p (spherical's BLAS path from p >= 16 and K >= 8, with blocks that
# do not divide a chunk; diag's tiles at large p; the matrix kernels' 4 x 4 blocks and smaller
# tiles); the matrix kernels' 4 x 4 blocks with padding (p not a multiple of 4), with an odd K
# that is not a multiple of 4 (the tied kernel's blocks of components leave a remainder, and its
# components in pairs leave one); the 64-chunk cap.
# tests/test_bgm.py::test_cases_cross_every_boundary checks each claim.
CASES = {
    "chunks-tiles": (5003, 3, 5),
    "small-tiles": (5003, 2, 40),
    "large-p": (3001, 20, 10),
    "padded-blocks": (4099, 9, 7),
    "chunk-cap": (140_009, 2, 3),
}


# What float32 per-point math (float64 sums) achieves against the float64 oracle on the same
# rounded numbers after 3 iterations, worst over the cases (measured). Per-variance kernels:
# ELBO 1.4e-7, means 1.6e-6 of their scale, the other parameters 1.3e-5 (diag's Psi at large
# p), phi 6.7e-6. Matrix kernels: ELBO 6e-9, means 2.1e-7 of their scale, Psi 9e-7 of its
# scale, b_k and the other parameters 1.2e-6, r 3.3e-6. The differences of the first E-step grow
# through the iterations; tolerances sit a few times above.
TOL32 = {False: dict(rtol=4e-5, resp_atol=2e-5, bounds_rtol=5e-7, means_rtol=5e-6),
         True: dict(rtol=5e-6, resp_atol=1.5e-5, bounds_rtol=3e-8, means_rtol=1e-6)}


def blobs(rng, n, p, k, spread=3.0):
    """Clusters with independent features of different scales, away from the origin."""
    centres = rng.normal(scale=spread, size=(k, p))
    scales = np.exp(rng.uniform(-0.7, 0.7, size=(k, p)))
    labels = rng.integers(k, size=n)
    return centres[labels] + rng.normal(size=(n, p)) * scales[labels] + rng.normal(0, 8, p)


def correlated_blobs(rng, n, p, k, spread=3.0):
    """Clusters with correlated features, away from the origin."""
    centres = rng.normal(scale=spread, size=(k, p))
    mix = rng.normal(scale=0.5, size=(k, p, p)) + np.eye(p)
    labels = rng.integers(k, size=n)
    noise = np.einsum("nij,nj->ni", mix[labels], rng.normal(size=(n, p)))
    return centres[labels] + noise + rng.normal(0, 8, p)


def data(rng, n, p, k, ctype, spread=3.0):
    """The type's data: correlated features for matrix precisions, independent ones else."""
    make = correlated_blobs if COVARIANCES[ctype].matrix else blobs
    return make(rng, n, p, k, spread)


def hyper_for(rng, p, ctype, wtype):
    """Hyperparameters away from every default and from 1; a correlated Psi0 for full and
    tied, one variance per feature for diag, their mean for spherical."""
    if COVARIANCES[ctype].matrix:
        a = rng.normal(size=(p, p))
        psi0 = a @ a.T / p + np.diag(np.exp(rng.uniform(-1.0, 1.0, size=p)))
        least_dof = p - 1
    else:
        psi0 = np.exp(rng.uniform(-1.0, 1.0, size=p))
        least_dof = p
    return dict(covariance_type=ctype, weight_concentration_prior_type=wtype,
                weight_concentration_prior=float(np.exp(rng.uniform(-1.5, 1.0))),
                mean_precision_prior=float(np.exp(rng.uniform(-1.0, 1.0))),
                mean_prior=rng.normal(scale=2.0, size=p),
                degrees_of_freedom_prior=float(rng.uniform(0.6, 4.0)) + least_dof,
                covariance_prior=float(psi0.mean()) if ctype == "spherical" else psi0,
                reg_covar=0.0)


def problem(seed, n, p, k, ctype, wtype, weighted, dtype=np.float64):
    """Data, random responsibilities, hyperparameters (the mean prior near the data) and, if
    ``weighted``, weights with about 10 % zeros."""
    rng = np.random.default_rng(seed)
    X = data(rng, n, p, k, ctype).astype(dtype)
    hyper = hyper_for(rng, p, ctype, wtype)
    hyper["mean_prior"] = hyper["mean_prior"] + X.astype(np.float64).mean(axis=0)
    resp = rng.dirichlet(np.full(k, 0.7), size=n)
    w = None
    if weighted:
        w = rng.uniform(0, 3, n)
        w[rng.random(n) < 0.1] = 0.0
    return X, resp, hyper, w


def assert_result(got, want, rtol, resp_atol, bounds_rtol=None, means_rtol=None, name=""):
    """Every parameter of q, the last responsibilities and the ELBO trace; the means on the
    means' scale, and a matrix Psi_k on its own scale (off-diagonal entries may be near 0)."""
    np.testing.assert_allclose(got.lower_bounds, want.lower_bounds,
                               rtol=bounds_rtol or rtol, err_msg=name + " lower_bounds")
    q, r = got.params, want.params
    np.testing.assert_allclose(q.means, r.means, rtol=0,
                               atol=(means_rtol or rtol) * np.abs(r.means).max(), err_msg=name)
    for field in ("mean_precision", "degrees_of_freedom"):
        np.testing.assert_allclose(getattr(q, field), getattr(r, field), rtol=rtol,
                                   err_msg=f"{name} {field}")
    psi_q, psi_r = np.asarray(q.psi), np.asarray(r.psi)
    if COVARIANCES[r.covariance_type].matrix:
        scale = np.abs(psi_r).max(axis=(-2, -1), keepdims=True)
        err = np.max(np.abs(psi_q - psi_r) / scale)
        assert err <= rtol, f"{name} psi differs by {err:.2e} of its scale (rtol {rtol:g})"
    else:
        np.testing.assert_allclose(psi_q, psi_r, rtol=rtol, err_msg=f"{name} psi")
    for a, b in zip(np.atleast_2d(q.weight_concentration), np.atleast_2d(r.weight_concentration)):
        np.testing.assert_allclose(a, b, rtol=rtol, err_msg=name + " weight_concentration")
    np.testing.assert_allclose(got.resp, want.resp, rtol=0, atol=resp_atol, err_msg=name)


def oracle_result(X, resp, hyper, n_iter, w):
    """The independent vectorised oracle's CAVI, as a reference FamilyResult."""
    q, r, bounds, _ = O.vectorised_cavi(np.asarray(X, dtype=np.float64), resp, hyper, n_iter,
                                        sample_weight=w)
    return F.FamilyResult(F.Params(hyper["covariance_type"],
                                   hyper["weight_concentration_prior_type"],
                                   q["weight_concentration"], q["mean_precision"], q["means"],
                                   q["degrees_of_freedom"], q["psi"]), r, bounds)


def estimator(k, hyper, **kw):
    """The estimator with every hyperparameter of ``hyper``."""
    return BayesianGaussianMixture(
        n_components=k, covariance_type=hyper["covariance_type"],
        weight_concentration_prior_type=hyper["weight_concentration_prior_type"],
        weight_concentration_prior=hyper["weight_concentration_prior"],
        mean_precision_prior=hyper["mean_precision_prior"], mean_prior=hyper["mean_prior"],
        degrees_of_freedom_prior=hyper["degrees_of_freedom_prior"],
        covariance_prior=hyper["covariance_prior"], reg_covar=hyper["reg_covar"], **kw)


def q_of(gm):
    """The oracle's q from a fitted estimator (Psi = covariances_ * nu, nu per component or
    shared)."""
    nu = np.asarray(gm.degrees_of_freedom_)
    cov = np.asarray(gm.covariances_)
    psi = cov * nu.reshape(nu.shape + (1,) * (cov.ndim - nu.ndim))
    return dict(weight_concentration=gm.weight_concentration_, mean_precision=gm.mean_precision_,
                means=gm.means_, degrees_of_freedom=gm.degrees_of_freedom_, psi=psi)


def as_matrices(ctype, covariances, k, p):
    """``covariances_`` as K full p x p matrices."""
    per = COVARIANCES[ctype].per_component(covariances, k)
    if COVARIANCES[ctype].matrix:
        return [np.asarray(c) for c in per]
    return [np.diag(np.broadcast_to(c, (p,))) for c in per]
