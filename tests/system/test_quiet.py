"""pipeline.system.quiet: TensorFlow's start-up lines held back, every other line of stderr kept.

The lines below are copied from a CPU-only machine's stderr (TensorFlow 2.21), before
the project held them back.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare.runs import logged_history
from pipeline.config import contract
from pipeline.system import quiet
from tests.helpers import REPO_ROOT, tensorflow_lines, tool_env

SEEN_WITHOUT_A_GPU = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796329148.013839   26261 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796329152.050629   26261 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "E0000 00:00:1796329159.540688   26261 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; "
    "signature=input_dataset:variant> This may be expected if your graph generating binary "
    "is newer  than this binary. Unknown attributes will be ignored.",
]
REAL = [
    "E0000 00:00:1796329152.050629   26261 bfc_allocator.cc:485] Allocator ran out of memory",
    "error: training.batch_size=0: must be ≥ 1",
    "Traceback (most recent call last):",
    "2026/12/03 20:22:41 INFO mlflow.store.db.utils: Creating initial MLflow database tables...",
    "a line that quotes cudart_stub.cc:31] Could not find cuda drivers on your machine",
]


@pytest.mark.parametrize("line", SEEN_WITHOUT_A_GPU)
def test_tensorflows_start_up_lines_are_noise(line):
    assert quiet.is_noise(line + "\n")
    assert tensorflow_lines(line) == [line]  # what the end-to-end checks look for


@pytest.mark.parametrize("line", REAL)
def test_every_other_line_is_kept(line):
    assert not quiet.is_noise(line + "\n")


def _write_both(kept: str) -> None:
    """Noise and a kept line, by file descriptor (as C++ writes) and by sys.stderr."""
    os.write(2, (SEEN_WITHOUT_A_GPU[0] + "\n").encode())
    print(kept, file=sys.stderr)
    os.write(2, (SEEN_WITHOUT_A_GPU[2] + "\n" + REAL[0] + "\n").encode())


def test_a_window_drops_the_noise_and_keeps_the_rest_in_order(capfd, monkeypatch):
    monkeypatch.delenv(quiet.DEBUG_ENV, raising=False)
    with quiet.held_back():
        _write_both("kept first")
    assert capfd.readouterr().err == f"kept first\n{REAL[0]}\n"


def test_a_failing_block_still_shows_its_lines_then_fails(capfd, monkeypatch):
    monkeypatch.delenv(quiet.DEBUG_ENV, raising=False)
    with pytest.raises(KeyError, match="inside"), quiet.held_back():
        _write_both("said before failing")
        raise KeyError("inside")
    assert capfd.readouterr().err == f"said before failing\n{REAL[0]}\n"
    os.write(2, b"after\n")  # stderr is the terminal's again
    assert capfd.readouterr().err == "after\n"


def test_debug_holds_nothing_back(capfd, monkeypatch):
    monkeypatch.setenv(quiet.DEBUG_ENV, "1")
    with quiet.held_back():
        _write_both("kept")
    assert capfd.readouterr().err.splitlines() == [
        SEEN_WITHOUT_A_GPU[0], "kept", SEEN_WITHOUT_A_GPU[2], REAL[0]
    ]  # fmt: skip


def _import_tensorflow(debug: bool) -> subprocess.CompletedProcess:
    env = tool_env()
    env.pop(quiet.DEBUG_ENV, None)
    if debug:
        env[quiet.DEBUG_ENV] = "1"
    code = "import pipeline, tensorflow as tf; print(len(tf.config.list_physical_devices()))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_importing_tensorflow_says_nothing_unless_debugging():
    quietly = _import_tensorflow(debug=False)
    assert quietly.returncode == 0, quietly.stderr
    assert quietly.stderr == ""
    # The same import, debugging: what the project holds back is there (at least the
    # absl warning TensorFlow's C++ prints before its logging starts).
    debugging = _import_tensorflow(debug=True)
    assert debugging.returncode == 0, debugging.stderr
    assert SEEN_WITHOUT_A_GPU[0] in debugging.stderr.splitlines()
    assert tensorflow_lines(debugging.stderr)


def _history_read_back(folder) -> list[float]:
    """A run with a history artifact in a fresh store in ``folder``, read back as a lesson
    reads it."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("e", f"file://{folder / 'artifacts'}"))
    history = folder / contract.HISTORY_FILE
    history.write_text("epoch,loss\n1,0.5\n")
    client.log_artifact(run.info.run_id, str(history))
    return logged_history(uri, run.info.run_id)["loss"].tolist()


def test_reading_a_runs_history_back_draws_no_download_bar_unless_debugging(
    tmp_path, capfd, monkeypatch
):
    """A lesson reads back hundreds of runs' histories: MLflow drew a bar for each."""
    monkeypatch.delenv(quiet.DEBUG_ENV, raising=False)
    monkeypatch.delenv(quiet.PROGRESS_BAR_ENV, raising=False)
    quiet.install()
    (tmp_path / "quiet").mkdir()
    assert _history_read_back(tmp_path / "quiet") == [0.5]
    assert "Downloading artifacts" not in capfd.readouterr().err
    # Debugging, install() leaves MLflow's bar alone.
    monkeypatch.delenv(quiet.PROGRESS_BAR_ENV)
    monkeypatch.setenv(quiet.DEBUG_ENV, "1")
    quiet.install()
    (tmp_path / "debug").mkdir()
    assert _history_read_back(tmp_path / "debug") == [0.5]
    assert "Downloading artifacts" in capfd.readouterr().err
