"""``python -m fastcavi``: the ``fastcavi`` command (see :mod:`fastcavi.cli`)."""

import sys

from .cli import main

sys.exit(main())
