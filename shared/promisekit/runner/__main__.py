"""`python -m promisekit.runner VERB ...` (see docs/runner.md)."""

import sys

from promisekit.runner._cli import main

sys.exit(main(sys.argv[1:]))
