"""data_cold and dvc_noop: the DVC pipeline's own cost, in project copies.

- ``data_cold``: ``dvc repro preprocess`` in a fresh copy (empty DVC cache, no raw
  files): the config stage, three downloads from the mirror and three preprocess stages.
  The copy is made before the clock starts; the mirror's files may be in the OS's page
  cache (a ``file://`` mirror is local), as on any machine that reruns it.
- ``dvc_noop``: ``dvc repro`` in a copy whose whole pipeline is up to date (data,
  the three baselines, the comparison), beside ``dvc repro preprocess`` (the data stages
  alone). The baselines there train one epoch each: a no-op repro checks the stages'
  dependencies and outputs, it never trains, so its cost does not depend on epochs.
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks import project
from benchmarks.context import Context
from benchmarks.core import Target, interleave, summarize
from benchmarks.procs import BIN, CommandFailed, env_for, measure

UP_TO_DATE = "Data and pipelines are up to date."


def data_cold(ctx: Context) -> dict[str, Any]:
    """Download (from the mirror) and preprocess the three datasets, from nothing."""
    mirror = ctx.mirror
    seconds = []
    for repeat, _ in interleave(["cold"], ctx.repeats):
        copy = project.copy_project(ctx.scratch(f"cold-{repeat}"))
        seconds.append(project.dvc_repro(copy, mirror, "preprocess"))
        shutil.rmtree(copy)  # 200 MB each
    timing = summarize(seconds)
    return {
        "status": "ok",
        "unit": "s",
        "timings": {"dvc repro preprocess (cold)": timing},
        "targets": [
            Target(
                "data_cold",
                "cold download from the mirror + preprocessing, 3 datasets",
                timing["median"],
                "<=",
                6.0,
                "s",
            )
        ],
        "details": {"mirror": mirror, "stages": "config, download@×3, preprocess@×3"},
    }


def _noop(project_dir, env, *targets: str) -> float:
    """A ``dvc repro`` that must find nothing to do; its seconds."""
    m = measure([str(BIN / "dvc"), "repro", *targets], project_dir, env)
    if UP_TO_DATE not in m.stdout:
        raise CommandFailed(f"dvc repro {' '.join(targets)} was not a no-op:\n{m.stdout[-2000:]}")
    return m.seconds


def dvc_noop(ctx: Context) -> dict[str, Any]:
    """A no-op ``dvc repro`` of the whole pipeline (target ≤ 2 s), and of its data stages."""
    copy = ctx.work / "noop"
    shutil.copytree(ctx.data_project, copy, symlinks=True)
    project.fast_baselines(copy)
    env = env_for(copy, OPTLAB_DATA_MIRROR=ctx.mirror)
    built = measure([str(BIN / "dvc"), "repro"], copy, env).seconds  # trains the baselines
    project.commit(copy, "pipeline")
    _noop(copy, env)  # untimed: DVC's state of the copied files is rebuilt once
    commands = {"dvc repro": (), "dvc repro preprocess": ("preprocess",)}
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _, name in interleave(list(commands), ctx.repeats):
        seconds[name].append(_noop(copy, env, *commands[name]))
    timings = {name: summarize(values) for name, values in seconds.items()}
    return {
        "status": "ok",
        "unit": "s",
        "timings": timings,
        "targets": [
            Target(
                "dvc_noop",
                "no-op `dvc repro`, whole pipeline",
                timings["dvc repro"]["median"],
                "<=",
                2.0,
                "s",
            )
        ],
        "details": {
            "pipeline": "11 stages: config, download, preprocess and train ×3, compare",
            "building it (1-epoch baselines), seconds": built,
        },
    }
