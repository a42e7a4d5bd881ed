"""The training stages under real DVC: ``dvc repro``, ``dvc exp run -S`` and a conf/ edit.

One temporary project copy (tiny data over local HTTP, one-epoch training) is
shared by the tests of this module, which run in order.
"""

import json

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tests.helpers import LocalServer, dvc, git, make_fast, make_project_copy, tool_env

pytestmark = pytest.mark.slow
DATASETS = ("iris", "mnist", "fashion_mnist")


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_dir):
    server = LocalServer(mirror_dir)
    repo = make_project_copy(tmp_path_factory.mktemp("train") / "repo", mirror_dir)
    make_fast(repo)
    git(repo, "commit", "-qam", "fast training")
    yield repo, tool_env(OPTLAB_DATA_MIRROR=server.url)
    server.close()


def runs(repo, comparisons=False):
    """The baselines' training runs in the project's store (or, with ``comparisons``, the
    report runs); not the runs the figures stage trains for its vanishing-gradient panel."""
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    names = {*DATASETS, "comparisons"}
    experiments = [e.experiment_id for e in client.search_experiments() if e.name in names]
    found = client.search_runs(experiments, max_results=1000)
    return [r for r in found if (r.data.tags.get("optlab.comparison") == "true") == comparisons]


def test_repro_trains_one_baseline_per_dataset(project):
    repo, env = project
    dvc(repo, "repro", env=env)

    logged = runs(repo)
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

    # the last stage compares the three baselines, read back from MLflow
    # (found by the run keys in reports/train/<dataset>/run.json; no run id in the files)
    report = (repo / "reports/compare/report.md").read_text()
    for run in logged:
        assert run.data.tags["optlab.run_key"][:12] in report
        assert run.info.run_id not in report
    assert [r.info.run_name for r in runs(repo, comparisons=True)] == ["comparison-3-runs"]

    shown = json.loads(dvc(repo, "metrics", "show", "--json", env=env).stdout)
    files = next(iter(shown.values()))["data"]
    assert "test_accuracy" in files["reports/train/mnist/metrics.json"]["data"]
    assert "Data and pipelines are up to date" in dvc(repo, "repro", env=env).stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baselines")


def test_exp_run_set_params_reach_training(project):
    repo, env = project
    before = {r.info.run_id for r in runs(repo)}
    dvc(repo, "exp", "run", "-S", "optimizer=nag", "-S", "activation=elu", env=env)

    new = [r for r in runs(repo) if r.info.run_id not in before]
    assert sorted(r.data.params["dataset.name"] for r in new) == sorted(DATASETS)
    for run in new:
        assert run.data.params["optimizer.name"] == "nag"
        assert run.data.params["optimizer.nesterov"] == "True"
        assert run.data.params["activation.name"] == "elu"
    shown = dvc(repo, "exp", "show", "--json", env=env).stdout
    assert '"nag"' in shown and '"elu"' in shown
    # the experiment's params.yaml kept the -S overrides (the config stage must not undo them)
    params = OmegaConf.load(repo / "params.yaml")
    assert params.optimizer.name == "nag" and params.activation.name == "elu"


def test_an_edit_in_conf_reaches_training_on_the_next_repro(project):
    repo, env = project
    # Back to the committed baselines (adam, relu): their files from git and DVC's cache.
    git(repo, "checkout", "--", ".")
    dvc(repo, "checkout", "--force", env=env)
    assert "Data and pipelines are up to date" in dvc(repo, "status", env=env).stdout
    before = {r.info.run_id for r in runs(repo)}
    path = repo / "conf/config.yaml"  # a project-wide value, as the file's comment shows
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(path), {"training": {"batch_size": 16}}), path)

    out = dvc(repo, "repro", env=env).stdout
    assert "Running stage 'config'" in out
    assert "Running stage 'preprocess@mnist'" not in out
    new = [r for r in runs(repo) if r.info.run_id not in before]
    assert len(new) == 3
    assert {r.data.params["training.batch_size"] for r in new} == {"16"}
    assert {r.data.params["optimizer.name"] for r in new} == {"adam"}
