"""Where a run comes from (pipeline.tracking.provenance): its data digest, checked against
dvc.lock, and its run key."""

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.tracking.provenance import SETTLED_NS, data_tags, folder_hashes, run_key
from tests.helpers import REPO_ROOT, dvc, prepared_copy


def test_run_key_is_config_and_data_but_not_the_speed_settings():
    params = {
        "optimizer.name": "adam",
        "training.seed": "42",
        "runtime.intra_op_threads": "0",
        "runtime.steps_per_execution": "1",
        "runtime.grad_norm_samples": "512",
    }
    key = run_key(params, "d" * 32)
    assert len(key) == 64 and key == run_key(dict(reversed(params.items())), "d" * 32)
    faster = {**params, "runtime.steps_per_execution": "8"}
    assert run_key(faster, "d" * 32) == key
    # What changes results changes the key: a choice, the logged gradient rows, the
    # thread count (it splits TensorFlow's sums), the data.
    assert run_key({**params, "training.seed": "43"}, "d" * 32) != key
    assert run_key({**params, "runtime.grad_norm_samples": "32"}, "d" * 32) != key
    assert run_key({**params, "runtime.intra_op_threads": "2"}, "d" * 32) != key
    assert run_key(params, "e" * 32) != key


@pytest.mark.slow
def test_data_that_no_longer_matches_dvc_lock_is_refused_naming_the_fix(
    mirror_dir, server, tmp_path
):
    """A real `dvc repro` records the folder's md5; a changed file is caught, and the
    command the message gives makes the folder match again."""
    repo, env = prepared_copy(tmp_path / "repo", mirror_dir, server.url, "preprocess@iris")
    folder = repo / "data" / "processed" / "iris"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (recorded,) = [
        out["md5"]
        for out in lock["stages"]["preprocess@iris"]["outs"]
        if out["path"] == "data/processed/iris"
    ]
    tags = data_tags(folder, repo)
    assert tags["data.dvc_md5"] == recorded

    x = np.load(folder / "x_test.npy")
    x[0, 0] += 1  # a damaged value: shapes and dtypes still agree with meta.json
    np.save(folder / "x_test.npy", x)
    with pytest.raises(ValueError) as info:
        data_tags(folder, repo)
    assert re.fullmatch(
        re.escape(f"{folder} does not match dvc.lock (its files hash to md5 ")
        + r"[0-9a-f]{32}\.dir"
        + re.escape(
            f", dvc.lock records {recorded}): it changed after stage preprocess@iris made it; "
            "rebuild it with `dvc repro preprocess@iris`"
        ),
        str(info.value),
    )
    dvc(repo, "repro", "preprocess@iris", env=env)
    assert data_tags(folder, repo) == tags


def test_data_outside_dvc_lock_gets_only_its_digest(data_root):
    tags = data_tags(data_root / "iris", data_root)  # no dvc.lock there
    assert set(tags) == {"data.path", "data.digest"}
    assert re.fullmatch(r"[0-9a-f]{32}", tags["data.digest"])


def _bytes_read() -> int:
    """What this process has read so far (the kernel's count, ``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").is_file(), reason="needs Linux's /proc/self/io")
def test_an_unchanged_folder_is_not_read_again_but_a_change_is_caught_whatever_its_mtime(
    tmp_path,
):
    """The hashes are remembered with each file's stat: a second run reads none of the
    data, and a changed byte is still refused even with the file's mtime put back."""
    root = tmp_path / "repo"
    folder = root / "data" / "processed" / "iris"
    folder.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dvc.yaml", root / "dvc.yaml")  # the layout: where the state goes
    size = 8 << 20
    (folder / "x_train.npy").write_bytes(np.random.default_rng(0).bytes(size))
    (folder / "meta.json").write_text('{"classes": ["a", "b"]}')
    _, md5 = folder_hashes(folder, None)  # hashed without a state: no project here
    lock = {"stages": {"preprocess@iris": {"outs": [{"path": "data/processed/iris", "md5": md5}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    # A file changed within SETTLED_NS of its hashing is not remembered: let them settle.
    newest = max(p.stat().st_ctime_ns for p in folder.iterdir())
    time.sleep(max(0.0, (newest + SETTLED_NS - time.time_ns()) / 1e9) + 0.1)

    before = _bytes_read()
    tags = data_tags(folder, root)
    assert _bytes_read() - before >= size  # the first run hashes the data
    assert tags["data.dvc_md5"] == md5
    assert len(list((root / ".optlab" / "state").rglob("*.json"))) == 1

    before = _bytes_read()
    assert data_tags(folder, root) == tags
    assert _bytes_read() - before < size // 8  # the state and dvc.lock, not the data

    path = folder / "x_train.npy"
    stat = path.stat()
    with path.open("r+b") as handle:  # one byte damaged in place: same size, same inode
        handle.seek(size // 2)
        byte = handle.read(1)
        handle.seek(size // 2)
        handle.write(bytes([byte[0] ^ 1]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its mtime put back
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    with pytest.raises(
        ValueError, match=r"does not match dvc\.lock .* `dvc repro preprocess@iris`"
    ):
        data_tags(folder, root)
