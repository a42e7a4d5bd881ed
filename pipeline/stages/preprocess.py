"""DVC stage ``preprocess@<dataset>``: build the train / validation / test splits.

Usage: ``python -m pipeline.stages.preprocess <dataset> [--params params.yaml]
[--raw DIR] [--out DIR] [--summary FILE]``
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.config import load_params, pick
from pipeline.data.preprocess import describe_splits, preprocess, save_splits
from pipeline.io import atomic_write_json
from pipeline.stages._cli import dataset_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument("--raw", help="raw files (default: data/raw/<dataset>)")
    parser.add_argument("--out", help="output folder (default: data/processed/<dataset>)")
    parser.add_argument("--summary", help="summary JSON (default: reports/data/<dataset>.json)")
    args = parser.parse_args(argv)
    data = load_params(args.params).data
    source = pick(data.datasets, args.dataset, "dataset")
    splits = preprocess(
        args.dataset,
        source.format,
        args.raw or f"data/raw/{args.dataset}",
        list(source.classes),
        dict(source.split),
        data.seed,
    )
    save_splits(splits, args.out or f"data/processed/{args.dataset}")
    summary = describe_splits(splits)
    atomic_write_json(args.summary or f"reports/data/{args.dataset}.json", summary)
    print(f"{args.dataset}: rows {summary['rows']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
