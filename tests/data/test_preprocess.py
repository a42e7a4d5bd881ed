import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.idx import read_idx, write_idx
from pipeline.data.preprocess import (
    DataError,
    Splits,
    describe_splits,
    load_meta,
    load_splits,
    preprocess,
    read_iris,
    resolve_size,
    save_splits,
    stratified_split,
)
from tests.helpers import IRIS_CLASSES, write_iris

DIGITS = [str(i) for i in range(10)]


# ------------------------------------------------------------------ splitting
def test_stratified_split_keeps_class_proportions_exactly():
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    kept, taken = stratified_split(labels, 100, np.random.default_rng(0))
    assert len(taken) == 100 and len(kept) == 900
    assert np.bincount(labels[taken]).tolist() == [50, 30, 20]
    assert np.array_equal(np.sort(np.concatenate([kept, taken])), np.arange(1000))
    assert np.all(np.diff(taken) > 0) and np.all(np.diff(kept) > 0)


def test_stratified_split_distributes_the_rounding_remainder():
    labels = np.repeat([0, 1, 2], [10, 10, 10])
    _, taken = stratified_split(labels, 10, np.random.default_rng(0))
    # 10/3 each: the one extra row goes to the lowest label on a tie.
    assert np.bincount(labels[taken]).tolist() == [4, 3, 3]


def test_stratified_split_is_seeded():
    labels = np.arange(200) % 4
    a = stratified_split(labels, 40, np.random.default_rng(7))[1]
    b = stratified_split(labels, 40, np.random.default_rng(7))[1]
    c = stratified_split(labels, 40, np.random.default_rng(8))[1]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(("size", "count"), [(0.2, 30), (10, 10), (10.0, 10), (149, 149)])
def test_resolve_size(size, count):
    assert resolve_size(size, 150) == count


@pytest.mark.parametrize("size", [0, 150, 1.5, -3, 0.001, "ten", True, None])
def test_resolve_size_rejects_bad_sizes_naming_them(size):
    with pytest.raises(DataError, match=rf"split\.validation={size!r}.*|not {size!r}"):
        resolve_size(size, 150, "split.validation")


