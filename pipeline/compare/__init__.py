"""Compare tracked runs: which configuration is best, and is it really better?

Reads training runs from MLflow (a sweep's children, an experiment, a filter, or
explicit run ids), groups them into *configurations* (the params that vary,
seeds aside), and reports per configuration the mean test metric over seeds with
a Student-t 95% confidence interval, a rank within each comparable group
(dataset and task), and whether each configuration is distinguishable from the
best one by Welch's t-test.  The report (markdown, CSV tables and figures) is
written to a folder and logged to MLflow.

The modules, in the order :func:`compare` uses them:

- :mod:`~pipeline.compare.runs`: selecting the runs;
- :mod:`~pipeline.compare.configurations`: what defines a configuration, its label,
  the metric a task ranks by;
- :mod:`~pipeline.compare.stats`: intervals, tests and the ranking;
- :mod:`~pipeline.compare.report`: markdown and CSV (figures: :mod:`pipeline.training.plots`);
- :mod:`~pipeline.compare.publish`: what the run the report is logged to shows in the UI;
- :mod:`~pipeline.compare.core`: :func:`compare` itself.

They may import :mod:`pipeline.training` (its figures) and the layers below; the sweeps,
lessons, figures and stages above use them.

Usage (the entry point is :mod:`pipeline.stages.compare`)::

    python -m pipeline.compare --parent <sweep parent run id>
    python -m pipeline.compare --experiment mnist --filter "params.optimizer.name = 'adam'"
    python -m pipeline.compare --run-file reports/train/iris/run.json --run-id <id> ...
"""

from typing import Any

__all__ = [
    "Report",
    "Selection",
    "annotate_runs",
    "compare",
    "confidence_interval",
    "holm",
    "load_curves",
    "markdown_tables",
    "select_runs",
    "summarize",
    "welch_p_value",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """The names of :data:`__all__`, imported on first use: ``python -m pipeline.compare
    --help`` (which imports this package first) loads no pandas, SciPy or matplotlib."""
    if name not in __all__:  # a submodule not imported yet, too: the import system's turn
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # lazy, for cost
    from pipeline.compare import configurations, core, report, runs, stats

    return next(
        getattr(m, name) for m in (configurations, core, report, runs, stats) if hasattr(m, name)
    )
