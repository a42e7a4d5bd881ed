"""Configuration labels: the short, readable names of what defines a run.

One label names a *configuration*: the choices a run was trained with, its seed
left out, so the runs of several seeds share it.  The comparison report groups
runs by it, and every training run carries it as the MLflow tag
:data:`pipeline.config.contract.CONFIGURATION_TAG`, so the UI's "Group by" on that tag
gives the same groups as the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

# What names a configuration when nothing varies (a single run, or a group with one
# configuration): the headline choices.
HEADLINE = ("model.name", "activation.name", "optimizer.name", "loss.name", "effective.batch_size")
# Groups shown first in a label, in this order; others follow by name.
LABEL_ORDER = ("dataset", "activation", "optimizer", "loss", "model", "training", "effective")
# ``seed`` alone would read as the training seed, which never labels a configuration.
_RESERVED = {"seed"}


def short_keys(keys: Iterable[str]) -> dict[str, str]:
    """Short label keys: ``activation.name`` -> ``activation``, ``training.batch_size``
    -> ``batch_size``; the full key wherever a short one would be ambiguous."""
    short = {}
    for key in keys:
        parts = key.split(".")
        # A group's choice is its name: activation.name=relu reads activation=relu.
        short[key] = parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]
    counts = Counter(short.values())
    return {k: (s if counts[s] == 1 and s not in _RESERVED else k) for k, s in short.items()}


def label_order(key: str) -> tuple[int, str, bool, str]:
    """Sort key: groups in the order of :data:`LABEL_ORDER`, a group's choice first."""
    group = key.split(".")[0]
    rank = LABEL_ORDER.index(group) if group in LABEL_ORDER else len(LABEL_ORDER)
    return (rank, group, not key.endswith(".name"), key)


def label(values: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``activation=relu, optimizer=adam``: the ``keys`` of ``values`` in label order.

    A key ``values`` lacks (or holds None) reads ``?``; with no keys, the
    :data:`HEADLINE` choices that ``values`` has name the configuration.
    """
    ordered = sorted(set(keys), key=label_order)
    if not ordered:
        ordered = [k for k in HEADLINE if values.get(k) is not None]
        if not ordered:
            return "all runs"
    short = short_keys(ordered)
    return ", ".join(f"{short[k]}={'?' if values.get(k) is None else values[k]}" for k in ordered)


def param_keys(keys: Iterable[str], params: Mapping[str, Any]) -> list[str]:
    """The logged param keys behind Hydra override keys.

    A config group (``optimizer``) stands for its choice (``optimizer.name``), and
    ``training.batch_size`` for ``effective.batch_size``, which says what full-batch
    GD really used.
    """
    out = []
    for key in keys:
        if key == "training.batch_size" and "effective.batch_size" in params:
            key = "effective.batch_size"
        elif key not in params and f"{key}.name" in params:
            key = f"{key}.name"
        out.append(key)
    return out
