"""The lessons table: one row per claim, as markdown and CSV, written atomically."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.compare.pairwise import Looks
from pipeline.compare.stats import confidence_interval
from pipeline.lessons.verdicts import Judgement, Verdict, number
from pipeline.system.io import atomic_write_text

MARKDOWN, CSV = "lessons.md", "lessons.csv"
SHORT_ID = 8  # the markdown shows run ids this long; the CSV has them whole
_NOT_COLUMNS = ("needs",)  # Row's fields the table does not show
_MARKS = {Verdict.SUPPORTED: "✅", Verdict.NOT_SUPPORTED: "❌", Verdict.UNDECIDED: "❔"}


@dataclass(frozen=True)
class Row:
    """A claim of the course, what was measured, and the verdict with its rule."""

    lesson: str
    claim: str
    course: str  # where the course notes make the claim
    measured: str
    verdict: Verdict
    rule: str
    evidence: str
    runs: tuple[str, ...] = field(default=())
    # The configurations that want another seed to decide it (Judgement.needs): not a
    # column of the table.
    needs: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def judged(
        cls, claim: str, course: str, measured: str, judgement: Judgement, runs: Iterable[str]
    ) -> Row:
        """A row whose verdict, rule and evidence are ``judgement``'s; its lesson is set by
        whoever runs the lesson (the lesson's name, :data:`pipeline.lessons.catalogue.LESSONS`)."""
        return cls(
            "",
            claim,
            course,
            measured,
            judgement.verdict,
            judgement.rule,
            judgement.evidence,
            tuple(runs),
            judgement.needs,
        )


def mean_ci(values: Sequence[float], digits: int = 3) -> str:
    """``mean ± half-width`` of the 95 % Student-t interval over seeds (the mean alone
    for one seed)."""
    mean, _, low, high = confidence_interval(values)
    if math.isnan(mean):
        return "n/a"
    if math.isnan(low):
        return number(mean, digits)
    return f"{number(mean, digits)} ± {number((high - low) / 2, 2)}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def seeds_text(seeds: int | str, looks: Looks | None) -> str:
    """How many seeds the table's claims were measured over, in words."""
    if looks is None:
        return f"{seeds} seed(s)"
    return (
        f"{looks.start} to {looks.max_seeds} seeds, added one at a time to the configurations "
        "of a comparison still undecided"
    )


def markdown(rows: Sequence[Row], seeds: str) -> str:
    """The table as markdown, with a line saying how to read it (``seeds``:
    :func:`seeds_text`)."""
    lines = [
        "# The course's claims, measured",
        "",
        f"Each claim was measured over {seeds}: mean ± the half-width of the 95 % "
        "Student-t interval. The verdict is computed from the measurements by the rule "
        "in its row. Where two configurations are compared: Welch's test at p < 0.05, TOST "
        "for the same within a margin (then not supported), else undecided with an estimate "
        "of the seeds that would decide it. Along an ordered set (the batch sizes): the "
        "Jonckheere–Terpstra trend test; against a threshold: a one-sample t-test. With seeds "
        "added until decided, each look tests at its group-sequential level (O'Brien–Fleming-"
        "type alpha spending, 0.05 over all the looks). P(A > B) is the chance a seed of A "
        "beats one of B, with its 95 % bootstrap interval.",
        "",
        "| lesson | claim (course) | measured | verdict | rule and evidence | runs |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = ", ".join(run[:SHORT_ID] for run in r.runs)
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    r.lesson,
                    f"{r.claim} ({r.course})",
                    r.measured,
                    f"{_MARKS[r.verdict]} **{r.verdict}**",
                    f"{r.rule}. {r.evidence}",
                    f"{len(r.runs)}: {runs}",
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def summary(rows: Sequence[Row]) -> str:
    """The short table the README shows: each claim and its verdict (the whole row is in
    ``lessons.md``)."""
    lines = ["| lesson | claim | verdict |", "|---|---|---|"]
    lines += [
        f"| {_cell(r.lesson)} | {_cell(r.claim)} | {_MARKS[r.verdict]} {r.verdict} |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def read_csv(path: Path) -> list[Row]:
    """The rows of a ``lessons.csv`` (:func:`csv_text`'s inverse)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Row(
                **{
                    **record,
                    "verdict": Verdict(record["verdict"]),
                    "runs": tuple(record["runs"].split()),
                }
            )
            for record in csv.DictReader(handle)
        ]


def csv_text(rows: Sequence[Row]) -> str:
    """The table as CSV: one line per claim, run ids whole and space-separated."""
    out = io.StringIO()
    names = [n for n in Row.__dataclass_fields__ if n not in _NOT_COLUMNS]
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        record = {k: v for k, v in asdict(r).items() if k not in _NOT_COLUMNS}
        writer.writerow({**record, "verdict": str(r.verdict), "runs": " ".join(r.runs)})
    return out.getvalue()


def write(rows: Sequence[Row], folder: Path, seeds: str) -> dict[str, Path]:
    """Write ``lessons.md`` and ``lessons.csv`` into ``folder`` (each replaced whole)."""
    return {
        MARKDOWN: atomic_write_text(folder / MARKDOWN, markdown(rows, seeds)),
        CSV: atomic_write_text(folder / CSV, csv_text(rows)),
    }
