"""What the lessons measure beyond a run's own metrics: hidden units that never
activate, and the peak memory of a process that trains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.training.train import TrainResult

PROBE_PREFIX = "probe."  # the metrics a lesson adds to a run start with it
NEVER_ACTIVE = f"{PROBE_PREFIX}never_active"  # + "/<layer>" per hidden layer
PROCESS_PEAK = f"{PROBE_PREFIX}process_peak_rss_mb"  # of a training in a process of its own
HIDDEN = re.compile(r"hidden_\d+")  # the hidden linear layers (pipeline.kinds.models)
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class Probe:
    """A measurement of a trained model, logged to its run as metrics (so that a run
    reused later has it too)."""

    key: str  # the metric it always gives: a reused run without it is trained again
    measure: Callable[[TrainResult], dict[str, float]]


def never_active(result: TrainResult, batch_size: int = 1024) -> dict[str, float]:
    """The fraction of each hidden layer's units whose input (the linear layer's
    output, before the activation) is never positive on the validation split, and of
    all hidden units together (``probe.never_active``).

    For ReLU such a unit is dead: its output and its gradient are zero on every
    example, so it cannot recover. Leaky ReLU and ELU still pass a gradient there.
    """
    import keras  # lazy, for cost

    model, x = result.model, result.data.x["validation"]
    hidden = [layer for layer in model.layers if HIDDEN.fullmatch(layer.name)]
    probe = keras.Model(model.inputs, [layer.output for layer in hidden])
    ever = [np.zeros(layer.output.shape[-1], bool) for layer in hidden]
    for start in range(0, len(x), batch_size):
        # A one-output model returns its tensor bare: flatten makes it a list of one.
        outputs = keras.tree.flatten(probe([x[start : start + batch_size]], training=False))
        for seen, out in zip(ever, outputs, strict=True):
            values = keras.ops.convert_to_numpy(out)
            seen |= (values.reshape(-1, values.shape[-1]) > 0).any(axis=0)
    fractions = {
        f"{NEVER_ACTIVE}/{layer.name}": float(1 - seen.mean())
        for layer, seen in zip(hidden, ever, strict=True)
    }
    fractions[NEVER_ACTIVE] = float(1 - np.concatenate(ever).mean())
    return fractions


def _rss_kb(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no {field}")
    return int(match.group(1))


def process_peak_mb() -> float | None:
    """This process's peak resident memory so far, in MB (Linux's ``VmHWM``); None where
    ``/proc`` is not at hand.

    Read at the end of a process that did nothing but one training, it is what that
    training needed, TensorFlow's own start included (the same for every training), and
    not what earlier trainings left behind in the allocators.
    """
    try:
        return _rss_kb("VmHWM") / 1024
    except OSError:
        return None


NEVER_ACTIVE_PROBE = Probe(NEVER_ACTIVE, never_active)
