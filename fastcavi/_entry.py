"""The ``fastcavi`` command as a process: the console script's and ``python -m fastcavi``'s
entry point.

Before anything heavy is imported (NumPy, Numba, scikit-learn), SIGINT is made to end the
process with status 130, one line on stderr and no output file left behind, wherever it lands
(:func:`fastcavi._interrupt.exit_on_sigint`). :func:`fastcavi.cli.main` itself, called as a
function, instead reports a ``KeyboardInterrupt`` as ``interrupted`` and returns 130.
"""

from ._interrupt import exit_on_sigint


def main():
    exit_on_sigint("fastcavi")
    from .cli import main as cli_main

    return cli_main()
