"""The report's text and tables: markdown rankings and verdicts, CSV, the files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.compare.configurations import annotate_runs
from pipeline.compare.pairwise import Verdict
from pipeline.compare.publish import table_json
from pipeline.config import contract
from pipeline.config.schemas import CompareConfig
from pipeline.system.io import atomic_write_text
from pipeline.training import plots

# Every file write_report may produce: ones a new report does not produce are
# removed, so an old figure never sits beside a report it does not belong to.
REPORT_FILES = {
    "report": "report.md",
    "summary": "summary.csv",
    "table": "summary_table.json",
    "runs": "runs.csv",
    "heatmap": "heatmap.png",
    "val_curves": "val_curves.png",
    "bars": "bars.png",
}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return plots.DASH
    return f"{float(value):.{digits}f}"


def _pm(mean: Any, std: Any) -> str:
    if pd.isna(mean):
        return plots.DASH
    return _fmt(mean) if pd.isna(std) else f"{_fmt(mean)} ± {_fmt(std)}"


def _p(value: Any) -> str:
    return plots.DASH if pd.isna(value) else f"{float(value):.3g}"


def _probability(r: pd.Series) -> str:
    """P(best better) with its interval, as a table cell."""
    if pd.isna(r["prob_improvement"]):
        return plots.DASH
    if pd.isna(r["prob_improvement_low"]):
        return _p(r["prob_improvement"])
    low, high = _p(r["prob_improvement_low"]), _p(r["prob_improvement_high"])
    return f"{_p(r['prob_improvement'])} [{low}, {high}]"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _versus_best(r: pd.Series) -> str:
    """One configuration against the best: P(the best beats it) and its interval."""
    shown = f"{r['configuration']} (P(best better) = {_probability(r)}"
    if not pd.isna(r["look_seeds"]):
        shown += f"; at {int(r['look_seeds'])} seeds"
    if not pd.isna(r["seeds_to_decide"]):
        shown += f"; about {int(r['seeds_to_decide'])} seeds each would decide it"
    return shown + ")"


def _verdict(group: pd.DataFrame, alpha: float, margin: float) -> str:
    """Plain sentences: the best configuration, then every other against it, in three
    verdicts (worse, equivalent within the margin, undecided), never "not different"."""
    metric = group["metric"].iloc[0]
    best = group[group["best"]]
    if best.empty:
        return "No configuration has a finished run with the metric: nothing to rank."
    b = best.iloc[0]
    others = group[~group["best"] & group["rank"].notna()]
    text = f"Best: **{b['configuration']}** (mean {metric} {_fmt(b['mean'])}, n={b['n']})."
    if others.empty:
        return text + " It is the only configuration with finished runs."
    if (group["n"] < 2).all() or b["n"] < 2:
        single = (
            "With a single seed per configuration"
            if (group["n"] < 2).all()
            else ("With a single finished run of the best configuration")
        )
        return (
            f"{text} {single} the ranking cannot be tested for significance; rerun with "
            "several seeds (e.g. `sweep.seeds=3`)."
        )
    verdicts = others["verdict"].fillna("")
    tested = int((verdicts != "").sum())
    if _sequential(group):
        how = (
            f"replayed look by look as seeds were added (a group-sequential design, "
            f"O'Brien–Fleming-type alpha spending), each look at its nominal level, "
            f"α = {alpha:g} shared by the {len(others)} comparisons (Bonferroni)"
        )
    else:
        how = f"each Holm-adjusted over the {tested} tested, α = {alpha:g}"
    text += (
        f" Against it (Welch's t-test for a difference, TOST for equivalence within "
        f"±{margin:g}, {how}; P(best better): the chance a seed of the best beats a seed of "
        "the other, 95% bootstrap interval):"
    )
    for name, label in (
        (Verdict.worse, "worse"),
        (Verdict.equivalent, f"equivalent within ±{margin:g}"),
        (Verdict.undecided, "undecided"),
    ):
        rows = others[verdicts == name.value]
        if not rows.empty:
            text += f" **{label}**: " + "; ".join(_versus_best(r) for _, r in rows.iterrows()) + "."
    if (verdicts == Verdict.undecided.value).any():
        text += (
            " The seeds that would decide are an estimate (80% power, were the observed "
            "means and spreads the truth)."
        )
    untestable = others[verdicts == ""]
    if not untestable.empty:
        text += (
            " Too few seeds to test (fewer than 2 finished runs): "
            + "; ".join(untestable["configuration"])
            + " (e.g. `sweep.seeds=3`)."
        )
    return text


def _sequential(group: pd.DataFrame) -> bool:
    """Whether the group's verdicts were replayed look by look (``sweep.seeds=auto``)."""
    return bool(group["level"].notna().any())


