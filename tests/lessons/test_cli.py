"""``python -m pipeline.lessons``: its arguments, and a whole run on tiny generated data."""

from __future__ import annotations

import csv

import pytest
from mlflow.tracking import MlflowClient

from pipeline.compare.pairwise import Looks
from pipeline.config import contract
from pipeline.lessons import cli
from pipeline.lessons.runner import Runner
from pipeline.lessons.table import Row
from pipeline.lessons.verdicts import Measured, Verdict, exceeds
from pipeline.tracking import store


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--only", "step,nope"],
            "unknown lesson 'nope'; valid lessons: batch_size, vanishing_gradient,",
        ),
        (["--only", ","], "unknown lesson ','; valid lessons: batch_size"),
        (["--seeds", "0"], "--seeds '0': valid: an integer of at least 1, or 'auto'"),
        (["--seeds", "two"], "--seeds 'two': valid: an integer of at least 1, or 'auto'"),
        (["--max-seeds", "2"], "--max-seeds '2': valid: an integer of at least 3"),
    ],
)
def test_a_bad_argument_is_one_line_naming_the_valid_ones(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_lessons_are_run_in_the_order_given():
    assert cli.parser().parse_args(["--only", "step,batch_size"]).only == ["step", "batch_size"]
    assert cli.parser().parse_args([]).only == list(cli.LESSONS)


@pytest.mark.slow
def test_a_run_writes_the_table_and_logs_it_to_a_finished_parent(
    tmp_path, fashion_root, monkeypatch
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "lessons"
    argv = ["--only", "step", "--seeds", "2", "--data-root", str(fashion_root), "--out", str(out)]
    assert cli.main(argv) == 0
    rows = list(csv.DictReader((out / "lessons.csv").open()))
    assert [r["lesson"] for r in rows] == ["step"] * 3
    assert rows[0]["verdict"] == "supported"
    assert len(rows[1]["runs"].split()) == 4
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("lessons")
    parents = client.search_runs(
        [experiment.experiment_id], f"tags.`{contract.LESSON_TAG}` = 'step'"
    )
    parent = next(r for r in parents if contract.PARENT_RUN_TAG not in r.data.tags)
    assert parent.info.status == "FINISHED"
    markdown = (out / "lessons.md").read_text()
    note = parent.data.tags[store.NOTE_TAG]
    assert note.startswith("### The course's claims, measured\n\nOver 2 seed(s).")
    assert "| step | Step cannot be trained by backpropagation" in note
    assert note.count("\n| step |") == 3
    assert "✅ **supported**" in markdown
    logged = sorted(a.path for a in client.list_artifacts(parent.info.run_id))
    assert logged == ["lessons.csv", "lessons.md"]
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`{contract.PARENT_RUN_TAG}` = '{parent.info.run_id}'"
    )
    assert len(children) == 6
    # Again: every configuration is read back, none trained.
    assert cli.main(argv) == 0
    assert len(client.search_runs([experiment.experiment_id])) == 6 + 2


def test_the_description_fits_in_a_tag_however_many_rows():
    row = Row("l", "a claim " * 20, "c", "m", Verdict.UNDECIDED, "r", "e", ("run",))
    text = cli.description([row] * 200, seeds="3 seed(s)")
    assert len(text) == contract.TAG_MAX
    claim = "a claim " * 20  # its trailing space stays in the cell
    assert cli.description([row], seeds="3 seed(s)").endswith(f"| l | {claim} | ❔ undecided |\n")


# Per seed: a beats b, decided at the second look (4 seeds); c against d is never decided.
TOY = {
    "a": [0.90, 0.92, 0.91, 0.905, 0.915, 0.90],
    "b": [0.85, 0.88, 0.86, 0.87, 0.855, 0.865],
    "c": [0.80, 0.85, 0.83, 0.81, 0.84, 0.82],
    "d": [0.82, 0.84, 0.81, 0.83, 0.80, 0.85],
}


def test_a_lesson_runs_again_with_one_more_seed_where_a_verdict_is_undecided(tmp_path, monkeypatch):
    """The loop of --seeds auto: the runner's seeds per configuration grow only for the
    configurations of an undecided comparison, up to max_seeds, and the lesson is judged
    again each time (a lesson that trains nothing: the values by seed are TOY's)."""
    runner = Runner(f"sqlite:///{tmp_path / 'mlflow.db'}", "lessons", "p", 0, looks=Looks(3, 6))
    seen = []

    def toy(run: Runner) -> list[Row]:
        seeds = {k: run.wanted.get(k, 3) for k in TOY}
        seen.append(seeds)
        m = {k: Measured(TOY[k][: seeds[k]], k, run.looks) for k in TOY}
        return [
            Row.judged("a beats b", "c", "m", exceeds(m["a"], m["b"], "a", "b", "x"), ()),
            Row.judged("c beats d", "c", "m", exceeds(m["c"], m["d"], "c", "d", "x"), ()),
        ]

    monkeypatch.setitem(cli.LESSONS, "toy", toy)
    rows = cli.lesson_rows("toy", runner.for_lesson("toy"))
    assert [s["a"] for s in seen] == [3, 4, 4, 4]  # decided at 4 seeds, then left alone
    assert [s["c"] for s in seen] == [3, 4, 5, 6]  # to the budget
    assert [r.verdict for r in rows] == [Verdict.SUPPORTED, Verdict.UNDECIDED]
    assert [r.lesson for r in rows] == ["toy", "toy"]
    assert "at 6 seeds a side" in rows[1].evidence
    # Without a design nothing is added: the lesson is judged once.
    fixed = Runner(f"sqlite:///{tmp_path / 'mlflow.db'}", "lessons", "p", 3)
    assert fixed.add_seed({"a"}) == []


def test_lessons_run_side_by_side_in_chains_the_timed_one_alone():
    every = list(cli.LESSONS)
    assert cli.chains(every) == [
        ["batch_size"],
        ["vanishing_gradient"],
        ["step"],
        ["dead_units"],
        ["optimizers", "tuned_optimizers"],  # the tuned grid reads back optimizers' runs
        ["task_loss"],
    ]
    assert {"batch_size"} == cli.ALONE
    assert cli.chains(["tuned_optimizers", "step"]) == [["tuned_optimizers"], ["step"]]
    assert cli.parser().parse_args(["--jobs", "3"]).jobs == 3


def test_jobs_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--jobs", "0"])
    assert "--jobs '0': valid: an integer of at least 1" in capsys.readouterr().err
