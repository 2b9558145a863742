"""Secrets never reach the logs: the server's access and connection lines are rewritten before
any handler sees them.

Redacted (replaced by ``<redacted>``): the values of the query parameters ``token``,
``listenKey``, ``signature`` and ``secret``, and a listenKey used as a path (``/ws/<listenKey>``,
64 alphanumeric characters). Stream names (``btcusdt@depth``) and every other part stay.

Invariant: the filter only rewrites a record's arguments; it never drops a record.
"""

from __future__ import annotations

import logging
import re

REDACTED = "<redacted>"
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")
_QUERY = re.compile(r"(?i)((?:^|[?&])(?:token|listenKey|signature|secret)=)[^&\s\"]*")
_LISTEN_KEY_PATH = re.compile(r"(/ws/)[A-Za-z0-9]{64}(?![A-Za-z0-9@])")


def redact(text: str) -> str:
    """`text` with every secret above replaced."""
    return _LISTEN_KEY_PATH.sub(rf"\g<1>{REDACTED}", _QUERY.sub(rf"\g<1>{REDACTED}", text))


class RedactSecrets(logging.Filter):
    """Redacts the string arguments (and message) of each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


FILTER = RedactSecrets()


def install() -> None:
    """Adds the filter to the server's loggers (idempotent)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
