"""``python -m extract``: the pipeline's command line."""

import sys

from .cli import main

sys.exit(main())
