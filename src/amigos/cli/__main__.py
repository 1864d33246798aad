"""``python -m amigos.cli``: the ``amigos`` command."""

import sys

from . import main

sys.exit(main())
