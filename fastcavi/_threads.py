"""Numba's threading layer made safe for threads and forks, and the per-call thread count.

Which layer, and why
--------------------
Numba picks its threading layer once per process, at the first parallel call: the one named by
``NUMBA_THREADING_LAYER`` (``numba.config.THREADING_LAYER``), by default the first of tbb, omp,
workqueue that loads. Measured on Linux (numba 0.68, see the project's notes/threading.md):

=========== ============================== ==========================================
layer       fits from several threads       a process forked after a parallel call
=========== ============================== ==========================================
tbb         safe                            safe
omp (GNU)   safe                            Numba terminates the child (a pool hangs)
workqueue   aborts the whole process        safe
=========== ============================== ==========================================

So fastcavi wants tbb, and ``tbb`` is a dependency. Its wheel puts ``libtbb.so.12`` in
``<prefix>/lib``, which the dynamic loader does not search in a virtual environment, so Numba
would silently fall back to omp. Hence:

1. When fastcavi's first kernel module is imported (:mod:`fastcavi.kernels.jit` imports this module
   first; ``import fastcavi`` alone imports neither), :func:`preload_tbb` loads that file
   with ``RTLD_GLOBAL`` (a dlopen of a few milliseconds: nothing is compiled, no thread is
   started). Numba's own default order then picks tbb at the first parallel call. fastcavi
   does *not* set ``numba.config.THREADING_LAYER``: changing another library's configuration
   at import would
   override a choice made by the user or by other code in the process, and is not needed, since
   making tbb loadable is enough for Numba's default to choose it. Nothing is loaded when the
   user chose a layer that excludes tbb (``NUMBA_THREADING_LAYER=omp`` or ``workqueue``), when
   Numba's layer is already running, or when the installed ``tbb`` is older than Numba accepts
   (2021.6). Where the library is looked for: ``<sys.prefix>/lib``, then the file the ``tbb``
   distribution lists (a ``--user`` or ``--target`` install). A libtbb on ``LD_LIBRARY_PATH``,
   in the system's directories or on conda's RPATH needs no preload: Numba finds it itself.
2. Whatever layer ends up running (another library may have started one first, the user may
   have chosen one, tbb may be missing), every fastcavi kernel call goes through
   :func:`parallel_guard`:

   * ``workqueue``: one process-wide lock serialises fastcavi's parallel kernel calls, so
     concurrent fits queue instead of aborting the process. Results are unchanged; only the
     kernel calls wait, not the Python work between them.
   * GNU OpenMP (``omp`` on Linux): an ``os.register_at_fork`` hook marks a child forked after
     the layer started, and a kernel call there raises a ``RuntimeError`` naming the fix (the
     ``spawn`` or ``forkserver`` start method, or installing tbb) instead of Numba terminating
     the child with SIGTERM and a ``multiprocessing`` pool waiting for it forever.

Thread count
------------
``n_threads`` is applied with ``numba.set_num_threads`` inside ``try/finally`` in the calling
thread (:func:`thread_limit`); Numba keeps that setting per thread, so concurrent fits with
different ``n_threads`` do not interfere. Results do not depend on it (see ``_kernels``).
More threads than Numba has (``NUMBA_NUM_THREADS``, by default the CPU cores available) are
clamped to that number with a ``UserWarning`` (the estimator, ``cavi`` and the command's
``--threads`` alike); 0, values below -1 and non-integers are errors.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
import threading
from contextlib import contextmanager

import numba

from ._interrupt import hold_sigint

__all__ = ["check_n_threads", "max_threads", "parallel_guard", "preload_tbb", "thread_limit",
           "threading_layer"]

_TBB_LIBRARY = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}
_TBB_MIN_VERSION = (2021, 6)  # Numba needs TBB_INTERFACE_VERSION >= 12060
# Layer names (numba.config.THREADING_LAYER) whose candidates include tbb.
_LAYERS_WITH_TBB = ("default", "tbb", "safe", "threadsafe", "forksafe")

_serial = threading.RLock()  # serialises kernel calls on the 'workqueue' layer
_layer = None  # the running layer, once known
_forked_from_gnu_omp = False  # set in a child forked after GNU OpenMP started
preloaded_tbb = None  # the libtbb path that preload_tbb loaded, if any


# -- the threading layer ---------------------------------------------------------------------

def _running_layer():
    """The layer Numba runs, or None if no parallel call has started one yet (cheap)."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _tbb_candidates(name):
    """Paths where the ``tbb`` wheel may have put libtbb, most likely first."""
    yield os.path.join(sys.prefix, "lib", name)
    try:
        files = importlib.metadata.files("tbb") or ()
    except importlib.metadata.PackageNotFoundError:
        return
    for f in files:
        if f.name == name:
            yield str(f.locate())


