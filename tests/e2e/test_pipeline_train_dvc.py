"""The training and figures stages under real DVC: ``dvc repro``, byte-stable outputs, a
forced rerun, ``dvc exp run -S``, a conf/ edit, and when the figures stage reruns (DVC's
decision, read from ``dvc repro --dry``).

Two copies of the project (tiny data over local HTTP, one-epoch training), built once
for the module: copy A runs the user's ``dvc repro`` as committed; copy B, at the same
time and in its own processes, runs the trainings and the comparison with other
runtime settings. Every test leaves copy A as it found it (committed baselines), so
the tests run in any order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests.figures.pngs import assert_png_not_blank
from tests.helpers import (
    LocalServer,
    all_succeed,
    dvc,
    dvc_process,
    git,
    prepared_copy,
    tensorflow_lines,
)

pytestmark = pytest.mark.slow
DATASETS = ("iris", "mnist", "fashion_mnist")
# DVC outputs of the train and compare stages, relative to the project.
OUTPUT_DIRS = ("models", "reports/train", "reports/compare")
# Copy B's runtime settings, against A's defaults (inter-op: TensorFlow's; steps per
# call: an epoch's). None of them is a DVC param of training; the intra-op count is
# not among them: it changes results (pipeline/training/runtime.py).
OTHER_RUNTIME = {"inter_op_threads": 1, "steps_per_execution": 1}


@dataclass
class Projects:
    a: Path
    b: Path
    env: dict[str, str]
    baselines: list  # A's training runs right after its `dvc repro`
    comparisons: list[str]  # and the names of its comparison runs


def outputs(repo: Path) -> dict[str, bytes]:
    """Every file the train and compare stages wrote, by path."""
    return {
        path.relative_to(repo).as_posix(): path.read_bytes()
        for folder in OUTPUT_DIRS
        for path in sorted((repo / folder).rglob("*"))
        if path.is_file() and path.name != ".gitignore"
    }


def locked(repo: Path) -> dict:
    """dvc.lock's entries of the train and compare stages."""
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {k: v for k, v in stages.items() if k.startswith(("train@", "compare"))}


def runs(repo: Path, comparisons: bool = False) -> list:
    """The baselines' training runs in the project's store (or, with ``comparisons``, the
    report runs); not the runs the figures stage trains for its vanishing-gradient panel."""
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    names = {*DATASETS, "comparisons"}
    experiments = [e.experiment_id for e in client.search_experiments() if e.name in names]
    found = client.search_runs(experiments, max_results=1000)
    return [r for r in found if (r.data.tags.get("optlab.comparison") == "true") == comparisons]


def merge_into(path: Path, changes: dict) -> None:
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(path), changes), path)


@pytest.fixture(scope="module")
def projects(tmp_path_factory, mirror_dir) -> Iterator[Projects]:
    server = LocalServer(mirror_dir)
    root = tmp_path_factory.mktemp("train")
    try:
        (a, env), (b, _) = (prepared_copy(root / n, mirror_dir, server.url) for n in "ab")
        merge_into(b / "conf" / "config.yaml", {"runtime": OTHER_RUNTIME})
        # Both at once, each in its own processes.
        all_succeed(
            dvc_process(a, "repro", env=env, log=root / "a.log"),
            dvc_process(b, "repro", "compare", env=env, log=root / "b.log"),
        )
        git(a, "add", "-A")
        git(a, "commit", "-qm", "baselines")
        names = [r.info.run_name for r in runs(a, comparisons=True)]
        yield Projects(a, b, env, runs(a), names)
    finally:
        server.close()


@contextmanager
def restored(repo: Path, env: dict[str, str]) -> Iterator[None]:
    """Put the copy back to its committed baselines after the block: the files from git,
    the models from DVC's cache."""
    try:
        yield
    finally:
        git(repo, "checkout", "--", ".")
        dvc(repo, "checkout", "--force", env=env)


def test_repro_trains_one_baseline_per_dataset(projects):
    repo, env, logged = projects.a, projects.env, projects.baselines
    assert sorted(r.data.params["dataset.name"] for r in logged) == sorted(DATASETS)
    assert all(r.info.status == "FINISHED" for r in logged)
    for name in DATASETS:
        metrics = json.loads((repo / f"reports/train/{name}/metrics.json").read_text())
        assert metrics["epochs_run"] == 1
        # The reported accuracy is the saved model's, counted by numpy on the test split.
        model = keras.models.load_model(repo / f"models/{name}.keras")
        x_test = np.load(repo / f"data/processed/{name}/x_test.npy").astype(np.float32)
        y_test = np.load(repo / f"data/processed/{name}/y_test.npy")
        predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
        assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == y_test), abs=1e-6)
    # the iris baseline keeps its own settings (baselines.iris) beside the shared ones
    iris = next(r for r in logged if r.data.params["dataset.name"] == "iris")
    assert iris.info.run_name == "iris-relu-adam-bs32"
    # Every stage ran, and none printed TensorFlow's start-up lines (pipeline.system.quiet).
    assert tensorflow_lines((repo.parent / "a.log").read_text()) == []

    # the last stage compares the three baselines, read back from MLflow
    # (found by the run keys in reports/train/<dataset>/run.json; no run id in the files)
    report = (repo / "reports/compare/report.md").read_text()
    for run in logged:
        assert run.data.tags["optlab.run_key"][:12] in report
        assert run.info.run_id not in report
    assert projects.comparisons == ["comparison-3-runs"]

    shown = json.loads(dvc(repo, "metrics", "show", "--json", env=env).stdout)
    files = next(iter(shown.values()))["data"]
    assert "test_accuracy" in files["reports/train/mnist/metrics.json"]["data"]
    assert "Data and pipelines are up to date" in dvc(repo, "repro", env=env).stdout


