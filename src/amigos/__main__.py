"""``python -m amigos``: the ``amigos`` command."""

import sys

from .cli import main

sys.exit(main())
