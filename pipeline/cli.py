"""The command line: ``optlab train|compare|ui ...`` and ``python -m pipeline.train``.

- ``optlab train [OVERRIDE ...]`` (``python -m pipeline.train``): compose ``conf/``
  with Hydra and train one configuration, or with ``-m`` a sweep (an MLflow parent
  run with a child per job, see :mod:`pipeline.sweep`);
- ``optlab compare ...`` (``python -m pipeline.compare``): the comparison report;
- ``optlab ui`` (``make ui``): the MLflow UI on the project's store.

``dvc repro`` runs the per-stage entry points in :mod:`pipeline.stages` instead.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from pipeline import contract, sweep
from pipeline.config import (
    CONFIG_NAME,
    HYDRA_VERSION_BASE,
    default_config_dir,
    register_configs,
    validate,
)
from pipeline.redact import redact_logs
from pipeline.stages.entry import USER_ERRORS, report, run

COMMANDS = ("train", "compare", "ui")


def hydra_task(cfg: DictConfig) -> float | None:
    """One Hydra job: a sweep's job (its seeds as child runs) or a single training.

    Returns the task's primary test metric (mean over a job's seeds): the value a
    Hydra sweeper optimises.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    redact_logs()  # Hydra has configured the job's logging by now
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN and os.environ.get(sweep.PARENT_ENV):
        results = sweep.run_job(cfg, hydra_cfg)  # it records a failure and goes on
        values = [contract.primary_value(r) for r in results]
        return statistics.fmean(values) if values else None
    try:
        cfg = validate(cfg)  # every value checked before TensorFlow loads
        from pipeline.training import train  # lazy, for cost: training loads TensorFlow

        result = train(cfg)
    except USER_ERRORS as error:
        # One line, as a stage shows it; past Hydra, which would print a traceback.
        raise SystemExit(report(error)) from None
    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()))
    print(f"run {result.run_id}: {shown}")
    return contract.primary_value(result.metrics)


def train_main() -> None:
    """``python -m pipeline.train [OVERRIDE ...]``: compose conf/ with Hydra and train."""
    import hydra

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter out
    register_configs()
    entry = hydra.main(
        config_path=str(default_config_dir()),
        config_name=CONFIG_NAME,
        version_base=HYDRA_VERSION_BASE,
    )
    entry(hydra_task)()


def main(argv: Sequence[str] | None = None) -> int:
    """``optlab COMMAND [ARGS ...]``: one of :data:`COMMANDS`, its arguments passed on."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        given = repr(args[0]) if args else "none"
        print(f"optlab: unknown command {given}; valid: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    if command == "compare":
        from pipeline.stages import compare as compare_stage  # lazy, for cost: pandas, MLflow

        return run(compare_stage.main, rest)
    if command == "ui":
        from pipeline import ui

        return ui.main(rest)
    sys.argv = [f"{sys.argv[0]} train", *rest]  # Hydra reads its overrides from argv
    train_main()
    return 0