def test_other_runtime_settings_give_identical_bytes(projects):
    files = outputs(projects.a)
    assert {"models/iris.keras", "reports/train/mnist/run.json", "reports/compare/runs.csv"} <= (
        set(files)
    )
    assert files == outputs(projects.b)
    assert locked(projects.a) == locked(projects.b)


def test_a_forced_rerun_changes_nothing_git_or_dvc_tracks(projects):
    a, env = projects.a, projects.env
    lock, files = (a / "dvc.lock").read_bytes(), outputs(a)
    with restored(a, env):
        done = dvc(a, "repro", "-f", "train@iris", "compare", env=env)
        assert "Running stage 'train@iris'" in done.stdout
        assert "Running stage 'compare'" in done.stdout
        assert git(a, "status", "--porcelain") == ""
        assert (a / "dvc.lock").read_bytes() == lock
        assert outputs(a) == files


def test_exp_run_set_params_reach_training(projects):
    repo, env = projects.a, projects.env
    before = {r.info.run_id for r in runs(repo)}
    with restored(repo, env):
        dvc(repo, "exp", "run", "-S", "optimizer=nag", "-S", "activation=elu", env=env)

        new = [r for r in runs(repo) if r.info.run_id not in before]
        assert sorted(r.data.params["dataset.name"] for r in new) == sorted(DATASETS)
        for run in new:
            assert run.data.params["optimizer.name"] == "nag"
            assert run.data.params["optimizer.nesterov"] == "True"
            assert run.data.params["activation.name"] == "elu"
        shown = dvc(repo, "exp", "show", "--json", env=env).stdout
        assert '"nag"' in shown and '"elu"' in shown
        # What a user compares comes first: each baseline's test accuracy among the
        # first 15 columns, after DVC's own five; no data summary among them.
        header = dvc(repo, "exp", "show", "--csv", env=env).stdout.splitlines()[0].split(",")
        first = header[:15]
        for name in DATASETS:
            assert f"reports/train/{name}/metrics.json:test_accuracy" in first, first
        assert not [c for c in header if c.startswith(("class_counts.", "features."))]
        # The README's command: only what differs between the experiments, a few dozen.
        changed = dvc(repo, "exp", "show", "--csv", "--only-changed", env=env).stdout
        columns = changed.splitlines()[0].split(",")
        assert len(columns) < 60, columns
        assert {"optimizer.name", "activation.name"} <= set(columns)
        assert f"reports/train/{DATASETS[0]}/metrics.json:test_accuracy" in columns[:15]
        # the experiment's params.yaml kept the -S overrides (the config stage must not
        # undo them)
        params = OmegaConf.load(repo / "params.yaml")
        assert params.optimizer.name == "nag" and params.activation.name == "elu"
    assert "Data and pipelines are up to date" in dvc(repo, "status", env=env).stdout


def test_an_edit_in_conf_reaches_training_on_the_next_repro(projects):
    repo, env = projects.a, projects.env
    before = {r.info.run_id for r in runs(repo)}
    with restored(repo, env):
        # a project-wide value, as the file's comment shows
        merge_into(repo / "conf/config.yaml", {"training": {"batch_size": 16}})
        # Up to the comparison: when the figures stage reruns is the next test's.
        out = dvc(repo, "repro", "compare", env=env).stdout
        assert "Running stage 'config'" in out
        assert "Running stage 'preprocess@mnist'" not in out
        new = [r for r in runs(repo) if r.info.run_id not in before]
        assert len(new) == 3
        assert {r.data.params["training.batch_size"] for r in new} == {"16"}
        assert {r.data.params["optimizer.name"] for r in new} == {"adam"}
    assert "Data and pipelines are up to date" in dvc(repo, "status", env=env).stdout


def _ran(result) -> bool:
    return "Running stage 'figures'" in result.stdout


def _would_run(repo: Path, env: dict[str, str]) -> bool:
    """Whether ``dvc repro figures`` would run the stage (``--dry``: it says so, runs nothing)."""
    return _ran(dvc(repo, "repro", "--dry", "figures", env=env))


def test_the_figures_stage_draws_then_reruns_only_when_its_code_or_config_changes(projects):
    repo, env = projects.a, projects.env
    drawn = sorted((repo / "reports/figures").iterdir())
    assert "activations.png" in [p.name for p in drawn]
    for path in drawn:
        if path.suffix == ".png":
            assert_png_not_blank(path)

    with restored(repo, env):
        assert not _ran(dvc(repo, "repro", "figures", env=env))  # nothing changed
        other = repo / "pipeline/stages/compare.py"  # another stage's code
        other.write_text(other.read_text() + "\n# an edit\n")
        assert not _would_run(repo, env)

        merge_into(repo / "conf/figures/default.yaml", {"paths": {"steps": 7}})  # its config
        # The config stage writes the change into params.yaml: then figures' params differ.
        dvc(repo, "repro", "config", env=env)
        assert _would_run(repo, env)
        git(repo, "checkout", "--", "conf", "params.yaml", "dvc.lock")
        assert not _would_run(repo, env)

        gallery = repo / "pipeline/figures/gallery.py"  # its code
        gallery.write_text(gallery.read_text() + "\n# an edit\n")
        assert _would_run(repo, env)