def preload_tbb():
    """Make Numba's tbb layer loadable by loading the tbb wheel's libtbb (RTLD_GLOBAL).

    Run once when this module is imported (before any kernel is defined); cheap (no
    compilation, no thread). Returns the path loaded, or None when nothing was loaded (see the
    module docstring for when that is).
    """
    global preloaded_tbb
    name = _TBB_LIBRARY.get(sys.platform)
    layer = str(numba.config.THREADING_LAYER).lower()
    if (name is None or layer not in _LAYERS_WITH_TBB
            or (layer == "default" and "tbb" not in numba.config.THREADING_LAYER_PRIORITY)
            or _running_layer() is not None or "numba.np.ufunc.tbbpool" in sys.modules):
        return None
    try:
        if _version_tuple(importlib.metadata.version("tbb")) < _TBB_MIN_VERSION:
            return None  # Numba would reject it (with a NumbaWarning) and fall back anyway
    except importlib.metadata.PackageNotFoundError:
        pass  # a libtbb in sys.prefix from elsewhere (e.g. conda): Numba checks its version
    for path in _tbb_candidates(name):
        if not os.path.isfile(path):
            continue
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        preloaded_tbb = path
        return path
    return None


def threading_layer():
    """The Numba threading layer this process runs, starting it if no parallel call has yet.

    Starting the layer loads its library and threads; it compiles nothing.
    """
    global _layer
    if _layer is None:
        numba.get_num_threads()  # starts the layer (once per process, under Numba's own lock)
        _layer = numba.threading_layer()
    return _layer


def _gnu_openmp_started():
    if _running_layer() != "omp":
        return False
    omppool = sys.modules.get("numba.np.ufunc.omppool")
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child():
    global _forked_from_gnu_omp, _serial, _blas_lock, _blas_users, _blas_limiter
    if _gnu_openmp_started():
        _forked_from_gnu_omp = True
    # A lock some other thread held at the fork would never be released in the child.
    _serial = threading.RLock()
    _blas_lock = threading.Lock()
    _blas_users, _blas_limiter = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def parallel_guard():
    """Wrap every call of a ``parallel=True`` kernel: makes it safe on any threading layer.

    On 'workqueue' the calls are serialised by one process-wide lock (concurrent calls would
    abort the process); in a child forked after GNU OpenMP started, a RuntimeError is raised
    (the kernel would have the child terminated). On 'tbb' and in every other case this only
    reads two module globals. In the main thread, a SIGINT that arrives during the call is held
    until the call returns (:func:`fastcavi._interrupt.hold_sigint`).
    """
    with hold_sigint():  # a Ctrl-C during the call is raised after it (see _interrupt)
        with _guard():
            yield


@contextmanager
def _guard():
    layer = _layer or threading_layer()
    if _forked_from_gnu_omp:
        raise RuntimeError(
            "fastcavi cannot run in this process: it was forked (e.g. by a multiprocessing "
            "'fork' pool) after its parent had started Numba's 'omp' threading layer, and GNU "
            "OpenMP is not fork-safe. Use multiprocessing.get_context('spawn') or "
            "'forkserver', or install the 'tbb' package so that Numba uses its fork-safe 'tbb' "
            "layer.")
    if layer == "workqueue":
        with _serial:
            yield
    else:
        yield


# -- the thread count ------------------------------------------------------------------------

def max_threads():
    """The most threads a parallel kernel may use in this process (NUMBA_NUM_THREADS)."""
    return numba.config.NUMBA_NUM_THREADS


def check_n_threads(n_threads):
    """None or -1 mean every thread Numba has; otherwise an int >= 1, clamped to
    max_threads() (more threads than Numba has cannot run; :func:`thread_limit` warns)."""
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not (
            hasattr(n_threads, "__index__")):
        raise TypeError(f"n_threads must be None or an int, got {n_threads!r}")
    n = int(n_threads)
    if n == -1:
        return max_threads()
    if n < 1:
        raise ValueError(f"n_threads must be -1, None or between 1 and {max_threads()} "
                         f"(NUMBA_NUM_THREADS; a larger value is clamped to it), "
                         f"got {n_threads!r}")
    return min(n, max_threads())


def _warn_if_clamped(n_threads, n):
    if n is not None and n_threads != -1 and n < int(n_threads):
        import warnings

        warnings.warn(f"{int(n_threads)} threads requested, but Numba has {n} "
                      f"(NUMBA_NUM_THREADS, by default the CPU cores available): using {n}",
                      UserWarning, stacklevel=4)


@contextmanager
def thread_limit(n_threads):
    """Run the block with ``numba.set_num_threads(n_threads)`` (None: leave as is)."""
    n = check_n_threads(n_threads)
    if n is None:
        yield
        return
    _warn_if_clamped(n_threads, n)
    with hold_sigint():  # the first call starts Numba's threading layer
        old = numba.get_num_threads()
        numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def threads_in_use():
    """Numba's thread count now (what :func:`thread_limit` set), for work that Python threads
    share out."""
    with hold_sigint():  # the first call starts Numba's threading layer
        return numba.get_num_threads()


# Point 1 of the module docstring. ``fastcavi/kernels/jit.py``, which every module that defines
# kernels imports, imports this module first, so this runs before any fastcavi kernel exists.
preload_tbb()


_blas_controller = None
# BLAS's thread count is one setting for the whole process, so the limit is counted: the first
# of any number of concurrent blocks sets it, the last one out restores it. (Each block setting
# and restoring on its own would, with overlapping fits from several threads, leave BLAS at
# one thread for good: a later block saves the limited value and restores it last.)
_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


@contextmanager
def single_threaded_blas():
    """Run the block with BLAS limited to one thread (the large-p kernels call BLAS from each
    of their own threads; a second, spinning thread pool would fight them for the cores)."""
    global _blas_controller, _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_controller is None:
            import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
        if _blas_users == 0:
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None

