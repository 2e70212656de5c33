"""GaussianMixture.partial_fit: online EM (Cappe & Moulines 2009). With step size 1 a call is
one EM iteration on its batch, which is scikit-learn's GaussianMixture with max_iter=1 from
the same parameters; a stream from a well-separated mixture recovers its means; integer
weights are repeated rows; bad streams are refused in plain words."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastcavi import GaussianMixture

K, P = 3, 2
TYPES = ["full", "tied", "diag", "spherical"]
CENTRES = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
WEIGHTS = np.array([0.5, 0.3, 0.2])


def draw(rng, n):
    z = rng.choice(K, size=n, p=WEIGHTS)
    return CENTRES[z] + rng.normal(size=(n, P)) * np.array([1.0, 0.7])


def sklearn_one_iteration(ctype, X, weights, means, precisions):
    """scikit-learn's EM, one iteration on X from the given parameters."""
    sk = SkGaussianMixture(K, covariance_type=ctype, max_iter=1, weights_init=weights,
                           means_init=means, precisions_init=precisions, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sk.fit(X)


@pytest.mark.parametrize("ctype", TYPES)
def test_with_step_size_one_each_call_is_one_em_iteration_on_its_batch(ctype):
    """The first call starts from its batch as fit would (here from given weights, means and
    precisions) and takes one EM iteration on it; with learning_offset=0 the second call's
    step size is (0 + 1) ** -kappa = 1, so it is one EM iteration on its batch from the
    parameters left by the first: both are scikit-learn's with max_iter=1 from those."""
    rng = np.random.default_rng(0)
    batches = [draw(rng, 400) for _ in range(2)]
    start = SkGaussianMixture(K, covariance_type=ctype, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(batches[0][:50])
    params = (start.weights_, start.means_, start.precisions_)
    gm = GaussianMixture(K, covariance_type=ctype, weights_init=params[0],
                         means_init=params[1], precisions_init=params[2], learning_offset=0.0)
    for t, batch in enumerate(batches):
        sk = sklearn_one_iteration(ctype, batch, *params)
        gm.partial_fit(batch)
        np.testing.assert_allclose(gm.weights_, sk.weights_, rtol=1e-8)
        np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-8, atol=1e-10)
        assert gm.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-10)
        assert gm.n_batch_iter_ == t + 1 and len(gm.lower_bounds_) == t + 1
        assert not gm.converged_
        params = (gm.weights_, gm.means_, gm.precisions_)


def test_after_fit_a_step_size_one_call_is_one_em_iteration_from_the_fit():
    rng = np.random.default_rng(1)
    X, batch = draw(rng, 2000), draw(rng, 300)
    gm = GaussianMixture(K, random_state=0, learning_offset=0.0).fit(X)
    sk = sklearn_one_iteration("full", batch, gm.weights_, gm.means_, gm.precisions_)
    gm.partial_fit(batch)
    np.testing.assert_allclose(gm.means_, sk.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-8, atol=1e-10)


def test_the_running_sums_blend_with_the_step_size():
    """Two calls from given parameters (learning_offset=1, kappa=1: rho_1 = 1/2): the second
    M-step is from the average of the two batches' sums per unit weight, so the means are
    ((1/2) sum_i r1_ik x_i / W1 + (1/2) sum_i r2_ik x_i / W2) over the same blend of the
    N_k, each batch's responsibilities at the parameters it met (written out with NumPy)."""
    rng = np.random.default_rng(2)
    b1, b2 = draw(rng, 300), draw(rng, 500)
    init = dict(weights_init=WEIGHTS, means_init=CENTRES + 0.5,
                precisions_init=np.array([np.eye(P)] * K))
    gm = GaussianMixture(K, learning_offset=1.0, learning_decay=1.0, **init).partial_fit(b1)
    prec = np.array([np.eye(P)] * K)
    sk1 = sklearn_one_iteration("full", b1, WEIGHTS, CENTRES + 0.5, prec)  # the first call
    r0 = _resp(b1, WEIGHTS, CENTRES + 0.5, prec)  # the first batch at the start
    r2 = _resp(b2, sk1.weights_, sk1.means_, sk1.precisions_)  # the second after one step
    n = 0.5 * r0.sum(0) / len(b1) + 0.5 * r2.sum(0) / len(b2)
    sx = 0.5 * r0.T @ b1 / len(b1) + 0.5 * r2.T @ b2 / len(b2)
    gm.partial_fit(b2)
    np.testing.assert_allclose(gm.means_, sx / n[:, None], rtol=1e-9)
    np.testing.assert_allclose(gm.weights_, n / n.sum(), rtol=1e-9)


