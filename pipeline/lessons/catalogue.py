"""The lessons: each trains the course's presets over seeds and judges the course's
claims from what it measured (:mod:`pipeline.lessons.gradients`,
:mod:`pipeline.lessons.optimization`).

A lesson is a function ``(runner) -> rows``; :data:`LESSONS` is derived from the
functions themselves, in the order ``make lessons`` runs them (the batch sizes
first); :data:`ALONE` and :data:`AFTER` say which may run beside which (``--jobs``).
Sizes (epochs, learning rates, the time budget) are constants of their modules: each
lesson finishes in minutes on 2 CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.lessons.gradients import dead_units, step, vanishing_gradient
from pipeline.lessons.optimization import batch_size, optimizers, task_loss, tuned_optimizers
from pipeline.lessons.runner import Runner
from pipeline.lessons.table import Row

Lesson = Callable[[Runner], list[Row]]
# In the order they run; the names are the functions'.
LESSONS: dict[str, Lesson] = {
    f.__name__: f
    for f in (
        batch_size,
        vanishing_gradient,
        step,
        dead_units,
        optimizers,
        tuned_optimizers,
        task_loss,
    )
}

# Lessons that measure time or memory: they run with nothing beside them.
ALONE = frozenset({batch_size.__name__})
# A lesson that reads back another's runs runs after it, in the same process (the tuned
# optimizers' grid holds the optimizers' default-rate runs).
AFTER = {tuned_optimizers.__name__: optimizers.__name__}
