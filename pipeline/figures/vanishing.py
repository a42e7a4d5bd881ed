"""The vanishing gradient, drawn twice: each hidden layer's gradient norm in the
``vanishing_gradient`` preset's runs (sigmoid against ReLU, by epoch; found in the
store, or trained), and at initialisation, by depth, for each activation.

Both use the diagnostic every training logs (:meth:`pipeline.training.callbacks.EpochLogger.
gradient_norms`): the norm of d(loss)/d(weights) of each layer on a fixed slice of
the training data.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig

from pipeline.compare.runs import latest_by_key, logged_history
from pipeline.config.compose import compose_config, validate
from pipeline.tracking import store
from pipeline.training import plots
from pipeline.training.callbacks import EpochLogger
from pipeline.training.train import build_model, planned_run_key, prepare, train

PRESET = "vanishing_gradient"
TRAINED = ("sigmoid", "relu")  # the preset's sweep
FILES = ("vanishing_runs.png", "vanishing_init.png")
_HIDDEN = re.compile(r"grad_norm/hidden_(\d+)")


def preset_config(activation: str, seed: int, overrides: list[str]) -> DictConfig:
    """The preset's composed config with ``activation`` and ``seed``."""
    return validate(
        compose_config(
            [
                f"+experiment={PRESET}",
                f"activation={activation}",
                f"training.seed={seed}",
                *overrides,
            ]
        )
    )


def init_norms(
    settings: DictConfig, seed: int, data_root: str | Path | None, overrides: list[str] = ()
) -> dict[str, list[float]]:
    """Per activation, the gradient norm of hidden layers 1..depth at initialisation, on
    ``samples`` training rows of the preset's dataset (the preset's initialiser)."""
    norms = {}
    for activation in settings.activations:
        depth = [f"model.hidden_units=[{','.join([str(settings.width)] * settings.depth)}]"]
        p, _, data = prepare(preset_config(activation, seed, [*depth, *overrides]), data_root)
        model = build_model(p, data)
        n = min(settings.samples, len(data.x["train"]))
        x, y = np.asarray(data.x["train"][:n], np.float32), data.y["train"][:n]
        logger = EpochLogger(None, "", x, y, p.loss.loss)
        logger.set_model(model)
        found = logger.gradient_norms()
        norms[activation] = [found[f"grad_norm/hidden_{i}"] for i in range(1, settings.depth + 1)]
    return norms


def _finished_history(cfg: DictConfig, data_root: str | Path | None) -> pd.DataFrame | None:
    """The history of the latest finished run of ``cfg`` on this data in the tracking
    store (any experiment), found by its run key; None if there is none."""
    uri = store.tracking_uri(cfg.mlflow.tracking_uri)
    run_id = latest_by_key(uri, planned_run_key(cfg, data_root))
    return None if run_id is None else logged_history(uri, run_id)


def preset_histories(
    seed: int, data_root: str | Path | None, overrides: list[str] = ()
) -> dict[str, pd.DataFrame]:
    """Per activation of the preset, its run's per-epoch history: a finished run of
    exactly this config and data if the store has one, else trained now (and logged,
    as the preset logs it). Training being deterministic, either gives the same
    numbers, so the figure depends only on code, config and data."""
    histories = {}
    for activation in TRAINED:
        cfg = preset_config(activation, seed, list(overrides))
        history = _finished_history(cfg, data_root)
        if history is None:
            history = train(cfg, data_root=data_root).history
        histories[activation] = history
    return histories


def _depth_colours(depth: int) -> list:
    return [plt.cm.viridis(i / max(depth - 1, 1)) for i in range(depth)]


def draw_runs(histories: dict[str, pd.DataFrame], path: Path) -> Path:
    """Each hidden layer's gradient norm against the epoch, per activation, the layer's
    depth as colour."""
    fig, axes = plt.subplots(1, len(TRAINED), figsize=(11, 4), sharey=True, constrained_layout=True)
    for ax, activation in zip(axes, TRAINED, strict=True):
        history = histories[activation]
        ax.set_title(f"{activation} (+experiment={PRESET})")
        layers = sorted((int(m.group(1)), c) for c in history if (m := _HIDDEN.fullmatch(c)))
        for colour, (i, column) in zip(_depth_colours(len(layers)), layers, strict=True):
            ax.plot(
                history["epoch"], history[column], marker="o", color=colour, label=f"hidden_{i}"
            )
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("gradient norm (log)")
    axes[-1].legend(title="layer (1 = input side)", fontsize="small")
    fig.suptitle("The vanishing gradient in training: each layer's gradient norm")
    return plots.save_figure(fig, path)


def draw_init(norms: dict[str, list[float]], path: Path) -> Path:
    """The gradient norm at initialisation against the layer's depth, per activation."""
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for activation, values in norms.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=activation)
    ax.set_yscale("log")
    ax.set_xlabel("hidden layer (1 = input side)")
    ax.set_ylabel("gradient norm at initialisation (log)")
    ax.set_title("Before any training: how much gradient reaches each layer")
    ax.grid(alpha=0.3)
    ax.legend()
    return plots.save_figure(fig, path)


def draw(
    settings: DictConfig,
    out: Path,
    seed: int,
    data_root: str | Path | None = None,
    overrides: list[str] = (),
) -> list[Path]:
    """Write ``vanishing_runs.png`` and ``vanishing_init.png`` into ``out``."""
    runs = draw_runs(preset_histories(seed, data_root, list(overrides)), out / FILES[0])
    init = draw_init(init_norms(settings, seed, data_root, list(overrides)), out / FILES[1])
    return [runs, init]
