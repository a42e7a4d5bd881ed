import os
import stat

import pytest

from pipeline.system.io import atomic_directory, atomic_write_json, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_files_and_folders_get_the_usual_modes(tmp_path, umask_022):
    path = atomic_write_text(tmp_path / "a.txt", "hello")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with atomic_directory(tmp_path / "folder") as tmp:
        (tmp / "x").write_text("1")
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


def test_json_is_stable(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1.5]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path):
    with atomic_directory(tmp_path / "out") as tmp:
        (tmp / "old").write_text("kept")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "out") as tmp:
        (tmp / "new").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
