"""DVC stage ``download@<dataset>``: fetch and verify the dataset's raw files.

Usage: ``python -m pipeline.stages.download <dataset> [--params params.yaml] [--out DIR]``
(``--out`` defaults to the layout's ``raw/<dataset>``, see :mod:`pipeline.paths`).

Set ``OPTLAB_DATA_MIRROR`` to a base URL (``http(s)://`` or ``file://``) holding
``<mirror_dir>/<file>`` to try a mirror before the public hosts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pipeline.config import load_params
from pipeline.data.download import MIRROR_ENV, RemoteFile, download_dataset
from pipeline.paths import layout
from pipeline.schemas import pick
from pipeline.stages.entry import dataset_parser, run


def main(argv: Sequence[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument("--out", help="output folder (default: the layout's raw/<dataset>)")
    args = parser.parse_args(argv)
    data = load_params(args.params).data
    source = pick(data.datasets, args.dataset, "dataset")
    files = {name: RemoteFile(name, f.sha256, f.size) for name, f in source.files.items()}
    paths = download_dataset(
        files,
        list(source.urls),
        args.out or layout().raw / args.dataset,
        mirror=os.environ.get(MIRROR_ENV),
        mirror_dir=source.mirror_dir,
        retries=data.download.retries,
        backoff=data.download.backoff,
        timeout=data.download.timeout,
    )
    for path in paths:
        print(f"verified {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