# ------------------------------------------------------------------ MNIST-style
def test_idx_splits(mirror_dir):
    raw = mirror_dir / "mnist"
    splits = preprocess("mnist", "idx", raw, DIGITS, {"validation": 10}, seed=0)
    assert splits.x["train"].shape == (50, 28, 28) and splits.x["train"].dtype == np.uint8
    assert splits.x["validation"].shape == (10, 28, 28)
    # The test split is the official test file, untouched and in order.
    np.testing.assert_array_equal(splits.x["test"], read_idx(raw / "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(splits.y["test"], read_idx(raw / "t10k-labels-idx1-ubyte.gz"))
    # Train and validation partition the official training file.
    train_x = read_idx(raw / "train-images-idx3-ubyte.gz")
    merged = np.concatenate([splits.x["train"], splits.x["validation"]])
    assert sorted(map(bytes, merged)) == sorted(map(bytes, train_x))
    # Stratified: 6 of each digit in the training file, 1 of each in validation.
    assert np.bincount(splits.y["validation"], minlength=10).tolist() == [1] * 10


def test_idx_rejects_a_test_size(mirror_dir):
    with pytest.raises(DataError, match=r"split\.test=0\.2 is not used"):
        preprocess("mnist", "idx", mirror_dir / "mnist", DIGITS, {"validation": 10, "test": 0.2}, 0)


def _copy_raw(mirror_dir: Path, tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(mirror_dir / "mnist", raw)
    return raw


def test_idx_count_mismatch_names_the_files(mirror_dir, tmp_path):
    raw = _copy_raw(mirror_dir, tmp_path)
    labels = read_idx(raw / "train-labels-idx1-ubyte.gz")
    write_idx(raw / "train-labels-idx1-ubyte.gz", labels[:-1])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: 59 labels for 60 images"):
        preprocess("mnist", "idx", raw, DIGITS, {"validation": 10}, 0)


def test_idx_label_out_of_range(mirror_dir, tmp_path):
    raw = _copy_raw(mirror_dir, tmp_path)
    labels = read_idx(raw / "t10k-labels-idx1-ubyte.gz").copy()
    labels[3] = 12
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(
        DataError, match=r"label 12 at index 3 is out of range; valid labels are 0\.\.9"
    ):
        preprocess("mnist", "idx", raw, DIGITS, {"validation": 10}, 0)


def test_unknown_format_lists_valid_ones(mirror_dir):
    with pytest.raises(
        ValueError, match=r"unknown data format 'csv'; valid data formats: idx, iris_csv$"
    ):
        preprocess("mnist", "csv", mirror_dir / "mnist", DIGITS, {"validation": 10}, 0)


# ------------------------------------------------------------------ iris
IRIS_SPLIT = {"validation": 0.2, "test": 0.2}


def test_iris_splits_are_stratified(tmp_path):
    write_iris(tmp_path / "iris.data", per_class=20)
    splits = preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, seed=3)
    counts = {s: np.bincount(splits.y[s]).tolist() for s in ("train", "validation", "test")}
    assert counts == {"train": [12, 12, 12], "validation": [4, 4, 4], "test": [4, 4, 4]}
    assert splits.x["train"].dtype == np.float32


def test_iris_scaling_uses_training_statistics_only(tmp_path):
    path = write_iris(tmp_path / "iris.data", per_class=20)
    base = preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, seed=3)
    raw_x, raw_y = read_iris(path, IRIS_CLASSES)

    # numpy reference: the scaler is the training rows' mean and (population) std.
    scaler = base.meta["scaler"]
    train_raw = base.x["train"].astype(np.float64) * scaler["std"] + scaler["mean"]
    is_train = np.array([np.isclose(train_raw, row, atol=1e-4).all(axis=1).any() for row in raw_x])
    assert is_train.sum() == 36
    np.testing.assert_allclose(scaler["mean"], raw_x[is_train].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler["std"], raw_x[is_train].std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(base.x["train"].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(base.x["train"].std(axis=0), 1, atol=1e-6)

    # Make every validation and test row extreme: the training split must not move.
    lines = path.read_text().splitlines()
    for i in np.flatnonzero(~is_train):
        *_, cls = lines[i].split(",")
        lines[i] = f"99.0,99.0,99.0,99.0,{cls}"
    path.write_text("\n".join(lines) + "\n")
    moved = preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, seed=3)
    np.testing.assert_array_equal(moved.x["train"], base.x["train"])
    assert moved.meta["scaler"] == base.meta["scaler"]
    assert moved.x["test"].max() > 10  # the extreme rows really went to validation/test


def test_iris_unknown_class_lists_valid_ones(tmp_path):
    (tmp_path / "iris.data").write_text("5.1,3.5,1.4,0.2,Iris-setosa\n5.0,3.0,1.0,0.1,Iris-nova\n")
    with pytest.raises(
        DataError, match=r"unknown class 'Iris-nova'; valid classes: \['Iris-setosa'"
    ):
        preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, 0)


def test_iris_malformed_line_is_named(tmp_path):
    (tmp_path / "iris.data").write_text(
        "5.1,3.5,1.4,0.2,Iris-setosa\n5.0,abc,1.0,0.1,Iris-setosa\n"
    )
    with pytest.raises(DataError, match=r"iris\.data: line 2 does not hold four numbers"):
        preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, 0)


def test_iris_real_file_layout_with_trailing_blank_line(tmp_path):
    # UCI's file ends in "\n\n"; the blank line is not a row.
    path = write_iris(tmp_path / "iris.data", per_class=50)
    assert path.read_text().endswith("\n\n")
    x, y = read_iris(path, IRIS_CLASSES)
    assert x.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]


