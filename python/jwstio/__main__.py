"""``python -m jwstio``: the jwstio command line."""

import sys

from .cli import main

sys.exit(main())
