"""What a person sees in the MLflow UI, checked in a real Chromium.

A real tiny sweep (iris, 2 activations x 2 optimizers, 2 seeds) fills a SQLite
store; ``python -m pipeline.ui`` (what ``make ui`` runs) serves it on a free
loopback port and prints the links the tests open.  A check that fails saves a
screenshot under ``test-screenshots/`` (``OPTLAB_UI_SHOTS`` overrides).

With ``OPTLAB_UI_DOCS_STORE`` set to a store holding the Fashion-MNIST
``activation_x_optimizer`` sweep, ``test_readme_screenshots`` walks the same way
through it and writes the README's screenshots into ``docs/images/``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_sweep import sweep
from tests.helpers import REPO_ROOT, LocalServer, free_port, prepared_copy, tool_env

playwright = pytest.importorskip("playwright.sync_api")
from tests.e2e import ui_walk  # noqa: E402 - needs playwright

pytestmark = pytest.mark.slow
PARENT_PREFIX = "sweep-iris-"
CHILD = re.compile(r"^iris-(relu|tanh)-(sgd|adam)-bs32-s4[23]$")
CONFIGURATIONS = [
    "activation=relu, optimizer=adam",
    "activation=relu, optimizer=sgd",
    "activation=tanh, optimizer=adam",
    "activation=tanh, optimizer=sgd",
]
IRIS = ("dataset=iris", "training.epochs=2")  # the sweeps the UI shows: tiny and quick
SHOTS = Path(os.environ.get("OPTLAB_UI_SHOTS") or REPO_ROOT / "test-screenshots")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(ui_walk.CHROMIUM).is_file():
        # CI installs it (.ci/run): there a missing browser is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {ui_walk.CHROMIUM}: apt-get install chromium")
        pytest.skip(f"no Chromium at {ui_walk.CHROMIUM} (apt-get install chromium)")
    return ui_walk.CHROMIUM


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory, mirror_dir):
    """A real sweep's store: iris, {relu, tanh} x {sgd, adam}, seeds 42 and 43."""
    server = LocalServer(mirror_dir)
    try:
        dest = tmp_path_factory.mktemp("ui") / "repo"
        repo, env = prepared_copy(dest, mirror_dir, server.url, "preprocess@iris")
    finally:
        server.close()
    store = f"sqlite:///{repo / 'mlflow.db'}"
    sweep(repo, env, store, *IRIS, "activation=relu,tanh", "optimizer=sgd,adam", "sweep.seeds=2")
    return repo, store, env


@pytest.fixture(scope="module")
def ui(sweep_store):
    repo, store, env = sweep_store
    server = ui_walk.start_ui(store, free_port(), repo, env)
    yield server
    ui_walk.stop_ui(server.process)


@pytest.fixture(scope="module")
def auto_ui(sweep_store):
    """The same project's second store, with a sweep of seeds until decided: two learning
    rates a hair apart train alike, so neither is decided at 3 seeds and a round in the
    launching process adds each a 4th (``sweep.max_seeds=4``)."""
    repo, _, env = sweep_store
    store = f"sqlite:///{repo / 'auto.db'}"
    sweep(
        repo,
        env,
        store,
        *IRIS,
        "optimizer.learning_rate=0.01,0.0100001",
        "sweep.seeds=auto",
        "sweep.max_seeds=4",
        "compare.margin=0.001",
        f"hydra.sweep.dir={repo / 'multirun' / 'auto'}",
    )
    server = ui_walk.start_ui(store, free_port(), repo, env)
    yield server
    ui_walk.stop_ui(server.process)


@pytest.fixture(scope="module")
def browser(chromium_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ui_walk.CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser profile's page; a screenshot of it when the test fails."""
    context = browser.new_context(viewport=ui_walk.VIEWPORT)
    context.add_init_script(ui_walk.CLOSED_ASSISTANT)
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / f"{request.node.name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the failure: {shot}", file=sys.stderr)
    context.close()


def test_ui_prints_a_link_per_experiment_and_the_latest_sweep(ui):
    assert ui.base.startswith("http://127.0.0.1:")  # loopback unless HOST says otherwise
    assert list(ui.experiments) == ["iris"]
    assert ui.experiments["iris"].startswith(f"{ui.base}/#/experiments/")
    assert ui.experiments["iris"].endswith("/runs?workflowType=machine_learning")
    assert ui.sweep_name.startswith(PARENT_PREFIX)
    assert re.fullmatch(
        rf"{re.escape(ui.base)}/#/experiments/\d+/runs/[0-9a-f]{{32}}\?workflowType=machine_learning",
        ui.sweep_link,
    )


