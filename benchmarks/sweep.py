"""sweep: the 27-run grid in parallel (joblib) against the same grid run sequentially.

``python -m pipeline.train -m +experiment=activation_x_optimizer sweep.seeds=3`` with
``hydra/launcher=joblib`` (a job per core, TensorFlow's threads split between them) and
with ``hydra/launcher=basic`` (one job after another), each into its own throwaway store.
Both sweeps must train the same runs to the same results; the accuracy difference between
them is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.context import PYTHON, Context
from benchmarks.core import Target, interleave, ratio, summarize
from benchmarks.procs import env_for, measure
from benchmarks.training import store_uri

GRID = ["+experiment=activation_x_optimizer", "sweep.seeds=3"]
LAUNCHERS = {"parallel": "joblib", "sequential": "basic"}


def grid(extra: list[str]) -> list[str]:
    """:data:`GRID` with ``extra`` overrides, an extra one replacing the grid's of its key."""
    keys = {o.split("=", 1)[0] for o in extra}
    return [o for o in GRID if o.split("=", 1)[0] not in keys] + list(extra)


def sweep_argv(ctx: Context, launcher: str, uri: str, folder: Path) -> list[str]:
    """The sweep's command with ``launcher``, into the store at ``uri``."""
    return [
        PYTHON,
        "-m",
        "pipeline.train",
        "-m",
        *grid(ctx.sweep_overrides),
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={folder}",
        f"mlflow.tracking_uri={uri}",
    ]


def child_results(uri: str) -> dict[str, float]:
    """``{run name: test accuracy}`` of a store's finished sweep children."""
    import mlflow  # lazy, for cost

    from pipeline.config.contract import CHILD, SWEEP_TAG

    client = mlflow.MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, f"tags.`{SWEEP_TAG}` = '{CHILD}'", max_results=10000)
    return {
        r.info.run_name: r.data.metrics.get("test_accuracy", float("nan"))
        for r in runs
        if r.info.status == "FINISHED"
    }


def sweep(ctx: Context) -> dict[str, Any]:
    """Wall time of the parallel sweep against the sequential one (target ≤ 0.6×)."""
    project = ctx.data_project
    seconds: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    results: dict[str, dict[str, float]] = {}
    for repeat, name in interleave(list(LAUNCHERS), ctx.sweep_repeats):
        folder = ctx.scratch(f"sweep-{name}-{repeat}")
        uri = store_uri(folder)
        argv = sweep_argv(ctx, LAUNCHERS[name], uri, folder / "multirun")
        seconds[name].append(measure(argv, project, env_for(project)).seconds)
        results[name] = child_results(uri)
    timings = {name: summarize(v) for name, v in seconds.items()}
    share = ratio(timings["parallel"]["median"], timings["sequential"]["median"])
    par, seq = results["parallel"], results["sequential"]
    common = sorted(set(par) & set(seq))
    diffs = [abs(par[n] - seq[n]) for n in common]
    same = sum(d == 0 for d in diffs)
    return {
        "status": "ok",
        "unit": "s",
        "timings": timings,
        "targets": [
            Target(
                "sweep",
                "parallel ÷ sequential wall time",
                share,
                "<=",
                0.6,
                "×",
                note=f"{len(seq)}-run grid" if not ctx.sweep_overrides else "a reduced grid",
            )
        ],
        "details": {
            "overrides": " ".join(grid(ctx.sweep_overrides)),
            "finished runs parallel / sequential": f"{len(par)} / {len(seq)}",
            "parallel seconds (median)": timings["parallel"]["median"],
            "sequential seconds (median)": timings["sequential"]["median"],
            "max |test accuracy parallel − sequential|": max(diffs) if diffs else None,
            "runs bit-identical between launchers": f"{same} of {len(common)}",
        },
    }
