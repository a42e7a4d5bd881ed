"""A DVC remote shares the raw data, the processed data and the models: a teammate's
clone gets them with `dvc pull`, byte for byte, offline, and has nothing to rerun.
A real `dvc push` to a local-directory remote, a real `git clone` and `dvc pull`."""

from __future__ import annotations

import pytest

from tests.helpers import dvc, git, prepared_copy, sha256, tool_env

pytestmark = pytest.mark.slow
SHARED = ("data/raw/iris", "data/processed/iris", "models/iris.keras")


def _digests(repo) -> dict[str, str]:
    files = [p for rel in SHARED for p in sorted((repo / rel).rglob("*")) or [repo / rel]]
    return {str(p.relative_to(repo)): sha256(p) for p in files if p.is_file()}


def test_a_teammate_pulls_data_and_models_without_rerunning_anything(tmp_path, mirror_dir, server):
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url, "train@iris")
    remote = tmp_path / "remote"
    dvc(repo, "remote", "add", "-d", "team", str(remote), env=env)
    pushed = dvc(repo, "push", env=env)
    assert "pushed" in pushed.stdout, pushed.stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the team's remote")
    produced = _digests(repo)
    assert len(produced) >= 5  # the raw file, the splits, the model

    clone = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    offline = tool_env(OPTLAB_DATA_MIRROR="http://127.0.0.1:9")  # nothing to download from
    fetched = sum(server.hits.values())
    dvc(clone, "pull", "--with-deps", "train@iris", env=offline)
    assert _digests(clone) == produced
    assert sum(server.hits.values()) == fetched
    status = dvc(clone, "status", "train@iris", env=offline)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    again = dvc(clone, "repro", "train@iris", env=offline)
    assert "Running stage" not in again.stdout, again.stdout
