"""The lessons table: the mean ± interval cells, the markdown and CSV, and their writing."""

from __future__ import annotations

import csv
import io

from pipeline.compare.pairwise import Looks
from pipeline.config.paths import layout
from pipeline.lessons.catalogue import LESSONS
from pipeline.lessons.table import (
    CSV,
    MARKDOWN,
    SHORT_ID,
    Row,
    csv_text,
    markdown,
    mean_ci,
    read_csv,
    seeds_text,
    summary,
    write,
)
from pipeline.lessons.verdicts import Judgement, Verdict
from tests.helpers import REPO_ROOT

RUN_A, RUN_B, RUN_C = "0123456789abcdef", "fedcba9876543210", "aaaabbbbccccdddd"
ROWS = [
    Row(
        lesson="relu",
        claim="a | b",
        course="notes §2",
        measured="0.9 ± 0.01",
        verdict=Verdict.SUPPORTED,
        rule="rule one",
        evidence="p = 0.001",
        runs=(RUN_A, RUN_B),
    ),
    Row(
        lesson="adagrad",
        claim="the step shrinks",
        course="notes §5",
        measured="0.5",
        verdict=Verdict.NOT_SUPPORTED,
        rule="rule two",
        evidence="in 0 of 1 seeds",
        runs=(RUN_C,),
    ),
]
LINE_A = (
    "| relu | a \\| b (notes §2) | 0.9 ± 0.01 | ✅ **supported** | rule one. p = 0.001 "
    "| 2: 01234567, fedcba98 |"
)
LINE_B = (
    "| adagrad | the step shrinks (notes §5) | 0.5 | ❌ **not supported** "
    "| rule two. in 0 of 1 seeds | 1: aaaabbbb |"
)


# ------------------------------------------------------------------ mean_ci
def test_mean_ci_of_three_values():
    """[1, 2, 3]: mean 2, sd 1, half-width t_{0.975,2}·1/√3 = 4.3027/1.732 = 2.48 → '2.5'."""
    assert mean_ci([1.0, 2.0, 3.0]) == "2 ± 2.5"


def test_mean_ci_of_two_values():
    """[0.9, 0.92]: mean 0.91, sd 0.01414, t_{0.975,1} = 12.706 → half-width 0.127 → '0.13'."""
    assert mean_ci([0.9, 0.92]) == "0.91 ± 0.13"


def test_mean_ci_of_a_single_value_is_the_mean():
    """One seed has no interval: the mean alone, with the digits asked for."""
    assert mean_ci([0.5]) == "0.5"
    assert mean_ci([0.91234]) == "0.912"
    assert mean_ci([0.91234], digits=2) == "0.91"


def test_mean_ci_of_nothing():
    """No value at all is 'n/a'."""
    assert mean_ci([]) == "n/a"


# ------------------------------------------------------------------ Row
def test_row_judged_copies_the_judgement():
    """Row.judged takes verdict, rule and evidence from the judgement and the runs as a tuple;
    the lesson's name is left to whoever runs it."""
    j = Judgement(Verdict.UNDECIDED, "the rule", "the evidence")
    row = Row.judged("claim", "notes §3", "0.7", j, iter([RUN_A, RUN_B]))
    assert row == Row(
        lesson="",
        claim="claim",
        course="notes §3",
        measured="0.7",
        verdict=Verdict.UNDECIDED,
        rule="the rule",
        evidence="the evidence",
        runs=(RUN_A, RUN_B),
    )


# ------------------------------------------------------------------ markdown
def test_markdown_has_one_line_per_row():
    """Each row is one table line: claim with its source, verdict bold with its mark, rule
    and evidence, run ids cut to SHORT_ID characters and counted; a pipe in a cell is
    escaped."""
    assert SHORT_ID == 8
    lines = markdown(ROWS, seeds="3 seed(s)").splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table == [
        "| lesson | claim (course) | measured | verdict | rule and evidence | runs |",
        LINE_A,
        LINE_B,
    ]
    assert lines[lines.index(table[0]) + 1] == "|---|---|---|---|---|---|"
    assert lines[-1] == LINE_B


def test_the_seeds_in_words_a_number_or_the_design():
    assert seeds_text(3, None) == "3 seed(s)"
    assert seeds_text("auto", Looks(3, 8)) == (
        "3 to 8 seeds, added one at a time to the configurations of a comparison still undecided"
    )


