"""The course's figures, all of them: :func:`check` every setting, then
:func:`make_figures` draws every figure into a folder (replaced whole, atomically)
and logs them as one run of the MLflow experiment ``figures.experiment_name``
(``lecture``). Its entry points are in :mod:`pipeline.stages.figures`: the DVC stage
``figures`` (from ``params.yaml``) and ``python -m pipeline.figures`` (a Hydra app).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from omegaconf import DictConfig

from pipeline.config.compose import validate
from pipeline.config.schemas import OPTION_SCHEMAS, pick
from pipeline.figures import gallery, softmax, trajectories, update_rules
from pipeline.kinds import optimizers
from pipeline.system.io import atomic_directory
from pipeline.tracking import store
from pipeline.tracking.store_check import check_tracking

Draw = Callable[[DictConfig, Path, int], list[Path]]
RUN_NAME = "figures"


def drawers(data_root: str | Path | None = None) -> dict[str, Draw]:
    """Each ``figures`` section's drawing function, in the order they are drawn."""
    # lazy, for cost: it imports TensorFlow and matplotlib, which --help and bad values skip
    from pipeline.figures import vanishing

    return {
        "gallery": gallery.draw,
        "paths": trajectories.draw,
        "vanishing": partial(vanishing.draw, data_root=data_root),
        "softmax": softmax.draw,
        "update_rules": update_rules.draw,
    }


def check(figures: DictConfig) -> None:
    """Every name and setting of ``figures`` checked, before anything heavy is imported:
    a ValueError of one line naming the bad value and the valid ones."""
    for name in figures.paths.optimizers:
        pick(optimizers.NAMES, name, "optimizer")
    for name in figures.vanishing.activations:
        pick(OPTION_SCHEMAS["activation"], name, "activation")
    gallery.check(figures.gallery)
    softmax.check(figures.softmax)
    trajectories.check(figures.paths)


def make_figures(
    cfg: DictConfig, out: str | Path, data_root: str | Path | None = None
) -> list[Path]:
    """Draw every figure of ``cfg.figures`` into ``out`` (replaced whole) and log them
    to MLflow; the files, in ``out``."""
    cfg, out = validate(cfg), Path(out)
    check(cfg.figures)
    # A dead or unknown store fails here, in seconds, before anything is drawn.
    uri = check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
    drawn = []
    with atomic_directory(out) as tmp:
        for section, draw in drawers(data_root).items():
            drawn += [out / p.name for p in draw(cfg.figures[section], tmp, cfg.training.seed)]
    log_figures(uri, cfg.figures.experiment_name, out, drawn)
    return drawn


def log_figures(uri: str, experiment: str, folder: Path, files: list[Path]) -> str:
    """One run in ``experiment``: the files as artifacts, their list as its description."""
    from mlflow.tracking import MlflowClient  # lazy, for cost

    client = MlflowClient(uri)
    experiment_id = store.ensure_experiment(uri, experiment)
    listing = "\n".join(f"- `{f.name}`" for f in files)
    note = "### The course's figures\n\nDrawn by `python -m pipeline.figures` from the project's "
    note += f"own registries (the Artifacts tab previews them):\n\n{listing}\n"
    run = client.create_run(experiment_id, run_name=RUN_NAME, tags={store.NOTE_TAG: note})
    client.log_artifacts(run.info.run_id, str(folder))
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
