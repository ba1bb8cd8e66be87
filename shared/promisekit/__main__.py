"""The pipeline entrypoint: `python -m promisekit <promise>`, the same in the image and the runner."""

import sys

from promisekit.entrypoint import main

sys.exit(main(sys.argv[1:]))
