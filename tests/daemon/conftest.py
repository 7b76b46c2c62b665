from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from smsops.daemon.logs import FOREIGN


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """`setup_logging` changes process-wide state: put every part of it back afterwards."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("smsops", *FOREIGN))]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    hook = threading.excepthook
    try:
        yield
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
        threading.excepthook = hook
        logging.captureWarnings(False)
