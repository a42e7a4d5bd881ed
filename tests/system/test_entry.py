"""What every entry point shares (pipeline.system.entry): a user error is one line
and exit status 1; OPTLAB_DEBUG shows the traceback; a bug is not hidden."""

from __future__ import annotations

import pytest

from pipeline.data.download import DownloadError
from pipeline.system.entry import LAZY_USER_ERRORS, run, user_errors
from pipeline.system.quiet import DEBUG_ENV


def _failing(error: BaseException):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    "error",
    [
        ValueError("unknown dataset 'x'"),
        FileNotFoundError("params.yaml not found"),
        DownloadError("no source"),
    ],
)
def test_a_user_error_is_one_line_and_status_1(error, capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run(_failing(error), []) == 1
    err = capsys.readouterr().err
    assert err == f"error: {error}\n(set {DEBUG_ENV}=1 to see the traceback)\n"


def test_a_hydra_error_is_a_user_error_once_hydra_is_loaded(capsys, monkeypatch):
    # entry.py does not import Hydra (it is costly); a loaded Hydra's errors still count.
    from hydra.errors import ConfigCompositionException

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    error = ConfigCompositionException("Could not override 'x'")
    assert run(_failing(error), []) == 1
    assert capsys.readouterr().err.startswith("error: Could not override 'x'\n")


def test_each_lazy_user_error_names_an_exception_class():
    import importlib

    for module, name in LAZY_USER_ERRORS.items():
        error = getattr(importlib.import_module(module), name)
        assert isinstance(error, type) and issubclass(error, Exception), (module, name)
        assert error in user_errors()


def test_debug_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert run(_failing(ValueError("bad value")), []) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("ValueError: bad value\nerror: bad value\n")


def test_a_bug_is_not_turned_into_a_message():
    with pytest.raises(ZeroDivisionError):
        run(_failing(ZeroDivisionError("bug")), [])
