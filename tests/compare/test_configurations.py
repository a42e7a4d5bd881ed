"""What defines a configuration and how it is labelled (pipeline.compare.configurations)."""

from __future__ import annotations

import pandas as pd

from pipeline.compare import summarize


def test_labels_use_short_keys_unless_ambiguous():
    # A frame shaped like mlflow.search_runs' output, without a store.
    rows = []
    for i, (activation, batch, data_seed, momentum) in enumerate(
        [("relu", "32", "0", "0.9"), ("elu", "64", "1", "0.5")]
    ):
        rows.append(
            {
                "run_id": f"r{i}",
                "experiment_id": "1",
                "status": "FINISHED",
                "start_time": pd.Timestamp(i, unit="s", tz="UTC"),
                "metrics.test_accuracy": 0.9 + i / 100,
                "params.dataset.name": "iris",
                "params.dataset.task": "multiclass",
                "params.activation.name": activation,
                "params.training.batch_size": batch,
                "params.training.seed": str(i),
                "params.data.seed": data_seed,
                "params.optimizer.momentum": momentum,
                "params.model.momentum": momentum,
                "params.mlflow.run_name": f"run{i}",
                "params.effective.batch_size": batch,
                "tags.mlflow.runName": f"run{i}",
            }
        )
    summary = summarize(pd.DataFrame(rows))
    assert summary["configuration"].tolist() == [
        "activation=elu, optimizer.momentum=0.5, model.momentum=0.5, batch_size=64, data.seed=1",
        "activation=relu, optimizer.momentum=0.9, model.momentum=0.9, batch_size=32, data.seed=0",
    ]
    assert summary["rank"].tolist() == [1, 2]


def test_hyperparameters_that_only_follow_the_choice_do_not_label_configurations():
    from pipeline.compare import annotate_runs

    def frame(optimizers, rates):
        n = len(optimizers)
        return pd.DataFrame(
            {
                "run_id": [f"r{i}" for i in range(n)],
                "status": ["FINISHED"] * n,
                "params.dataset.name": ["mnist"] * n,
                "params.dataset.task": ["multiclass"] * n,
                "params.optimizer.name": optimizers,
                "params.optimizer.learning_rate": rates,
                "metrics.test_accuracy": [0.9] * n,
            }
        )

    # sgd and adam with their own default learning rates: the choice says it all
    labels = annotate_runs(frame(["sgd", "adam"], ["0.01", "0.001"]))[0]["configuration"]
    assert labels.tolist() == ["optimizer=sgd", "optimizer=adam"]
    # a learning rate swept within sgd is a setting of its own
    labels = annotate_runs(frame(["sgd", "sgd", "adam"], ["0.01", "0.1", "0.001"]))[0]
    assert labels["configuration"].tolist() == [
        "optimizer=sgd, learning_rate=0.01",
        "optimizer=sgd, learning_rate=0.1",
        "optimizer=adam, learning_rate=0.001",
    ]


def test_a_lone_configuration_is_named_by_its_choices():
    from pipeline.compare import annotate_runs

    runs = pd.DataFrame(
        {
            "run_id": ["r0"],
            "status": ["FINISHED"],
            "params.dataset.name": ["mnist"],
            "params.dataset.task": ["multiclass"],
            "params.model.name": ["mlp"],
            "params.activation.name": ["relu"],
            "params.optimizer.name": ["adam"],
            "params.effective.batch_size": ["32"],
            "metrics.test_accuracy": [0.97],
        }
    )
    label = annotate_runs(runs)[0]["configuration"].iloc[0]
    assert label == "model=mlp, activation=relu, optimizer=adam, batch_size=32"


def test_bookkeeping_params_do_not_split_configurations_and_full_batch_is_named():
    from pipeline.compare import annotate_runs

    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "status": ["FINISHED"] * 3,
            "params.dataset.name": ["mnist"] * 3,
            "params.dataset.task": ["multiclass"] * 3,
            "params.optimizer.name": ["sgd", "sgd", "gd"],
            # two sweeps of one experiment, with other seed counts and download options
            "params.sweep.seeds": ["1", "3", "3"],
            "params.data.download.retries": ["3", "5", "3"],
            # gd keeps training.batch_size's default; the effective batch is the whole split
            "params.training.batch_size": ["32", "32", "32"],
            "params.effective.batch_size": ["32", "32", "full"],
            "metrics.test_accuracy": [0.9, 0.91, 0.5],
        }
    )
    labels = annotate_runs(runs)[0]["configuration"].tolist()
    assert labels == [
        "optimizer=sgd, batch_size=32",
        "optimizer=sgd, batch_size=32",
        "optimizer=gd, batch_size=full",
    ]

    runs["params.optimizer.name"] = ["sgd", "sgd", "sgd"]
    runs["params.effective.batch_size"] = ["32", "64", "full"]
    labels = annotate_runs(runs)[0]["configuration"].tolist()
    assert labels == ["batch_size=32", "batch_size=64", "batch_size=full"]
