"""``python -m pipeline.upload FOLDER [--tracking-uri URI]`` (``optlab upload``): log a run
kept locally when its tracking server went away mid-training into that same run, once the
server is back (see :mod:`pipeline.tracking.offline`), end it FINISHED and remove the folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipeline.config.schemas import MLflowConfig
from pipeline.system.entry import run
from pipeline.tracking.offline import upload


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and upload; one line on success."""
    parser = argparse.ArgumentParser(
        prog="optlab upload",
        description="Upload a run kept in .optlab/offline/<run id> (its tracking server went "
        "away during training) into the same MLflow run, and remove the folder.",
    )
    parser.add_argument("folder", help="the kept run's folder, as the training's error names it")
    parser.add_argument(
        "--tracking-uri",
        help="the MLflow store (default: $MLFLOW_TRACKING_URI, else the one the run was kept from)",
    )
    args = parser.parse_args(argv)
    run_id = upload(args.folder, args.tracking_uri, MLflowConfig.timeout)
    print(f"uploaded {args.folder} into run {run_id} (now FINISHED); the folder is removed")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
