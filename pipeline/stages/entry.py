"""What every stage entry point shares: argument parsing and user-facing errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from omegaconf.errors import OmegaConfBaseException

from pipeline.data.download import DownloadError
from pipeline.interrupt import handling_signals
from pipeline.paths import PARAMS_FILE
from pipeline.redact import redact, redact_logs

# Errors caused by input a user can fix: shown as one clear message, no traceback.
# Hydra's own are added by user_errors() once Hydra is loaded.
USER_ERRORS = (DownloadError, ValueError, OSError, OmegaConfBaseException)


def user_errors() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERRORS`, plus ``HydraException`` when Hydra is loaded.

    Use it as ``except user_errors()``: the clause is evaluated only when an error
    arrives, and a Hydra error can only come from a loaded Hydra. Importing Hydra
    just to name its exception would cost each stage process a third of a second.
    """
    hydra_errors = sys.modules.get("hydra.errors")
    return (*USER_ERRORS, hydra_errors.HydraException) if hydra_errors else USER_ERRORS


def dataset_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every per-dataset stage takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dataset", help="dataset name, a key of data.datasets in params.yaml")
    parser.add_argument("--params", default=PARAMS_FILE, help="params file (default: %(default)s)")
    return parser


DEBUG_ENV = "OPTLAB_DEBUG"


def report(error: BaseException) -> int:
    """Show a user error as one line, ``error: ...`` (its traceback first under
    ``OPTLAB_DEBUG=1``), on stderr, without the secrets of a URL it quotes; return the
    exit status, 1."""
    debug = bool(os.environ.get(DEBUG_ENV))
    if debug:
        print(redact("".join(traceback.format_exception(error))), end="", file=sys.stderr)
    print(f"error: {redact(str(error))}", file=sys.stderr)
    if not debug:
        print(f"(set {DEBUG_ENV}=1 to see the traceback)", file=sys.stderr)
    return 1


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a stage's ``main``, turning user errors into a message and exit status 1.

    ``OPTLAB_DEBUG=1`` shows the traceback too: a ``ValueError`` can also come from
    deep inside Keras or NumPy, where the message alone may not be enough. SIGINT and
    SIGTERM end it with status 130 and 143, after the run recorded why
    (:mod:`pipeline.interrupt`).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    redact_logs()
    try:
        with handling_signals():
            return main(argv)
    except user_errors() as error:
        return report(error)
