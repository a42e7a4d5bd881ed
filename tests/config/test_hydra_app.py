"""run_app: a function run as a Hydra app on conf/, overrides from the command line."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.helpers import REPO_ROOT, tool_env

APP = (
    "import sys, time\n"
    "from pipeline.config.hydra_app import run_app\n"
    "def task(cfg):\n"
    "    print('seed', cfg.training.seed, 'figures', cfg.figures.paths.steps, flush=True)\n"
    "    if cfg.training.epochs == 99: time.sleep(60)\n"
    "run_app(task)\n"
)


def _app(tmp_path, *overrides: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", APP, *overrides, f"hydra.run.dir={tmp_path}"],
        cwd=REPO_ROOT, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen,
    )  # fmt: skip


def test_the_task_gets_conf_composed_with_the_command_lines_overrides(tmp_path):
    done = _app(tmp_path, "training.seed=7", "figures.paths.steps=3")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert out.splitlines()[-1] == "seed 7 figures 3"


def test_sigterm_ends_the_app_with_143(tmp_path):
    app = _app(tmp_path, "training.epochs=99")
    try:
        assert app.stdout.readline().startswith("seed 42")  # the task is running
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        app.kill()
        app.communicate(timeout=30)
