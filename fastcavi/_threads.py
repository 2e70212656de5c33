"""Numba thread count, set per call in the calling thread and always restored."""

from __future__ import annotations

from contextlib import contextmanager

import numba


def max_threads():
    """The most threads a parallel kernel may use in this process (NUMBA_NUM_THREADS)."""
    return numba.config.NUMBA_NUM_THREADS


def check_n_threads(n_threads):
    """None or -1 mean every thread Numba has; otherwise an int in [1, max_threads()]."""
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not (
            hasattr(n_threads, "__index__")):
        raise TypeError(f"n_threads must be None or an int, got {n_threads!r}")
    n = int(n_threads)
    if n == -1:
        return max_threads()
    if not 1 <= n <= max_threads():
        raise ValueError(f"n_threads must be -1, None or between 1 and {max_threads()} "
                         f"(NUMBA_NUM_THREADS), got {n_threads!r}")
    return n


@contextmanager
def thread_limit(n_threads):
    """Run the block with ``numba.set_num_threads(n_threads)`` (None: leave as is)."""
    n = check_n_threads(n_threads)
    if n is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)
