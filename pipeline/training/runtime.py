"""How fast a training runs, chosen so that it never changes what the training computes.

A Keras ``fit`` at batch size 32 spends most of its time between steps, not in them: with
one step per call (``steps_per_execution=1``), every step goes through Python and
TensorFlow's function-call machinery. Running many steps per call removes that cost
and computes exactly the same numbers, step by step (``tests/training/test_runtime.py`` trains
every activation with the lecture's optimizers both ways and requires identical bits).
So ``runtime.steps_per_execution`` left unset (the default) runs up to
:data:`MAX_STEPS_PER_EXECUTION` steps per call, except for the choices in
:data:`ONE_STEP_PER_CALL`, whose results it does change.

What is not used, because it changes results:

* XLA (``jit_compile``): it fuses operations and so rounds differently; Keras also
  turns it off while TensorFlow's op determinism is on, which :mod:`pipeline.training.seed`
  always enables.
* Another oneDNN setting (``TF_ENABLE_ONEDNN_OPTS``) or a larger batch.

``runtime.intra_op_threads`` is no speed setting: TensorFlow splits its products and
reductions by the thread count, so another count gives other bits. Left unset (the
default), every training runs on :data:`PINNED_THREADS` under the CPU pin
(:mod:`pipeline.system.machine`), whatever the machine's cores; a count the config sets is part
of the run key. Without the pin (``OPTLAB_CPU_ISA=native``) a small MLP trains on one
thread, where its matrices are too small to share between cores, and a sweep gives each
parallel job its share of the cores (:func:`pipeline.sweep.jobs.threads_per_job`).

Only the fit and the evaluations run many steps per call: a model is compiled, saved
and predicts with one step per call, so a saved model carries no trace of the setting
and predicting stays cheap to trace (Keras unrolls ``predict`` over the steps of a call).
Predictions (the confusion matrix's) of an MLP take :data:`PREDICT_BATCH` rows per step
instead: its chunked products (:mod:`pipeline.kinds.layers`) compute each row alike in any
batch, so few large steps give the same predictions as many small ones, in less time.
The CNN's convolutions do not (measured), so it predicts at its training batch.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pipeline.system import machine

log = logging.getLogger(__name__)

# Steps per call when the config leaves it open. Larger calls save little more (a
# call costs far less than these steps), and a signal is handled between calls, so
# this also bounds how long Ctrl-C waits: a fraction of a second on the MLPs.
MAX_STEPS_PER_EXECUTION = 512

# The choices (kind -> names) whose results many steps per call change, so they train
# with one. Empty under the CPU pin: swish was on it while oneDNN's graph rewrites ran on
# Intel CPUs (they fused x * sigmoid(x) differently inside the loop of steps); with them
# off (pipeline/system/machine.py) every activation trains identically.
# tests/training/test_runtime.py checks every activation both ways, and fails once one differs.
ONE_STEP_PER_CALL: dict[str, frozenset[str]] = {"activation": frozenset()}

# The most work per step (batch rows x weights) of an MLP trained on one thread. Measured
# on 2 cores (docs/performance.md), seconds per epoch of Fashion-MNIST with Adam, one
# thread against both: the MLP 784-256-128 (235,000 weights) at batch 32: 1.51 against
# 2.12; 256: 0.48 against 0.58; 512: 0.41 against 0.37. 784-1024-512 (1.3 million)
# at batch 32: 6.37 against 6.53; 64: 3.80 against 3.74; 128: 2.47 against 2.37. The
# CNN's convolutions share well between cores (batch 128: 9.7 against 7.3): not chosen.
ONE_THREAD_MAX_WORK = 64_000_000

# TensorFlow's intra-op threads under the CPU pin, whatever the machine's cores: its
# products and reductions split their work by the thread count (a 784-long product
# rounds differently on 1, 2 and 4 threads, measured in docs/reproducibility.md), and
# past one thread Eigen's split also follows the L3 cache's size. One thread is the
# only count every machine computes alike.
PINNED_THREADS = 1

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
                "bits (pipeline/training/runtime.py); leave it unset for identical results",
                setting,
                ", ".join(inexact),
            )
        return setting
    if inexact:
        return 1
    return max(1, min(MAX_STEPS_PER_EXECUTION, math.ceil(rows / batch_size)))


def intra_op_threads(setting: int | None, batch_size: int, mlp_units: Sequence[int] | None) -> int:
    """TensorFlow's intra-op threads for a training: ``setting`` when the config sets it;
    else :data:`PINNED_THREADS` under the CPU pin (:mod:`pipeline.system.machine`); else 1 for an
    MLP (``mlp_units``: its layers' sizes, input to output; None: another model) whose
    step is at most :data:`ONE_THREAD_MAX_WORK` (``batch_size`` x weights); else 0,
    TensorFlow's default (every core)."""
    if setting is not None:
        return setting
    if machine.pinned():
        return PINNED_THREADS
    if mlp_units is None:
        return 0
    weights = sum(a * b for a, b in itertools.pairwise(mlp_units))
    return 1 if batch_size * weights <= ONE_THREAD_MAX_WORK else 0


def predict_batch(model: str, batch_size: int) -> int:
    """Rows per predict step: :data:`PREDICT_BATCH` for a model whose every row's
    prediction is the same in any batch (the chunked products of
    :mod:`pipeline.kinds.layers`, ``machine.SAME_BITS_MODELS``), else the training's
    ``batch_size`` (the CNN's convolutions round a row differently in another batch)."""
    return PREDICT_BATCH if model in machine.SAME_BITS_MODELS else batch_size


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
