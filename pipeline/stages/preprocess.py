"""DVC stage ``preprocess@<dataset>``: build the train / validation / test splits.

Usage: ``python -m pipeline.stages.preprocess <dataset> [--params params.yaml]
[--raw DIR] [--out DIR] [--summary FILE]``, each path by default the layout's
(:mod:`pipeline.config.paths`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.config.compose import load_params
from pipeline.config.paths import layout
from pipeline.data.preprocess import build_splits
from pipeline.stages.arguments import dataset_parser
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw files (default: the layout's raw/<dataset>)")
    parser.add_argument("--out", help="output folder (default: processed/<dataset>)")
    parser.add_argument("--summary", help="summary JSON (default: data_reports/<dataset>.json)")
    args = parser.parse_args(argv)
    where = layout() if None in (args.raw, args.out, args.summary) else None
    data = load_params(args.params).data
    summary = build_splits(
        data,
        args.dataset,
        Path(args.raw or where.raw / args.dataset),
        Path(args.out or where.processed / args.dataset),
        Path(args.summary or where.data_reports / f"{args.dataset}.json"),
    )
    print(f"{args.dataset}: rows {summary['rows']}")
    return 0


if __name__ == "__main__":
    exit_now(run(main))
