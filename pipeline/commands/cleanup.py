"""``python -m pipeline.cleanup [--tracking-uri URI] [--experiment NAME] [--force] [--dry-run]``:
``optlab cleanup`` (see :mod:`pipeline.cli` and :mod:`pipeline.tracking.recovery`)."""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["cleanup", *sys.argv[1:]]))