def test_with_a_tracking_server_ui_only_prints_its_links(ui, sweep_store):
    repo, _, env = sweep_store
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.ui"],
        cwd=repo,
        env={**env, "MLFLOW_TRACKING_URI": ui.base},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"  iris  {ui.experiments['iris']}" in done.stdout.splitlines()
    assert f"  {ui.sweep_name}  {ui.sweep_link}" in done.stdout.splitlines()


def test_the_runs_page_shows_the_sweep_and_its_children_with_their_data(ui, page):
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    assert page.get_by_role("button", name="Model training").is_visible()
    # Collapsed, the experiment shows only the parent.
    assert ui_walk.run_links(page, "iris-") == []
    ui_walk.expand(page, ui.sweep_name, "iris-relu-sgd-bs32-s42")
    children = ui_walk.run_links(page, "iris-")
    assert len(children) == 8 and all(CHILD.match(name) for name in children), children
    assert ui_walk.dataset_cells(page, "iris").count() == 8  # the Dataset column is filled
    # Source column: the entry point that ran, on the parent and every child.
    assert page.get_by_role("gridcell", name="train.py", exact=True).count() == 9


def test_charts_compare_configurations_collapsed_and_expanded(ui, page):
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    ui_walk.charts(page)
    best = ui_walk.chart(page, "best_mean_test_accuracy")
    assert ui_walk.bars(best).count() == 1
    assert ui.sweep_name in best.inner_text()
    per_configuration = ui_walk.chart(page, "mean_test_accuracy/activation-relu optimizer-adam")
    assert ui_walk.bars(per_configuration).count() == 1

    ui_walk.expand(page, ui.sweep_name, "iris-relu-sgd-bs32-s42")
    accuracy = ui_walk.chart(page, "test_accuracy")
    assert ui_walk.bars(accuracy).count() == 8  # a bar per child run
    legend = accuracy.inner_text()
    assert all(name in legend for name in ui_walk.run_links(page, "iris-")), legend


def test_group_by_configuration_gives_the_reports_four_groups(ui, page):
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    ui_walk.group_by(page, "configuration")
    assert ui_walk.groups(page) == {name: 2 for name in CONFIGURATIONS}  # two seeds each
    ui_walk.charts(page)
    accuracy = ui_walk.chart(page, "test_accuracy")
    assert ui_walk.bars(accuracy).count() == 4  # a bar per group: its runs' mean
    text = accuracy.inner_text()
    assert all(name in text for name in CONFIGURATIONS), text


def test_the_compare_page_shows_the_params_that_differ(ui, page):
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    ui_walk.expand(page, ui.sweep_name, "iris-relu-sgd-bs32-s42")
    ui_walk.compare(page, ["iris-relu-sgd-bs32-s42", "iris-tanh-sgd-bs32-s42"])
    assert ui_walk.differing_params(page) == ["activation.name"]


def test_the_parent_overview_holds_the_ranking(ui, page):
    description = ui_walk.overview(page, ui.sweep_link, ui.sweep_name)
    text = description.inner_text()
    assert "iris (multiclass): test_accuracy, higher is better" in text
    assert "Best:" in text
    for name in CONFIGURATIONS:
        assert name in text
    # Each configuration against the best, in the three verdicts with P(best better).
    assert "Against it (Welch's t-test for a difference, TOST for equivalence within ±0.005" in text
    assert "P(best better) = " in text
    # The rank column of the markdown table renders as a table, not as pipes.
    assert page.get_by_role("columnheader", name="configuration").is_visible()
    assert page.get_by_role("columnheader", name="verdict").is_visible()


def test_seeds_added_in_rounds_are_children_of_the_sweep_and_its_overview_shows_the_looks(
    auto_ui, page
):
    ui_walk.open_runs(page, auto_ui.experiments["iris"], auto_ui.sweep_name)
    ui_walk.expand(page, auto_ui.sweep_name, "iris-relu-adam-bs32-s45")
    children = ui_walk.run_links(page, "iris-")
    # Two configurations with the same run name (only the rate differs), seeds 42 … 45.
    assert sorted(children) == sorted([f"iris-relu-adam-bs32-s{s}" for s in range(42, 46)] * 2)
    description = ui_walk.overview(page, auto_ui.sweep_link, auto_ui.sweep_name)
    text = description.inner_text()
    assert "replayed look by look as seeds were added (a group-sequential design" in text
    assert "undecided" in text and "at 4 seeds" in text
    assert page.get_by_role("columnheader", name="level (seeds)").is_visible()
    assert page.get_by_role("columnheader", name="p (Holm)").count() == 0


