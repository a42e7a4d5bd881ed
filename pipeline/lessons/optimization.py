"""The lessons on optimisation: the batch size, the optimizers (at their default rates and
each tuned), and the task / output / loss table."""

from __future__ import annotations

import functools
import math

import numpy as np

from pipeline.compare.sequential import START
from pipeline.lessons import verdicts as v
from pipeline.lessons.base import ACCURACY, COURSE, EPOCHS, LOSS, best_first, run_ids, swept
from pipeline.lessons.measure import PROCESS_PEAK
from pipeline.lessons.runner import Runner, Trials
from pipeline.lessons.table import Row, mean_ci

BATCH_PRESET = "batch_sizes"  # its sweep: the batch sizes compared, smallest first
EQUAL_TIME_S = 10.0  # the batch-size lesson's equal wall-time budget, per training
TUNED_PRESET = "optimizers_tuned"  # its grid: the optimizers and the rates each may use


@functools.cache
def tuning_grid() -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The optimizers and learning rates of the tuned-optimizers preset, as it sweeps them."""
    params = swept(TUNED_PRESET)
    names = tuple(params["optimizer"])
    return names, tuple(float(r) for r in params["optimizer.learning_rate"])


# -------------------------------------------------------------------- batch size
def batch_size(run: Runner) -> list[Row]:
    """Smaller batch: slower, less memory, more accurate (course: Batch_size)."""
    base = [f"+experiment={BATCH_PRESET}", f"training.epochs={EPOCHS}"]
    # The preset's batchings (bs16 ... full), each labelled by its size (16 ... full).
    choices = [(o.removeprefix("bs"), [f"+batching={o}"]) for o in swept(BATCH_PRESET)["+batching"]]
    # Each in a process of its own: its peak memory is that training's, and its speed
    # owes nothing to what earlier trainings left behind.
    equal = {label: run.run(label, [*base, *o], isolated=True) for label, o in choices}
    # An epoch's seconds are its work plus whatever else the machine did meanwhile, never
    # less: the fastest epoch is the least disturbed (as timeit takes the fastest repeat).
    seconds = {k: t.measured(min(s) for s in t.series("epoch_seconds")) for k, t in equal.items()}
    # As many epochs as fit in the budget at each batch size's measured speed, over the
    # first look's seeds: seeds added later must not change the configurations compared.
    budget = {
        k: max(1, round(EQUAL_TIME_S / float(np.mean(seconds[k][:START])))) for k, _ in choices
    }
    timed = {
        label: run.run(
            f"{label}, {budget[label]} epochs",
            [f"+experiment={BATCH_PRESET}", f"training.epochs={budget[label]}", *overrides],
        )
        for label, overrides in choices
    }
    labels = [label for label, _ in choices]
    names = [f"batch {label}" for label in labels]

    def along(values: dict[str, list[float]], rising: bool, what: str) -> v.Judgement:
        # One claim about the whole order of batch sizes: a trend test, not a test per pair.
        return v.trend([values[k] for k in labels], names, what, rising)

    def listing(values: dict[str, list[float]], unit: str = "") -> str:
        return "; ".join(f"{k}: {mean_ci(x)}{unit}" for k, x in values.items())

    memory = {k: t.metric(PROCESS_PEAK) for k, t in equal.items()}
    acc_epochs = {k: t.metric(ACCURACY) for k, t in equal.items()}
    acc_time = {k: t.metric(ACCURACY) for k, t in zip(labels, timed.values(), strict=True)}
    epochs_in_budget = ", ".join(t.label for t in timed.values())
    course = f'{COURSE} §"Batch_size"'
    runs_equal, runs_timed = run_ids(*equal.values()), run_ids(*timed.values())
    return [
        Row.judged(
            "A smaller batch is slower: an epoch takes longer",
            course,
            f"seconds per epoch (its fastest epoch) — {listing(seconds, ' s')}",
            along(seconds, False, "seconds per epoch"),
            runs_equal,
        ),
        Row.judged(
            "A smaller batch uses less memory",
            course,
            "peak RSS of a process that trains it, TensorFlow's start included — "
            + listing(memory, " MB"),
            along(memory, True, "peak RSS"),
            runs_equal,
        ),
        Row.judged(
            f"A smaller batch is more accurate (equal epochs: {EPOCHS})",
            course,
            f"test accuracy — {listing(acc_epochs)}",
            along(acc_epochs, False, "test accuracy"),
            runs_equal,
        ),
        Row.judged(
            f"A smaller batch is more accurate (equal wall time: ~{EQUAL_TIME_S:g} s)",
            course,
            f"test accuracy — {listing(acc_time)} (epochs run: {epochs_in_budget})",
            along(acc_time, False, "test accuracy"),
            runs_timed,
        ),
    ]


# ------------------------------------------------------------------- optimizers
def optimizer_trials(
    run: Runner, rate: dict[str, float] | None = None, seeds: int | None = None
) -> dict[str, Trials]:
    """Each lecture optimizer on the optimizers preset, at ``rate`` (default: its own)."""
    base = [f"+experiment={TUNED_PRESET}", f"training.epochs={EPOCHS}"]
    names, _ = tuning_grid()
    return {
        o: run.run(
            o if rate is None else f"{o}, lr {rate[o]:g}",
            [*base, f"optimizer={o}", *([f"optimizer.learning_rate={rate[o]}"] if rate else [])],
            seeds=seeds,
        )
        for o in names
    }


def optimizers(run: Runner) -> list[Row]:
    """The course's optimizer claims, at the default learning rates."""
    course = f'{COURSE} §"최적화함수(Optimizer)의 종류"'
    names, _ = tuning_grid()
    t = optimizer_trials(run)
    loss = {o: x.final(LOSS) for o, x in t.items()}
    acc = {o: x.metric(ACCURACY) for o, x in t.items()}
    means = {o: float(np.mean(a)) for o, a in acc.items()}
    ranking = best_first(means)
    losses = "; ".join(f"{o}: {mean_ci(x)}" for o, x in loss.items())
    accs = "; ".join(f"{o}: {mean_ci(x)}" for o, x in acc.items())
    steps = t["adagrad"].series("effective_step")
    quantity = f"training loss after {EPOCHS} epochs"
    return [
        Row.judged(
            "Momentum speeds SGD up",
            f"{course} (Momentum)",
            f"{quantity} — {losses}",
            v.exceeds(loss["sgd"], loss["momentum"], "SGD", "Momentum", quantity),
            run_ids(t["sgd"], t["momentum"]),
        ),
        Row.judged(
            "NAG improves on Momentum (it looks ahead)",
            f"{course} (NAG)",
            f"{quantity} — {losses}",
            v.exceeds(loss["momentum"], loss["nag"], "Momentum", "NAG", quantity),
            run_ids(t["momentum"], t["nag"]),
        ),
        Row.judged(
            "Adagrad's step shrinks as training goes on",
            f"{course} (Adagrad)",
            "Adagrad's effective step lr/√(G+ε), mean over weights, by epoch — "
            + "; ".join(
                f"seed {s}: " + " → ".join(f"{x:.3g}" for x in series)
                for s, series in zip((tr.seed for tr in t["adagrad"].trials), steps, strict=True)
            ),
            v.shrinking(steps, "effective step of Adagrad"),
            t["adagrad"].run_ids,
        ),
        Row.judged(
            "RMSProp fixes Adagrad's shrinking step: it reaches a lower loss",
            f"{course} (RMSProp)",
            f"{quantity} — {losses}",
            v.exceeds(loss["adagrad"], loss["rmsprop"], "Adagrad", "RMSProp", quantity),
            run_ids(t["adagrad"], t["rmsprop"]),
        ),
        Row.judged(
            "Adam, Momentum and RMSProp combined, is the best choice "
            '("if unsure, use Adam"), at the default learning rates',
            f"{course} (Adam)",
            f"test accuracy — {accs}. Ranking: {', '.join(ranking)} (Adam ranks "
            f"{ranking.index('adam') + 1} of {len(ranking)})",
            v.every(
                [
                    v.exceeds(acc["adam"], acc[o], "Adam", o, "test accuracy")
                    for o in names
                    if o != "adam"
                ]
            ),
            run_ids(*t.values()),
        ),
    ]


