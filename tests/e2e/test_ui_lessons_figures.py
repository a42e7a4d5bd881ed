"""The lessons' table and the course's figures as a person sees them in the MLflow UI,
checked in a real Chromium: a tiny `python -m pipeline.lessons --only step` and
`python -m pipeline.figures` fill a SQLite store that `python -m pipeline.ui` serves."""

from __future__ import annotations

import sys

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import contract
from pipeline.servers import ui
from tests.e2e.test_ui_browser import browser, chromium_path, free_port, page  # noqa: F401
from tests.helpers import LocalServer, all_succeed, prepared_copy, start_logged

playwright = pytest.importorskip("playwright.sync_api")
from tests.e2e import ui_walk  # noqa: E402 - needs playwright

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lecture_store(tmp_path_factory, mirror_dir):
    server = LocalServer(mirror_dir)
    try:
        dest = tmp_path_factory.mktemp("ui-lessons") / "repo"
        repo, env = prepared_copy(dest, mirror_dir, server.url)
    finally:
        server.close()
    store = f"sqlite:///{repo / 'mlflow.db'}"
    env = {**env, "MLFLOW_TRACKING_URI": store}
    # At once, on one store, as two users would.
    lessons = ["pipeline.lessons", "--only", "step", "--seeds", "2"]
    figures = ["pipeline.figures", f"hydra.run.dir={repo / 'outputs'}"]
    all_succeed(
        *(
            start_logged([sys.executable, "-m", *command], repo, env, repo.parent / f"{i}.log")
            for i, command in enumerate((lessons, figures))
        )
    )
    return repo, store, env


@pytest.fixture(scope="module")
def served(lecture_store):
    repo, store, env = lecture_store
    server = ui_walk.start_ui(store, free_port(), repo, env)
    yield server, store
    ui_walk.stop_ui(server.process)


def _only_run(store: str, experiment: str, filter_string: str = ""):
    client = MlflowClient(store)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    (run,) = client.search_runs([experiment_id], filter_string)
    return experiment_id, run


def test_the_lessons_parent_shows_each_claim_and_its_verdict(served, page):  # noqa: F811
    server, store = served
    parents = f"tags.`{contract.LESSON_TAG}` = 'step' and attributes.run_name LIKE 'lessons-%'"
    experiment_id, parent = _only_run(store, "lessons", parents)
    link = ui.page(server.base, experiment_id, parent.info.run_id)
    description = ui_walk.overview(page, link, parent.info.run_name)
    text = description.inner_text()
    assert "Step cannot be trained by backpropagation" in text
    assert "supported" in text
    # The markdown table renders as a table, not as pipes.
    assert page.get_by_role("columnheader", name="verdict").is_visible()
    page.get_by_role("tab", name="Artifacts").click()
    playwright.expect(page.get_by_text("lessons.md", exact=True).first).to_be_visible()


def test_the_lecture_run_previews_the_figures(served, page):  # noqa: F811
    server, store = served
    experiment_id, run = _only_run(store, "lecture")
    link = ui.page(server.base, experiment_id, run.info.run_id)
    # exact: the description's heading, "The course's figures", contains the run's name
    description = ui_walk.overview(page, link, run.info.run_name, exact=True)
    assert "activations.png" in description.inner_text()
    image = ui_walk.artifact_image(page, "activations.png")
    assert ui_walk.natural_width(image) > 0
