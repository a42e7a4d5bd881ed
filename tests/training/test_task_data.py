"""A dataset as a task needs it (pipeline.training.task_data): targets encoded for the loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.data.preprocess import DataError
from pipeline.training.planning import plan
from pipeline.training.task_data import load_task_data, make_dataset
from tests.helpers import IRIS_CLASSES, tiny_config


@pytest.fixture
def task_data(mirror_dir, data_root):
    def load(*overrides):
        cfg = tiny_config(mirror_dir, overrides=["dataset=iris", *overrides])
        p = plan(cfg)
        return p, load_task_data(p, data_root / "iris", cfg.dataset.target)

    return load


def test_multiclass_targets_are_one_hot(task_data, data_root):
    _, data = task_data()
    labels = np.load(data_root / "iris" / "y_train.npy")
    np.testing.assert_array_equal(data.y["train"], np.eye(3, dtype="float32")[labels])
    np.testing.assert_array_equal(data.labels["train"], labels)
    assert data.input_shape == (4,) and data.class_names == IRIS_CLASSES


def test_sparse_crossentropy_keeps_integer_labels(task_data, data_root):
    _, data = task_data("loss=sparse_categorical_crossentropy")
    np.testing.assert_array_equal(data.y["test"], np.load(data_root / "iris" / "y_test.npy"))


def test_binary_is_the_positive_class_against_the_rest(task_data, data_root):
    p, data = task_data("dataset.task=binary")  # positive_class: Iris-virginica
    labels = np.load(data_root / "iris" / "y_validation.npy")
    np.testing.assert_array_equal(data.y["validation"].ravel(), (labels == 2).astype("float32"))
    assert data.y["validation"].shape == (len(labels), 1)
    assert data.class_names == ["rest", "Iris-virginica"] and p.positive_index == 2


def test_regression_predicts_the_target_in_its_own_units(task_data, data_root):
    _, data = task_data("dataset.task=regression")  # target: petal_width
    meta = json.loads((data_root / "iris" / "meta.json").read_text())
    t = meta["features"].index("petal_width")
    x = np.load(data_root / "iris" / "x_train.npy")
    cm = x[:, t] * meta["scaler"]["std"][t] + meta["scaler"]["mean"][t]
    np.testing.assert_allclose(data.y["train"].ravel(), cm, rtol=1e-6)
    np.testing.assert_array_equal(data.x["train"], np.delete(x, t, axis=1))
    assert data.labels == {} and data.class_names == []


def test_a_bad_target_and_missing_data_are_named(task_data, mirror_dir, tmp_path):
    with pytest.raises(ValueError, match=r"dataset.target='petal_area'; valid features: \["):
        task_data("dataset.task=regression", "dataset.target=petal_area")
    p = plan(tiny_config(mirror_dir, overrides=["dataset=iris"]))
    with pytest.raises(DataError) as info:
        load_task_data(p, tmp_path / "iris")
    assert str(info.value) == (
        f"no preprocessed data in {tmp_path / 'iris'}; run `dvc repro preprocess@iris` first"
    )


def test_make_dataset_batches_float32_and_shuffles_by_seed():
    x, y = np.arange(10, dtype="uint8").reshape(10, 1), np.arange(10)

    def order(seed):
        batches = list(make_dataset(x, y, 4, shuffle=True, seed=seed))
        assert [b[0].dtype.name for b in batches] == ["float32"] * 3
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        return np.concatenate([b[1].numpy() for b in batches]).tolist()

    assert order(5) == order(5) and sorted(order(5)) == list(range(10))
    assert order(5) != order(6)
    unshuffled = make_dataset(x, y, 4, shuffle=False, seed=0)
    assert np.concatenate([b[1].numpy() for b in unshuffled]).tolist() == list(range(10))


def test_each_epochs_order_depends_on_seed_and_epoch_alone():
    """A resumed training must see, at epoch k, the order an uninterrupted one saw."""
    import tensorflow as tf

    x, y = np.arange(40, dtype="uint8").reshape(40, 1), np.arange(40)

    def orders(epochs, first=0):
        epoch = tf.Variable(first, dtype=tf.int64)
        data = make_dataset(x, y, 8, shuffle=True, seed=3, epoch=epoch)
        seen = []
        for e in range(first, epochs):
            epoch.assign(e)
            seen.append(np.concatenate([b[1].numpy() for b in data]).tolist())
        return seen

    uninterrupted = orders(4)
    assert len({tuple(o) for o in uninterrupted}) == 4  # a new order every epoch
    assert orders(4, first=2) == uninterrupted[2:]  # a fresh process resumed at epoch 2
