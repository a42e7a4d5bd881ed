"""The suite's pure logic: interleaved schedules, summaries, targets, the result files.

Nothing here runs a process or imports anything heavy, so it is unit-tested directly
(``tests/benchmarks/test_core.py``).
"""

from __future__ import annotations

import operator
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# How a measured value is checked against its target.
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
}


def interleave(names: Sequence[str], repeats: int) -> list[tuple[int, str]]:
    """The order in which to run the commands compared: ``A B A B ...``, as
    ``(repeat, name)``, so a drift in the machine's load touches every command alike."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: must be >= 1")
    return [(r, name) for r in range(repeats) for name in names]


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """``min``, ``median`` and every value (in the order measured)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to summarize")
    return {"min": min(values), "median": statistics.median(values), "values": values}


def best(values: Iterable[float], higher_is_better: bool = False) -> float:
    """The best of repeated measurements: the least noise-inflated one (the minimum time,
    the maximum rate)."""
    values = list(values)
    return max(values) if higher_is_better else min(values)


@dataclass
class Target:
    """One row of the issue's table: ``measured op limit`` (e.g. ``ratio >= 3``; a yes/no
    target is ``measured == True``)."""

    benchmark: str
    what: str
    measured: float | bool | None  # None: could not be measured (not met)
    op: str
    limit: float | bool
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool:
        if self.op not in OPS:
            raise ValueError(f"op={self.op!r}; valid ops: {', '.join(OPS)}")
        return self.measured is not None and OPS[self.op](self.measured, self.limit)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is 0 (nothing to compare)."""
    return numerator / denominator if denominator else None


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least squares ``y = intercept + slope * x``, with its R²."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a line needs at least two (x, y) points")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("a line needs at least two distinct x values")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"slope": slope, "intercept": intercept, "r2": r2}


def machine_slug(hostname: str) -> str:
    """A file-name-safe short name of the machine (its host name's first label)."""
    short = hostname.split(".")[0].lower()
    slug = re.sub(r"[^a-z0-9-]+", "-", short).strip("-")
    return slug[:40] or "machine"


def result_stem(date: str, machine: str, only: Sequence[str] = ()) -> str:
    """``<date>-<machine>``; a run of selected benchmarks adds their names, so it never
    overwrites a whole run's files."""
    return "-".join([date, machine, *only])


# ------------------------------------------------------------------ the markdown table
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def target_rows(targets: Sequence[dict[str, Any]]) -> list[str]:
    """The markdown table of targets: what, measured, target, met."""
    rows = ["| benchmark | what | measured | target | met |", "|---|---|---|---|---|"]
    for t in targets:
        unit = f" {t['unit']}" if t["unit"] else ""
        note = f" ({t['note']})" if t.get("note") else ""
        rows.append(
            f"| {t['benchmark']} | {t['what']}{note} | {_fmt(t['measured'])}{unit} "
            f"| {t['op']} {_fmt(t['limit'])}{unit} | {_fmt(t['met'])} |"
        )
    return rows


def timing_rows(benchmark: str, timings: dict[str, dict[str, Any]], unit: str) -> list[str]:
    """One row per command compared: min, median and the number of repeats."""
    rows = [f"| {benchmark}: command | min | median | n |", "|---|---|---|---|"]
    for name, s in timings.items():
        rows.append(
            f"| {name} | {_fmt(s['min'])} {unit} | {_fmt(s['median'])} {unit} "
            f"| {len(s['values'])} |"
        )
    return rows


def machine_rows(machine: dict[str, Any]) -> list[str]:
    """The machine as a two-column table (CPU, cores, RAM, device, library versions)."""
    rows = ["| machine | |", "|---|---|"]
    for key, value in machine.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append(f"| {key} | {_fmt(value)} |")
    return rows


def render_markdown(result: dict[str, Any]) -> str:
    """The run as markdown: targets, then each benchmark's timings and details, then the
    machine."""
    lines = [f"# Benchmarks {result['date']} on {result['machine']['slug']}", ""]
    targets = [t for b in result["benchmarks"].values() for t in b.get("targets", [])]
    met = sum(t["met"] for t in targets)
    if targets:
        lines += [f"Targets met: {met} of {len(targets)}.", "", *target_rows(targets), ""]
    for name, bench in result["benchmarks"].items():
        lines += [f"## {name}", ""]
        if bench["status"] != "ok":
            lines += [f"{bench['status']}: {bench.get('reason', '')}", ""]
            continue
        if bench.get("timings"):
            lines += [*timing_rows(name, bench["timings"], bench.get("unit", "s")), ""]
        for key, value in bench.get("details", {}).items():
            lines.append(f"- {key}: {_fmt(value, 4)}")
        lines.append("")
    settings = ", ".join(f"{k}={v}" for k, v in result["settings"].items())
    lines += [f"Settings: {settings}.", "", *machine_rows(result["machine"]), ""]
    return "\n".join(lines)
