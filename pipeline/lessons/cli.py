"""``python -m pipeline.lessons`` (``make lessons``): run the lessons, write the table.

Each lesson trains the course's presets over seeds on the processed data and judges
the course's claims (:mod:`pipeline.lessons.catalogue`). The trainings are child
runs of one parent run in the MLflow experiment ``lessons``; the table is written
to ``reports/lessons/`` (``lessons.md``, ``lessons.csv``), logged to the parent and
shown as its description in the MLflow UI.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.compare.pairwise import Looks
from pipeline.compare.sequential import START
from pipeline.config import contract
from pipeline.config.ranges import AUTO
from pipeline.config.schemas import pick_many
from pipeline.lessons.catalogue import AFTER, ALONE, LESSONS
from pipeline.lessons.runner import Runner
from pipeline.lessons.table import MARKDOWN, Row, summary
from pipeline.system import interrupt, machine

log = logging.getLogger(__name__)

EXPERIMENT = "lessons"
MAX_SEEDS = 10  # with --seeds auto, as sweep.max_seeds


def _lesson_names(text: str) -> list[str]:
    try:
        return pick_many(LESSONS, text, "lesson")
    except ValueError as error:  # argparse shows an ArgumentTypeError's own words
        raise argparse.ArgumentTypeError(str(error)) from None


def _seeds(text: str) -> int | str:
    if text == AUTO:
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: valid: an integer of at least 1, or {AUTO!r}"
        )
    return int(text)


def _max_seeds(text: str) -> int:
    if not text.isdigit() or int(text) < START:
        raise argparse.ArgumentTypeError(
            f"--max-seeds {text!r}: valid: an integer of at least {START}"
        )
    return int(text)


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--jobs {text!r}: valid: an integer of at least 1")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The command line (nothing heavy is imported to parse it)."""
    p = argparse.ArgumentParser(
        prog="python -m pipeline.lessons",
        description="Train the course's presets over seeds on the processed data and judge "
        "the course's claims: writes reports/lessons/lessons.md and lessons.csv and logs "
        "them to the MLflow experiment 'lessons'. A configuration with a finished run of "
        "the same config and data there is read back, not trained again.",
    )
    p.add_argument(
        "--only",
        type=_lesson_names,
        default=list(LESSONS),
        help=f"comma-separated lessons to run (default: all, in order: {', '.join(LESSONS)})",
    )
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=AUTO,
        help=f"seeds per configuration, or {AUTO!r} (the default): {START}, then one more at a "
        "time to the configurations of a comparison still undecided, up to --max-seeds, "
        "each look at its group-sequential level (docs/lessons.md)",
    )
    p.add_argument(
        "--max-seeds",
        type=_max_seeds,
        default=MAX_SEEDS,
        help="with --seeds auto: the most seeds per configuration (%(default)s)",
    )
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=machine.available_cores(),
        help="lessons trained side by side in processes of their own, each training on one "
        "thread (default: the cores this process may use, %(default)s); a lesson that "
        "measures time or memory (batch_size) runs alone first",
    )
    p.add_argument("--fresh", action="store_true", help="train every run again, reusing none")
    p.add_argument("--out", type=Path, help="folder for the table (default: reports/lessons)")
    p.add_argument("--data-root", type=Path, help="processed data (default: data/processed)")
    p.add_argument("--experiment", default=EXPERIMENT, help="MLflow experiment (%(default)s)")
    return p


def description(rows: Sequence[Row], seeds: str) -> str:
    """The parent run's description in the UI: each claim and its verdict (a tag holds
    at most :data:`~pipeline.config.contract.TAG_MAX` characters; the whole table is the
    ``lessons.md`` artifact); ``seeds``: how many, in words (``table.seeds_text``)."""
    head = (
        f"### The course's claims, measured\n\nOver {seeds}. Measurements, rules, "
        f"evidence and run ids: the `{MARKDOWN}` artifact.\n\n"
    )
    return (head + summary(rows))[: contract.TAG_MAX]


