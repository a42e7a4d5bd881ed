"""``python -m pipeline.reproduce RUN_ID`` (``optlab reproduce``): train a logged run again
from its config and check that every metric is bit-identical (see
:mod:`pipeline.reproducibility.rerun`).

Exit status 0 when the new run reproduces the original bit for bit, 1 otherwise (the
differing metrics are printed) or on an error (one line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipeline.config.schemas import MLflowConfig
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now
from pipeline.tracking.store_check import check_tracking


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.reproduce",
        description="Train a logged run again from its logged config, in a new run tagged "
        "with the original's id, and exit 0 only if every metric is bit-identical.",
    )
    parser.add_argument("run_id", help="the MLflow run to reproduce")
    parser.add_argument(
        "--force",
        action="store_true",
        help="train even if the data digest or the git commit differ from the run's",
    )
    parser.add_argument("--data", help="preprocessed data root (default: the layout's processed)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    args = parser.parse_args(argv)
    uri = check_tracking(args.tracking_uri, MLflowConfig.timeout)

    from pipeline.reproducibility.rerun import reproduce  # lazy, for cost: it leads to TensorFlow

    result = reproduce(args.run_id, uri, force=args.force, data_root=args.data)
    if result.identical:
        print(
            f"run {result.run_id} reproduces run {result.original}: "
            f"all {result.compared} metric values bit-identical"
        )
        return 0
    print(
        f"run {result.run_id} does NOT reproduce run {result.original}: "
        f"{len(result.differences)} of {result.compared} metric values differ:",
        file=sys.stderr,
    )
    for line in result.differences:
        print(f"  {line}", file=sys.stderr)
    print(f"largest difference: {result.largest:.3g}", file=sys.stderr)
    if result.machines:
        print("differs: the machines' kernels differ:", file=sys.stderr)
        for line in result.machines:
            print(f"  {line}", file=sys.stderr)
    else:
        print(
            "the machines' kernels are alike (same ISA, threads, NumPy, TensorFlow)",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    exit_now(run(main))
