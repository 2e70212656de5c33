"""The ``fastcavi`` command as a process: the console script's and ``python -m fastcavi``'s
entry point.

Before anything heavy is imported (NumPy, Numba, scikit-learn), SIGINT is made to end the
process with status 130, one line on stderr and no output file left behind, wherever it lands
(:func:`fastcavi._interrupt.exit_on_sigint`); importing this module, which only the command's
process does, already installs the same exit for the imports before that.
:func:`fastcavi.cli.command.
main` itself, called as a function, instead reports a ``KeyboardInterrupt`` as ``interrupted``
and returns 130.
"""

import _signal
from os import _exit, write


def _interrupted_early(signum, frame):
    """Ctrl-C while the modules below are still importing: the command's usual exit (one line,
    status 130); nothing has been written yet. :func:`exit_on_sigint` replaces it."""
    write(2, b"fastcavi: error: interrupted\n")
    _exit(130)


_signal.signal(_signal.SIGINT, _interrupted_early)

from ._interrupt import exit_on_sigint  # noqa: E402 - after the handler, on purpose


def main():
    exit_on_sigint("fastcavi")
    from .cli.command import main as cli_main

    return _end(cli_main())


def _end(status):
    """End the process with ``status`` once the command has returned. Its files are written
    and closed by then, so what is left is the interpreter's teardown (unloading Numba and
    NumPy, joining the threading layer's pool): about 0.2 s of a small fit's 0.9 s, skipped
    here by ``os._exit`` after flushing the two output streams. A stream that cannot be
    flushed (a closed pipe, as under ``| head``) gives Python's own status for that, 120."""
    import sys

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or 120
    _exit(status)
