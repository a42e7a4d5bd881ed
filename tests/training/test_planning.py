"""plan(): every choice checked from the config alone (pipeline.training.planning)."""

from __future__ import annotations

import pytest

from pipeline.config.schemas import Task
from pipeline.training.planning import check, plan
from tests.helpers import tiny_config


@pytest.fixture
def compose(mirror_dir):
    return lambda *overrides: tiny_config(mirror_dir, overrides=list(overrides))


def test_the_default_plan(compose):
    p = plan(compose("dataset=mnist"))
    assert (p.dataset, p.task, p.image, p.full_batch) == ("mnist", Task.multiclass, True, False)
    assert p.classes == [str(i) for i in range(10)]
    assert p.epochs == 5  # conf/dataset/mnist.yaml's own
    assert (p.loss.loss, p.loss.output_units, p.loss.output_activation) == (
        "categorical_crossentropy",
        10,
        "softmax",
    )
    assert p.positive_index is None


def test_training_epochs_overrides_the_datasets(compose):
    assert plan(compose("dataset=mnist", "training.epochs=2")).epochs == 2


@pytest.mark.parametrize(("positive", "index"), [("Iris-virginica", 2), ("0", 0), (1, 1)])
def test_binary_names_its_positive_class_by_name_or_index(compose, positive, index):
    cfg = compose("dataset=iris", "dataset.task=binary")
    cfg.dataset.positive_class = int(positive) if positive == "0" else positive
    p = plan(cfg)
    assert p.positive_index == index
    assert (p.loss.loss, p.loss.output_units, p.loss.output_activation) == (
        "binary_crossentropy",
        1,
        "sigmoid",
    )


def test_check_decides_the_choices_plan_builds_on_without_keras(compose):
    cfg = compose("dataset=iris", "dataset.task=binary", "dataset.positive_class=Iris-virginica")
    choices = check(cfg)
    assert (choices.task, choices.image, choices.positive_index) == (Task.binary, False, 2)
    assert choices.loss.loss == "binary_crossentropy"
    with pytest.raises(ValueError, match="model 'cnn' needs image data; iris is tabular"):
        check(compose("dataset=iris", "model=cnn"))


@pytest.mark.parametrize(
    ("overrides", "valid"),
    [
        (["dataset=iris"], "loss, accuracy, val_loss, val_accuracy"),
        (
            ["dataset=iris", "dataset.task=regression", "dataset.target=petal_width"],
            "loss, mae, rmse, val_loss, val_mae, val_rmse",
        ),
    ],
)
def test_early_stopping_must_watch_a_metric_the_run_logs(compose, overrides, valid):
    """Keras would only warn about one it never sees, and never stop."""
    check(compose(*overrides, "training.early_stopping.monitor=val_loss"))
    with pytest.raises(ValueError) as info:
        check(compose(*overrides, "training.early_stopping.monitor=val_acc"))
    assert str(info.value) == (
        f"training.early_stopping.monitor='val_acc' is not a metric this run logs; valid: {valid}"
    )


def test_with_the_data_folder_its_meta_json_is_checked_too(compose, data_root, tmp_path):
    regression = ["dataset=iris", "dataset.task=regression"]
    check(compose(*regression, "dataset.target=petal_width"), data_root / "iris")
    with pytest.raises(ValueError) as info:
        check(compose(*regression, "dataset.target=petal_area"), data_root / "iris")
    assert str(info.value) == (
        "dataset.target='petal_area' is not a feature of iris; valid: sepal_length, "
        "sepal_width, petal_length, petal_width"
    )
    check(compose(*regression, "dataset.target=petal_area"))  # without the folder: not read
    with pytest.raises(ValueError) as info:
        check(compose("dataset=mnist"), tmp_path / "mnist")
    assert str(info.value) == (
        f"no preprocessed data in {tmp_path / 'mnist'}; run `dvc repro preprocess@mnist` first"
    )


def test_gd_is_full_batch(compose):
    assert plan(compose("optimizer=gd")).full_batch is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["dataset=iris", "dataset.task=binary", "dataset.positive_class=daisy"],
            r"positive_class='daisy' is not a class of iris; valid: an index 0..2 or one of",
        ),
        (
            ["dataset=iris", "dataset.task=binary", "dataset.positive_class=3"],
            r"positive_class=3 is not a class of iris",
        ),
        (
            ["dataset=mnist", "dataset.task=regression"],
            r"task 'regression' needs tabular data; mnist is images. Valid tasks for mnist: "
            r"multiclass, binary",
        ),
        (
            ["dataset=iris", "dataset.task=regression", "dataset.target=null"],
            r"task 'regression' needs dataset.target",
        ),
        (["dataset=iris", "model=cnn"], r"model 'cnn' needs image data; iris is tabular"),
        (["optimizer=nag", "optimizer.nesterov=false"], r"optimizer 'nag' .* needs nesterov=True"),
    ],
)
def test_a_bad_choice_is_named_with_the_valid_ones(compose, overrides, message):
    with pytest.raises(ValueError, match=message):
        plan(compose(*overrides))


def test_an_unknown_dataset_lists_the_valid_ones(compose):
    cfg = compose()
    cfg.dataset.name = "cifar"
    with pytest.raises(ValueError, match="unknown dataset 'cifar'; valid datasets: iris, mnist"):
        plan(cfg)


def test_the_model_is_compiled_with_the_optimizer_the_plan_built(mirror_dir, data_root):
    """plan() builds the optimizer to check it; the model takes that one, built once."""
    from pipeline.training.train import build_model, prepare

    cfg = tiny_config(mirror_dir, overrides=["dataset=iris", "optimizer=nag"])
    p, _, data = prepare(cfg, data_root)
    assert type(p.optimizer).__name__ == "SGD" and p.optimizer.nesterov is True
    assert build_model(p, data).optimizer is p.optimizer
