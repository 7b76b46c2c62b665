"""Run-mode logs: JSON lines (`SMSOPS_LOG_FORMAT=json`) or human text.

Callers log counts, schedule names and masked numbers only; this module adds
no request data. As a last guard for any path that forgets (an exception's
text, a library's message), the handler scrubs every registered secret from
each formatted line and masks any E.164 number left in it.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from smsops.core import secrets
from smsops.core.phone import mask_e164

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
        return json.dumps(entry, default=str, ensure_ascii=False)


class ScrubbingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes a record only after removing secrets and full numbers from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_e164(secrets.scrub(super().format(record)))


def setup_logging(fmt: str, level: str) -> None:
    handler = ScrubbingHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("smsops")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