def test_the_parent_artifacts_preview_the_heatmap(ui, page):
    ui_walk.overview(page, ui.sweep_link, ui.sweep_name)
    image = ui_walk.artifact_image(page, "report", "heatmap.png")
    assert ui_walk.natural_width(image) > 0


def test_a_training_run_shows_its_curves_and_confusion_matrix(ui, page):
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    ui_walk.expand(page, ui.sweep_name, "iris-relu-sgd-bs32-s42")
    page.get_by_role("link", name="iris-relu-sgd-bs32-s42", exact=True).click()
    expect = playwright.expect
    expect(page.get_by_role("heading", name="iris-relu-sgd-bs32-s42")).to_be_visible()
    curves = ui_walk.artifact_image(page, "learning_curves.png")
    assert ui_walk.natural_width(curves) > 0
    matrix = ui_walk.artifact_image(page, "confusion_matrix.png")
    assert ui_walk.natural_width(matrix) > 0


def test_a_training_run_shows_the_machine_and_the_same_bits_promise(ui, page):
    """Its Tags: the kernels' ISA under the CPU pin, the threads, and whether the run is
    inside the same-bits promise (docs/reproducibility.md)."""
    ui_walk.open_runs(page, ui.experiments["iris"], ui.sweep_name)
    ui_walk.expand(page, ui.sweep_name, "iris-tanh-adam-bs32-s43")
    page.get_by_role("link", name="iris-tanh-adam-bs32-s43", exact=True).click()
    expect = playwright.expect
    expect(page.get_by_role("heading", name="iris-tanh-adam-bs32-s43")).to_be_visible()
    for key, value in (("same_bits", "yes"), ("isa", "avx2"), ("threads", "1")):
        chip = page.get_by_text(f"optlab.cpu.{key}", exact=True).locator("xpath=..")
        expect(chip).to_have_text(f"optlab.cpu.{key}: {value}")


DOCS_STORE = os.environ.get("OPTLAB_UI_DOCS_STORE")
DOCS_IMAGES = REPO_ROOT / "docs" / "images"


@pytest.mark.skipif(
    not DOCS_STORE, reason="set OPTLAB_UI_DOCS_STORE to a store with the real sweep"
)
def test_readme_screenshots(chromium_path, page):
    """The README's walk through the real Fashion-MNIST activation x optimizer sweep
    (3 seeds), from the links pipeline.ui prints; writes docs/images/ui-*.png."""
    server = ui_walk.start_ui(DOCS_STORE, free_port(), REPO_ROOT, tool_env())
    # A reader who switched to Model training once, as the README says: MLflow
    # remembers it, also on pages the printed links do not lead to (compare).
    page.context.add_init_script(ui_walk.MODEL_TRAINING_CHOSEN)
    try:
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)

        def shot(name: str) -> None:
            page.screenshot(path=str(DOCS_IMAGES / f"ui-{name}.png"))

        experiment = server.experiments["activation_x_optimizer-fashion_mnist"]
        ui_walk.open_runs(page, experiment, server.sweep_name)
        shot("1-runs")
        ui_walk.charts(page)
        ui_walk.chart(page, "best_mean_test_accuracy")
        ui_walk.chart(page, "mean_test_accuracy/activation-relu optimizer-adam")
        page.get_by_placeholder("Search metric charts").fill("")
        page.get_by_test_id("experiment-view-compare-runs-section-header").first.hover()
        page.mouse.wheel(0, -5000)  # back to the top of the charts
        page.wait_for_timeout(500)
        shot("2-parent-charts")

        ui_walk.table(page)
        first = "fashion_mnist-relu-adam-bs32-s42"
        ui_walk.expand(page, server.sweep_name, first)
        ui_walk.compare(page, [first, "fashion_mnist-tanh-adam-bs32-s42"])
        assert ui_walk.differing_params(page) == ["activation.name"]
        shot("3-compare")

        description = ui_walk.overview(page, server.sweep_link, server.sweep_name)
        assert "fashion_mnist (multiclass): test_accuracy" in description.inner_text()
        shot("4-parent-overview")

        ui_walk.open_runs(page, experiment, server.sweep_name)
        ui_walk.group_by(page, "configuration")
        found = ui_walk.groups(page)
        assert len(found) == 9 and set(found.values()) == {3}, found
        shot("5-grouped")
        ui_walk.charts(page)
        accuracy = ui_walk.chart(page, "test_accuracy")
        assert ui_walk.bars(accuracy).count() == 9
        ui_walk.fullscreen(accuracy)
        shot("6-grouped-test-accuracy")
    finally:
        ui_walk.stop_ui(server.process)
