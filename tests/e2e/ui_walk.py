"""The way a person walks through a comparison in the MLflow UI, in a real Chromium.

Each function does what a user does (open a link, expand the sweep, switch to
the charts, group by configuration, compare two runs, read the parent's
Overview, open an artifact) and waits for what the user would then see, so a
test or the README's screenshots can follow the same path.

The browser is the distribution's Chromium (``apt-get install chromium``),
driven by Playwright with ``executable_path``: nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

# The distribution's Chromium; CHROMIUM overrides it.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Root needs --no-sandbox; the rest keep a closed network's refused connections out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
# MLflow 3 opens its assistant panel on a browser's first visit: a person closes it
# once; a fresh test browser starts with it closed.
CLOSED_ASSISTANT = (
    "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"
    "localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
)
# What MLflow stores once a person clicks the "Model training" switch.
MODEL_TRAINING_CHOSEN = "localStorage.setItem('mlflow.workflowType_v1', '\"machine_learning\"');"
CARD = "experiment-view-compare-runs-card"  # one chart of the chart view
SERVER_START_S = 180.0  # python -m pipeline.ui: MLflow's import and store start-up
STOP_S = 30.0
CHART_SCROLLS = 20  # wheel turns to bring a chart card into view
ROW_CHECKBOX = "Press Space to toggle row selection (unchecked)"


@dataclass
class UiServer:
    """A running ``python -m pipeline.ui`` and the links it printed."""

    process: subprocess.Popen
    base: str
    experiments: dict[str, str]
    sweep_name: str | None
    sweep_link: str | None
    output: list[str]


def start_ui(uri: str, port: int, cwd: Path, env: dict[str, str]) -> UiServer:
    """Start ``python -m pipeline.ui`` and wait (bounded) until it prints its links."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.ui", "--port", str(port), "--tracking-uri", uri],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops it"):
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(SERVER_START_S) or process.poll() is not None:
        stop_ui(process)
        raise RuntimeError("pipeline.ui printed no links:\n" + "\n".join(lines))
    return _parse(process, lines)


LINK = re.compile(r"^  (\S+)\s+(http://\S+)$")


def _parse(process: subprocess.Popen, lines: list[str]) -> UiServer:
    """Read the links out of pipeline.ui's output (the server's own log lines aside)."""
    start = next(i for i, line in enumerate(lines) if line.startswith("MLflow UI: "))
    base = lines[start].split()[-1]
    experiments, sweep_name, sweep_link = {}, None, None
    section = ""
    for line in lines[start + 1 :]:
        if line.startswith(("Experiments", "Latest sweep")):
            section = line
        elif (match := LINK.match(line)) and section.startswith("Experiments"):
            experiments[match[1]] = match[2]
        elif match and section.startswith("Latest sweep"):
            sweep_name, sweep_link = match[1], match[2]
    return UiServer(process, base, experiments, sweep_name, sweep_link, lines)


def stop_ui(process: subprocess.Popen) -> None:
    """Stop pipeline.ui and every process under it, whatever state it is in."""
    import psutil

    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # pipeline.ui stops its server itself
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_S)
    for member in family:  # anything left, server workers included
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=STOP_S)
    if process.poll() is None:
        process.wait(STOP_S)


# ------------------------------------------------------------------ the walk
def open_runs(page: Page, link: str, parent: str) -> None:
    """Open an experiment's runs page from its link; wait for the sweep's row."""
    page.goto(link)
    expect(page.get_by_role("link", name=parent, exact=True)).to_be_visible(timeout=30_000)


def expand(page: Page, parent: str, child: str) -> None:
    """Expand the parent's row (the +/- before its name) until ``child`` shows (a child of
    that name: two configurations that differ only in a number share their run names)."""
    page.get_by_role("gridcell", name=parent).get_by_role("button").first.click()
    expect(page.get_by_role("link", name=child, exact=True).first).to_be_visible()


def run_links(page: Page, prefix: str) -> list[str]:
    """The names of the run links shown in the runs table that start with ``prefix``."""
    links = page.get_by_role("grid").get_by_role("link")
    return [name for name in links.all_inner_texts() if name.startswith(prefix)]


def dataset_cells(page: Page, dataset: str) -> Locator:
    """The Dataset column's buttons naming ``dataset``'s training split."""
    return page.get_by_role("button", name=f"{dataset}/train (")


def charts(page: Page) -> None:
    """Switch the runs page to the chart view."""
    page.locator("label:has(input[value=CHART])").click()
    expect(page.get_by_placeholder("Search metric charts")).to_be_visible()