def test_markdown_states_the_seeds_and_title():
    """The heading and the line on how to read it, with the number of seeds."""
    text = markdown(ROWS, seeds="3 seed(s)")
    assert text.startswith("# The course's claims, measured\n\n")
    assert "Each claim was measured over 3 seed(s): mean ± the half-width" in text
    assert text.endswith(LINE_B + "\n")


def test_markdown_undecided_mark_and_newline_in_cell():
    """The undecided mark, and a newline inside a cell becomes <br> (one line per row)."""
    row = Row("l", "c", "s", "m", Verdict.UNDECIDED, "r", "two\nlines", ())
    last = markdown([row], seeds="1 seed(s)").splitlines()[-1]
    assert last == "| l | c (s) | m | ❔ **undecided** | r. two<br>lines | 0:  |"


# ------------------------------------------------------------------ csv_text
def test_csv_round_trips():
    """The CSV reads back with whole run ids space-separated and the verdict as its text."""
    records = list(csv.DictReader(io.StringIO(csv_text(ROWS))))
    assert records == [
        {
            "lesson": "relu",
            "claim": "a | b",
            "course": "notes §2",
            "measured": "0.9 ± 0.01",
            "verdict": "supported",
            "rule": "rule one",
            "evidence": "p = 0.001",
            "runs": f"{RUN_A} {RUN_B}",
        },
        {
            "lesson": "adagrad",
            "claim": "the step shrinks",
            "course": "notes §5",
            "measured": "0.5",
            "verdict": "not supported",
            "rule": "rule two",
            "evidence": "in 0 of 1 seeds",
            "runs": RUN_C,
        },
    ]


def test_csv_of_no_rows_is_the_header():
    """No rows still gives the header line."""
    assert csv_text([]) == "lesson,claim,course,measured,verdict,rule,evidence,runs\n"


# ------------------------------------------------------------------ write
def test_write_creates_folder_and_both_files(tmp_path):
    """write() creates the folder, writes lessons.md and lessons.csv, and leaves no
    temporary file behind."""
    folder = tmp_path / "out" / "lessons"
    paths = write(ROWS, folder, seeds="3 seed(s)")
    assert paths == {MARKDOWN: folder / "lessons.md", CSV: folder / "lessons.csv"}
    assert sorted(p.name for p in folder.iterdir()) == ["lessons.csv", "lessons.md"]
    md = (folder / "lessons.md").read_text(encoding="utf-8")
    assert "measured over 3 seed(s)" in md
    assert md.endswith(LINE_A + "\n" + LINE_B + "\n")
    with open(folder / "lessons.csv", encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    assert [(r["lesson"], r["verdict"], r["runs"]) for r in records] == [
        ("relu", "supported", f"{RUN_A} {RUN_B}"),
        ("adagrad", "not supported", RUN_C),
    ]


def test_write_replaces_the_files_whole(tmp_path):
    """Writing again replaces both files: nothing of the old table is left."""
    write(ROWS, tmp_path, seeds="3 seed(s)")
    write(ROWS[1:], tmp_path, seeds="1 seed(s)")
    md = (tmp_path / "lessons.md").read_text(encoding="utf-8")
    assert "relu" not in md
    assert "measured over 1 seed(s)" in md
    csv_lines = (tmp_path / "lessons.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_lines) == 2
    assert csv_lines[1].startswith("adagrad,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lessons.csv", "lessons.md"]


def test_read_csv_gives_back_the_rows(tmp_path):
    write(ROWS, tmp_path, seeds="3 seed(s)")
    assert read_csv(tmp_path / CSV) == ROWS


def test_the_summary_is_each_claim_and_its_verdict():
    assert summary(ROWS).splitlines() == [
        "| lesson | claim | verdict |",
        "|---|---|---|",
        "| relu | a \\| b | ✅ supported |",
        "| adagrad | the step shrinks | ❌ not supported |",
    ]


def test_the_committed_table_covers_every_lesson_and_the_readme_shows_it():
    """reports/lessons/ comes from a real-data run of every lesson; the README's table is
    its summary, row for row."""
    rows = read_csv(layout(REPO_ROOT).lessons / CSV)
    assert list(dict.fromkeys(r.lesson for r in rows)) == list(LESSONS)  # all, in order
    assert all(r.runs for r in rows)
    assert summary(rows) in (REPO_ROOT / "README.md").read_text()
