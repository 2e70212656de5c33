"""``python -m fastcavi``: the ``fastcavi`` command (see :mod:`fastcavi.cli.command`).

The first statements make Ctrl-C end the process with the command's usual line and status 130
(``_signal`` is built into the interpreter: nothing is imported for it), so that a SIGINT while
the modules below import does not print a traceback. Before them Python itself is still
starting and its default handler applies.
"""

import _signal
from os import _exit, write


def _interrupted_early(signum, frame):
    write(2, b"fastcavi: error: interrupted\n")
    _exit(130)


_signal.signal(_signal.SIGINT, _interrupted_early)  # HANDLER INSTALLED

import sys  # noqa: E402 - after the handler, on purpose

from ._entry import main  # noqa: E402

sys.exit(main())
