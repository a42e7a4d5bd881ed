"""DVC stage ``preprocess@<dataset>``: build the train / validation / test splits.

Usage: ``python -m pipeline.stages.preprocess <dataset> [--params params.yaml]
[--raw DIR] [--out DIR] [--summary FILE]``, each path by default the layout's
(:mod:`pipeline.paths`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import load_params
from pipeline.data.preprocess import describe_splits, preprocess, save_splits
from pipeline.io import atomic_write_json
from pipeline.paths import layout
from pipeline.schemas import pick
from pipeline.stages.entry import dataset_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw files (default: the layout's raw/<dataset>)")
    parser.add_argument("--out", help="output folder (default: processed/<dataset>)")
    parser.add_argument("--summary", help="summary JSON (default: data_reports/<dataset>.json)")
    args = parser.parse_args(argv)
    where = layout() if None in (args.raw, args.out, args.summary) else None
    data = load_params(args.params).data
    source = pick(data.datasets, args.dataset, "dataset")
    splits = preprocess(
        args.dataset,
        source.format,
        args.raw or where.raw / args.dataset,
        list(source.classes),
        dict(source.split),
        data.seed,
    )
    save_splits(splits, args.out or where.processed / args.dataset)
    summary = describe_splits(splits)
    atomic_write_json(args.summary or where.data_reports / f"{args.dataset}.json", summary)
    print(f"{args.dataset}: rows {summary['rows']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
