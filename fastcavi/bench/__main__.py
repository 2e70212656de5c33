"""``python -m fastcavi.bench``: see :mod:`fastcavi.bench.cavi`."""

import sys

from .cavi import main

sys.exit(main())
