"""tests/time_limit.py: a run with a test slower than --max-test-seconds fails, naming it."""

from __future__ import annotations

import pytest

SLOW_AND_QUICK = """
import time

def test_slow():
    time.sleep(0.6)

def test_quick():
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(SLOW_AND_QUICK)
    return pytester.runpytest_inprocess("-p", "tests.time_limit", "-p", "no:randomly", *args)


def test_a_test_over_the_limit_fails_the_run_and_is_named(pytester):
    result = _run(pytester, "--max-test-seconds=0.3")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines(
        [
            r"1 test phase\(s\) took longer than 0.3 s \(--max-test-seconds\):",
            r"  0\.\ds call .*::test_slow$",
        ]
    )


def test_under_the_limit_or_with_it_off_the_run_passes(pytester):
    assert _run(pytester, "--max-test-seconds=5").ret == pytest.ExitCode.OK
    assert _run(pytester, "--max-test-seconds=0").ret == pytest.ExitCode.OK
