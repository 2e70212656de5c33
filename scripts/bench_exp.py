"""Micro-benchmark: ns per exp for libm np.exp vs fastcavi.kernels.fastexp._exp_nonpos.

Run with ``.venv/bin/python scripts/bench_exp.py [--n 10000000] [--repeat 7]``.

Variants, on an array of ``n`` float64 values uniform in [-30, 0]:

* ``numba np.exp``      -- ``out[i] = np.exp(a[i])`` in an ``@njit`` loop (scalar libm call)
* ``numba _exp_nonpos`` -- ``out[i] = _exp_nonpos(a[i])`` in an ``@njit`` loop
* ``numpy np.exp``      -- ``np.exp(a, out=out)`` (NumPy's own ufunc loop)

each single-threaded, and (Numba variants) with ``prange`` on 2 threads.  It also
inspects the generated assembly of the loops for packed (SIMD) double-precision
instructions, to check that the ``_exp_nonpos`` loop is auto-vectorised.
"""

from __future__ import annotations

import argparse
import re
import time

import numba
import numpy as np
from numba import njit, prange

from fastcavi.kernels.fastexp import _exp_nonpos

SIG = "void(float64[::1], float64[::1])"


@njit(SIG, cache=True)
def loop_npexp(a, out):
    for i in range(a.shape[0]):
        out[i] = np.exp(a[i])


@njit(SIG, cache=True)
def loop_fastexp(a, out):
    for i in range(a.shape[0]):
        out[i] = _exp_nonpos(a[i])


@njit(SIG, cache=True, parallel=True)
def ploop_npexp(a, out):
    for i in prange(a.shape[0]):
        out[i] = np.exp(a[i])


@njit(SIG, cache=True, parallel=True)
def ploop_fastexp(a, out):
    for i in prange(a.shape[0]):
        out[i] = _exp_nonpos(a[i])


def numpy_exp(a, out):
    np.exp(a, out=out)


def best_time(fn, a, out, repeat):
    fn(a, out)  # warm-up (and page-in of out)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(a, out)
        best = min(best, time.perf_counter() - t0)
    return best


_PACKED = re.compile(r"^\s*(v?\w+pd)\s+.*%([xyz]mm)\d+", re.MULTILINE)
_FMA = re.compile(r"^\s*(vfn?m(?:add|sub)\d+pd)\s+.*%([xyz]mm)\d+", re.MULTILINE)
_EXPREF = re.compile(r"^\s*(?:call|jmp|mov)\w*\s+.*\$?\bexp\b", re.MULTILINE)


def asm_report(dispatcher):
    # Recompile without caching: inspect_asm() is not available for cache-loaded code.
    fresh = njit(SIG)(dispatcher.py_func)
    asm = "\n".join(fresh.inspect_asm().values())
    packed = _PACKED.findall(asm)
    wide = [m for m in packed if m[1] in ("ymm", "zmm")]
    fma = sorted({f"{m[0]} {m[1]}" for m in _FMA.findall(asm) if m[1] in ("ymm", "zmm")})
    calls = len(_EXPREF.findall(asm))
    regs = sorted({m[1] for m in wide})
    return (
        f"{len(wide):4d} packed-double ops on {'/'.join(regs) or '-'}; "
        f"FMA: {', '.join(fma) or 'none'}; references to libm exp: {calls}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    a = np.random.default_rng(0).uniform(-30.0, 0.0, args.n)
    out = np.empty_like(a)
    ref = np.exp(a)
    loop_fastexp(a, out)
    err = np.max(np.abs(out - ref) / ref)

    threads = min(args.threads, numba.config.NUMBA_NUM_THREADS)
    print(
        f"n = {args.n:.0e}, values in [-30, 0], best of {args.repeat}; "
        f"numba {numba.__version__}, parallel threads = {threads}"
    )
    print(f"max rel. error of _exp_nonpos vs np.exp on this array: {err:.3e}")
    print(f"{'variant':<22}{'threads':>8}{'ns/exp':>10}")
    rows = [
        ("numba np.exp", 1, loop_npexp),
        ("numba _exp_nonpos", 1, loop_fastexp),
        ("numpy np.exp", 1, numpy_exp),
        ("numba np.exp", threads, ploop_npexp),
        ("numba _exp_nonpos", threads, ploop_fastexp),
    ]
    numba.set_num_threads(threads)
    for name, nthr, fn in rows:
        t = best_time(fn, a, out, args.repeat)
        print(f"{name:<22}{nthr:>8}{t / args.n * 1e9:>10.3f}")

    print("\nassembly of the serial loops:")
    print(f"  loop_npexp:   {asm_report(loop_npexp)}")
    print(f"  loop_fastexp: {asm_report(loop_fastexp)}")


if __name__ == "__main__":
    main()
