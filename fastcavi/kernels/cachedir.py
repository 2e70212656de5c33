"""Where fastcavi's compiled kernels are cached, without importing Numba.

:mod:`fastcavi.kernels.jit` gives every kernel an on-disk cache in :func:`cache_root` (or in
``NUMBA_CACHE_DIR`` when it is set), never inside the installed package; the command line asks
:func:`kernel_cache_dirs` whether a first run will compile (to say so) and where the cache is.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import struct
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


@functools.cache
def sources_digest(source_dir):
    """The first 16 hex digits of the SHA-256 of every ``.py`` file in ``source_dir`` (names
    and bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(source_dir)):
        if name.endswith(".py"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(source_dir, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def source_subdir(source_dir):
    """The folder the kernels of the sources in ``source_dir`` are cached in, below a cache
    root: Numba's own name for it (the folder's name and the SHA-1 of its path,
    numba/core/caching.py), which keeps two installations (site-packages and a checkout, say)
    apart, then :func:`sources_digest` of the folder.

    Numba stamps a cached kernel with its own source file only, and a kernel has the kernels
    it calls from other files compiled into it: after an edit of ``core.py`` alone, Numba
    would load the other modules' kernels built on the old ``core.py``. With the digest of
    every kernel source in the folder's name, any edit (a checkout of another commit, an
    upgrade that keeps the version number) starts a fresh folder."""
    source_dir = os.path.abspath(source_dir)
    return f"{_installation(source_dir)}_{sources_digest(source_dir)}"


def _installation(source_dir):
    """Numba's name for the folder of the sources in ``source_dir`` (an absolute path)."""
    return f"{os.path.basename(source_dir)}_{hashlib.sha1(source_dir.encode()).hexdigest()}"


def kernel_cache_dirs():
    """Where the kernels of this installation are cached, in the order Numba tries them."""
    sub = source_subdir(KERNEL_DIR)
    env = os.environ.get("NUMBA_CACHE_DIR")
    return ([os.path.join(env, sub)] if env else []) + [os.path.join(cache_root(), sub)]


@functools.lru_cache(maxsize=1)
def _numba_version():
    """The installed Numba's version, without importing Numba (unless it is imported already);
    looked up once per process (the command asks for every kernel module)."""
    numba = sys.modules.get("numba")
    if numba is not None:
        return numba.__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numba")
    except PackageNotFoundError:
        return None


def index_is_fresh(index_path, source_path):
    """Whether Numba would load the kernels listed in the index file ``index_path`` (a
    ``.nbi``) for the source file ``source_path``, decided as Numba's own index loader
    decides (numba/core/caching.py): the index was written by the installed Numba and its
    source stamp is the source's. The stamp is the SHA-256 of the source's bytes in recent
    Numba, its (mtime, size) in older ones; both are recognised. An index file's own age says
    nothing: a fresh checkout of unchanged sources reuses an older index as it is.

    Reads the Numba version the index starts with and the first bytes of the pickled
    ``(stamp, overloads)`` after it; the overloads (which need Numba to unpickle) are never
    unpickled."""
    try:
        with open(index_path, "rb") as f:
            written_by = pickle.load(f)  # a str: Numba's version
            head = f.read(256)
        with open(source_path, "rb") as f:
            source = f.read()
        st = os.stat(source_path)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
        return False
    if written_by != _numba_version():
        return False
    # pickled bytes hold a digest verbatim, and a float as a big-endian IEEE double
    return hashlib.sha256(source).digest() in head or struct.pack(">d", st.st_mtime) in head


def clear_caches():
    """Remove fastcavi's folder in the user cache (the kernels of every version and
    installation) and this installation's folders in ``NUMBA_CACHE_DIR``, one per state of its
    kernel sources (other programs' kernels there are left); returns the folders removed.
    The next fit compiles again."""
    import shutil

    prefix = _installation(KERNEL_DIR) + "_"  # this installation, any state of its sources
    env = os.environ.get("NUMBA_CACHE_DIR")
    targets = [os.path.join(user_cache_root(), "fastcavi")]
    if env and os.path.isdir(env):
        targets += [os.path.join(env, name) for name in sorted(os.listdir(env))
                    if name.startswith(prefix)]
    removed = []
    for target in targets:
        if os.path.isdir(target):
            shutil.rmtree(target)
            removed.append(target)
    return removed
