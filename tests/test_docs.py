"""The README and docs/: every link leads somewhere, the README stays short, and every
command in the README's fenced blocks still parses (a dry run, ``--cfg job`` or
``--help``)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from tests.helpers import REPO_ROOT, tool_env

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _outside_fences(text: str) -> str:
    return FENCE.sub("", text)


def anchors(page: Path) -> set[str]:
    """GitHub's anchor of each heading of ``page``."""
    found = set()
    for line in _outside_fences(page.read_text()).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in LINK.findall(_outside_fences(page.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(file):
            broken.append(f"{target}: no such heading in {file.name}")
    assert broken == []


def test_the_readme_fits_on_a_few_screens_and_links_every_page():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(readme)}
    assert {p.name for p in PAGES[1:]} - linked == set()  # no page a reader cannot find


def readme_commands() -> list[str]:
    """Each command line of the README's ``bash`` blocks, without its comment."""
    commands = []
    for language, block in FENCE.findall((REPO_ROOT / "README.md").read_text()):
        if language != "bash":
            continue
        for line in block.splitlines():
            command = line.split("  #")[0].split(" # ")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def dry_run(command: str) -> list[str]:
    """The command, made to parse its arguments and stop: ``make -n``, Hydra's ``--cfg
    job`` (a sweep's first job), ``--help`` for the others."""
    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)  # PORT=5001 make ui: the variable changes nothing that parses
    if words[0] == "make":
        return ["make", "-n", *words[1:]]
    if words[:2] == ["python", "-m"] and words[2] in ("pipeline.train", "pipeline.figures"):
        overrides = [w for w in words[3:] if w not in ("-m", "--multirun")]
        first = []
        for override in OverridesParser.create().parse_overrides(overrides):
            value = (
                next(override.sweep_string_iterator(), None)
                if override.is_sweep_override()
                else None
            )
            first.append(f"{override.get_key_element()}={value}" if value else override.input_line)
        return [sys.executable, "-m", words[2], *first, "--cfg", "job"]
    if words[:2] == ["python", "-m"]:
        return [sys.executable, "-m", words[2], "--help"]
    if words[0] == "dvc":
        subcommand = [w for w in words[1:3] if not w.startswith("-")][:2]
        return [str(Path(sys.executable).parent / "dvc"), *subcommand, "--help"]
    if words[0] == "pytest":
        return [
            sys.executable,
            "-m",
            "pytest",
            *words[1:],
            "--collect-only",
            "-q",
            "tests/test_docs.py",
        ]
    raise AssertionError(f"no dry run known for the README's command: {command}")


def test_the_readme_has_commands_of_every_kind():
    kinds = {shlex.split(c)[0] for c in readme_commands()}
    assert {"make", "python", "dvc"} <= kinds


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_every_command_in_the_readme_parses(command):
    done = subprocess.run(
        dry_run(command),
        cwd=REPO_ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
