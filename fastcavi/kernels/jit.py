"""JIT options, in one place, and ``cached_njit``: ``numba.njit`` with an on-disk cache that lives
outside the installed package and still works where no cache location is writable.

Where the compiled kernels are cached
-------------------------------------
Numba's ``cache=True`` writes next to the source, into ``fastcavi/__pycache__`` (then
``~/.cache/numba``). Inside an installed package that directory is not the installer's: ``pip``
records and removes only the ``.pyc`` files, so ``pip uninstall`` (also the one that
``pip install -e .`` runs first) leaves ``site-packages/fastcavi/__pycache__`` behind full of
``.nbi``/``.nbc`` files, and that leftover directory then shadows the editable install as an
empty namespace package. So fastcavi's kernels are cached, in this order:

1. in ``NUMBA_CACHE_DIR`` when the user set it (Numba's own ``UserProvidedCacheLocator``);
2. else in a per-user directory keyed by fastcavi's version, :func:`cache_root`:
   ``<user cache dir>/fastcavi/<version>/`` (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux),
   below which Numba's usual ``<dir name>_<hash of the source directory>`` keeps two
   installations (say site-packages and a checkout) apart, followed by a digest of every kernel
   source (:func:`fastcavi.kernels.cachedir.source_subdir`: Numba checks a cached kernel
   against its own file only, not the files of the kernels compiled into it);
3. nowhere, when neither can be written (a read-only installation run by a user without a
   home, as in some web servers and containers): Numba would raise ``RuntimeError: cannot
   cache function ...: no locator available``, and ``import fastcavi`` must not fail there, so
   the kernels are then compiled in memory for this process only.

Never into the package directory. This is done per function, by giving each dispatcher a cache
whose locator list is the one above (``numba.config`` is not touched: other libraries' caching
is left as it is). Where Numba reads ``NUMBA_CACHE_LOCATOR_CLASSES`` (recent versions), a value the
user set still takes precedence, as Numba's own ``CacheImpl`` reads it.
"""

import os

from numba import njit
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    UserProvidedCacheLocator,
    UserWideCacheLocator,
)

from . import cachedir as _cachedir

# No blanket fastmath: "nnan"/"ninf" would let LLVM drop the NaN checks and the -inf handling
# of log-sum-exp. This set keeps NaN/inf semantics ("reassoc" lets reductions vectorise).
KERNEL_FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
KERNEL_OPTIONS = dict(nogil=True, error_model="numpy", fastmath=set(KERNEL_FASTMATH))


def cache_root():
    """``<user cache dir>/fastcavi/<fastcavi version>``: where the kernels are cached unless
    ``NUMBA_CACHE_DIR`` is set (read when a kernel is defined, i.e. at import)."""
    return _cachedir.cache_root()


class _SourcesSubpath:
    """A locator whose folder below its root is :func:`fastcavi.kernels.cachedir.source_subdir`
    (Numba's name, and a digest of every kernel source: an edit of one file recompiles the
    kernels of the others that have its code compiled in)."""

    @classmethod
    def get_suitable_cache_subpath(cls, py_file):
        return _cachedir.source_subdir(os.path.dirname(os.path.abspath(py_file)))


class _FastcaviProvidedCacheLocator(_SourcesSubpath, UserProvidedCacheLocator):
    """Numba's locator for ``NUMBA_CACHE_DIR``, with fastcavi's folder below it."""


class _FastcaviUserCacheLocator(_SourcesSubpath, UserWideCacheLocator):
    """Numba's user-wide locator, rooted at :func:`cache_root` instead of Numba's own
    directory (``from_function`` returns None when the directory cannot be written)."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(cache_root(), self.get_suitable_cache_subpath(py_file))


class _CacheImpl(CompileResultCacheImpl):
    _locator_classes = [_FastcaviProvidedCacheLocator, _FastcaviUserCacheLocator]


class _FunctionCache(FunctionCache):
    _impl_class = _CacheImpl


def _attach_cache(dispatcher):
    """Give the dispatcher fastcavi's on-disk cache; leave it uncached when no location can be
    written."""
    try:
        dispatcher._cache = _FunctionCache(dispatcher.py_func)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise


def cached_njit(*args, **options):
    """``njit(*args, cache=True, **options)`` with the cache locations of the module docstring,
    falling back to no cache when none of them can be written.

    ``args`` may be an eager signature (or a list of them), as for ``njit``.
    """
    cache = options.pop("cache", True)

    def decorate(func):
        if not cache:
            return njit(*args, **options)(func)
        dispatcher = njit(**options)(func)  # lazy: nothing compiled before the cache is set
        if not hasattr(dispatcher, "py_func"):  # NUMBA_DISABLE_JIT=1: the plain function
            return dispatcher
        _attach_cache(dispatcher)
        if args:  # eager signatures, compiled (or loaded) now, as njit(sig) does
            from numba.core import typeinfer

            sigs = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            with typeinfer.register_dispatcher(dispatcher):
                for sig in sigs:
                    dispatcher.compile(sig)
                dispatcher.disable_compile()
        return dispatcher

    return decorate
