"""A real ``dvc repro figures`` in a temporary git repository: the stage draws every
figure from params.yaml, then reruns only when its code or its config changes (DVC's
decision, read from ``dvc repro --dry``: the drawing itself is what the first run and
tests/figures check)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.figures.pngs import assert_png_not_blank
from tests.helpers import dvc, git, prepared_copy

pytestmark = pytest.mark.slow


def _set(repo, rel: str, changes: dict) -> None:
    path = repo / rel
    OmegaConf.save(OmegaConf.merge(OmegaConf.load(path) or {}, changes), path)


def _ran(result) -> bool:
    return "Running stage 'figures'" in result.stdout


def _would_run(repo, env) -> bool:
    """Whether ``dvc repro figures`` would run the stage (``--dry``: it says so, runs nothing)."""
    return _ran(dvc(repo, "repro", "--dry", "figures", env=env))


def test_the_figures_stage_reruns_only_when_its_code_or_config_changes(
    tmp_path, mirror_dir, server
):
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _ran(dvc(repo, "repro", "figures", env=env))
    drawn = sorted((repo / "reports/figures").iterdir())
    assert "activations.png" in [p.name for p in drawn]
    for path in drawn:
        if path.suffix == ".png":
            assert_png_not_blank(path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "figures")

    assert not _ran(dvc(repo, "repro", "figures", env=env))  # nothing changed
    other = repo / "pipeline/stages/compare.py"  # another stage's code
    other.write_text(other.read_text() + "\n# an edit\n")
    assert not _would_run(repo, env)

    _set(repo, "conf/figures/default.yaml", {"paths": {"steps": 7}})  # its config
    # The config stage writes the change into params.yaml: then figures' params differ.
    dvc(repo, "repro", "config", env=env)
    assert _would_run(repo, env)
    git(repo, "checkout", "--", "conf", "params.yaml", "dvc.lock")
    assert not _would_run(repo, env)

    gallery = repo / "pipeline/figures/gallery.py"  # its code
    gallery.write_text(gallery.read_text() + "\n# an edit\n")
    assert _would_run(repo, env)
