"""What every entry point shares: a user error shown as one line (its traceback under
``OPTLAB_DEBUG=1``), exit status 1, and SIGINT and SIGTERM handled."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from omegaconf.errors import OmegaConfBaseException

from pipeline.system.interrupt import handling_signals
from pipeline.system.quiet import DEBUG_ENV, debug
from pipeline.system.redact import redact, redact_logs

# Errors caused by input a user can fix: shown as one clear message, no traceback.
USER_ERRORS = (ValueError, OSError, OmegaConfBaseException)
# More of them, by module: importing a module only to name its error would cost each
# process that never loads it (Hydra: a third of a second), and would make every stage
# depend on it in dvc.yaml. A module not loaded has raised nothing.
LAZY_USER_ERRORS = {"pipeline.data.download": "DownloadError", "hydra.errors": "HydraException"}


def user_errors() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERRORS`, plus those of :data:`LAZY_USER_ERRORS` whose module is loaded.

    Use it as ``except user_errors()``: the clause is evaluated only when an error
    arrives, by when any module that raised it is loaded.
    """
    loaded = (
        getattr(sys.modules[module], name)
        for module, name in LAZY_USER_ERRORS.items()
        if module in sys.modules
    )
    return (*USER_ERRORS, *loaded)


def report(error: BaseException) -> int:
    """Show a user error as one line, ``error: ...`` (its traceback first under
    ``OPTLAB_DEBUG=1``), on stderr, without the secrets of a URL it quotes; return the
    exit status, 1."""
    shown = debug()
    if shown:
        print(redact("".join(traceback.format_exception(error))), end="", file=sys.stderr)
    print(f"error: {redact(str(error))}", file=sys.stderr)
    if not shown:
        print(f"(set {DEBUG_ENV}=1 to see the traceback)", file=sys.stderr)
    return 1


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a stage's ``main``, turning user errors into a message and exit status 1.

    ``OPTLAB_DEBUG=1`` shows the traceback too: a ``ValueError`` can also come from
    deep inside Keras or NumPy, where the message alone may not be enough. SIGINT and
    SIGTERM end it with status 130 and 143, after the run recorded why
    (:mod:`pipeline.system.interrupt`).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    redact_logs()
    try:
        with handling_signals():
            return main(argv)
    except user_errors() as error:
        return report(error)
