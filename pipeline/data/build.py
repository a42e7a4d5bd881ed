"""One dataset's raw files and splits, built the way its DVC stages build them.

The ``download@<dataset>`` and ``preprocess@<dataset>`` stages call
:func:`fetch_raw` and :func:`build_splits`; :func:`ensure_processed` chains them
for a process that has the code but not the data, such as a sweep's job on a Ray
worker with no shared filesystem: the same checksummed download (from
``OPTLAB_DATA_MIRROR`` first, then the public hosts) and the same seeded split, so
its processed folder is byte-identical to the pipeline's.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock
from omegaconf import DictConfig

from pipeline.config.paths import Layout
from pipeline.data.download import fetch_raw
from pipeline.data.preprocess import build_splits


def ensure_processed(data: DictConfig, dataset: str, where: Layout) -> Path:
    """``dataset``'s processed folder, downloaded and split first when it is missing.

    Jobs on one machine share the work: the first builds under a lock, the others wait
    for it and find the folder.
    """
    out = where.processed / dataset
    if (out / "meta.json").is_file():
        return out
    where.state.mkdir(parents=True, exist_ok=True)
    with FileLock(str(where.state / f"build-{dataset}.lock")):
        if not (out / "meta.json").is_file():
            raw = where.raw / dataset
            fetch_raw(data, dataset, raw)
            build_splits(data, dataset, raw, out, where.data_reports / f"{dataset}.json")
    return out
