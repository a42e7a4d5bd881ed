"""``python -m pipeline.stages.compare`` (also ``python -m pipeline.compare``): compare runs
and write and log the report; see :mod:`pipeline.compare`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.config import contract
from pipeline.config.compose import load_params
from pipeline.config.paths import layout
from pipeline.config.ranges import out_of_range
from pipeline.config.schemas import CompareConfig, MLflowConfig
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now
from pipeline.tracking import store_check


def _read_run_file(path: str) -> tuple[str, str]:
    """``("run_id", id)`` or ``("run_key", key)``: what a run file names its run by."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"run file {path}: not JSON ({error})") from error
    for kind in ("run_key", "run_id"):
        if isinstance(data, dict) and isinstance(data.get(kind), str):
            return kind, data[kind]
    raise ValueError(f'run file {path}: expected {{"run_key": "..."}} or {{"run_id": "..."}}')


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.compare``: compare runs and write/log the report."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.compare",
        description="Compare MLflow runs: rank configurations over seeds, with confidence "
        "intervals, and judge each against the best (worse, equivalent within a margin, or "
        "undecided: Welch's t-test and TOST, Holm-adjusted); write a report and log it.",
    )
    parser.add_argument("--experiment", help="select the runs of this experiment (name)")
    parser.add_argument("--parent", help="select the children of this (sweep parent) run id")
    parser.add_argument("--filter", dest="filter_string", help="an MLflow search filter string")
    parser.add_argument(
        "--run-id",
        dest="run_ids",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="select these runs (repeatable)",
    )
    parser.add_argument(
        "--run-file",
        dest="run_files",
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help='select the run of a JSON file {"run_id": "..."}, or the latest finished run of '
        '{"run_key": "..."} as the train stage writes to reports/train/<dataset>/run.json '
        "(repeatable)",
    )
    parser.add_argument("--out", help="report folder (default: the layout's compare_reports)")
    parser.add_argument(
        "--log-to", choices=contract.LOG_TO, default="auto", help="(default: %(default)s)"
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="test level (%(default)s)")
    parser.add_argument(
        "--margin",
        type=float,
        help="margin of practical equivalence, in the metric's units (default: the params "
        f"file's compare.margin with --params, else {CompareConfig.margin})",
    )
    parser.add_argument(
        "--params",
        help="read compare.margin from this params file (the DVC stage's: params.yaml)",
    )
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    parser.add_argument(
        "--stable",
        action="store_true",
        help="write files that depend only on the runs' results: no run or experiment ids, "
        "no timings, rows in a fixed order (the compare stage's DVC outputs)",
    )
    args = parser.parse_args(argv)
    problem = out_of_range("compare.margin", args.margin)
    if problem is not None:
        parser.error(problem.replace("compare.margin", "--margin", 1))
    if args.margin is None:  # the params file's, validated whole as every stage reads it
        settings = load_params(args.params).compare if args.params else CompareConfig
        args.margin = settings.margin
    # lazy, for cost: pandas, SciPy and matplotlib load only once the arguments are good
    from pipeline.compare import Selection, compare, markdown_tables
    from pipeline.compare.core import ARTIFACT_DIR

    named = [_read_run_file(f) for f in args.run_files]
    run_ids = [*args.run_ids, *(v for kind, v in named if kind == "run_id")]
    run_keys = [v for kind, v in named if kind == "run_key"]
    selection = Selection(args.experiment, args.parent, args.filter_string, run_ids, run_keys)
    uri = store_check.check_tracking(args.tracking_uri, MLflowConfig.timeout)
    report = compare(
        uri,
        selection,
        out_dir=args.out or layout().compare_reports,
        log_to=args.log_to,
        alpha=args.alpha,
        margin=args.margin,
        stable=args.stable,
    )
    print(markdown_tables(report.summary, args.alpha, args.margin), end="")
    where = f"; logged to run {report.run_id} under {ARTIFACT_DIR}/" if report.run_id else ""
    print(f"\nreport: {report.files['report']}{where}")
    return 0


if __name__ == "__main__":
    exit_now(run(main))
