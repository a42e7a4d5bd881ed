"""How fast a training runs, chosen so that it never changes what the training computes.

A Keras ``fit`` at batch size 32 spends most of its time between steps, not in them: with
one step per call (``steps_per_execution=1``), every step goes through Python and
TensorFlow's function-call machinery. Running many steps per call removes that cost
and computes exactly the same numbers, step by step (``tests/test_runtime.py`` trains
every activation with the lecture's optimizers both ways and requires identical bits).
So ``runtime.steps_per_execution`` left unset (the default) runs up to
:data:`MAX_STEPS_PER_EXECUTION` steps per call, except for the choices in
:data:`ONE_STEP_PER_CALL`, whose results it does change.

What is not used, because it changes results:

* XLA (``jit_compile``): it fuses operations and so rounds differently; Keras also
  turns it off while TensorFlow's op determinism is on, which :mod:`pipeline.seed`
  always enables.
* Another oneDNN setting (``TF_ENABLE_ONEDNN_OPTS``) or a larger batch.

The thread counts (``runtime.intra_op_threads``) are left to the caller: a sweep gives
each parallel job its share of the cores (:func:`pipeline.sweep.threads_per_job`).

Only the fit and the evaluations run many steps per call: a model is compiled, saved
and predicts with one step per call, so a saved model carries no trace of the setting
and predicting stays cheap to trace (Keras unrolls ``predict`` over the steps of a call).
Predictions (the confusion matrix's) take :data:`PREDICT_BATCH` rows per step instead:
a model predicts each row on its own, so few large steps give the same predictions as
many small ones, in less time.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)

# Steps per call when the config leaves it open. Larger calls save little more (a
# call costs far less than these steps), and a signal is handled between calls, so
# this also bounds how long Ctrl-C waits: a fraction of a second on the MLPs.
MAX_STEPS_PER_EXECUTION = 512

# The choices (kind -> names) whose results many steps per call change, so they train
# with one: TensorFlow's graph optimizer rewrites swish's x * sigmoid(x) differently
# inside the loop of steps, and the last bits of the weights differ.
# tests/test_runtime.py finds them, and fails once one trains identically after all.
ONE_STEP_PER_CALL: dict[str, frozenset[str]] = {"activation": frozenset({"swish"})}

# Rows per predict step. The 10,000 test images of Fashion-MNIST at the training's batch
# of 32 took 313 calls, 0.35-0.65 s on 2 cores; at 1,024, 0.15 s. A CNN's activations
# at this size stay near 100 MB.
PREDICT_BATCH = 1024


def steps_per_execution(
    setting: int | None, rows: int, batch_size: int, choices: Mapping[str, str]
) -> int:
    """The steps a training runs per TensorFlow call.

    ``setting`` when the config sets it (warning when it changes results), else one for
    the :data:`ONE_STEP_PER_CALL` ``choices`` (kind -> name), else an epoch's steps
    (``rows`` / ``batch_size``, rounded up) up to :data:`MAX_STEPS_PER_EXECUTION`.
    """
    inexact = [f"{k}={v}" for k, v in choices.items() if v in ONE_STEP_PER_CALL.get(k, ())]
    if setting is not None:
        if inexact and setting > 1:
            log.warning(
                "runtime.steps_per_execution=%d changes the results of %s in their last "
                "bits (pipeline/runtime.py); leave it unset for identical results",
                setting,
                ", ".join(inexact),
            )
        return setting
    if inexact:
        return 1
    return max(1, min(MAX_STEPS_PER_EXECUTION, math.ceil(rows / batch_size)))


def steps_for(cfg: Mapping[str, Any], rows: int, batch_size: int) -> int:
    """:func:`steps_per_execution` for a composed config: its ``runtime`` setting and
    its choices, training ``rows`` rows at ``batch_size``."""
    choices = {kind: cfg[kind]["name"] for kind in ONE_STEP_PER_CALL}
    return steps_per_execution(cfg["runtime"]["steps_per_execution"], rows, batch_size, choices)


@contextlib.contextmanager
def executing(model: Any, steps: int) -> Iterator[None]:
    """Fit and evaluate ``model`` with ``steps`` steps per call inside the block; back to
    one step per call, as it was compiled, after it."""
    _set_steps(model, steps)
    try:
        yield
    finally:
        _set_steps(model, 1)


def _set_steps(model: Any, steps: int) -> None:
    # Keras builds its step functions for the model's steps_per_execution when they
    # are first needed: drop the built ones so the next fit/evaluate/predict rebuilds.
    model.steps_per_execution = steps
    model.train_function = model.test_function = model.predict_function = None
