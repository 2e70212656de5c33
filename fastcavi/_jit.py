"""JIT options, in one place, and ``cached_njit``: ``numba.njit`` with ``cache=True`` that still
works where no cache location is writable.

Numba raises ``RuntimeError: cannot cache function ...: no locator available`` when it is asked
to cache a function and neither ``NUMBA_CACHE_DIR``, the package's ``__pycache__`` nor the
user's cache directory can be written (a read-only installation run by a user without a home,
as in some web servers and containers). ``import fastcavi`` must not fail there: the kernels
are then compiled in memory for this process only.
"""

from numba import njit

# No blanket fastmath: "nnan"/"ninf" would let LLVM drop the NaN checks and the -inf handling
# of log-sum-exp. This set keeps NaN/inf semantics ("reassoc" lets reductions vectorise).
KERNEL_FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
KERNEL_OPTIONS = dict(nogil=True, error_model="numpy", fastmath=set(KERNEL_FASTMATH))


def cached_njit(*args, **options):
    """``njit(*args, cache=True, **options)``, falling back to ``cache=False`` when Numba finds
    no writable cache location."""
    options.setdefault("cache", True)

    def decorate(func):
        try:
            return njit(*args, **options)(func)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            return njit(*args, **dict(options, cache=False))(func)

    return decorate