def table(page: Page) -> None:
    """Switch the runs page back to the table."""
    page.locator("label:has(input[value=TABLE])").click()


def chart(page: Page, title: str) -> Locator:
    """The chart card titled ``title``: searched for, then scrolled to, as a user would
    (the UI draws only the cards that come into view)."""
    search = page.get_by_placeholder("Search metric charts")
    search.fill(title)
    card = page.get_by_test_id(CARD).filter(has=page.get_by_role("heading", name=title, exact=True))
    area = page.get_by_test_id("experiment-view-compare-runs-chart-area")
    for _ in range(CHART_SCROLLS):
        if card.count():
            break
        box = area.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(300)
    expect(card).to_have_count(1)
    card.scroll_into_view_if_needed()
    expect(bars(card).first).to_be_visible()
    return card


def bars(card: Locator) -> Locator:
    """The drawn bars of a chart card (markers, in a line chart)."""
    return card.locator(".js-plotly-plot .point")


def fullscreen(card: Locator) -> Locator:
    """Open a chart card full screen (its first button); the dialog showing it."""
    card.get_by_role("button").first.click()
    dialog = card.page.get_by_role("dialog")
    expect(dialog.locator(".js-plotly-plot .point").first).to_be_visible()
    return dialog


def group_by(page: Page, tag: str) -> None:
    """Group by → the tag, from the Group by menu's search."""
    page.get_by_role("button", name="Group by").click()
    menu = page.get_by_role("menu", name="Group by")
    menu.get_by_role("textbox").fill(tag)
    menu.get_by_role("menuitemcheckbox", name=tag, exact=True).click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name=f"Group by: {tag}")).to_be_visible()


def groups(page: Page) -> dict[str, int]:
    """The group rows of the grouped runs table: ``{label: number of runs}``."""
    cells = page.get_by_role("gridcell", name="Group: ")
    found = {}
    for text in cells.all_inner_texts():
        label, _, count = text.split("Group: ", 1)[1].strip().partition("\n")
        found[label] = int(count)
    return found


def compare(page: Page, runs: list[str]) -> None:
    """Tick the runs in the table and press Compare; wait for the compare page."""
    for name in runs:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
        page.get_by_role("row").nth(0).wait_for()
        index = row.first.get_attribute("row-index")
        page.locator(f"[row-index='{index}']").get_by_role("checkbox", name=ROW_CHECKBOX).check()
    page.get_by_role("button", name="Compare", exact=True).click()
    expect(page.get_by_role("switch", name="Parameters - Show diff only")).to_be_visible(
        timeout=30_000
    )


def differing_params(page: Page) -> list[str]:
    """Turn on "Show diff only" for Parameters; the names of the rows that remain."""
    page.get_by_role("switch", name="Parameters - Show diff only").click()
    time.sleep(0.5)  # the table re-renders without a signal to wait for
    section = page.locator("table").filter(has=page.get_by_role("rowheader")).nth(1)
    return sorted(section.get_by_role("rowheader").all_inner_texts())


def overview(page: Page, link: str, heading: str, exact: bool = False) -> Locator:
    """Open a run's page from its link; the Overview's description, expanded. ``exact``:
    the run's heading is exactly ``heading`` (a description's own heading may contain it)."""
    page.goto(link)
    title = page.get_by_role("heading", name=heading, exact=exact)
    expect(title).to_be_visible(timeout=30_000)
    description = page.get_by_text("Description", exact=True).locator("xpath=../..")
    expect(description.get_by_role("heading").first).to_be_visible()
    more = page.get_by_text("Show more", exact=True)
    if more.count():  # a long description shows its first lines until expanded
        more.first.click()
        expect(page.get_by_text("Show less", exact=True)).to_be_visible()
    return description


def artifact_image(page: Page, *path: str) -> Locator:
    """Open the Artifacts tab and the file at ``path``; the previewed image."""
    page.get_by_role("tab", name="Artifacts").click()
    for part in path:
        page.get_by_text(part, exact=True).first.click()
    image = page.locator(f"img[src*='{path[-1]}']").or_(page.get_by_role("img", name=path[-1]))
    expect(image.first).to_be_visible(timeout=30_000)
    return image.first


def natural_width(image: Locator) -> int:
    """The loaded image's natural width: 0 when it did not load."""
    image.evaluate("img => img.decode ? img.decode().catch(() => null) : null")
    return int(image.evaluate("img => img.naturalWidth"))
