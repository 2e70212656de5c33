"""The ``fastcavi`` command: ``command`` parses the arguments and runs ``fit``, ``predict``,
``demo`` and ``info``; the other modules read data files (``data``), check and advise
(``advice``), show progress (``progress``) and draw (``plot``)."""


def main(argv=None):
    """Run the ``fastcavi`` command (see :func:`fastcavi.cli.command.main`)."""
    from .command import main

    return main(argv)
