"""The project root and the layout dvc.yaml declares (pipeline.config.paths)."""

from pathlib import Path

import pytest
import yaml

from pipeline.config.paths import layout, project_root, read_yaml
from tests.helpers import REPO_ROOT

PATHS = """\
vars:
  - datasets: [iris]
  - paths:
      conf: settings
      raw: store/raw
      processed: store/ready
      data_reports: out/data
      train_reports: out/train
      models: out/models
      compare_reports: out/compare
      lessons: out/lessons
      figures: out/figures
      backups: keep/backups
      offline: keep/offline
      state: keep/state
stages: {}
"""


def test_the_repositorys_layout():
    where = layout(REPO_ROOT)
    assert where.processed == REPO_ROOT / "data" / "processed"
    assert where.models == REPO_ROOT / "models"
    assert where.conf == REPO_ROOT / "conf"
    assert where.lessons == REPO_ROOT / "reports" / "lessons"
    # Interrupted trainings' states: outside every DVC output, and ignored by git.
    assert where.backups == REPO_ROOT / ".optlab" / "backups"
    assert where.offline == REPO_ROOT / ".optlab" / "offline"  # runs kept to upload later
    assert where.state == REPO_ROOT / ".optlab" / "state"  # e.g. data folders' hashes
    assert "/.optlab/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_layout_is_read_from_the_nearest_dvc_yaml(tmp_path: Path):
    (tmp_path / "dvc.yaml").write_text(PATHS)
    below = tmp_path / "notebooks" / "deep"
    below.mkdir(parents=True)
    where = layout(below)
    assert where.raw == tmp_path / "store" / "raw"
    assert where.processed == tmp_path / "store" / "ready"
    assert where.compare_reports == tmp_path / "out" / "compare"
    assert project_root(below) == tmp_path


def test_a_layout_missing_a_folder_names_it(tmp_path: Path):
    (tmp_path / "dvc.yaml").write_text(PATHS.replace("      models: out/models\n", ""))
    with pytest.raises(ValueError, match=r"vars\.paths lacks models \(needs: conf, raw, "):
        layout(tmp_path)


def test_no_project_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no dvc.yaml in .* or above"):
        layout(tmp_path)


def _paths_of(stage: dict) -> list[str]:
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage.get("outs", [])]
    return [*stage.get("deps", []), *outs]


def test_every_data_path_in_dvc_yaml_comes_from_the_layout():
    """Outside pipeline/ and hydra_plugins/ (code) and DVC's own params.yaml, each dep
    and out interpolates ${paths.*}: a literal folder would be a second copy of the layout."""
    pipeline = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    literal = []
    for name, stage in pipeline["stages"].items():
        for path in _paths_of(stage.get("do", stage)):
            fixed = path == "params.yaml" or path.startswith(("pipeline/", "hydra_plugins"))
            if not fixed and not path.startswith("${paths."):
                literal.append(f"{name}: {path}")
    assert literal == []
    for entry in [*pipeline["metrics"], *pipeline["plots"]]:
        files = entry if isinstance(entry, str) else next(iter(entry.values()))["y"]
        assert all(f.startswith("${paths.") for f in ([files] if isinstance(files, str) else files))


def test_read_yaml_is_pyyamls_safe_load_faster(tmp_path: Path):
    for name in ("dvc.yaml", "params.yaml", "dvc.lock"):
        if (REPO_ROOT / name).is_file():
            text = (REPO_ROOT / name).read_text()
            assert read_yaml(REPO_ROOT / name) == yaml.safe_load(text), name
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(yaml.constructor.ConstructorError):  # a safe loader: no code runs
        read_yaml(unsafe)
