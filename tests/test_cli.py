"""The ``optlab`` console script: its commands reach the same entry points."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.system.quiet import DEBUG_ENV
from tests.helpers import REPO_ROOT, run_listing_loaded, tool_env

OPTLAB = str(Path(sys.executable).parent / "optlab")


def optlab(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OPTLAB, *args], cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=120
    )


def test_an_unknown_command_names_it_and_the_valid_ones():
    done = optlab("trian")
    assert done.returncode == 2
    valid = "valid: train, compare, ui, server, cleanup, reproduce, upload, doctor\n"
    assert done.stderr == f"optlab: unknown command 'trian'; {valid}"
    assert optlab().stderr == f"optlab: unknown command none; {valid}"


@pytest.mark.slow
def test_ui_and_compare_pass_their_arguments_on(tmp_path):
    done = optlab("ui", "--port", "70000")
    assert (done.returncode, done.stderr) == (
        2,
        "error: PORT='70000' is not a port; valid: an integer from 1 to 65535\n",
    )
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = optlab("compare", "--tracking-uri", store, "--experiment", "nope", "--out", "x")
    assert done.returncode == 1
    # (a fresh store first logs MLflow's own schema creation)
    assert f"\nerror: unknown experiment 'nope' in {store}; existing experiments: Default\n" in (
        "\n" + done.stderr
    )


def test_train_is_the_hydra_app_and_rejects_a_bad_choice_before_training(tmp_path):
    done = optlab("train", "optimizer=adma", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: unknown optimizer 'adma'; valid optimizers: adadelta, adagrad, adam, "
    )


def _train(*overrides: str, run_dir: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m pipeline.train OVERRIDES`` (as runpy runs it), which reports on stdout
    whether TensorFlow was imported by the time it exited; and the seconds of CPU it took.

    CPU, not wall-clock: under the suite's load (two workers, their servers and trainings)
    a process waits for a core, and wall time measures the neighbours. On an idle machine
    a process that runs one thread takes as long as its CPU time.
    """
    # atexit: the entry point ends its process through pipeline.system.exiting.exit_now, which
    # runs atexit handlers but no code after the module.
    code = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
        "runpy.run_module('pipeline.train', run_name='__main__', alter_sys=True)\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", code, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=REPO_ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.batch_size=0"], "training.batch_size=0: must be ≥ 1"),
        (["optimizer.learning_rate=-0.1"], "optimizer.learning_rate=-0.1: must be > 0"),
        (["activation=maxout", "activation.pieces=1"], "activation.pieces=1: must be ≥ 2"),
        (
            ["+some_typo=1"],
            "unknown top-level key 'some_typo'; valid top-level keys: data, dataset, baselines, "
            "model, activation, loss, optimizer, training, runtime, mlflow, sweep, compare, "
            "figures",
        ),
        # Combinations (pipeline.training.planning.check): also before TensorFlow.
        (
            ["dataset=iris", "model=cnn"],
            "model 'cnn' needs image data; iris is tabular. Valid models: mlp",
        ),
        (
            ["dataset=iris", "dataset.task=binary", "dataset.positive_class=daisy"],
            "dataset.positive_class='daisy' is not a class of iris; valid: an index 0..2 or one of "
            "['Iris-setosa', 'Iris-versicolor', 'Iris-virginica']",
        ),
        (
            ["dataset.task=regression"],
            "task 'regression' needs tabular data; fashion_mnist is images. "
            "Valid tasks for fashion_mnist: multiclass, binary",
        ),
        (
            ["model.output_activation=tanh", "loss=categorical_crossentropy"],
            "loss 'categorical_crossentropy' expects probabilities, but output activation 'tanh' "
            "does not produce them; use one of hard_sigmoid, sigmoid, softmax",
        ),
        # Names Keras resolves (pipeline.config.keras_names), and the tracking URI's scheme.
        (
            ["model.kernel_initializer=he_norml"],
            "model.kernel_initializer='he_norml': not a Keras initializer name; valid: "
            "glorot_normal, glorot_uniform, he_normal, he_uniform, identity, lecun_normal, "
            "lecun_uniform, normal, one, ones, orthogonal, random_normal, random_uniform, "
            "truncated_normal, uniform, variance_scaling, zero, zeros",
        ),
        (
            ["mlflow.tracking_uri=foo://host/x"],
            "tracking URI foo://host/x (mlflow.tracking_uri or MLFLOW_TRACKING_URI): MLflow has "
            "no tracking store for scheme 'foo'; valid schemes: databricks, databricks-uc, file, "
            "http, https, mssql, mysql, postgresql, sqlite, uc, or a path",
        ),
    ],
)
def test_a_bad_value_is_one_line_within_3_seconds_without_tensorflow(tmp_path, overrides, message):
    done, seconds = _train(*overrides, run_dir=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: {message}\n(set {DEBUG_ENV}=1 to see the traceback)\n"
    assert done.stdout == "tensorflow imported: False\n"
    assert seconds < 3


def test_debug_shows_the_traceback_of_a_bad_value(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "model.dropout=1.5", f"hydra.run.dir={tmp_path}"],
        cwd=REPO_ROOT,
        env=tool_env(**{DEBUG_ENV: "1"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.endswith("error: model.dropout=1.5: must be in [0, 1)\n")


def test_a_hydra_composition_error_is_one_line_in_our_words(tmp_path):
    """A key no schema has is one line in the project's words, as validate() words it, within
    3 s: not Hydra's message."""
    done, seconds = _train("training.batchsize=64", run_dir=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        "error: unknown training key 'batchsize'; valid training keys: batch_size, epochs, seed, "
        f"shuffle, early_stopping\n(set {DEBUG_ENV}=1 to see the traceback)\n"
    )  # not Hydra's message, nor its HYDRA_FULL_ERROR hint
    assert done.stdout == "tensorflow imported: False\n"
    assert seconds < 3


# The libraries that take seconds to import: no --help and no bad value may load them.
HEAVY = ("tensorflow", "keras", "mlflow", "matplotlib")
STAGES = ("config", "download", "preprocess", "train", "compare")
HELP = [
    ("optlab", "--help"),
    ("optlab", "train", "--help"),
    ("optlab", "compare", "--help"),
    ("optlab", "ui", "--help"),
    ("optlab", "server", "--help"),
    ("optlab", "cleanup", "--help"),
    ("optlab", "reproduce", "--help"),
    ("optlab", "upload", "--help"),
    ("pipeline.train", "--help"),
    ("pipeline.compare", "--help"),
    ("pipeline.reproduce", "--help"),
    ("pipeline.upload", "--help"),
    ("pipeline.cleanup", "--help"),
    ("pipeline.ui", "--help"),
    ("pipeline.server", "--help"),
    ("pipeline.lessons", "--help"),
    ("pipeline.figures", "--help"),
    *((f"pipeline.stages.{s}", "--help") for s in STAGES),
]


@pytest.mark.parametrize("command", HELP, ids=" ".join)
def test_every_entry_points_help_loads_no_heavy_library(command):
    done, loaded = run_listing_loaded(*command)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "usage:" in done.stdout or "Powered by Hydra" in done.stdout, done.stdout
    assert [m for m in loaded if m in HEAVY] == []


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (("pipeline.train", "optimizer=nope"), "error: unknown optimizer 'nope'; valid"),
        (("optlab", "train", "optimizer=nope"), "error: unknown optimizer 'nope'; valid"),
        (("pipeline.figures", "figures.paths.steps=x"), "error: figures.paths.steps: Value 'x'"),
        (("pipeline.train", "training.epochs=-1"), "error: training.epochs=-1: must be ≥ 1"),
        (("optlab", "train", "training.epochs=-1"), "error: training.epochs=-1: must be ≥ 1"),
        (("pipeline.stages.config", "training.epochs=-1"), "error: training.epochs=-1: must be"),
        (("pipeline.compare", "--log-to", "nowhere"), "argument --log-to: invalid choice"),
        (("optlab", "ui", "--port", "0"), "error: PORT='0' is not a port"),
        (("pipeline.server", "--backend-store-uri", "postgres://db/m"), "unknown backend store"),
        (
            ("pipeline.lessons", "--only", "nope"),
            "unknown lesson 'nope'; valid lessons: batch_size,",
        ),
        (("pipeline.lessons", "--seeds", "0"), "--seeds '0': valid: an integer of at least 1"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_a_bad_value_at_any_entry_point_loads_no_heavy_library(tmp_path, command, message):
    hydra = command[0] == "pipeline.train" or command[:2] == ("optlab", "train")
    run_dir = (f"hydra.run.dir={tmp_path}",) if hydra else ()
    done, loaded = run_listing_loaded(*command, *run_dir)
    assert done.returncode in (1, 2) and message in done.stderr, done.stderr
    assert [m for m in loaded if m in HEAVY] == []
