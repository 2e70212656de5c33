"""Ctrl-C (SIGINT) that never lands inside Numba.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread runs when the signal
arrives. Inside a Numba call -- the compiler's Python code at a kernel's first call, or the
dispatcher around a running kernel -- that leaves Numba half-way (a later call fails with
``no compiled object yet``, a ``SystemError: CPUDispatcher(...) returned a result with an
exception set``, or the process segfaults on the way out). Two remedies:

* In the library, :func:`hold_sigint` wraps every kernel call (through
  :func:`fastcavi._threads.parallel_guard`) in the main thread: a SIGINT that arrives meanwhile
  is held and delivered to the previous handler as soon as the call returns, so the caller gets
  a plain ``KeyboardInterrupt`` at a safe point (and the estimator keeps its old model).
* The ``fastcavi`` command is a process of its own: :func:`exit_on_sigint` installs, before
  anything heavy is imported, a handler that removes the staged output files
  (:func:`register_temporary`), prints one line and ends the process at once with status 130,
  wherever the signal lands (no traceback, no half-written file, no wait for a compile).
  The only exception is while staged outputs are being renamed into place
  (:func:`renaming`): the outputs are then complete and the command finishes.

This module imports nothing heavy: the command imports it first.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

_held = False  # a kernel call in the main thread holds SIGINT
_pending = False  # a SIGINT arrived while held
_temporaries = set()  # staged output files to remove if the command is interrupted
_renaming = 0  # > 0 while staged outputs are renamed into place


def _hold(signum, frame):
    global _pending
    _pending = True


@contextmanager
def hold_sigint():
    """Hold SIGINT during the block (main thread only), then deliver it to the handler that was
    installed before: a ``KeyboardInterrupt`` after the block rather than inside it.

    Does nothing in other threads (signals are handled in the main thread), when nested, when
    SIGINT has no Python handler (``SIG_IGN``/``SIG_DFL``), or under :func:`exit_on_sigint`.
    """
    global _held, _pending
    if _held or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or getattr(previous, "exits_at_once", False):
        yield
        return
    _pending = False
    _held = True
    signal.signal(signal.SIGINT, _hold)
    try:
        yield
    finally:
        _held = False  # a signal from here on is still seen by _hold, or by previous
        signal.signal(signal.SIGINT, previous)
        if _pending:
            _pending = False
            previous(signal.SIGINT, None)  # default_int_handler raises KeyboardInterrupt


def register_temporary(path):
    _temporaries.add(path)


def unregister_temporary(path):
    _temporaries.discard(path)


@contextmanager
def renaming():
    """Staged outputs are being renamed over their targets: not to be interrupted."""
    global _renaming
    _renaming += 1
    try:
        yield
    finally:
        _renaming -= 1


def exit_on_sigint(prog):
    """For a command-line process: on SIGINT remove the staged temporaries, print
    ``PROG: error: interrupted`` on stderr and exit with status 130 at once."""

    def on_sigint(signum, frame):
        if _renaming:
            return  # the outputs are complete and being put in place: let the command finish
        for path in list(_temporaries):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            sys.stdout.flush()
        except BaseException:  # a write to stdout may have been interrupted
            pass
        os.write(2, f"\n{prog}: error: interrupted\n".encode() if _on_progress_line() else
                 f"{prog}: error: interrupted\n".encode())
        os._exit(130)

    on_sigint.exits_at_once = True
    signal.signal(signal.SIGINT, on_sigint)


def _on_progress_line():
    """Whether stderr is a terminal (a progress bar may be drawn on its last line)."""
    try:
        return os.isatty(2)
    except OSError:
        return False


@contextmanager
def unchanged_on_failure(obj):
    """Restore ``obj``'s attributes when the block raises (any exception, KeyboardInterrupt
    included), so that a failed or interrupted fit leaves the fitted model as it was."""
    saved = dict(obj.__dict__)
    try:
        yield
    except BaseException:
        obj.__dict__.clear()
        obj.__dict__.update(saved)
        raise
