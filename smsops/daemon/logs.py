"""Run-mode logs: JSON lines (`SMSOPS_LOG_FORMAT=json`) or human text.

Callers log counts, schedule names and masked numbers only; this module adds
no request data, so no secret or full number should reach a log line; as a
last guard for any path that forgets (an exception's text, a library's
message), the handler scrubs every registered secret from each formatted
line and masks any E.164 number left in it. Schedule names, provider
replies and exception texts come from outside: a text line shows their
controls escaped (one line per record; a traceback keeps its line breaks),
JSON lines write them as `\\uNNNN` (`smsops.core.terminal`). A failed
round's traceback (already scrubbed, see `failures`) is shown only at debug
level, as the `traceback` field. APScheduler and asyncio log through the
same handler, warnings and up only, and never with a traceback: they know
no secrets to scrub it of (our jobs do not raise; this is the guard if one
ever does).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from smsops.core import secrets
from smsops.core.phone import mask_e164
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
    """`time LEVEL logger: message`, the message on one line with its controls escaped.

    A debug traceback (see `failures`) follows it, indented, its line breaks kept.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return printable(super().formatException(ei), lines=True)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), lines=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        trace = getattr(record, "traceback", None)
        if isinstance(trace, str) and trace:
            trace = printable(trace.rstrip(), lines=True)
            line += "\n" + "\n".join("    " + part for part in trace.splitlines())
        return line


class NoTraceback(logging.Filter):
    """Replace a foreign logger's traceback by the exception's type: one line, no text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[0].__name__})"
            record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


class ScrubbingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record only after removing secrets and full numbers from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_e164(secrets.scrub(super().format(record)))


def setup_logging(fmt: str, level: str) -> None:
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    handler = ScrubbingHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("smsops")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

    foreign = ScrubbingHandler(sys.stderr)
    foreign.setFormatter(formatter)
    foreign.addFilter(NoTraceback())
    for name in ("apscheduler", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [foreign]
        logger.setLevel(logging.WARNING)  # "Added job ..." at every reload is noise
        logger.propagate = False
