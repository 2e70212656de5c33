"""Where fastcavi's compiled kernels are cached, without importing Numba.

:mod:`fastcavi.kernels.jit` gives every kernel an on-disk cache in :func:`cache_root` (or in
``NUMBA_CACHE_DIR`` when it is set), never inside the installed package; the command line asks
:func:`kernel_cache_dirs` whether a first run will compile (to say so) and where the cache is.
"""

from __future__ import annotations

import hashlib
import os
import sys

KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))  # the kernels' sources: fastcavi/kernels


def user_cache_root():
    """The platform's per-user cache directory."""
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches")
    if sys.platform.startswith("win"):
        return os.environ.get("LOCALAPPDATA", os.path.expanduser("~"))
    return os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")


def cache_root():
    """``<user cache dir>/fastcavi/<fastcavi version>``."""
    from .. import __version__

    return os.path.join(user_cache_root(), "fastcavi", __version__)


def source_subdir(source_dir):
    """The folder Numba's locators use below a cache root for the sources in ``source_dir``:
    its name and the SHA-1 of its path (numba/core/caching.py), which keeps two installations
    (site-packages and a checkout, say) apart."""
    source_dir = os.path.abspath(source_dir)
    return f"{os.path.basename(source_dir)}_{hashlib.sha1(source_dir.encode()).hexdigest()}"


def kernel_cache_dirs():
    """Where the kernels of this installation are cached, in the order Numba tries them."""
    sub = source_subdir(KERNEL_DIR)
    env = os.environ.get("NUMBA_CACHE_DIR")
    return ([os.path.join(env, sub)] if env else []) + [os.path.join(cache_root(), sub)]


def clear_caches():
    """Remove fastcavi's folder in the user cache (the kernels of every version and
    installation) and this installation's folder in ``NUMBA_CACHE_DIR`` (other programs'
    kernels there are left); returns the folders removed. The next fit compiles again."""
    import shutil

    sub = source_subdir(KERNEL_DIR)
    env = os.environ.get("NUMBA_CACHE_DIR")
    targets = [os.path.join(user_cache_root(), "fastcavi")]
    targets += [os.path.join(env, sub)] if env else []
    removed = []
    for target in targets:
        if os.path.isdir(target):
            shutil.rmtree(target)
            removed.append(target)
    return removed
