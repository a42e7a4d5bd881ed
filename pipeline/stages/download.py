"""DVC stage ``download@<dataset>``: fetch and verify the dataset's raw files.

Usage: ``python -m pipeline.stages.download <dataset> [--params params.yaml] [--out DIR]``
(``--out`` defaults to the layout's ``raw/<dataset>``, see :mod:`pipeline.config.paths`).

Set ``OPTLAB_DATA_MIRROR`` to a base URL (``http(s)://`` or ``file://``) holding
``<mirror_dir>/<file>`` to try a mirror before the public hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.config.compose import load_params
from pipeline.config.paths import layout
from pipeline.data.download import fetch_raw
from pipeline.stages.arguments import dataset_parser
from pipeline.system.entry import run
from pipeline.system.exiting import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: the layout's raw/<dataset>)")
    args = parser.parse_args(argv)
    data = load_params(args.params).data
    paths = fetch_raw(data, args.dataset, Path(args.out or layout().raw / args.dataset))
    for path in paths:
        print(f"verified {path}")
    return 0


if __name__ == "__main__":
    exit_now(run(main))