def _tests(r: pd.Series, sequential: bool) -> str:
    """The table's three test cells of a configuration."""
    if not sequential:
        return f"{_p(r['p_value'])} | {_p(r['p_adjusted'])} | {_p(r['p_equivalence_adjusted'])}"
    level = plots.DASH if pd.isna(r["level"]) else f"{_p(r['level'])} ({int(r['look_seeds'])})"
    return f"{_p(r['p_value'])} | {_p(r['p_equivalence'])} | {level}"


def markdown_tables(
    summary: pd.DataFrame, alpha: float = 0.05, margin: float = CompareConfig.margin
) -> str:
    """Per group a heading, the ranking as a markdown table, and the verdicts."""
    sections = []
    for (dataset, task), group in plots.summary_groups(summary):
        metric = group["metric"].iloc[0]
        direction = "higher is better" if group["higher_is_better"].iloc[0] else "lower is better"
        # Sequential: the p-values of the deciding look and that look's level; else Holm's.
        sequential = _sequential(group)
        tests = "p | p equiv. | level (seeds)" if sequential else "p | p (Holm) | p equiv. (Holm)"
        lines = [
            f"## {dataset} ({task}): {metric}, {direction}",
            "",
            f"| rank | configuration | n | mean ± std | 95% CI | test loss | {tests}"
            " | P(best better) | verdict | failed |",
            "|---:|---|---:|---|---|---|---:|---:|---:|---|---|---:|",
        ]
        for _, r in group.iterrows():
            ci = (
                plots.DASH
                if pd.isna(r["ci_low"])
                else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            )
            rank = plots.DASH if pd.isna(r["rank"]) else str(int(r["rank"]))
            lines.append(
                f"| {rank} | {_cell(r['configuration'])} | {r['n']} | {_pm(r['mean'], r['std'])}"
                f" | {ci} | {_pm(r['test_loss_mean'], r['test_loss_std'])}"
                f" | {_tests(r, sequential)} | {_probability(r)}"
                f" | {_cell(r['verdict']) if not pd.isna(r['verdict']) else plots.DASH}"
                f" | {r['failed']} |"
            )
        lines += ["", _verdict(group, alpha, margin)]
        repeats = int(group["repeats"].sum())
        if repeats:
            lines += [
                "",
                f"{repeats} rerun(s) of a seed already counted are left out: each "
                "configuration counts one run per seed (the latest).",
            ]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _failed_section(annotated: pd.DataFrame, stable: bool = False) -> str:
    failed = annotated[annotated["status"] == "FAILED"]
    lines = ["## Failed runs", ""]
    if failed.empty:
        return "\n".join([*lines, "None."])
    for _, r in failed.iterrows():
        error = r["error"]
        if error is None or pd.isna(error):
            error = f"no error recorded (tag {contract.ERROR_TAG} missing)"
        error = " ".join(str(error).split())
        if len(error) > 500:
            error = error[:500] + "…"
        name = r["name"] if isinstance(r["name"], str) else r["run_id"]
        where = r["configuration"] if stable else f"{r['run_id']}; {r['configuration']}"
        lines.append(f"- `{name}` ({where}): {error}")
    return "\n".join(lines)


# What differs between runs with identical results: left out of a stable report.
VOLATILE_COLUMNS = ("run_id", "experiment_id", *contract.TIMING_METRICS)


def _runs_table(annotated: pd.DataFrame, runs: pd.DataFrame, stable: bool = False) -> pd.DataFrame:
    # The final test metrics first: they are what a reader of the table looks for.
    names = sorted(
        (c for c in runs.columns if c.startswith("metrics.")),
        key=lambda c: (not c.startswith("metrics.test_"), c),
    )
    metrics = runs[names].copy()
    metrics.columns = [c.removeprefix("metrics.") for c in metrics.columns]
    base = annotated[
        ["run_id", "name", "status", "experiment_id", "dataset", "task", "configuration", "seed"]
    ]
    table = pd.concat([base, metrics.loc[annotated.index]], axis=1)
    table["error"] = annotated["error"]
    if stable:
        table = table.drop(columns=[c for c in VOLATILE_COLUMNS if c in table])
    return table