def _resp(X, weights, means, precisions):
    """Responsibilities at full-covariance parameters, written out with NumPy."""
    logs = []
    for w, m, prec in zip(weights, means, precisions):
        d = X - m
        logs.append(np.log(w) + 0.5 * np.linalg.slogdet(prec)[1]
                    - 0.5 * np.einsum("ni,ij,nj->n", d, prec, d))
    logs = np.column_stack(logs)
    logs -= logs.max(axis=1, keepdims=True)
    e = np.exp(logs)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("ctype", TYPES)
def test_a_stream_recovers_the_means(ctype):
    """60 batches of 500 points, the first call starting from k-means on its batch. The
    running sums average roughly the last 1/rho_t batches (rho_60 = 70**-0.7, about 1/20),
    so each mean's standard error is below 1 / sqrt(0.2 * 500 * 5), about 0.05: 0.3 is six
    of them, and far less than the 10 between the centres."""
    rng = np.random.default_rng(3)
    gm = GaussianMixture(K, covariance_type=ctype, random_state=0)
    for _ in range(60):
        gm.partial_fit(draw(rng, 500))
    order = np.argsort(gm.means_[:, 0] + 2 * gm.means_[:, 1])
    np.testing.assert_allclose(gm.means_[order], CENTRES, atol=0.3)
    np.testing.assert_allclose(gm.weights_[order], WEIGHTS, atol=0.05)
    assert gm.n_batch_iter_ == 60


@pytest.mark.parametrize("ctype", ["full", "diag"])
def test_integer_weights_are_repeated_rows(ctype):
    rng = np.random.default_rng(4)
    b1, b2 = draw(rng, 200), draw(rng, 150)
    w1, w2 = rng.integers(0, 4, len(b1)), rng.integers(0, 4, len(b2))
    init = dict(weights_init=WEIGHTS, means_init=CENTRES + 0.5,
                precisions_init=[np.eye(P)] * K if ctype == "full" else np.ones((K, P)))
    a = GaussianMixture(K, covariance_type=ctype, **init)
    b = GaussianMixture(K, covariance_type=ctype, **init)
    a.partial_fit(b1, sample_weight=w1).partial_fit(b2, sample_weight=w2)
    b.partial_fit(np.repeat(b1, w1, axis=0)).partial_fit(np.repeat(b2, w2, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=1e-12)
    assert a.lower_bounds_ == pytest.approx(b.lower_bounds_, rel=1e-10)


def test_float32_batches_fit_in_float32():
    rng = np.random.default_rng(5)
    batches = [draw(rng, 400) for _ in range(4)]
    a, b = GaussianMixture(K, random_state=0), GaussianMixture(K, random_state=0)
    for batch in batches:
        a.partial_fit(batch.astype(np.float32))
        b.partial_fit(batch)
    assert a.means_.dtype == np.float32 and a.covariances_.dtype == np.float32
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-5)


def test_a_change_of_n_features_is_refused_and_leaves_the_model_as_it_was():
    rng = np.random.default_rng(6)
    gm = GaussianMixture(K, random_state=0).partial_fit(draw(rng, 100))
    means = gm.means_.copy()
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(rng.normal(size=(50, 3)))
    np.testing.assert_array_equal(gm.means_, means)
    assert gm.n_batch_iter_ == 1


@pytest.mark.parametrize("name, value", [("learning_decay", 0.5), ("learning_decay", 1.5),
                                         ("learning_offset", -1.0)])
def test_bad_stream_settings_are_refused(name, value):
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        GaussianMixture(K, **{name: value}).partial_fit(draw(np.random.default_rng(7), 50))


def test_a_fit_ends_the_stream():
    rng = np.random.default_rng(8)
    gm = GaussianMixture(K, random_state=0).partial_fit(draw(rng, 100))
    gm.fit(draw(rng, 300))
    assert not hasattr(gm, "n_batch_iter_")


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_a_model_read_from_a_file_continues_as_the_fitted_one(tmp_path, covariance_type):
    """A file keeps the parameters, not the last E-step's sums; partial_fit on a loaded model
    continues from the sums of its parameters, which at a fixed point of EM are those sums:
    the same step as the fitted model's, even on a batch from one cluster only (where a batch
    weighed alone would leave the other components without points)."""
    import fastcavi

    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal(c, 1.0, (300, 2)) for c in ([0, 0], [8, 0], [0, 8])])
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-12,
                             max_iter=1000).fit(X)
    fitted.save(tmp_path / "m.npz")
    loaded = fastcavi.load(tmp_path / "m.npz")
    batch = X[:200]  # the first cluster only
    fitted.partial_fit(batch)
    loaded.partial_fit(batch)
    np.testing.assert_allclose(loaded.means_, fitted.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(loaded.covariances_, fitted.covariances_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loaded.weights_, fitted.weights_, rtol=1e-9)
