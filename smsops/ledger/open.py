"""Open the ledger a `--ledger` / `SMSOPS_LEDGER` value names."""

from __future__ import annotations

from pathlib import Path

from smsops.core.errors import UsageError
from smsops.ledger.base import Ledger
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import SqliteLedger


def open_ledger(location: str) -> Ledger:
    """`path`, `sqlite:///path` or `memory://`; PostgreSQL URLs are not supported yet."""
    if location == "memory://":
        return MemoryLedger()
    if location.startswith(("postgresql://", "postgres://")):
        raise UsageError(
            "PostgreSQL ledgers are not available in this version; use a SQLite file "
            "(a path or sqlite:///path)"
        )
    if location.startswith("sqlite:///"):
        return SqliteLedger(Path(location.removeprefix("sqlite:///")))
    if "://" in location:
        raise UsageError(f"unknown ledger URL {location!r}; use a path or sqlite:///path")
    return SqliteLedger(Path(location))
