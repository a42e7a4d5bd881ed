"""pipeline.config.labels: the configuration label a run is tagged and grouped by."""

from __future__ import annotations

from pipeline.config.labels import label, param_keys, short_keys

HEADLINE_VALUES = {
    "model.name": "mlp",
    "activation.name": "relu",
    "optimizer.name": "adam",
    "loss.name": "auto",
    "effective.batch_size": "32",
    "optimizer.learning_rate": "0.001",
}


def test_keys_read_in_label_order_with_short_names():
    values = {"optimizer.name": "adam", "activation.name": "relu", "training.epochs": "3"}
    assert label(values, ["training.epochs", "optimizer.name", "activation.name"]) == (
        "activation=relu, optimizer=adam, epochs=3"
    )


def test_ambiguous_or_reserved_short_names_keep_the_full_key():
    assert short_keys(["model.dropout", "training.dropout", "data.seed", "optimizer.rho"]) == {
        "model.dropout": "model.dropout",
        "training.dropout": "training.dropout",
        "data.seed": "data.seed",  # "seed" alone would read as the training seed
        "optimizer.rho": "rho",
    }


def test_a_missing_value_reads_a_question_mark():
    assert label({"activation.name": "relu"}, ["activation.name", "optimizer.name"]) == (
        "activation=relu, optimizer=?"
    )


def test_without_keys_the_headline_choices_name_the_run():
    assert label(HEADLINE_VALUES, []) == (
        "model=mlp, activation=relu, optimizer=adam, loss=auto, batch_size=32"
    )
    assert label({"training.epochs": "3"}, []) == "all runs"


def test_override_keys_become_the_logged_param_keys():
    params = {"optimizer.name": "adam", "effective.batch_size": "64", "training.batch_size": "64"}
    assert param_keys(["optimizer", "training.batch_size", "optimizer.learning_rate"], params) == [
        "optimizer.name",
        "effective.batch_size",
        "optimizer.learning_rate",
    ]
    # A run that failed before training has no effective.* params: the configured key.
    assert param_keys(["training.batch_size"], {"training.batch_size": "64"}) == [
        "training.batch_size"
    ]
