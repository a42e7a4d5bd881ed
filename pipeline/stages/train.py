"""DVC stage ``train@<dataset>``: train the baseline on one dataset from ``params.yaml``.

Usage: ``python -m pipeline.stages.train <dataset> [--params params.yaml]``

The stage reads ``params.yaml`` (never ``conf/`` through ``@hydra.main``, which
would silently ignore ``dvc exp run -S`` overrides, DVC issue #10186).  The
shared choices (model, activation, loss, optimizer, training) apply to every
dataset; ``baselines.<dataset>`` holds the dataset's own settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.config.compose import load_params
from pipeline.config.paths import layout
from pipeline.config.schemas import pick
from pipeline.stages.arguments import dataset_parser
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now
from pipeline.tracking.store_check import check_tracking
from pipeline.training import planning


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    # Defaults: the layout's (pipeline.config.paths); dvc.yaml passes the same paths explicitly.
    parser.add_argument("--data", help="preprocessed data root (default: processed)")
    parser.add_argument(
        "--reports", help="metrics/history folder (default: train_reports/<dataset>)"
    )
    parser.add_argument("--model", help="saved model (default: models/<dataset>.keras)")
    args = parser.parse_args(argv)
    where = layout() if None in (args.data, args.reports, args.model) else None
    cfg = load_params(args.params)
    cfg.dataset = pick(cfg.baselines, args.dataset, "baseline dataset")
    # A dead tracking server fails here, in seconds, before the heavy imports below.
    check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
    data_root = Path(args.data) if args.data else where.processed
    planning.check(cfg, data_root / args.dataset)  # combinations and data, before TensorFlow

    # lazy, for cost: TensorFlow loads only once the arguments are good
    from pipeline.training.train import train

    result = train(
        cfg,
        data_root=data_root,
        reports_dir=args.reports or where.train_reports / args.dataset,
        model_path=args.model or where.models / f"{args.dataset}.keras",
    )
    print(f"{args.dataset}: run {result.run_id} {result.metrics}")
    return 0


if __name__ == "__main__":
    exit_now(run(main))