@pytest.mark.parametrize(
    "bad_line",
    [
        "5.0,3.0,1.0,Iris-setosa",  # a number missing
        "5.0,3.0,1.0,0.1,0.2,Iris-setosa",  # a field too many
        "5.0,3.0,1.0,0.1,",  # no class
        "5.0,nan,1.0,0.1,Iris-setosa",  # not a finite number
        "5.0,inf,1.0,0.1,Iris-setosa",
    ],
)
def test_iris_bad_line_is_named_by_its_line_in_the_file(tmp_path, bad_line):
    # line 3: the blank line 2 counts, as in an editor
    (tmp_path / "iris.data").write_text(f"5.1,3.5,1.4,0.2,Iris-setosa\n\n{bad_line}\n")
    with pytest.raises(DataError) as info:
        read_iris(tmp_path / "iris.data", IRIS_CLASSES)
    assert str(info.value) == (
        f"{tmp_path / 'iris.data'}: line 3 does not hold four numbers and a class name"
    )


def test_iris_that_is_not_text_is_named(tmp_path):
    (tmp_path / "iris.data").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe binary")
    with pytest.raises(DataError, match=r"iris\.data: not a CSV file \('utf-8' codec"):
        read_iris(tmp_path / "iris.data", IRIS_CLASSES)


def test_iris_values_are_parsed_exactly(tmp_path):
    (tmp_path / "iris.data").write_text(
        "5.1,3.5,1.4,0.2,Iris-setosa\n 6.25 ,2.9, 4.3,1.3 , Iris-versicolor\n"
    )
    x, y = read_iris(tmp_path / "iris.data", IRIS_CLASSES)
    assert x.dtype == np.float64 and x.tolist() == [[5.1, 3.5, 1.4, 0.2], [6.25, 2.9, 4.3, 1.3]]
    assert y.dtype == np.int64 and y.tolist() == [0, 1]


# ------------------------------------------------------------------ storage & summary
def test_save_load_round_trip_and_determinism(mirror_dir, tmp_path):
    a = save_splits(
        preprocess("mnist", "idx", mirror_dir / "mnist", DIGITS, {"validation": 10}, 0),
        tmp_path / "a",
    )
    b = save_splits(
        preprocess("mnist", "idx", mirror_dir / "mnist", DIGITS, {"validation": 10}, 0),
        tmp_path / "b",
    )
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    loaded = load_splits(a)
    assert isinstance(loaded.x["train"], np.memmap)
    assert loaded.meta["shapes"]["train"] == [50, 28, 28]


