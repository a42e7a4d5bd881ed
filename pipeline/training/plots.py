"""Every figure the project draws: a run's learning curves and confusion matrix, and a
comparison's bars, heatmap and validation curves (all matplotlib code is here)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files, never to a screen
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.config import contract  # noqa: E402
from pipeline.system.io import atomic_write_bytes  # noqa: E402

# What an empty table cell or a missing value reads in a figure or a report.
DASH = "–"


def learning_curves(
    history: pd.DataFrame, metric: str, path: str | os.PathLike[str], title: str = ""
) -> Path:
    """Loss and ``metric`` per epoch, training against validation, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for column, style in ((key, "-"), (f"val_{key}", "--")):
            if column in history:
                ax.plot(history["epoch"], history[column], style, marker=".", label=column)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def plot_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str], path: str | os.PathLike[str], title: str = ""
) -> Path:
    """The confusion matrix as an annotated heatmap."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n), constrained_layout=True)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    ax.set_title(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ------------------------------------------------------------------ comparisons
def summary_groups(summary: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """A comparison summary's ``(dataset, task)`` groups, each ranked on its own."""
    return [
        ((str(d), str(t)), g)
        for (d, t), g in summary.groupby(list(contract.GROUP_COLUMNS), sort=True)
    ]


def save_figure(fig, path: Path) -> Path:
    """Render ``fig`` as a PNG and write it atomically to ``path``; close the figure."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _panels(count: int, width: float, height: float):
    fig, axes = plt.subplots(
        1, count, figsize=(width * count, height), constrained_layout=True, squeeze=False
    )
    return fig, list(axes[0])


def plot_bars(summary: pd.DataFrame, path: Path) -> Path | None:
    """Mean metric with 95% CI error bars per configuration, best on top, per group."""
    groups = [(k, g[g["rank"].notna()].sort_values("rank")) for k, g in summary_groups(summary)]
    groups = [(k, g) for k, g in groups if not g.empty]
    if not groups:
        return None
    tallest = max(len(g) for _, g in groups)
    fig, axes = _panels(len(groups), 6.5, 1.2 + 0.4 * tallest)
    for ax, ((dataset, task), g) in zip(axes, groups, strict=True):
        y = np.arange(len(g))[::-1]  # rank 1 at the top
        colors = ["tab:green" if b else "tab:blue" for b in g["best"]]
        ax.barh(y, g["mean"], color=colors, alpha=0.8)
        has_ci = g["ci_low"].notna().to_numpy()  # a single run has no interval
        if has_ci.any():
            ci = g[has_ci]
            err = np.vstack([ci["mean"] - ci["ci_low"], ci["ci_high"] - ci["mean"]])
            ax.errorbar(ci["mean"], y[has_ci], xerr=err, fmt="none", ecolor="black", capsize=3)
        ticks = [f"{c} (n={n})" for c, n in zip(g["configuration"], g["n"], strict=True)]
        ax.set_yticks(y, ticks, fontsize=8)
        low = np.nanmin(np.concatenate([g["ci_low"].to_numpy(float), g["mean"].to_numpy(float)]))
        high = np.nanmax(np.concatenate([g["ci_high"].to_numpy(float), g["mean"].to_numpy(float)]))
        pad = max((high - low) * 0.15, 1e-3)
        ax.set_xlim(max(low - pad, 0.0) if low >= 0 else low - pad, high + pad)
        ax.set_xlabel(f"mean {g['metric'].iloc[0]} (95% CI)")
        ax.set_title(f"{dataset} ({task})")
        ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def plot_heatmap(summary: pd.DataFrame, path: Path) -> Path | None:
    """Mean metric by activation × optimizer, for groups where both vary."""
    keys = ("activation.name", "optimizer.name")
    groups = []
    for key, g in summary_groups(summary):
        if all(k in g for k in keys) and all(g[k].dropna().nunique() > 1 for k in keys):
            groups.append((key, g))
    if not groups:
        return None
    fig, axes = _panels(len(groups), 6.0, 4.5)
    for ax, ((dataset, task), g) in zip(axes, groups, strict=True):
        # Other varying params (e.g. batch size) are averaged over, run-weighted.
        weighted = g.assign(total=g["mean"] * g["n"])
        cells = weighted.groupby(list(keys))[["total", "n"]].sum(min_count=1)
        means = (cells["total"] / cells["n"].replace(0, np.nan)).unstack(keys[1])
        matrix = means.to_numpy(float)
        higher = bool(g["higher_is_better"].iloc[0])
        image = ax.imshow(matrix, cmap="viridis" if higher else "viridis_r", aspect="auto")
        ax.set_xticks(range(matrix.shape[1]), means.columns, rotation=45, ha="right")
        ax.set_yticks(range(matrix.shape[0]), means.index)
        ax.set_xlabel("optimizer")
        ax.set_ylabel("activation")
        finite = matrix[np.isfinite(matrix)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), value in np.ndenumerate(matrix):
            dark = value < middle if higher else value > middle
            ax.text(
                j,
                i,
                DASH if np.isnan(value) else f"{value:.4f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(f"{dataset} ({task}): mean {g['metric'].iloc[0]}")
    return save_figure(fig, path)


def plot_val_curves(
    annotated: pd.DataFrame,
    summary: pd.DataFrame,
    curves: Mapping[str, Sequence[tuple[int, float]]],
    path: Path,
) -> Path | None:
    """Validation metric per epoch, one line per configuration (mean over seeds,
    shaded min–max), per group."""
    groups = []
    for (dataset, task), g in summary_groups(summary):
        runs_of = annotated[(annotated["dataset"] == dataset) & (annotated["task"] == task)]
        if any(r in curves for r in runs_of["run_id"]):
            groups.append(((dataset, task), g, runs_of))
    if not groups:
        return None
    from matplotlib.ticker import MaxNLocator

    fig, axes = _panels(len(groups), 6.5, 4.5)
    for ax, ((dataset, task), g, runs_of) in zip(axes, groups, strict=True):
        order = g.sort_values("rank", na_position="last")["configuration"]
        for label in order:
            ids = [
                r for r in runs_of.loc[runs_of["configuration"] == label, "run_id"] if r in curves
            ]
            if not ids:
                continue
            table = pd.DataFrame(
                {r: pd.Series(dict(curves[r]), dtype=float) for r in ids}
            ).sort_index()
            mean = table.mean(axis=1)
            (line,) = ax.plot(table.index, mean, marker=".", label=f"{label} ({len(ids)})")
            if len(ids) > 1:
                ax.fill_between(
                    table.index,
                    table.min(axis=1),
                    table.max(axis=1),
                    color=line.get_color(),
                    alpha=0.15,
                )
        key = "val_rmse" if task == "regression" else "val_accuracy"
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{key} (mean over seeds, min–max shaded)")
        ax.set_title(f"{dataset} ({task})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
