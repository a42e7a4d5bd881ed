"""ray_sweep: a 16-job sweep on a Ray cluster, logging to a PostgreSQL-backed tracking server.

The infrastructure is given, not started: ``RAY_ADDRESS`` names a running cluster
(``ray start --head``) and ``OPTLAB_BENCH_TRACKING_URI`` a running ``make server`` on
PostgreSQL (see docs/scaling.md); without either the benchmark is skipped, saying so.
The same 16 jobs (4 optimizers × 4 activations, Fashion-MNIST, 2 epochs) run with
``hydra/launcher=ray`` and, for reference, ``hydra/launcher=joblib`` on this machine,
interleaved, each into an experiment of its own; every run is then read back from the
server. The Ray jobs ship the code and build their data on the workers (no shared
filesystem), which their wall time includes.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from benchmarks.context import PYTHON, Context
from benchmarks.core import Target, interleave, ratio, summarize
from benchmarks.procs import env_for, measure
from benchmarks.project import Skip

TRACKING_ENV = "OPTLAB_BENCH_TRACKING_URI"
ADDRESS_ENV = "RAY_ADDRESS"
OPTIMIZERS = ["sgd", "momentum", "nag", "adam"]
ACTIVATIONS = ["sigmoid", "tanh", "relu", "elu"]
GRID = [
    "dataset=fashion_mnist",
    "training.epochs=2",
    "mlflow.log_model=false",
    f"optimizer={','.join(OPTIMIZERS)}",
    f"activation={','.join(ACTIVATIONS)}",
]
JOBS = len(OPTIMIZERS) * len(ACTIVATIONS)
LAUNCHERS = ("ray", "joblib")  # hydra/launcher=<name>


def infrastructure() -> tuple[str, str]:
    """The Ray cluster's address and the tracking server's URL.

    Raises:
        Skip: either is not set (saying what to start).
    """
    address, uri = os.environ.get(ADDRESS_ENV), os.environ.get(TRACKING_ENV)
    if not address or not uri:
        raise Skip(
            f"set {ADDRESS_ENV} (a running `ray start --head`) and {TRACKING_ENV} (a running "
            "`make server` on PostgreSQL, http://host:port): docs/scaling.md"
        )
    return address, uri


def read_back(uri: str, experiment: str) -> dict[str, int]:
    """How the experiment's runs ended, counted from the server: the parent's status, and
    finished, failed and lost (``lost-job-*``) children."""
    import mlflow  # lazy, for cost

    from pipeline.config.contract import CHILD, PARENT, SWEEP_TAG

    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    children = [r for r in runs if r.data.tags.get(SWEEP_TAG) == CHILD]
    parents = [r for r in runs if r.data.tags.get(SWEEP_TAG) == PARENT]
    return {
        "parents finished": sum(r.info.status == "FINISHED" for r in parents),
        "children finished": sum(r.info.status == "FINISHED" for r in children),
        "children failed": sum(r.info.status != "FINISHED" for r in children),
        "jobs lost": sum(r.info.run_name.startswith("lost-job-") for r in children),
    }


def ray_sweep(ctx: Context) -> dict[str, Any]:
    """Wall time of the 16-job sweep on Ray and under joblib; every run read back."""
    address, uri = infrastructure()
    project = ctx.data_project
    # The Ray workers build their data from the mirror.
    env = env_for(
        project, RAY_ADDRESS=address, MLFLOW_TRACKING_URI=uri, OPTLAB_DATA_MIRROR=ctx.mirror
    )
    seconds: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    counts: dict[str, dict[str, int]] = {}
    for repeat, name in interleave(list(LAUNCHERS), ctx.sweep_repeats):
        experiment = f"bench-{name}-{uuid.uuid4().hex[:8]}"
        argv = [PYTHON, "-m", "pipeline.train", "-m", *GRID, *ctx.sweep_overrides]
        argv += [f"hydra/launcher={name}", f"mlflow.experiment_name={experiment}"]
        argv += [f"hydra.sweep.dir={ctx.scratch(f'ray-sweep-{name}-{repeat}')}"]
        seconds[name].append(measure(argv, project, env).seconds)
        counts[name] = read_back(uri, experiment)
    timings = {name: summarize(v) for name, v in seconds.items()}
    ray = counts["ray"]
    return {
        "status": "ok",
        "unit": "s",
        "timings": timings,
        "targets": [
            Target(
                "ray_sweep",
                "Ray sweep's runs finished on the server, none lost",
                ray["children finished"] == JOBS and ray["jobs lost"] == 0,
                "==",
                True,
                note=f"{ray['children finished']} of {JOBS} finished, {ray['jobs lost']} lost",
            )
        ],
        "details": {
            "grid": " ".join([*GRID, *ctx.sweep_overrides]),
            "Ray seconds (median)": timings["ray"]["median"],
            "joblib seconds (median)": timings["joblib"]["median"],
            "Ray ÷ joblib wall time": ratio(timings["ray"]["median"], timings["joblib"]["median"]),
            **{f"{name}: {k}": v for name, c in counts.items() for k, v in c.items()},
        },
    }
