"""The per-type facts of fastcavi.models.covariance, against scikit-learn's attributes and
against NumPy (the covariance of scaled data, a sample's covariance)."""

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from fastcavi.models.covariance import COVARIANCES
from fastcavi.models.names import COVARIANCE_TYPES, MATRIX_TYPES


def test_one_object_per_covariance_type():
    assert tuple(COVARIANCES) == tuple(COVARIANCE_TYPES)
    assert all(c.name == name for name, c in COVARIANCES.items())
    assert {n for n, c in COVARIANCES.items() if c.matrix} == set(MATRIX_TYPES)


@pytest.mark.parametrize("name", COVARIANCE_TYPES)
def test_shapes_and_variances_are_scikit_learns(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1.0, 2.0, 0.5] + rng.integers(0, 2, size=(300, 1)) * 4
    sk = SkBGM(n_components=4, covariance_type=name, random_state=0, max_iter=500).fit(X)
    c = COVARIANCES[name]
    assert c.covariances_shape(4, 3) == sk.covariances_.shape
    assert c.degrees_of_freedom_shape(4) == np.shape(sk.degrees_of_freedom_)
    # every component's full covariance matrix, as scikit-learn's own helper spells it
    cov = sk.covariances_
    full = {"full": lambda: cov, "tied": lambda: np.broadcast_to(cov, (4, 3, 3)),
            "diag": lambda: np.stack([np.diag(v) for v in cov]),
            "spherical": lambda: np.stack([v * np.eye(3) for v in cov])}[name]()
    variances = c.variances(sk.covariances_, 4)
    expected = np.diagonal(full, axis1=1, axis2=2)
    assert np.array_equal(np.broadcast_to(variances, expected.shape), expected)
    assert variances.shape == ((4, 3) if c.per_feature else (4, 1))
    assert len(c.per_component(sk.covariances_, 4)) == 4


@pytest.mark.parametrize("name", ["diag", "full", "tied"])
def test_in_data_units_is_the_covariance_of_the_scaled_data(name):
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 3))
    scale = np.array([2.0, 0.1, 30.0])
    cov_z, cov_x = np.cov(Z.T), np.cov((Z * scale).T)
    a = np.diag(cov_z) if name == "diag" else cov_z
    expected = np.diag(cov_x) if name == "diag" else cov_x
    assert np.allclose(COVARIANCES[name].in_data_units(a, scale), expected, rtol=1e-12)


@pytest.mark.parametrize("name", COVARIANCE_TYPES)
def test_draw_has_the_component_covariance(name):
    rng = np.random.default_rng(2)
    cov = {"spherical": 2.0, "diag": np.array([0.5, 3.0]),
           "full": np.array([[2.0, 0.8], [0.8, 1.0]]),
           "tied": np.array([[1.0, -0.5], [-0.5, 2.0]])}[name]
    points = COVARIANCES[name].draw(rng, np.array([1.0, -2.0]), cov, 200_000)
    dense = np.diag(np.broadcast_to(cov, (2,))) if np.ndim(cov) < 2 else cov
    assert points.shape == (200_000, 2)
    assert np.allclose(points.mean(axis=0), [1.0, -2.0], atol=0.02)
    assert np.allclose(np.cov(points.T), dense, atol=0.03)


def test_a_spherical_prior_is_one_number():
    c = COVARIANCES["spherical"]
    with pytest.raises(ValueError, match="spherical covariance_prior' should be a positive"):
        c.prior([1.0, 2.0], None, None, np.ones(2), 10.0)
    with pytest.raises(ValueError, match="should be positive and finite"):
        c.prior(-1.0, None, None, np.ones(2), 10.0)
    assert c.prior(None, None, None, np.array([1.0, 3.0]), 10.0) == 2.0