def tuned_optimizers(run: Runner) -> list[Row]:
    """The optimizers compared fairly: each with its learning rate tuned on the
    validation split, from the same 5 log-spaced rates, then tested over seeds."""
    course = f'{COURSE} §"최적화함수(Optimizer)의 종류" (Adam)'
    names, rates = tuning_grid()
    # The tuning: one seed per rate, judged on the validation split.
    grid = {lr: optimizer_trials(run, dict.fromkeys(names, lr), 1) for lr in rates}
    best = {
        o: max(rates, key=lambda lr: finite(grid[lr][o].final("val_accuracy")[0])) for o in names
    }
    tuned = optimizer_trials(run, best)
    default = optimizer_trials(run)
    acc = {o: t.metric(ACCURACY) for o, t in tuned.items()}
    tuned_rank = best_first({o: float(np.mean(a)) for o, a in acc.items()})
    default_rank = best_first({o: float(np.mean(t.metric(ACCURACY))) for o, t in default.items()})
    moved = [
        f"{o} {default_rank.index(o) + 1}→{tuned_rank.index(o) + 1}"
        for o in tuned_rank
        if default_rank.index(o) != tuned_rank.index(o)
    ]
    grid_runs = [r for by_opt in grid.values() for t in by_opt.values() for r in t.run_ids]
    return [
        Row.judged(
            "With each optimizer's learning rate tuned (the same budget: "
            f"{len(rates)} log-spaced rates, chosen on the validation split), "
            "Adam still beats every other",
            course,
            "chosen rate and test accuracy — "
            + "; ".join(f"{o} (lr {best[o]:g}): {mean_ci(acc[o])}" for o in names)
            + f". Tuned ranking: {', '.join(tuned_rank)}; at default rates: "
            f"{', '.join(default_rank)}; "
            + (f"the ranks that differ: {', '.join(moved)}" if moved else "the rankings agree"),
            v.every(
                [
                    v.exceeds(acc["adam"], acc[o], "tuned Adam", f"tuned {o}", "test accuracy")
                    for o in names
                    if o != "adam"
                ]
            ),
            sorted(set(grid_runs) | set(run_ids(*tuned.values()))),
        ),
    ]


def finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


# ------------------------------------------------------------------ task / loss
def task_loss(run: Runner) -> list[Row]:
    """The task / output / loss table: the matching loss against the alternatives."""
    course = f"{COURSE}, the task / output / loss table (회귀, 2진 분류, 다중 분류)"
    base = ["dataset=fashion_mnist", f"training.epochs={EPOCHS}"]
    multi = {
        loss: run.run(f"multiclass, {loss}", [*base, f"loss={loss}"]) for loss in ("auto", "mse")
    }
    binary = {
        loss: run.run(f"binary, {loss}", [*base, "dataset.task=binary", f"loss={loss}"])
        for loss in ("auto", "mse", "mae", "hinge")
    }

    def listing(trials: dict[str, Trials]) -> str:
        return "; ".join(f"{t.label}: {mean_ci(t.metric(ACCURACY))}" for t in trials.values())

    return [
        Row.judged(
            "On a multiclass task, softmax with cross-entropy beats the course's MSE example",
            course,
            f"test accuracy (Fashion-MNIST, 10 classes) — {listing(multi)}",
            v.exceeds(
                multi["auto"].metric(ACCURACY),
                multi["mse"].metric(ACCURACY),
                "softmax + cross-entropy",
                "softmax + MSE",
                "test accuracy",
            ),
            run_ids(*multi.values()),
        ),
        Row.judged(
            "On a binary task, sigmoid with binary cross-entropy beats the alternatives",
            course,
            f"test accuracy (Fashion-MNIST, T-shirt/top against the rest) — {listing(binary)}",
            v.every(
                [
                    v.exceeds(
                        binary["auto"].metric(ACCURACY),
                        t.metric(ACCURACY),
                        "sigmoid + binary cross-entropy",
                        f"sigmoid + {loss}",
                        "test accuracy",
                    )
                    for loss, t in binary.items()
                    if loss != "auto"
                ]
            ),
            run_ids(*binary.values()),
        ),
    ]
