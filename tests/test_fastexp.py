"""Accuracy and special-value tests for fastcavi.kernels.fastexp._exp_nonpos."""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from numba import njit

from fastcavi.kernels.fastexp import _exp_nonpos, _exp_nonpos_f32, _log_normal

UNDERFLOW = -708.3964185322641  # ln(2**-1022); below it the result is flushed to 0.0
RTOL = 2.5e-16  # measured max is ~2.2e-16 (<= 1 ulp)
SIG = "void(float64[::1], float64[::1])"


def _loop(a, out):
    for i in range(a.shape[0]):
        out[i] = _exp_nonpos(a[i])


vexp = njit(SIG, cache=True)(_loop)
# Caller with blanket fastmath: its flags must not leak into _exp_nonpos.
vexp_fastmath_caller = njit(SIG, cache=True, fastmath=True)(_loop)


def fast(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    vexp(x, out)
    return out


def max_rel_err(x):
    ref = np.exp(x)
    assert np.all(ref >= np.finfo(np.float64).tiny)
    return np.max(np.abs(fast(x) - ref) / ref)


def max_ulp_err(x):
    ref = np.exp(x)
    return np.max(np.abs(fast(x) - ref) / np.spacing(ref))


def test_dense_grid():
    x = np.linspace(UNDERFLOW, 0.0, 2_000_001)
    assert max_rel_err(x) <= RTOL
    assert max_ulp_err(x) <= 1.0


def test_random_points_full_range():
    x = np.random.default_rng(12345).uniform(-745.0, 0.0, 2_000_000)
    got = fast(x)
    normal = x >= UNDERFLOW
    ref = np.exp(x[normal])
    assert np.max(np.abs(got[normal] - ref) / ref) <= RTOL
    # Below the threshold the true value is subnormal (< 2.3e-308) and is flushed to 0.
    assert np.all(got[~normal] == 0.0)
    assert np.all(np.exp(x[~normal]) < np.finfo(np.float64).tiny)


@pytest.mark.parametrize("lo", [-1.0, -1e-3, -1e-8, -40.0])
def test_random_points_small_arguments(lo):
    x = np.random.default_rng(7).uniform(lo, 0.0, 500_000)
    assert max_rel_err(x) <= RTOL
    assert max_ulp_err(x) <= 1.0


def test_exact_special_values():
    assert _exp_nonpos(0.0) == 1.0
    assert _exp_nonpos(-0.0) == 1.0
    assert _exp_nonpos(-5e-324) == 1.0
    assert _exp_nonpos(-1e-300) == 1.0
    assert _exp_nonpos(-np.inf) == 0.0
    assert np.isnan(_exp_nonpos(np.nan))
    for x in [-745.0, -745.2, -746.0, -800.0, -1e4, -1e300, -np.finfo(np.float64).max]:
        assert _exp_nonpos(x) == 0.0, x


def test_underflow_threshold():
    below = np.nextafter(UNDERFLOW, -np.inf)
    assert _exp_nonpos(below) == 0.0
    assert _exp_nonpos(-708.4) == 0.0
    assert _exp_nonpos(-709.0) == 0.0
    at = _exp_nonpos(UNDERFLOW)
    assert abs(at - np.exp(UNDERFLOW)) <= np.spacing(np.exp(UNDERFLOW))
    x = np.linspace(UNDERFLOW, UNDERFLOW + 1.0, 10_001)
    assert max_rel_err(x[x >= UNDERFLOW + 1e-9]) <= RTOL


def test_vectorised_loop_matches_scalar_calls():
    x = np.concatenate([np.linspace(-745.0, 0.0, 1001), [0.0, -np.inf, np.nan, -1e300, UNDERFLOW]])
    got = fast(x)
    want = np.array([_exp_nonpos(v) for v in x])
    np.testing.assert_array_equal(got, want)


def test_nan_and_inf_in_arrays():
    x = np.array([np.nan, -np.inf, 0.0, -1.0, np.nan, -750.0, -0.5, -np.inf, 0.0])
    got = fast(x)
    assert np.isnan(got[[0, 4]]).all()
    assert got[1] == 0.0 and got[7] == 0.0 and got[5] == 0.0
    assert got[2] == 1.0 and got[8] == 1.0
    np.testing.assert_allclose(got[[3, 6]], np.exp([-1.0, -0.5]), rtol=RTOL, atol=0)


def test_fastmath_caller_keeps_semantics():
    x = np.array([0.0, -np.inf, np.nan, -800.0, -1.5, -708.0, -700.0, -3e-17])
    out = np.empty_like(x)
    vexp_fastmath_caller(x, out)
    np.testing.assert_array_equal(out, fast(x))
    assert np.isnan(out[2]) and out[1] == 0.0 and out[3] == 0.0 and out[0] == 1.0


def test_positive_arguments():
    # Not the intended domain, but accurate up to 709.43 and +inf above.
    x = np.random.default_rng(3).uniform(0.0, 709.43, 200_000)
    assert max_rel_err(x) <= RTOL
    assert _exp_nonpos(np.inf) == np.inf
    assert _exp_nonpos(710.0) == np.inf


def test_loop_is_inlined_and_vectorised():
    # A fresh (uncached) compile, since inspect_asm() is unavailable for cached code.
    asm = "\n".join(njit(SIG)(_loop).inspect_asm().values())
    assert not re.search(r"\bexp\b", asm.replace("_exp_nonpos", "")), "libm exp is called"
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert re.search(r"^\s*v?mulpd\s|^\s*vfn?m(add|sub)\d+pd\s", asm, re.MULTILINE)


@njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def _log_loop(a, out):
    for i in range(a.size):
        out[i] = _log_normal(a[i])


@pytest.mark.parametrize("lo, hi", [(1.0, 10.0), (1.0, 1e4), (0.5, 2.0), (1e-300, 1e-200),
                                    (1e200, 1e300)])
def test_log_within_one_ulp(lo, hi):
    """The kernels take log z with z in [1, K]; it is accurate on all positive normals."""
    a = np.exp(np.random.default_rng(7).uniform(np.log(lo), np.log(hi), 200_000))
    a = np.r_[a, lo, hi, 1.0, 2.0, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 0)]
    out = np.empty_like(a)
    _log_loop(a, out)
    ref = np.log(a)
    ulps = np.abs(out - ref) / np.spacing(np.maximum(np.abs(ref), np.finfo(float).tiny))
    assert ulps.max() <= 1.0
    assert _log_normal(1.0) == 0.0


@njit(fastmath={"reassoc", "contract"}, error_model="numpy")
def _exp32_loop(a, out):
    for i in range(a.size):
        out[i] = _exp_nonpos_f32(a[i])


def test_float32_exp_within_three_ulp():
    rng = np.random.default_rng(11)
    a = np.r_[rng.uniform(-87.33, 0, 1_000_000), np.linspace(-87.33, 0, 500_001),
              rng.uniform(-1e-3, 0, 100_000)].astype(np.float32)
    out = np.empty_like(a)
    _exp32_loop(a, out)
    ref = np.exp(a.astype(np.float64))
    ulps = np.abs(out - ref) / np.spacing(ref.astype(np.float32)).astype(np.float64)
    assert ulps.max() <= 3.0
    special = np.array([0.0, -0.0, -np.inf, np.nan, -88.0, -1e30], dtype=np.float32)
    _exp32_loop(special, special)
    assert special[0] == 1.0 and special[1] == 1.0 and special[2] == 0.0
    assert np.isnan(special[3]) and special[4] == 0.0 and special[5] == 0.0
