"""The command line: ``optlab train|compare|ui ...`` and ``python -m pipeline.train``.

- ``optlab train [OVERRIDE ...]`` (``python -m pipeline.train``): compose ``conf/``
  with Hydra and train one configuration, or with ``-m`` a sweep (an MLflow parent
  run with a child per job, see :mod:`pipeline.sweep.callback`);
- ``optlab compare ...`` (``python -m pipeline.compare``): the comparison report;
- ``optlab ui`` (``make ui``): the MLflow UI on the project's store;
- ``optlab server`` (``make server``, ``python -m pipeline.server``): a tracking server a
  team shares, on PostgreSQL, artifacts served;
- ``optlab cleanup`` (``python -m pipeline.cleanup``): mark the runs a dead process left
  RUNNING as FAILED (:mod:`pipeline.tracking.recovery`).
- ``optlab reproduce RUN_ID`` (``python -m pipeline.reproduce``): train a logged run
  again and check that its metrics are bit-identical.
- ``optlab upload FOLDER`` (``python -m pipeline.upload``): log a run kept locally when its
  tracking server went away mid-training into that run (:mod:`pipeline.tracking.offline`).
- ``optlab doctor`` (``make check-machine``, ``python -m pipeline.doctor``): train the
  reference runs and check that this machine computes their committed bits.

``dvc repro`` runs the per-stage entry points in :mod:`pipeline.stages` instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from pipeline.config import contract
from pipeline.config.compose import validate
from pipeline.config.hydra_app import run_app
from pipeline.config.paths import layout
from pipeline.sweep import jobs, search
from pipeline.system.entry import report, run, user_errors
from pipeline.system.redact import redact_logs
from pipeline.tracking import recovery, store_check
from pipeline.tracking.store import tracking_uri
from pipeline.training import planning

# Each command: its arguments and what it does (``optlab --help``).
COMMAND_HELP = {
    "train": ("[OVERRIDE ...]", "train one configuration (Hydra overrides), or a sweep with -m"),
    "compare": ("[OPTION ...]", "rank tracked runs' configurations and write the report"),
    "ui": ("[OPTION ...]", "serve the MLflow UI on the project's store and print links"),
    "server": ("[OPTION ...]", "serve a team's tracking server on PostgreSQL (make server)"),
    "cleanup": ("[OPTION ...]", "mark the runs a dead process left RUNNING as FAILED"),
    "reproduce": ("RUN_ID", "train a logged run again and compare its metrics bit for bit"),
    "upload": ("FOLDER", "log a run kept locally, when its server went away, into its run"),
    "doctor": ("[OPTION ...]", "train the reference runs: does this machine compute their bits?"),
}
COMMANDS = tuple(COMMAND_HELP)


def usage() -> str:
    """``optlab --help``: the commands, their arguments and what they do."""
    lines = [f"  {name} {args}".ljust(28) + what for name, (args, what) in COMMAND_HELP.items()]
    return "\n".join(
        [
            "usage: optlab COMMAND [ARGS ...]",
            "",
            "commands:",
            *lines,
            "",
            "`optlab COMMAND --help` describes a command's arguments.",
        ]
    )


def hydra_task(cfg: DictConfig) -> float | None:
    """One Hydra job: a sweep's job (its seeds as child runs) or a single training.

    Returns the task's validation objective (:func:`pipeline.config.contract.objective_value`,
    the mean over a job's seeds): the value a Hydra sweeper optimises.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    redact_logs()  # Hydra has configured the job's logging by now
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN and os.environ.get(jobs.PARENT_ENV):
        results = jobs.run_job(cfg, hydra_cfg)  # it records a failure and goes on
        values = [v for v in results if v is not None]
        return statistics.fmean(values) if values else None
    try:
        cfg = validate(cfg)  # every value checked before TensorFlow loads
        store_check.check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
        planning.check(cfg, layout().processed / cfg.dataset.name)  # and every combination
        from pipeline.training.train import train  # lazy, for cost: training loads TensorFlow

        result = train(cfg)
    except user_errors() as error:
        # One line, as a stage shows it; past Hydra, which would print a traceback.
        raise SystemExit(report(error)) from None
    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items()))
    print(f"run {result.run_id}: {shown}")
    return contract.objective_value(result.history)


def train_main() -> None:
    """``python -m pipeline.train [OVERRIDE ...]``: compose conf/ with Hydra and train
    (SIGINT/SIGTERM: the run ends KILLED, exit 130/143)."""
    search.register_resolvers()  # the Optuna preset's ${optlab.direction:...}
    run_app(hydra_task)


def cleanup_main(argv: Sequence[str] | None = None) -> int:
    """``optlab cleanup``: find the runs a dead process left RUNNING and mark them FAILED."""
    parser = argparse.ArgumentParser(
        prog="optlab cleanup",
        description="Mark the MLflow runs a dead process (SIGKILL, the OOM killer, a crashed "
        "worker) left RUNNING as FAILED, saying why; rerunning their command then resumes "
        "them. A run of another host cannot be judged from here and is skipped.",
    )
    parser.add_argument("--tracking-uri", help="MLflow store (default: the project's)")
    parser.add_argument(
        "--experiment", action="append", default=[], help="only this experiment (repeatable)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="also mark runs that cannot be judged from here (another host, no pid recorded)",
    )
    parser.add_argument("--dry-run", action="store_true", help="only say what would be marked")
    args = parser.parse_args(argv)
    verdicts = recovery.cleanup(
        tracking_uri(args.tracking_uri), args.experiment, force=args.force, dry_run=args.dry_run
    )
    for v in verdicts:
        action = {True: "FAILED", False: "left RUNNING", None: "skipped"}[v.dead]
        if v.dead and args.dry_run:
            action = "would be FAILED"
        print(f"{v.run_id}: {action} ({v.reason})")
    dead = sum(bool(v.dead) for v in verdicts)
    print(f"cleanup: {len(verdicts)} RUNNING run(s), {dead} dead")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``optlab COMMAND [ARGS ...]``: one of :data:`COMMANDS`, its arguments passed on."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not args or args[0] not in COMMANDS:
        given = repr(args[0]) if args else "none"
        print(f"optlab: unknown command {given}; valid: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    command, rest = args[0], args[1:]
    if command == "compare":
        from pipeline.stages import compare as compare_stage  # lazy, for cost: pandas, MLflow

        return run(compare_stage.main, rest)
    if command == "cleanup":
        return run(cleanup_main, rest)
    if command == "reproduce":
        from pipeline import reproduce  # lazy, for cost

        return run(reproduce.main, rest)
    if command == "upload":
        from pipeline import upload  # lazy, for cost

        return run(upload.main, rest)
    if command == "doctor":
        from pipeline.reproducibility import doctor  # lazy, for cost

        return run(doctor.main, rest)
    if command == "ui":
        from pipeline.servers import ui

        return ui.main(rest)
    if command == "server":
        from pipeline.servers import team

        return team.main(rest)
    sys.argv = [f"{sys.argv[0]} train", *rest]  # Hydra reads its overrides from argv
    train_main()
    return 0
