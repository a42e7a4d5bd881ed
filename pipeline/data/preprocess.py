"""Turn verified raw files into train / validation / test arrays.

Output layout (one folder per dataset, see README "Data format")::

    data/processed/<dataset>/
        x_train.npy  y_train.npy  x_validation.npy  y_validation.npy  x_test.npy  y_test.npy
        meta.json    # classes, feature names, shapes, scaling statistics

Arrays are uncompressed ``.npy`` so training can ``np.load(..., mmap_mode="r")``
them.  Images stay ``uint8`` pixels (0-255, shape N x 28 x 28): scaling happens in
the training input pipeline, which keeps the files four times smaller.  Tabular
features (iris) are ``float32``, standardised with training-split statistics
only.  Labels are ``int64`` class indices into ``meta["classes"]``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from pipeline.config.schemas import pick
from pipeline.data.idx import read_idx
from pipeline.system.io import atomic_directory, atomic_write_json

SPLITS = ("train", "validation", "test")
FORMAT_VERSION = 1


class DataError(ValueError):
    """Raw data that cannot be turned into splits; the message says which file and why."""


@dataclass
class Splits:
    """A preprocessed dataset: arrays per split plus metadata.

    Attributes:
        name: Dataset name.
        x: Features per split name (``train``, ``validation``, ``test``).
        y: Integer labels per split name.
        meta: JSON-serialisable facts (classes, feature names, scaling statistics).
    """

    name: str
    x: dict[str, np.ndarray] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ splitting
def resolve_size(size: float | int, total: int, what: str = "split size") -> int:
    """Turn a split size into a row count.

    A float in (0, 1) is a fraction of ``total``; an integer (or integral float)
    of at least 1 is a count.  Either must leave at least one row on each side.
    """
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise DataError(f"{what} must be a fraction in (0, 1) or a row count, not {size!r}")
    count = round(size * total) if 0 < size < 1 else size
    if count != int(count) or not 1 <= count < total:
        raise DataError(
            f"{what}={size!r} gives {count} of {total} rows; "
            f"valid: a fraction in (0, 1) or an integer from 1 to {total - 1}"
        )
    return int(count)


def stratified_split(
    labels: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (kept, taken) with ``count`` taken rows, stratified by label.

    Each class contributes in proportion to its frequency; the rounding
    remainder goes to the classes with the largest fractional share (ties to the
    lower label), so the total is exact.  Both index arrays are sorted.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * count / labels.size
    take = np.floor(quota).astype(int)
    shortfall = count - int(take.sum())
    # Stable sort on the negated remainder: largest remainder first, ties by label.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:shortfall]] += 1

    taken = []
    for cls, n in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == cls)
        taken.append(rng.permutation(members)[:n])
    taken_idx = np.sort(np.concatenate(taken))
    mask = np.ones(labels.size, dtype=bool)
    mask[taken_idx] = False
    return np.flatnonzero(mask), taken_idx


# ------------------------------------------------------------------ raw formats
def _check_labels(labels: np.ndarray, n_classes: int, path: Path) -> np.ndarray:
    if labels.ndim != 1:
        raise DataError(f"{path}: labels must be one-dimensional, got shape {labels.shape}")
    bad = (labels < 0) | (labels >= n_classes)
    if bad.any():
        raise DataError(
            f"{path}: label {labels[bad][0]} at index {int(np.flatnonzero(bad)[0])} is out of "
            f"range; valid labels are 0..{n_classes - 1}"
        )
    return labels.astype(np.int64)


def _read_idx_pair(raw_dir: Path, prefix: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    image_path = raw_dir / f"{prefix}-images-idx3-ubyte.gz"
    label_path = raw_dir / f"{prefix}-labels-idx1-ubyte.gz"
    images = read_idx(image_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{image_path}: expected uint8 images of shape (N, rows, cols), "
            f"got {images.dtype} {images.shape}"
        )
    labels = _check_labels(read_idx(label_path), n_classes, label_path)
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{label_path}: {labels.shape[0]} labels for {images.shape[0]} images in {image_path}"
        )
    return np.ascontiguousarray(images), labels


def preprocess_idx(
    name: str, raw_dir: Path, classes: Sequence[str], split: Mapping[str, Any], seed: int
) -> Splits:
    """MNIST-style data: the official test set, and a stratified validation sample of train."""
    if split.get("test") is not None:
        raise DataError(
            f"{name}: split.test={split['test']!r} is not used: the official test set is the "
            "test split; remove split.test"
        )
    x_all, y_all = _read_idx_pair(raw_dir, "train", len(classes))
    x_test, y_test = _read_idx_pair(raw_dir, "t10k", len(classes))
    count = resolve_size(split["validation"], len(y_all), f"{name}: split.validation")
    train_idx, val_idx = stratified_split(y_all, count, np.random.default_rng(seed))
    return Splits(
        name=name,
        x={"train": x_all[train_idx], "validation": x_all[val_idx], "test": x_test},
        y={"train": y_all[train_idx], "validation": y_all[val_idx], "test": y_test},
        meta={"kind": "image", "classes": list(classes), "pixel_range": [0, 255]},
    )


IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def read_iris(path: Path, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read UCI ``iris.data``: four numeric columns and a class name, no header.

    Blank lines are skipped (UCI's file ends in one). Read with :mod:`csv`, not pandas:
    importing pandas alone took longer than the whole stage takes now.

    Raises:
        DataError: naming the file and the first bad line (its number in the file), or the
            first unknown class with the valid ones.
    """
    index = {name: i for i, name in enumerate(classes)}
    rows: list[list[float]] = []
    names: list[str] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            for fields in reader:
                if not any(field.strip() for field in fields):
                    continue  # a blank line is not a row
                numbers = _iris_numbers(fields)
                if numbers is None:
                    raise DataError(
                        f"{path}: line {reader.line_num} does not hold four numbers "
                        "and a class name"
                    )
                rows.append(numbers)
                names.append(fields[4].strip())
    except (csv.Error, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a CSV file ({error})") from error
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DataError(f"{path}: unknown class {unknown[0]!r}; valid classes: {list(classes)}")
    labels = np.array([index[name] for name in names], dtype=np.int64)
    return np.array(rows, dtype=np.float64).reshape(-1, len(IRIS_FEATURES)), labels


def _iris_numbers(fields: list[str]) -> list[float] | None:
    """The four finite numbers of a row with a class name, or None if it is not one."""
    if len(fields) != len(IRIS_FEATURES) + 1 or not fields[-1].strip():
        return None
    try:
        numbers = [float(field) for field in fields[:-1]]
    except ValueError:
        return None
    return numbers if all(math.isfinite(v) for v in numbers) else None


def preprocess_iris_csv(
    name: str, raw_dir: Path, classes: Sequence[str], split: Mapping[str, Any], seed: int
) -> Splits:
    """Iris: stratified, seeded test and validation splits; standardised on train only."""
    x_all, y_all = read_iris(raw_dir / "iris.data", classes)
    total = len(y_all)
    n_test = resolve_size(split["test"], total, f"{name}: split.test")
    n_val = resolve_size(split["validation"], total, f"{name}: split.validation")
    if n_test + n_val >= total:
        raise DataError(f"{name}: test ({n_test}) + validation ({n_val}) leave no training rows")
    rng = np.random.default_rng(seed)
    rest, test_idx = stratified_split(y_all, n_test, rng)
    kept, val_pos = stratified_split(y_all[rest], n_val, rng)
    train_idx, val_idx = rest[kept], rest[val_pos]

    # Statistics of the training split only: validation and test must not leak in.
    mean = x_all[train_idx].mean(axis=0)
    std = x_all[train_idx].std(axis=0)
    std[std == 0] = 1.0

    def scale(idx: np.ndarray) -> np.ndarray:
        return ((x_all[idx] - mean) / std).astype(np.float32)

    parts = {"train": train_idx, "validation": val_idx, "test": test_idx}
    return Splits(
        name=name,
        x={k: scale(v) for k, v in parts.items()},
        y={k: y_all[v] for k, v in parts.items()},
        meta={
            "kind": "tabular",
            "classes": list(classes),
            "features": list(IRIS_FEATURES),
            "scaler": {"mean": mean.tolist(), "std": std.tolist()},
        },
    )


Preprocessor = Callable[[str, Path, Sequence[str], Mapping[str, Any], int], Splits]
FORMATS: dict[str, Preprocessor] = {"idx": preprocess_idx, "iris_csv": preprocess_iris_csv}


def get_format(fmt: str) -> Preprocessor:
    """Return the preprocessor for a raw format name."""
    return pick(FORMATS, fmt, "data format")


def preprocess(
    name: str,
    fmt: str,
    raw_dir: str | os.PathLike[str],
    classes: Sequence[str],
    split: Mapping[str, Any],
    seed: int,
) -> Splits:
    """Build the splits of one dataset from its verified raw files."""
    return get_format(fmt)(name, Path(raw_dir), list(classes), split, seed)


# ------------------------------------------------------------------ storage
def save_splits(splits: Splits, out_dir: str | os.PathLike[str]) -> Path:
    """Write the splits atomically: the folder is replaced whole or not at all."""
    meta = {
        **splits.meta,
        "dataset": splits.name,
        "format_version": FORMAT_VERSION,
        "shapes": {s: list(splits.x[s].shape) for s in SPLITS},
        "dtypes": {"x": str(splits.x["train"].dtype), "y": str(splits.y["train"].dtype)},
    }
    with atomic_directory(out_dir) as tmp:
        for split in SPLITS:
            np.save(tmp / f"x_{split}.npy", splits.x[split], allow_pickle=False)
            np.save(tmp / f"y_{split}.npy", splits.y[split], allow_pickle=False)
        atomic_write_json(tmp / "meta.json", meta)
    return Path(out_dir)


def build_splits(data: DictConfig, dataset: str, raw: Path, out: Path, summary: Path) -> dict:
    """Split ``dataset``'s raw files into ``out`` and write its summary JSON; the summary."""
    source = pick(data.datasets, dataset, "dataset")
    splits = preprocess(
        dataset, source.format, raw, list(source.classes), dict(source.split), data.seed
    )
    save_splits(splits, out)
    described = describe_splits(splits)
    atomic_write_json(summary, described)
    return described


def rebuild_command(dataset: str) -> str:
    """The command that rebuilds a dataset's processed folder (its DVC stage)."""
    return f"dvc repro preprocess@{dataset}"


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``meta.json`` of a folder written by :func:`save_splits`, with the keys every
    reader needs.

    Raises:
        DataError: the folder holds no data (run the command that builds it), or its
            ``meta.json`` is unreadable (the command that rebuilds it).
    """
    path = Path(path)
    if not (path / "meta.json").is_file():
        raise DataError(f"no preprocessed data in {path}; run `{rebuild_command(path.name)}` first")
    try:
        meta = json.loads((path / "meta.json").read_text())
        for key in ("shapes", "dtypes", "classes"):
            meta[key]  # noqa: B018 - a KeyError names the missing key
    except (OSError, ValueError, KeyError, TypeError) as error:
        rebuild = f"rebuild it with `{rebuild_command(path.name)}`"
        raise DataError(f"{path / 'meta.json'}: unreadable ({error!r}); {rebuild}") from error
    return meta


def load_splits(path: str | os.PathLike[str], mmap: bool = True) -> Splits:
    """Load a folder written by :func:`save_splits` (memory-mapped by default), checked
    against its ``meta.json``: each array's shape and dtype, and as many labels as rows.

    Raises:
        DataError: naming the bad file and the command that rebuilds the folder.
    """
    path = Path(path)
    rebuild = f"rebuild it with `{rebuild_command(path.name)}`"
    meta = load_meta(path)
    shapes, dtypes = meta["shapes"], meta["dtypes"]
    splits = Splits(name=meta.get("dataset", path.name), meta=meta)
    for split in SPLITS:
        x_file, y_file = path / f"x_{split}.npy", path / f"y_{split}.npy"
        x = _load_array(x_file, mmap, rebuild)
        y = _load_array(y_file, mmap, rebuild)
        shape, x_dtype, y_dtype = tuple(shapes.get(split, ())), dtypes.get("x"), dtypes.get("y")
        if x.shape != shape or str(x.dtype) != x_dtype:
            raise DataError(
                f"{x_file}: {x.dtype} {x.shape}, but meta.json says {x_dtype} {shape}; {rebuild}"
            )
        if y.ndim != 1 or str(y.dtype) != y_dtype:
            raise DataError(
                f"{y_file}: {y.dtype} {y.shape}, but meta.json says {y_dtype} labels, "
                f"one per row; {rebuild}"
            )
        if len(y) != len(x):
            raise DataError(
                f"{y_file}: {len(y)} labels for the {len(x)} rows of {x_file.name}; {rebuild}"
            )
        splits.x[split], splits.y[split] = x, y
    return splits


def _load_array(file: Path, mmap: bool, rebuild: str) -> np.ndarray:
    try:
        return np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:  # missing, truncated, not .npy
        raise DataError(f"{file}: not a readable array ({error}); {rebuild}") from error


def describe_splits(splits: Splits) -> dict[str, Any]:
    """Rows and class counts per split, and each feature's min, max and mean (images: one
    ``pixel`` feature over every pixel), rounded to 6 decimals."""
    classes = splits.meta["classes"]
    summary: dict[str, Any] = {"dataset": splits.name, "rows": {}, "class_counts": {}}
    features: dict[str, Any] = {}
    for split in SPLITS:
        y = np.asarray(splits.y[split])
        counts = np.bincount(y, minlength=len(classes))[: len(classes)]
        summary["rows"][split] = int(len(y))
        summary["class_counts"][split] = {c: int(n) for c, n in zip(classes, counts, strict=True)}
        x = np.asarray(splits.x[split])
        if x.ndim == 2:
            names = splits.meta.get("features") or [str(i) for i in range(x.shape[1])]
            columns = {name: x[:, i] for i, name in enumerate(names)}
        else:  # images: one "pixel" column
            columns = {"pixel": x.reshape(-1)}
        features[split] = {name: _column_stats(column) for name, column in columns.items()}
    summary["rows"]["total"] = sum(summary["rows"].values())
    summary["features"] = features
    return summary


def _column_stats(column: np.ndarray) -> dict[str, float]:
    """min, max and mean of one column, rounded to 6 decimals (and no ``-0.0``).

    The mean is summed in the column's own precision for floats and in float64 for
    integers (exact for pixels), as pandas does: the summaries of earlier versions,
    built with pandas, stay byte-identical.
    """
    float_dtype = column.dtype if column.dtype.kind == "f" else np.dtype(np.float64)
    total = column.sum(dtype=float_dtype)
    stats = {
        "min": column.min(),
        "max": column.max(),
        "mean": total / float_dtype.type(len(column)),
    }
    return {key: float(np.round(np.float64(value), 6) + 0.0) for key, value in stats.items()}
