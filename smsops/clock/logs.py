"""Run-mode logs: JSON lines (`SMSOPS_LOG_FORMAT=json`) or human text.

Callers log counts, schedule names and masked numbers only; this module adds
no request data, so no secret or full number can reach a log line. Schedule
names, provider replies and exception texts come from outside: a text line
shows their controls escaped (one line per record; a traceback keeps its
line breaks), JSON lines write them as `\\uNNNN` (`smsops.core.terminal`).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from smsops.core.terminal import json_text, printable

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json_text(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, the message on one line with its controls escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), lines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), lines=True)


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("smsops")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
