"""Run a function as a Hydra app on the project's ``conf/``: what ``python -m
pipeline.train`` and ``python -m pipeline.figures`` share."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from omegaconf import DictConfig

from pipeline.config.compose import (
    CONFIG_NAME,
    HYDRA_VERSION_BASE,
    composition_error,
    default_config_dir,
    register_configs,
)
from pipeline.system.entry import report
from pipeline.system.interrupt import handling_signals


def run_app(task: Callable[[DictConfig], Any]) -> None:
    """Compose ``conf/config.yaml`` with the command line's overrides (Hydra's own
    options, ``-m`` sweeps included) and run ``task`` on it; SIGINT and SIGTERM end it
    with status 130 and 143 (:mod:`pipeline.system.interrupt`)."""
    import hydra  # lazy, for cost

    register_configs()
    entry = hydra.main(
        config_path=str(default_config_dir()),
        config_name=CONFIG_NAME,
        version_base=HYDRA_VERSION_BASE,
    )
    with handling_signals(), _errors_in_our_words():
        entry(task)()


# Set, Hydra raises its errors instead of printing them (with a hint to set it).
FULL_ERROR_ENV = "HYDRA_FULL_ERROR"


@contextlib.contextmanager
def _errors_in_our_words() -> Iterator[None]:
    """Hydra's composition errors (an option ``conf/`` lacks, an unknown key, a value of
    the wrong type) as one line in the project's words, as ``validate()`` words them
    (:func:`~pipeline.config.compose.composition_error`), exit 1; Hydra's other errors as Hydra
    prints them. A user who set HYDRA_FULL_ERROR gets Hydra's traceback, as asked."""
    if os.environ.get(FULL_ERROR_ENV):
        yield
        return
    os.environ[FULL_ERROR_ENV] = "1"
    try:
        yield
    except Exception as error:
        from hydra.errors import CompactHydraException  # lazy, for cost

        message = composition_error(error)
        if message is not None:
            said = ValueError(message)
            said.__cause__ = error  # the traceback OPTLAB_DEBUG=1 shows is Hydra's
            raise SystemExit(report(said)) from None
        if not isinstance(error, CompactHydraException):
            raise
        print(error, file=sys.stderr)  # what Hydra itself prints, less its hint
        if error.__cause__ is not None:
            print(error.__cause__, file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        os.environ.pop(FULL_ERROR_ENV, None)
