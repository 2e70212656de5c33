"""``python -m fastcavi``: the ``fastcavi`` command (see :mod:`fastcavi.cli`)."""

import sys

from ._entry import main

sys.exit(main())