def lesson_rows(name: str, runner: Runner) -> list[Row]:
    """A lesson's rows; with the runner's sequential design, the lesson again after one more
    seed for each configuration a verdict still wants one, until none does (or each has
    ``max_seeds``). Runs trained before are found again, not retrained."""
    while True:
        rows = [replace(row, lesson=name) for row in LESSONS[name](runner)]
        wanted = frozenset().union(*(row.needs for row in rows))
        grown = runner.add_seed(wanted)
        if not grown:
            return rows
        print(f"lessons: {name}: one more seed for {', '.join(grown)} (undecided)")


def chains(names: Sequence[str]) -> list[list[str]]:
    """The lessons ``names`` (in order) as the chains that may run side by side: a lesson
    :data:`~pipeline.lessons.catalogue.ALONE` is a chain of its own, and a lesson joins the
    chain of the lesson it comes :data:`~pipeline.lessons.catalogue.AFTER`."""
    found: dict[str, list[str]] = {}
    every = []
    for name in names:
        before = AFTER.get(name)
        if before in found and name not in ALONE:
            found[before].append(name)
            found[name] = found[before]
        else:
            found[name] = [name]
            every.append(found[name])
    return every


def run_lessons(names: Sequence[str], runner: Runner, jobs: int) -> list[Row]:
    """The rows of ``names``, in that order: the lessons that run alone first, in this
    process, then the others' chains side by side in ``jobs`` processes (one: here)."""
    rows: dict[str, list[Row]] = {}
    together = []
    for chain in chains(names):
        if jobs == 1 or chain[0] in ALONE:
            rows.update({name: lesson_rows(name, runner.for_lesson(name)) for name in chain})
        else:
            together.append(chain)
    if together:
        spawn = multiprocessing.get_context("spawn")  # a fresh TensorFlow in each
        together.sort(key=len, reverse=True)  # the longest chains first: they end last
        with ProcessPoolExecutor(min(jobs, len(together)), mp_context=spawn) as pool:
            futures = [pool.submit(_chain_rows, chain, runner.arguments()) for chain in together]
            for chain, future in zip(together, futures, strict=True):
                rows.update(zip(chain, future.result(), strict=True))
    return [row for name in names for row in rows[name]]


def _chain_rows(chain: list[str], arguments: dict[str, Any]) -> list[list[Row]]:
    """In a process of its own: each lesson of ``chain`` in turn, with a runner made from
    ``arguments`` (:meth:`Runner.arguments`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runner = Runner(**arguments)
    return [lesson_rows(name, runner.for_lesson(name)) for name in chain]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen lessons; write and log the table. Exit status 0."""
    args = parser().parse_args(argv)
    # lazy, for cost: MLflow, and TensorFlow through the training
    from mlflow.tracking import MlflowClient

    from pipeline.config.compose import compose_config
    from pipeline.config.paths import layout
    from pipeline.lessons import table
    from pipeline.tracking import store, store_check

    cfg = compose_config()
    uri = store_check.check_tracking(cfg.mlflow.tracking_uri, cfg.mlflow.timeout)
    client = MlflowClient(uri)
    experiment_id = store.ensure_experiment(uri, args.experiment)
    parent = client.create_run(
        experiment_id,
        run_name=f"lessons-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={contract.LESSON_TAG: ",".join(args.only)},
    ).info.run_id
    looks = Looks(START, args.max_seeds) if args.seeds == AUTO else None
    seeds = table.seeds_text(args.seeds, looks)
    runner = Runner(
        uri,
        args.experiment,
        parent,
        0 if looks else args.seeds,
        args.data_root,
        not args.fresh,
        looks=looks,
    )
    try:
        rows = run_lessons(args.only, runner, args.jobs)
        files = table.write(rows, args.out or layout().lessons, seeds)
        for path in files.values():
            client.log_artifact(parent, str(path))
        client.set_tag(parent, store.NOTE_TAG, description(rows, seeds))
    except interrupt.INTERRUPTIONS as error:
        client.set_tag(parent, contract.STOP_REASON_TAG, interrupt.reason(error))
        client.set_terminated(parent, "KILLED")
        raise
    except BaseException as error:
        client.set_tag(parent, contract.ERROR_TAG, contract.error_message(error))
        client.set_terminated(parent, "FAILED")
        raise
    client.set_terminated(parent, "FINISHED")
    for path in files.values():
        print(f"lessons: wrote {path}")
    return 0
