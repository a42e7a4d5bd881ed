"""``python -m benchmarks`` (``make bench``): run the suite, write its results.

    python -m benchmarks [--only train_speed,fixed_cost] [--repeats 3] [--keep]

Each benchmark runs the commands it compares in this one invocation, interleaved
(A B A B ...), and reports the minimum and the median; targets are checked on the
median. The results go to ``benchmarks/results/<date>-<machine>.json`` and ``.md``
(a run of selected benchmarks adds their names to the file name). Everything runs on the
real data from ``$OPTLAB_DATA_MIRROR``; without it every benchmark is skipped, saying so.
Exit status: 0 when every selected benchmark ran (met or not, the table says), 1 when
one failed, 2 on a bad argument.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import cluster, core, data, machine, scaling, sweep, training
from benchmarks.context import Context
from benchmarks.project import REPO_ROOT, Skip
from pipeline.config.schemas import pick_many

Benchmark = Callable[[Context, dict[str, Any]], dict[str, Any]]


def _epoch_seconds(ctx: Context) -> float | None:
    """The pipeline's measured seconds per epoch, if this invocation trained it."""
    runs = ctx.shared.get("training", {}).get("runs", {}).get("default")
    return core.summarize(r["fit_seconds"] for r in runs)["median"] / ctx.epochs if runs else None


# In the order they run: the sweep, the longest, last.
BENCHMARKS: dict[str, Benchmark] = {
    "train_speed": lambda ctx, paths: training.train_speed(ctx),
    "fixed_cost": lambda ctx, paths: training.fixed_cost(ctx),
    "peak_rss": lambda ctx, paths: training.peak_rss(ctx),
    "data_cold": lambda ctx, paths: data.data_cold(ctx),
    "dvc_noop": lambda ctx, paths: data.dvc_noop(ctx),
    "scaling": lambda ctx, paths: scaling.scaling(ctx, paths["figure"]),
    "matmul_rate": lambda ctx, paths: scaling.matmul_rate(ctx, _epoch_seconds(ctx)),
    "sweep": lambda ctx, paths: sweep.sweep(ctx),
    # Needs a running Ray cluster and tracking server (docs/scaling.md); else skipped.
    "ray_sweep": lambda ctx, paths: cluster.ray_sweep(ctx),
}


def parse_only(value: str) -> list[str]:
    """``a,b`` into the benchmarks' names, in the suite's order.

    Raises:
        argparse.ArgumentTypeError: an unknown name (naming the valid ones).
    """
    try:
        names = pick_many(BENCHMARKS, value, "benchmark")
    except ValueError as error:  # argparse shows an ArgumentTypeError's own words
        raise argparse.ArgumentTypeError(str(error)) from None
    return [n for n in BENCHMARKS if n in names]


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be >= 1")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run optimizer-lab's benchmark suite on the real data ($OPTLAB_DATA_MIRROR) "
        "and write benchmarks/results/<date>-<machine>.json and .md.",
    )
    p.add_argument("--only", type=parse_only, default=None, help=f"of: {', '.join(BENCHMARKS)}")
    p.add_argument("--repeats", type=positive, default=3, help="runs of each command (3)")
    p.add_argument("--epochs", type=positive, default=2, help="epochs of each training (2)")
    p.add_argument("--sweep-repeats", type=positive, default=1, help="runs of each sweep (1)")
    p.add_argument(
        "--sweep-override",
        action="append",
        default=[],
        help="an extra Hydra override of both sweeps (repeatable; to try the suite out)",
    )
    p.add_argument("--machine", help="the machine's name in the file names (default: host)")
    p.add_argument("--out", type=Path, default=core.RESULTS_DIR, help="results folder")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (says where)")
    return p


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run_one(name: str, ctx: Context, paths: dict[str, Path]) -> dict[str, Any]:
    """One benchmark's result; a skip or a failure is its status, with one line why."""
    say(f"{name} ...")
    started = time.perf_counter()
    try:
        result = BENCHMARKS[name](ctx, paths)
    except Skip as skip:
        say(f"{name} skipped: {skip}")
        return {"status": "skipped", "reason": str(skip), "targets": []}
    except Exception as error:  # noqa: BLE001 - one benchmark's failure must not end the suite
        say(f"{name} FAILED: {error}")
        trace = traceback.format_exc(limit=-3)
        return {"status": "failed", "reason": str(error), "traceback": trace, "targets": []}
    result["seconds"] = time.perf_counter() - started
    result["targets"] = [t.to_dict() for t in result.get("targets", [])]
    for t in result["targets"]:
        verdict = "met" if t["met"] else "NOT met"
        say(f"{name}: {t['what']}: {t['measured']} {t['op']} {t['limit']} {t['unit']}: {verdict}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    only = args.only or list(BENCHMARKS)
    date = datetime.date.today().isoformat()
    work = Path(tempfile.mkdtemp(prefix="optlab-bench-"))
    ctx = Context(
        work=work,
        repeats=args.repeats,
        epochs=args.epochs,
        sweep_repeats=args.sweep_repeats,
        sweep_overrides=args.sweep_override,
    )
    try:
        ctx.mirror  # noqa: B018 - every benchmark runs on the mirror's data
    except Skip as skip:
        for name in only:
            say(f"{name} skipped: {skip}")
        say("nothing ran, no results written")
        shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        described = machine.describe(REPO_ROOT)
        if args.machine:
            described["slug"] = core.machine_slug(args.machine)
        stem = core.result_stem(date, described["slug"], args.only or ())
        paths = {"figure": args.out / f"{stem}-scaling.png"}
        results = {name: run_one(name, ctx, paths) for name in only}
    finally:
        if args.keep:
            say(f"scratch folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if all(r["status"] == "skipped" for r in results.values()):
        say("nothing ran, no results written")
        return 0
    result = {
        "date": date,
        "machine": described,
        "settings": {
            "repeats": args.repeats,
            "epochs": args.epochs,
            "sweep_repeats": args.sweep_repeats,
            "sweep_overrides": " ".join(args.sweep_override) or "none",
            "only": ",".join(only),
            "prepare_seconds": ctx.shared.get("prepare_seconds"),
        },
        "benchmarks": results,
    }
    write(result, args.out, stem)
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


def write(result: dict[str, Any], folder: Path, stem: str) -> None:
    """``<stem>.json`` and ``<stem>.md`` in ``folder``, each written whole or not at all."""
    from pipeline.system.io import atomic_write_json, atomic_write_text

    table = core.render_markdown(result)
    atomic_write_json(folder / f"{stem}.json", result)
    atomic_write_text(folder / f"{stem}.md", table)
    print(table)
    say(f"wrote {folder / stem}.json and .md")
