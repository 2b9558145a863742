"""Structured logs: one JSON object per line on stderr, with a timestamp, level, logger and the
fields passed in ``extra={"fields": {...}}``; an exception's traceback goes in ``exc``. The
scheduler's per-run lines are off (:data:`QUIET`)."""

from __future__ import annotations

import json
import logging
import sys
import time

QUIET = ("apscheduler", "uvicorn.access", "alembic.runtime.plugins")
"""Loggers whose INFO lines are routine chatter (each scheduled run, each request): warnings only."""


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialises the record and its structured fields."""
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: int = logging.INFO) -> None:
    """Sends every log record to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in QUIET:
        logging.getLogger(chatty).setLevel(logging.WARNING)