def test_failed_save_leaves_the_previous_output_intact(mirror_dir, tmp_path):
    good = preprocess("mnist", "idx", mirror_dir / "mnist", DIGITS, {"validation": 10}, 0)
    out = save_splits(good, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = Splits("mnist", x=dict(good.x), y={"train": good.y["train"]}, meta=good.meta)
    with pytest.raises(KeyError):
        save_splits(broken, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


@pytest.fixture
def saved_mnist(data_root, tmp_path) -> Path:
    """A writable copy of the preprocessed tiny MNIST."""
    return Path(shutil.copytree(data_root / "mnist", tmp_path / "mnist"))


REBUILD = "; rebuild it with `dvc repro preprocess@mnist`"


@pytest.mark.parametrize("mmap", [True, False])
def test_a_truncated_array_is_named_with_the_command_that_rebuilds_it(saved_mnist, mmap):
    file = saved_mnist / "x_train.npy"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        load_splits(saved_mnist, mmap=mmap)
    message = str(info.value)
    assert message.startswith(f"{file}: not a readable array (")
    assert message.endswith(REBUILD)


def test_an_array_of_the_wrong_dtype_is_named(saved_mnist):
    x = np.load(saved_mnist / "x_validation.npy")
    np.save(saved_mnist / "x_validation.npy", x.astype(np.float64))
    with pytest.raises(DataError) as info:
        load_splits(saved_mnist)
    assert str(info.value) == (
        f"{saved_mnist / 'x_validation.npy'}: float64 (10, 28, 28), but meta.json says "
        f"uint8 (10, 28, 28){REBUILD}"
    )


def test_an_array_of_the_wrong_shape_is_named(saved_mnist):
    x = np.load(saved_mnist / "x_test.npy")
    np.save(saved_mnist / "x_test.npy", x[:, :27])
    with pytest.raises(DataError, match=r"x_test.npy: uint8 \(20, 27, 28\), but meta.json says "):
        load_splits(saved_mnist)


def test_fewer_labels_than_rows_are_named(saved_mnist):
    y = np.load(saved_mnist / "y_train.npy")
    np.save(saved_mnist / "y_train.npy", y[:-1])
    with pytest.raises(DataError) as info:
        load_splits(saved_mnist)
    assert str(info.value) == (
        f"{saved_mnist / 'y_train.npy'}: 49 labels for the 50 rows of x_train.npy{REBUILD}"
    )


def test_labels_of_the_wrong_dtype_are_named(saved_mnist):
    y = np.load(saved_mnist / "y_test.npy")
    np.save(saved_mnist / "y_test.npy", y.astype(np.float32))
    with pytest.raises(DataError, match=r"y_test.npy: float32 \(20,\), but meta.json says int64"):
        load_splits(saved_mnist)


@pytest.mark.parametrize("damage", ["not json", "no shapes", "no classes"])
def test_a_bad_meta_json_is_named(saved_mnist, damage):
    meta = saved_mnist / "meta.json"
    if damage == "no classes":
        written = json.loads(meta.read_text())
        del written["classes"]
        meta.write_text(json.dumps(written))
    else:
        meta.write_text("{" if damage == "not json" else '{"dataset": "mnist"}')
    with pytest.raises(DataError) as info:
        load_splits(saved_mnist)
    assert str(info.value).startswith(f"{meta}: unreadable (")
    assert str(info.value).endswith(REBUILD)


def test_a_folder_without_data_names_the_stage_that_builds_it(tmp_path):
    with pytest.raises(DataError) as info:
        load_meta(tmp_path / "mnist")
    assert str(info.value) == (
        f"no preprocessed data in {tmp_path / 'mnist'}; run `dvc repro preprocess@mnist` first"
    )


def test_summary_matches_the_arrays(tmp_path):
    write_iris(tmp_path / "iris.data", per_class=20)
    splits = preprocess("iris", "iris_csv", tmp_path, IRIS_CLASSES, IRIS_SPLIT, 0)
    summary = describe_splits(splits)
    assert summary["rows"] == {"train": 36, "validation": 12, "test": 12, "total": 60}
    assert summary["class_counts"]["test"] == {c: 4 for c in IRIS_CLASSES}
    petal = summary["features"]["validation"]["petal_width"]
    column = splits.x["validation"][:, 3]
    assert petal["min"] == pytest.approx(column.min(), abs=1e-6)
    assert petal["max"] == pytest.approx(column.max(), abs=1e-6)
    assert petal["mean"] == pytest.approx(column.mean(), abs=1e-6)


def test_image_summary_is_exact():
    x = np.zeros((3, 28, 28), np.uint8)
    x[0, 0, :3] = [255, 1, 2]
    y = np.array([0, 2, 2])
    splits = Splits(
        "mnist",
        x={s: x for s in ("train", "validation", "test")},
        y={s: y for s in ("train", "validation", "test")},
        meta={"classes": ["a", "b", "c"]},
    )
    summary = describe_splits(splits)
    assert summary["class_counts"]["test"] == {"a": 1, "b": 0, "c": 2}
    # 258 / 2352, rounded to 6 decimals
    assert summary["features"]["train"] == {"pixel": {"min": 0.0, "max": 255.0, "mean": 0.109694}}
