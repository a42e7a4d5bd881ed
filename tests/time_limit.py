"""A pytest plugin: the run fails when one test's phase (setup, call or teardown) took
longer than ``--max-test-seconds`` (default :data:`LIMIT_S`; 0 turns it off).

A slow test hides in a long suite: this makes it a failure, named with its seconds, on
every run that meets it (``make test`` and CI). The times are pytest's own, as
``--durations`` prints them; under pytest-xdist the controller sees every worker's.
"""

from __future__ import annotations

import pytest

LIMIT_S = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--max-test-seconds",
        type=float,
        default=LIMIT_S,
        help=f"fail the run if a test's setup, call or teardown passes this many seconds "
        f"(default {LIMIT_S:g}; 0: off)",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Name every phase over the limit and fail a run that otherwise passed."""
    limit = session.config.getoption("--max-test-seconds")
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if not limit or terminal is None:
        return
    over = sorted(
        (
            (report.duration, report.nodeid, report.when)
            for reports in terminal.stats.values()
            for report in reports
            if isinstance(report, pytest.TestReport) and report.duration > limit
        ),
        reverse=True,
    )
    if not over:
        return
    lines = [f"{len(over)} test phase(s) took longer than {limit:g} s (--max-test-seconds):"]
    lines += [f"  {seconds:.1f}s {when} {nodeid}" for seconds, nodeid, when in over]
    terminal.write_line("\n".join(lines), red=True)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
