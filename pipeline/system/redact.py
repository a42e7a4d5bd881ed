"""Secrets out of everything shown or recorded: the passwords and tokens URLs carry.

A tracking URI (``http://user:password@mlflow.example.org``,
``postgresql://user:password@db/mlflow``) or a mirror URL
(``https://user:token@intranet/datasets``, a presigned ``?X-Amz-Signature=...``)
may hold credentials. Whatever shows or records one (error messages, logs, run tags,
artifacts, printed links) passes it through :func:`redact`, which keeps the rest of
the URL readable: ``https://user:***@intranet/datasets``.

The bottom of the import graph: it imports nothing of the project.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

# scheme://user:password@ or scheme://token@ (a lone user name is often a token).
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s/?#@:]*)(?::(?P<password>[^\s/?#@]*))?@"
)
# ?token=..., &X-Amz-Signature=..., &sig=... (SAS), &api_key=...: the value goes.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;][\w.-]*?(?:token|key|secret|password|passwd|pwd|signature|sig|credential)"
    r"[\w.-]*=)[^&#\s'\"]+",
    re.IGNORECASE,
)


def _userinfo(match: re.Match[str]) -> str:
    if match["password"] is None:
        return f"{match['scheme']}{MASK}@"
    return f"{match['scheme']}{match['user']}:{MASK}@"


def redact(text: str) -> str:
    """``text`` with the password of every URL in it (or its user name, when that comes
    alone: a token) and the value of every secret-looking query parameter replaced by
    :data:`MASK`. Works on a URL and on any text holding URLs (a message, a traceback)."""
    return _SECRET_PARAMETER.sub(rf"\g<name>{MASK}", _USERINFO.sub(_userinfo, text))


class RedactingFilter(logging.Filter):
    """A handler filter that passes every record through :func:`redact`, its traceback too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if redact(message) != message:
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Make every handler of ``logger`` (default: the root logger) redact what it emits.

    Call once logging is configured; handlers added later are not covered. Idempotent.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
