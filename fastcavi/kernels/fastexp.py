"""Branch-free, SIMD-friendly ``exp`` for Numba kernels.

Why
---
The llvmlite wheels on PyPI are built without Intel SVML, so ``np.exp`` /
``math.exp`` inside an ``@njit`` loop lowers to a scalar call to libm's
``exp`` (a few ns each).  The call is opaque to LLVM, so it also stops the
loop vectoriser.  :func:`_exp_nonpos` is written only with arithmetic,
compares/selects and integer bit manipulation, so after inlining a loop such
as ``out[i] = _exp_nonpos(a[i])`` is auto-vectorised (packed ``vfmadd...pd``
on ymm/zmm registers on an AVX2/AVX-512 host).

Method
------
1. Range reduction.  ``n = rint(x / ln 2)`` is obtained with the "shifter"
   trick: ``t = x * log2(e) + 1.5 * 2**52`` rounds ``x * log2(e)`` to the
   nearest integer and leaves that integer in the low mantissa bits of ``t``;
   ``nf = t - 1.5 * 2**52`` is the same integer as a float (both steps exact).
   Then ``r = (x - nf * LN2_HI) - nf * LN2_LO`` with the Cody-Waite split of
   ``ln 2`` (``LN2_HI`` has 32 significant bits, so ``nf * LN2_HI`` is exact
   for ``|n| < 2**21``; ``LN2_HI + LN2_LO`` equals ``ln 2`` to ~1e-26).  So
   ``|r| <= ln(2)/2`` (plus a rounding hair) and ``exp(x) = 2**n * exp(r)``.
2. ``exp(r) = 1 + r + r**2 * q(r)`` where ``q`` is a degree-9 polynomial
   (Horner) whose coefficients are a Remez minimax fit (relative error) of
   ``(exp(r) - 1 - r) / r**2`` on ``|r| <= 1.0005 * ln(2)/2``, computed in
   60-digit decimal arithmetic.  The fit error of ``q`` is 2.05e-16 relative,
   which contributes < 2e-17 to the relative error of ``exp(r)``; the
   remainder is float64 rounding.  ``exp(0) == 1.0`` exactly.
3. ``2**n`` is built directly in the exponent field: the integer bits of
   ``t`` are ``0x4338000000000000 + n``, so ``(bits(t) + 1023) << 52`` is the
   IEEE-754 bit pattern of ``2**n`` (wrapping int64 arithmetic; the high bits
   fall off the shift).  Bitcasts are done by the ``_f64_as_i64`` /
   ``_i64_as_f64`` intrinsics (LLVM ``bitcast``, free, vectorisable).
4. Special values by selects, no branches:
   * ``x < -708.3964185322641`` (= ln(2**-1022), i.e. where ``exp(x)`` would
     be a *subnormal* number or underflow to zero) returns exactly ``0.0``.
     **Subnormal results are flushed to zero on purpose**: the true values are
     < 2.3e-308 and, for the CAVI responsibilities (which are normalised, so
     their largest unnormalised term is ``exp(0) == 1``), are irrelevant.
     ``-inf`` therefore also gives ``0.0``.
   * ``x > 709.43`` returns ``+inf`` (the true overflow point is 709.78; the
     small window in between overflows early -- the intended domain is
     ``x <= 0``, shifted logits).
   * NaN propagates (every select keeps the computed NaN).

Measured accuracy (``tests/test_fastexp.py``; 2e6 dense + 2e6 random points
in ``[-708.39, 0]`` against ``np.exp``): max relative error ~2.2e-16, i.e.
<= 1 ulp of the result; on ``[-745, 0]`` the only other difference is the
documented flush of subnormals.

Measured speed (``scripts/bench_exp.py``, AMD EPYC znver4, 1e7 values in
[-30, 0], one thread): ~0.63 ns/exp vs ~4.3 ns for ``np.exp`` in a Numba
loop and ~0.83 ns for NumPy's own ``np.exp`` ufunc.  The loop compiles to
AVX-512 code (``vfmadd213pd``/``vfmadd231pd``/``vfmsub231pd`` on zmm).

JIT options
-----------
No blanket ``fastmath=True``: it implies ``nnan``/``ninf`` (which would let
LLVM delete the NaN/inf handling) and ``reassoc`` (which would let it fold
``(y + C) - C`` to ``y`` and destroy the shifter trick and the Cody-Waite
reduction).  The only flag used is ``contract`` (fuse ``a * b + c`` into FMA:
faster and slightly more accurate; everything here is still correctly
handled with or without FMA).  The loop vectorises without any fast-math
flag as well; FMA contraction just makes it cheaper.

The function is deliberately *not* ``inline="always"`` (Numba-IR inlining
would compile its body under the caller's fast-math flags, e.g. a caller
with ``fastmath=True`` would reintroduce ``reassoc``); LLVM inlines it into
the caller anyway, keeping the per-instruction flags chosen here, and the
caller's loop is then vectorised.  A *reduction* over exps (``s +=
_exp_nonpos(a[i])``) additionally needs ``reassoc`` on the caller's
accumulation to vectorise -- that is the caller's choice and is safe: the
flags of the caller do not leak into this function.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic

from .jit import cached_njit

__all__ = ["_exp_nonpos", "_exp_nonpos_f32", "_log_normal"]

# Only FMA contraction; see the module docstring for why nothing more.
_FASTMATH = {"contract"}

_LOG2E = 1.4426950408889634  # 1 / ln 2, rounded to double
_SHIFTER = 6755399441055744.0  # 0x1.8p52 = 1.5 * 2**52
_LN2_HI = 6.93147180369123816490e-01  # 0x1.62e42fee00000p-1 (32 significant bits)
_LN2_LO = 1.90821492927058770002e-10  # 0x1.a39ef35793c76p-33
_UNDERFLOW = -708.3964185322641  # ln(2**-1022): below this exp(x) is subnormal -> flushed to 0
_OVERFLOW = 709.43  # 2**n with n <= 1023 only; above this return +inf
_INF = float("inf")

# Remez minimax coefficients of q(r) ~ (exp(r) - 1 - r) / r**2, |r| <= 1.0005 ln(2)/2.
_C2 = 0.5000000000000001
_C3 = 0.16666666666666644
_C4 = 0.04166666666662417
_C5 = 0.008333333333356271
_C6 = 0.0013888888917206199
_C7 = 0.00019841269784533417
_C8 = 2.480152129085715e-05
_C9 = 2.7557355563196312e-06
_C10 = 2.7620096855502307e-07
_C11 = 2.5068182097714444e-08


def _bitcast(src, dst, llvm_type, doc):
    """An intrinsic that reinterprets the bits of a ``src`` scalar as ``dst`` (LLVM
    ``bitcast``: free, and vectorisable inside a loop)."""

    @intrinsic
    def cast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_type)

        return dst(src), codegen

    cast.__doc__ = doc
    return cast


_f64_as_i64 = _bitcast(types.float64, types.int64, ir.IntType(64), "float64 bits as int64")
_i64_as_f64 = _bitcast(types.int64, types.float64, ir.DoubleType(), "int64 bits as float64")
_f32_as_i32 = _bitcast(types.float32, types.int32, ir.IntType(32), "float32 bits as int32")
_i32_as_f32 = _bitcast(types.int32, types.float32, ir.FloatType(), "int32 bits as float32")


@cached_njit("float64(float64)", fastmath=_FASTMATH, nogil=True)
def _exp_nonpos(x):
    """``exp(x)`` for ``x <= 0`` (float64), branch-free and SIMD-vectorisable.

    Max relative error ~2.2e-16 (<= 1 ulp) for ``-708.39 <= x <= 0``.
    Returns exactly ``0.0`` for ``x < -708.3964185322641`` (subnormal results
    are flushed to zero) and for ``-inf``; ``1.0`` for ``0.0``; NaN for NaN.
    Also accurate for ``0 < x <= 709.43``; ``+inf`` above that.
    """
    # n = rint(x / ln2), via the shifter; the low bits of t hold n.
    t = x * _LOG2E + _SHIFTER
    nf = t - _SHIFTER
    # Cody-Waite reduction: r = x - n ln2, |r| <= ln2 / 2.
    r = (x - nf * _LN2_HI) - nf * _LN2_LO
    # exp(r) = 1 + r + r^2 q(r)
    q = _C11
    q = q * r + _C10
    q = q * r + _C9
    q = q * r + _C8
    q = q * r + _C7
    q = q * r + _C6
    q = q * r + _C5
    q = q * r + _C4
    q = q * r + _C3
    q = q * r + _C2
    p = 1.0 + (r + (r * r) * q)
    # 2**n: exponent field = n + 1023 (wrapping int64 arithmetic, high bits shifted out).
    scale = _i64_as_f64((_f64_as_i64(t) + 1023) << 52)
    y = p * scale
    # Selects (NaN compares false, so NaN propagates through both).
    y = 0.0 if x < _UNDERFLOW else y
    y = _INF if x > _OVERFLOW else y
    return y


# fdlibm's e_log.c coefficients: log(1+f) = f - hfsq + s (hfsq + R(z)), s = f/(2+f), z = s^2.
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


# error_model="numpy": Python's model checks every divisor for zero and raises, a branch that
# stops vectorisation (the divisor 2 + f here is never zero).
@cached_njit("float64(float64)", fastmath=_FASTMATH, nogil=True, error_model="numpy")
def _log_normal(x):
    """``log(x)`` for positive, normal, finite float64 ``x``; branch-free, SIMD-vectorisable.

    The kernels call it once per point on ``z_i = sum_k exp(a_ik)``, which lies in
    ``[1, K]``, so no special value can reach it; it does not handle 0, negatives, subnormals,
    inf or NaN (their results are meaningless). Algorithm of fdlibm/musl ``log``: write
    ``x = 2**k (1 + f)`` with ``1 + f`` in ``[sqrt(2)/2, sqrt(2))`` by integer operations on the
    bits, then ``log(1+f)`` by fdlibm's degree-14 minimax polynomial in ``s = f / (2 + f)``.
    Max relative error < 1 ulp (measured in ``tests/test_fastexp.py``).
    """
    bits = _f64_as_i64(x)
    # Move the mantissa range so that 1 + f lands in [sqrt(2)/2, sqrt(2)) (musl's trick).
    hx = (bits >> 32) + (0x3FF00000 - 0x3FE6A09E)
    k = (hx >> 20) - 0x3FF
    hx = (hx & 0x000FFFFF) + 0x3FE6A09E
    y = _i64_as_f64((hx << 32) | (bits & 0xFFFFFFFF))
    f = y - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    # k as a float through the 2**52 magic number (an int64 -> float64 conversion would stop
    # LLVM from vectorising the caller's loop).
    dk = _i64_as_f64(k + 0x4338000000000000) - 6755399441055744.0
    return s * (hfsq + r) + dk * _LN2_LO - hfsq + f + dk * _LN2_HI


_F32_LOG2E = np.float32(1.4426950408889634)
_F32_SHIFTER = np.float32(12582912.0)  # 1.5 * 2**23
_F32_LN2_HI = np.float32(0.693145751953125)  # 12 significant bits: n * hi exact for |n| < 2**11
_F32_LN2_LO = np.float32(1.428606765330187e-06)
_F32_UNDERFLOW = np.float32(-87.33654)  # ln(2**-126): below, the result would be subnormal
_F32_ZERO = np.float32(0.0)
_F32_ONE = np.float32(1.0)
# Taylor coefficients 1/k! (k = 2..6): on |r| <= ln2/2 the truncation error is < 2e-8 relative,
# below float32's half-ulp (6e-8); with the float32 rounding of r the result is within 3 ulp.
_F32_C2 = np.float32(0.5)
_F32_C3 = np.float32(1.0 / 6.0)
_F32_C4 = np.float32(1.0 / 24.0)
_F32_C5 = np.float32(1.0 / 120.0)
_F32_C6 = np.float32(1.0 / 720.0)


@cached_njit("float32(float32)", fastmath=_FASTMATH, nogil=True)
def _exp_nonpos_f32(x):
    """``exp(x)`` for float32 ``x <= 0``: the float32 twin of :func:`_exp_nonpos` (16 SIMD
    lanes instead of 8). Within 3 ulp (float32) on ``[-87.33, 0]``; exactly 0 below
    ``ln(2**-126)`` (subnormals flushed, as in the float64 version) and for ``-inf``; NaN
    propagates. Only for ``x <= 0``."""
    t = x * _F32_LOG2E + _F32_SHIFTER
    nf = t - _F32_SHIFTER
    r = (x - nf * _F32_LN2_HI) - nf * _F32_LN2_LO
    q = _F32_C6
    q = q * r + _F32_C5
    q = q * r + _F32_C4
    q = q * r + _F32_C3
    q = q * r + _F32_C2
    p = _F32_ONE + (r + (r * r) * q)
    # int64 arithmetic truncated to 32 bits: the wrap-around keeps exactly the exponent field.
    scale = _i32_as_f32(np.int32((np.int64(_f32_as_i32(t)) + 127) << 23))
    y = p * scale
    return _F32_ZERO if x < _F32_UNDERFLOW else y


if config.DISABLE_JIT:  # pragma: no cover - exercised by tests/test_nojit.py in a subprocess
    # Intrinsics cannot run as Python, so with NUMBA_DISABLE_JIT=1 (the kernel bodies run as
    # plain Python, for coverage and debugging) these stand in, with the same special values.
    import math

    def _exp_nonpos(x):  # noqa: F811
        if math.isnan(x):
            return x
        return 0.0 if x < _UNDERFLOW else (math.inf if x > _OVERFLOW else math.exp(x))

    def _exp_nonpos_f32(x):  # noqa: F811
        return np.float32(0.0 if x < _F32_UNDERFLOW else math.exp(x))

    def _log_normal(x):  # noqa: F811
        return math.log(x)