def write_report(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    out_dir: str | Path,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None = None,
    *,
    selection: str | None = None,
    alpha: float = 0.05,
    margin: float = CompareConfig.margin,
    annotated: pd.DataFrame | None = None,
    stable: bool = False,
) -> dict[str, Path]:
    """Write the comparison report into ``out_dir``, every file atomically.

    Args:
        runs: Runs as returned by :func:`select_runs`.
        summary: Their :func:`summarize` table.
        out_dir: The report folder (created if missing).  Report files from an older
            report that this one does not produce (a figure) are removed.
        curves: Validation curves per run id (see :func:`load_curves`); no
            ``val_curves.png`` without them.
        selection: How the runs were selected, for the report's text.
        annotated: :func:`annotate_runs`' frame of ``runs``, when the caller has it.
        alpha: The significance level the summary was computed with.
        margin: The equivalence margin the summary was computed with.
        stable: Leave out :data:`VOLATILE_COLUMNS` (and failed runs' ids), so the files
            depend only on the runs' results.

    Returns:
        The written files by kind: ``report``, ``summary``, ``runs`` and, when there
        is something to draw, ``heatmap``, ``val_curves``, ``bars``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if annotated is None:
        annotated, _ = annotate_runs(runs)
    files = {
        "summary": atomic_write_text(out / REPORT_FILES["summary"], summary.to_csv(index=False)),
        "table": atomic_write_text(out / REPORT_FILES["table"], table_json(summary)),
        "runs": atomic_write_text(
            out / REPORT_FILES["runs"], _runs_table(annotated, runs, stable).to_csv(index=False)
        ),
        **_draw_figures(annotated, summary, curves, out),
    }
    text = _report_markdown(annotated, summary, files, selection, alpha, margin, stable)
    files["report"] = atomic_write_text(out / REPORT_FILES["report"], text)
    for kind, name in REPORT_FILES.items():  # an older report's figure this one lacks
        if kind not in files and (out / name).is_file():
            (out / name).unlink()
    return {k: files[k] for k in REPORT_FILES if k in files}


FIGURE_TITLES = {
    "bars": "Mean with 95% CI",
    "heatmap": "Activation × optimizer",
    "val_curves": "Validation curves",
}


def _draw_figures(
    annotated: pd.DataFrame,
    summary: pd.DataFrame,
    curves: Mapping[str, Sequence[tuple[int, float]]] | None,
    out: Path,
) -> dict[str, Path]:
    """The figures there is something to draw for, by kind."""
    figures = {
        "bars": plots.plot_bars(summary, out / REPORT_FILES["bars"]),
        "heatmap": plots.plot_heatmap(summary, out / REPORT_FILES["heatmap"]),
        "val_curves": (
            plots.plot_val_curves(annotated, summary, curves, out / REPORT_FILES["val_curves"])
            if curves
            else None
        ),
    }
    return {kind: path for kind, path in figures.items() if path is not None}


def _report_markdown(
    annotated: pd.DataFrame,
    summary: pd.DataFrame,
    files: Mapping[str, Path],
    selection: str | None,
    alpha: float,
    margin: float,
    stable: bool = False,
) -> str:
    """``report.md``: what was selected, the run counts, the tables, failures, figures."""
    finished = int((annotated["status"] == "FINISHED").sum())
    failed = int((annotated["status"] == "FAILED").sum())
    other = len(annotated) - finished - failed
    counts = f"{len(annotated)} runs: {finished} finished, {failed} failed"
    if other:
        counts += f", {other} other (running or killed; not counted)"
    text = [
        "# Comparison report",
        "",
        f"Selected: {selection or 'the given runs'}.",
        "",
        f"{counts}. Each configuration's mean is over its finished runs (seeds); the 95% CI "
        "is Student's t on those runs.",
        "",
        markdown_tables(summary, alpha, margin).rstrip(),
        "",
        _failed_section(annotated, stable),
    ]
    drawn = [kind for kind in FIGURE_TITLES if kind in files]
    if drawn:
        text += ["", "## Figures", ""]
        text += [f"![{FIGURE_TITLES[k]}]({files[k].name})" for k in drawn]
    return "\n".join(text) + "\n"
