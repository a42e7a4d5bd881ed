"""A real ``dvc repro`` of the data stages, in a temporary git repository, over local HTTP.

``dvc repro preprocess`` runs every ``preprocess@<dataset>`` stage and what they depend on
(config, download); training has its own tests.
"""

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.data.preprocess import load_splits
from tests.helpers import dvc, git, make_project_copy, tool_env

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, mirror_dir, server):
    repo = make_project_copy(tmp_path / "repo", mirror_dir)
    return repo, tool_env(OPTLAB_DATA_MIRROR=server.url)


def test_repro_builds_every_dataset_then_has_nothing_to_do(project, server):
    repo, env = project
    dvc(repo, "repro", "preprocess", env=env)

    rows = {
        n: json.loads((repo / f"reports/data/{n}.json").read_text())["rows"]
        for n in ("iris", "mnist", "fashion_mnist")
    }
    assert rows["iris"] == {"train": 36, "validation": 12, "test": 12, "total": 60}
    assert rows["mnist"] == {"train": 50, "validation": 10, "test": 20, "total": 80}
    assert rows["fashion_mnist"] == rows["mnist"]
    assert load_splits(repo / "data/processed/mnist").x["train"].shape == (50, 28, 28)
    fetched = sum(server.hits.values())
    assert fetched == 9  # every file exactly once, all from the mirror

    again = dvc(repo, "repro", "preprocess", env=env)
    assert "Data and pipelines are up to date" in again.stdout
    assert sum(server.hits.values()) == fetched

    # A plain output: as a metric it would add its class counts and feature ranges to
    # every `dvc exp show` (138 columns before the test metrics).
    shown = json.loads(dvc(repo, "metrics", "show", "--json", env=env).stdout)
    assert not any("reports/data" in path for v in shown.values() for path in v.get("data", {}))


def test_an_edit_in_conf_reaches_the_next_repro(project, server):
    repo, env = project
    dvc(repo, "repro", "preprocess", env=env)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first run")
    fetched = sum(server.hits.values())

    data_conf = repo / "conf/data/default.yaml"
    conf = OmegaConf.load(data_conf)
    conf.datasets.mnist.split.validation = 20
    OmegaConf.save(conf, data_conf)

    out = dvc(repo, "repro", "preprocess", env=env).stdout
    assert "Running stage 'config'" in out
    assert "Running stage 'preprocess@mnist'" in out
    for untouched in ("download@mnist", "preprocess@iris", "preprocess@fashion_mnist"):
        assert f"Running stage '{untouched}'" not in out
    assert OmegaConf.load(repo / "params.yaml").data.datasets.mnist.split.validation == 20
    assert len(np.load(repo / "data/processed/mnist/y_validation.npy")) == 20
    assert sum(server.hits.values()) == fetched  # nothing downloaded again


def test_a_wrong_checksum_fails_the_stage_and_leaves_nothing(project):
    repo, env = project
    data_conf = repo / "conf/data/default.yaml"
    conf = OmegaConf.load(data_conf)
    good = conf.datasets.iris.files["iris.data"].sha256
    conf.datasets.iris.files["iris.data"].sha256 = "0" * 64
    OmegaConf.save(conf, data_conf)

    done = dvc(repo, "repro", "download@iris", env=env, check=False)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "expected sha256 " + "0" * 64 in output and f"got {good}" in output
    assert "iris.data" in output and "/iris/iris.data" in output
    raw = repo / "data/raw/iris"
    assert not raw.exists() or list(raw.iterdir()) == []
