"""Open the ledger a `--ledger` / `SMSOPS_LEDGER` value names."""

from __future__ import annotations

from pathlib import Path

from smsops.core.errors import UsageError
from smsops.ledger.base import Ledger
from smsops.ledger.memory import MemoryLedger
from smsops.ledger.sqlite import WAIT, SqliteLedger

MEMORY = "memory://"


def ledger_path(location: str) -> Path | None:
    """The file a location names (None for memory://); PostgreSQL is not supported yet."""
    if location == MEMORY:
        return None
    if location.startswith(("postgresql://", "postgres://")):
        raise UsageError(
            "PostgreSQL ledgers are not available in this version; use a SQLite file "
            "(a path or sqlite:///path)"
        )
    if location.startswith("sqlite:///"):
        return Path(location.removeprefix("sqlite:///"))
    if "://" in location:
        raise UsageError(f"unknown ledger URL {location!r}; use a path or sqlite:///path")
    return Path(location)


def open_ledger(
    location: str, *, readonly: bool = False, wait: float = WAIT, command: str = "smsops"
) -> Ledger:
    """`path`, `sqlite:///path` or `memory://`.

    `readonly` never writes: a file that does not exist yet reads as an empty
    ledger (nothing was ever sent) and is not created. `wait` and `command`:
    see `SqliteLedger`.
    """
    path = ledger_path(location)
    if path is None:
        return MemoryLedger()
    if readonly and not path.exists():
        return MemoryLedger()
    return SqliteLedger(path, readonly=readonly, wait=wait, command=command)
